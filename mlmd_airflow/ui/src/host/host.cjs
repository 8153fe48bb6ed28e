// The view bundle (dist/mlmd-lineage.js) does not ship React or Chakra: `react`, `react-dom`, `react/jsx-runtime`,
// `@chakra-ui/react` and `@emotion/react` resolve to these shims (vite.config.js), which hand out the modules the
// host exposes on globalThis. Airflow's UI sets them for plugin bundles (React, ReactDOM, ReactJSXRuntime, ChakraUI,
// EmotionReact); outside Airflow, dist/mlmd-standalone.js sets the same globals before it imports the view.
module.exports = function host(name) {
  const value = globalThis[name];
  if (value == null) {
    throw new Error(`mlmd-lineage.js needs globalThis.${name} from its host: open it in Airflow's UI (3.1+) or `
      + "through mlmd-standalone.js");
  }
  return value;
};
