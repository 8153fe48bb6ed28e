// Entry point of dist/mlmd-lineage.js.
//
// React is bundled (one copy of React, ReactDOM and React Flow that we build and test against), so the bundle
// works the same inside Airflow and in the standalone page. Inside Airflow, the host renders our exported component
// with ITS React; a component from a second React copy cannot use hooks there, so `AirflowPlugin` is a thin
// shell written against the host's `globalThis.React` (exposed by Airflow 3 for plugins) that only owns a <div>
// and mounts our own React root into it.
import { createRoot } from "react-dom/client";
import flowCss from "@xyflow/react/dist/style.css?inline";
import App from "./App.jsx";

function injectCss() {
  if (document.getElementById("mlmd-lineage-css")) return;
  const style = document.createElement("style");
  style.id = "mlmd-lineage-css";
  style.textContent = flowCss;
  document.head.appendChild(style);
}

/** Renders the lineage view into `element` (standalone page); returns an unmount function. */
export function mount(element, props) {
  injectCss();
  const root = createRoot(element);
  root.render(<App {...props} />);
  return () => root.unmount();
}

/** The react_apps component Airflow renders with {dagId, runId, taskId, mapIndex} (none on the nav page). */
export function AirflowPlugin(props) {
  const host = globalThis.React;
  const ref = host.useRef(null);
  const root = host.useRef(null);
  host.useEffect(() => {
    injectCss();
    root.current = createRoot(ref.current);
    return () => {
      const r = root.current;
      root.current = null;
      setTimeout(() => r.unmount(), 0); // not while the host is rendering
    };
  }, []);
  host.useEffect(() => {
    if (root.current) root.current.render(<App {...props} />);
  }, [props.dagId, props.runId, props.taskId, props.mapIndex]);
  return host.createElement("div", {
    ref, "data-testid": "mlmd-lineage-root", style: { width: "100%", height: "calc(100vh - 300px)", minHeight: 480 },
  });
}

globalThis.AirflowPlugin = AirflowPlugin;
globalThis["MLMD lineage"] = AirflowPlugin;
globalThis["MLMD task lineage"] = AirflowPlugin;
globalThis["MLMD browser"] = AirflowPlugin; // the nav page: no dagId, so recent runs and artifact search
