// Entry point of dist/mlmd-lineage.js, the view Airflow's UI loads as the plugin's react_apps bundle.
//
// It brings no React and no Chakra of its own: those imports resolve to the host's modules (src/host/, aliased in
// vite.config.js), so Airflow renders `AirflowPlugin` like any of its own components: same React, same Chakra
// theme (fonts, colours, light/dark mode). Outside Airflow, dist/mlmd-standalone.js provides the same globals,
// then imports this module and mounts `LineageView` inside its own ChakraProvider.
import flowCss from "@xyflow/react/dist/style.css?inline";
import App from "./App.jsx";
import { Box } from "./ui.js";

function injectCss() {
  if (document.getElementById("mlmd-lineage-css")) return;
  const style = document.createElement("style");
  style.id = "mlmd-lineage-css";
  style.textContent = flowCss;
  document.head.appendChild(style);
}

injectCss();

/** The lineage view (the start page without dagId/runId/contextId); standalone.jsx mounts it. */
export const LineageView = App;

/** The react_apps component Airflow renders with {dagId, runId, taskId, mapIndex} (none on the nav page). */
export function AirflowPlugin(props) {
  return (
    <Box data-testid="mlmd-lineage-root" w="100%" h="calc(100vh - 300px)" minH="480px">
      <App dagId={props.dagId} runId={props.runId} taskId={props.taskId} mapIndex={props.mapIndex} />
    </Box>
  );
}

globalThis.AirflowPlugin = AirflowPlugin;
globalThis["MLMD lineage"] = AirflowPlugin;
globalThis["MLMD task lineage"] = AirflowPlugin;
globalThis["MLMD browser"] = AirflowPlugin; // the nav page: no dagId, so recent runs and artifact search
