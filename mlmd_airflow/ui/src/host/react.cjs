// The host's module (globalThis.React), set by Airflow's UI for plugin bundles, or by mlmd-standalone.js.
module.exports = require("./host.cjs")("React");
