// The host's module (globalThis.EmotionReact), set by Airflow's UI for plugin bundles, or by mlmd-standalone.js.
module.exports = require("./host.cjs")("EmotionReact");
