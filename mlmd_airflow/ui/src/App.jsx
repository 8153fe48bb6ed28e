// The lineage view: fetches the run's graph, lays it out with ELK, draws it with React Flow, and shows a side
// panel with the clicked node's details. All store text is rendered as React text children (escaped), never as
// HTML, so artifact names and property values cannot inject markup.
import { useCallback, useEffect, useMemo, useState } from "react";
import {
  Background, Controls, Handle, MarkerType, Position, ReactFlow, ReactFlowProvider, useReactFlow,
} from "@xyflow/react";
import { apiBase, explain, getJson } from "./api.js";
import { layout } from "./layout.js";
import { colorOf } from "./style.js";
import { download, toSvg } from "./svg.js";

const box = { padding: 16, fontSize: 14, lineHeight: 1.5 };

function runHref(ref, standalone) {
  if (!ref || !ref.dag_id || !ref.run_id) return null;
  if (standalone) return `?dag_id=${encodeURIComponent(ref.dag_id)}&run_id=${encodeURIComponent(ref.run_id)}`;
  const path = `dags/${encodeURIComponent(ref.dag_id)}/runs/${encodeURIComponent(ref.run_id)}/plugin/mlmd_lineage`;
  return new URL(path, document.baseURI).href;
}

function describe(ref) {
  if (!ref) return "";
  if (ref.hidden) return `execution #${ref.execution_id} (a DAG you cannot read)`;
  if (ref.missing) return `execution #${ref.execution_id} (no longer in the store)`;
  if (ref.dag_id) return `${ref.dag_id} / ${ref.run_id} / ${ref.task_id} (execution #${ref.execution_id})`;
  return `${ref.type} #${ref.execution_id}`;
}

function RefLink({ value, standalone }) {
  const href = runHref(value, standalone);
  const text = describe(value);
  return href ? <a href={href} data-testid="run-link" style={{ color: "#1565c0", textDecoration: "underline" }}>
    {text}</a> : <span>{text}</span>;
}

function subtitle(n) {
  if (n.kind === "execution") {
    const from = n.cached_from && n.cached_from.run_id ? ` from ${n.cached_from.run_id}` : "";
    return `${n.state || "NO STATE"}${from}`;
  }
  const origin = n.external && n.origin && n.origin.run_id ? ` · from ${n.origin.dag_id}/${n.origin.run_id}` : "";
  return `${n.type}${origin}`;
}

function LineageNode({ data }) {
  const n = data.node;
  const c = colorOf(n);
  return (
    <div
      data-testid="mlmd-node" data-key={n.key} data-kind={n.kind} data-state={n.state}
      data-external={String(Boolean(n.external))} data-focused={String(Boolean(data.focused))}
      title={`${n.type}: ${n.label}`}
      style={{
        width: data.width, height: data.height, boxSizing: "border-box", padding: "6px 10px", background: c.bg,
        border: `${data.focused ? 4 : 2}px ${n.external ? "dashed" : "solid"} ${c.border}`,
        borderRadius: n.kind === "artifact" ? 18 : 4, overflow: "hidden", cursor: "pointer", color: "#111",
      }}
    >
      <Handle type="target" position={Position.Left} style={{ visibility: "hidden" }} />
      <div data-testid="mlmd-node-label" style={{ fontWeight: 600, fontSize: 13, whiteSpace: "nowrap",
        overflow: "hidden", textOverflow: "ellipsis" }}>{n.label}</div>
      <div style={{ fontSize: 11, color: c.border, whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" }}>
        {subtitle(n)}
      </div>
      <Handle type="source" position={Position.Right} style={{ visibility: "hidden" }} />
    </div>
  );
}

const nodeTypes = { mlmd: LineageNode };

function Value({ value }) {
  if (value === null || value === undefined) return <span style={{ color: "#999" }}>—</span>;
  return <span style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>{String(value)}</span>;
}

function Properties({ props }) {
  const entries = Object.entries(props || {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return <div style={{ color: "#777" }}>No properties.</div>;
  return (
    <table data-testid="properties" style={{ borderCollapse: "collapse", width: "100%", fontSize: 12 }}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k} style={{ borderTop: "1px solid #eee", verticalAlign: "top" }}>
            <th style={{ textAlign: "left", padding: "3px 6px 3px 0", fontWeight: 500, color: "#555" }}>{k}</th>
            <td style={{ padding: "3px 0" }}><Value value={v} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RefList({ title, items: given, standalone, testid }) {
  const items = given || [];
  return (
    <div data-testid={testid} style={{ marginTop: 12 }}>
      <div style={{ fontWeight: 600 }}>{title} ({items.length})</div>
      {items.length === 0 ? <div style={{ color: "#777" }}>none</div> : (
        <ul style={{ margin: "4px 0", paddingLeft: 18 }}>
          {items.map((r, i) => (
            <li key={i}>
              {r.artifact_id != null ? `${r.type}: ${r.name || r.uri || "#" + r.artifact_id}`
                : <><RefLink value={r} standalone={standalone} /> {r.state ? `· ${r.state}` : ""}</>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function SidePanel({ node, base, dagId, standalone, onClose }) {
  // keyed by node: a detail fetched for the previously selected node is never shown for this one
  const [loaded, setLoaded] = useState({ key: null, detail: null, error: null });
  useEffect(() => {
    const path = node.kind === "execution" ? `api/executions/${node.id}` : `api/artifacts/${node.id}`;
    let live = true;
    getJson(base, path, { dag_id: dagId }).then(
      (d) => live && setLoaded({ key: node.key, detail: d, error: null }),
      (e) => live && setLoaded({ key: node.key, detail: null, error: explain(e) }));
    return () => { live = false; };
  }, [node.key, base, dagId]);
  const detail = loaded.key === node.key ? loaded.detail : null;
  const error = loaded.key === node.key ? loaded.error : null;
  const c = colorOf(node);
  return (
    <aside data-testid="side-panel" style={{ width: 360, borderLeft: "1px solid #ddd", overflow: "auto", ...box,
      background: "#fff", color: "#111" }}>
      <div style={{ display: "flex", justifyContent: "space-between", gap: 8 }}>
        <div data-testid="side-title" style={{ fontWeight: 700, fontSize: 15, wordBreak: "break-word" }}>{node.label}</div>
        <button type="button" onClick={onClose} aria-label="Close">×</button>
      </div>
      <div style={{ color: c.border, fontSize: 12 }} data-testid="side-kind">
        {node.kind} · {node.type}{node.state ? ` · ${node.state}` : ""}{node.external ? " · from another run" : ""}
      </div>
      {node.uri ? <div style={{ fontSize: 12, wordBreak: "break-all", marginTop: 4 }}>{node.uri}</div> : null}
      {node.cached_from ? (
        <div data-testid="cached-from" style={{ marginTop: 8, padding: 8, background: "#f3e5f5", borderRadius: 4 }}>
          Served from cache: outputs computed by <RefLink value={node.cached_from} standalone={standalone} />
        </div>
      ) : null}
      {node.external && node.origin ? (
        <div data-testid="origin" style={{ marginTop: 8, padding: 8, background: "#f5f5f5", borderRadius: 4 }}>
          Produced by <RefLink value={node.origin} standalone={standalone} />
        </div>
      ) : null}
      <div style={{ marginTop: 12, fontWeight: 600 }}>Properties</div>
      <Properties props={node.properties} />
      {error ? <div role="alert" style={{ color: "#c62828", marginTop: 12 }}>{error}</div> : null}
      {!detail && !error ? <div style={{ color: "#777", marginTop: 12 }}>Loading details…</div> : null}
      {detail && node.kind === "artifact" ? (
        <>
          <RefList title="Produced by" items={detail.producers} standalone={standalone} testid="producers" />
          <RefList title="Consumed by (all runs and DAGs)" items={detail.consumers} standalone={standalone}
            testid="consumers" />
        </>
      ) : null}
      {detail && node.kind === "execution" ? (
        <>
          <RefList title="Inputs" items={detail.inputs} standalone={standalone} testid="inputs" />
          <RefList title="Outputs" items={detail.outputs} standalone={standalone} testid="outputs" />
        </>
      ) : null}
    </aside>
  );
}

function Message({ children, testid, tone }) {
  return (
    <div data-testid={testid} role={tone === "error" ? "alert" : "status"}
      style={{ ...box, margin: 16, borderRadius: 6, border: `1px solid ${tone === "error" ? "#c62828" : "#ccc"}`,
        background: tone === "error" ? "#ffebee" : "#fafafa", color: "#111" }}>
      {children}
    </div>
  );
}

function Legend() {
  const items = [["COMPLETE", "COMPLETE"], ["FAILED", "FAILED"], ["RUNNING", "RUNNING"], ["CACHED", "CACHED"]];
  return (
    <span style={{ display: "inline-flex", gap: 10, fontSize: 12 }}>
      {items.map(([state, text]) => {
        const c = colorOf({ kind: "execution", state });
        return (
          <span key={state} style={{ display: "inline-flex", alignItems: "center", gap: 4 }}>
            <span style={{ width: 12, height: 12, background: c.bg, border: `2px solid ${c.border}` }} />{text}
          </span>
        );
      })}
      <span style={{ display: "inline-flex", alignItems: "center", gap: 4 }}>
        <span style={{ width: 12, height: 12, border: "2px dashed #616161", borderRadius: 6 }} />other run
      </span>
    </span>
  );
}

function Graph({ data, positions, focusKeys, base, dagId, standalone, initialSelected }) {
  const flow = useReactFlow();
  const [selected, setSelected] = useState(initialSelected);
  const nodes = useMemo(() => data.nodes.map((n) => {
    const p = positions[n.key];
    return { id: n.key, type: "mlmd", position: { x: p.x, y: p.y }, draggable: false,
      data: { node: n, width: p.width, height: p.height, focused: focusKeys.has(n.key) } };
  }), [data, positions, focusKeys]);
  const edges = useMemo(() => data.edges.map((e, i) => ({
    id: `e${i}`, source: e.source, target: e.target, data: { event: e.event },
    markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
    style: e.event.includes("INPUT") ? { stroke: "#78909c" } : { stroke: "#455a64" },
  })), [data]);
  const fit = useCallback(() => {
    const focus = [...focusKeys].map((id) => ({ id }));
    flow.fitView(focus.length ? { nodes: focus, padding: 0.8, maxZoom: 1.2 } : { padding: 0.1 });
  }, [flow, focusKeys]);
  const selectedNode = selected && data.nodes.find((n) => n.key === selected);
  const panelOpen = Boolean(selectedNode);
  // fit once laid out, and again when the side panel opens or closes (the graph's width changes): after the
  // browser has resized the flow (React Flow measures it with a ResizeObserver)
  useEffect(() => { const t = setTimeout(fit, 50); return () => clearTimeout(t); }, [fit, panelOpen]);
  const name = `lineage-${data.dag_id || "context"}-${data.run_id || data.context?.id || ""}.svg`.replace(/[^\w.-]+/g, "_");
  return (
    <div style={{ display: "flex", flexDirection: "column", height: "100%" }}>
      <div style={{ display: "flex", alignItems: "center", gap: 12, padding: "6px 10px", borderBottom: "1px solid #ddd",
        fontSize: 13, flexWrap: "wrap", color: "#111", background: "#fff" }}>
        <span data-testid="summary">
          {data.counts.executions} executions · {data.counts.artifacts} artifacts · {data.counts.cached} cached ·{" "}
          {data.counts.external} from other runs
        </span>
        <Legend />
        <span style={{ flex: 1 }} />
        <button type="button" onClick={fit} data-testid="fit">Fit</button>
        <button type="button" data-testid="export-svg"
          onClick={() => download(toSvg(data.nodes, data.edges, positions), name)}>Export SVG</button>
      </div>
      <div style={{ display: "flex", flex: 1, minHeight: 0 }}>
        <div style={{ flex: 1, minWidth: 0 }} data-testid="graph">
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} minZoom={0.05} maxZoom={2}
            nodesConnectable={false} onNodeClick={(_, node) => setSelected(node.id)} proOptions={{ hideAttribution: true }}
            onPaneClick={() => setSelected(null)}>
            <Background gap={20} color="#eee" />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
        {selectedNode ? (
          <SidePanel node={selectedNode} base={base} dagId={data.dag_id || dagId} standalone={standalone}
            onClose={() => setSelected(null)} />
        ) : null}
      </div>
    </div>
  );
}

function RunList({ base, standalone }) {
  // standalone: any store's contexts (TFX, KFP, Airflow runs); in Airflow: the DAG runs the user may read
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    getJson(base, standalone ? "api/runs" : "api/dag_runs").then(setRuns, (e) => setError(explain(e)));
  }, [base, standalone]);
  if (error) return <Message tone="error" testid="error">{error}</Message>;
  if (!runs) return <Message testid="loading">Loading runs…</Message>;
  if (!runs.length) {
    return (
      <Message testid="empty">
        {standalone ? "This store has no contexts (runs) yet."
          : "No DAG runs recorded in MLMD that you may read: is the listener enabled ([mlmd] enabled = True)?"}
      </Message>
    );
  }
  return (
    <section>
      <h2 style={{ marginTop: 0, fontSize: 18 }}>{standalone ? "MLMD runs" : "Recent DAG runs in MLMD"}</h2>
      <ul data-testid="runs" style={{ paddingLeft: 18 }}>
        {runs.map((r) => standalone ? (
          <li key={r.id}><a href={`?context_id=${r.id}`}>{r.name}</a> <span style={{ color: "#777" }}>
            ({r.type})</span></li>
        ) : (
          <li key={r.context_id} data-testid="dag-run">
            <a href={runHref(r, false)} style={{ color: "#1565c0" }}>{r.dag_id} / {r.run_id}</a>
            <span style={{ color: "#777" }}>{r.run_type ? ` · ${r.run_type}` : ""}
              {r.logical_date ? ` · ${r.logical_date}` : ""}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ArtifactSearch({ base, standalone }) {
  const [text, setText] = useState("");
  const [filter, setFilter] = useState("");
  const [result, setResult] = useState({ status: "idle" });
  const submit = (event) => {
    event.preventDefault();
    setResult({ status: "loading" });
    getJson(base, "api/search/artifacts", { q: text, filter_query: filter }).then(
      (items) => setResult({ status: "ready", items }), (e) => setResult({ status: "error", message: explain(e) }));
  };
  const input = { padding: "4px 6px", fontSize: 13, border: "1px solid #bbb", borderRadius: 4 };
  return (
    <section style={{ marginTop: 24 }}>
      <h2 style={{ fontSize: 18 }}>Search artifacts</h2>
      <form onSubmit={submit} style={{ display: "flex", gap: 8, flexWrap: "wrap", alignItems: "center" }}>
        <input data-testid="search-text" aria-label="Name or URI contains" placeholder="name or URI contains…"
          value={text} onChange={(e) => setText(e.target.value)} style={{ ...input, width: 260 }} />
        <input data-testid="search-filter" aria-label="filter_query" placeholder="filter_query, e.g. type = 'Model'"
          value={filter} onChange={(e) => setFilter(e.target.value)} style={{ ...input, width: 340 }} />
        <button type="submit" data-testid="search-submit">Search</button>
      </form>
      {result.status === "loading" ? <div style={{ color: "#777", marginTop: 8 }}>Searching…</div> : null}
      {result.status === "error" ? <Message tone="error" testid="search-error">{result.message}</Message> : null}
      {result.status === "ready" && !result.items.length
        ? <div data-testid="search-empty" style={{ color: "#777", marginTop: 8 }}>No artifacts match.</div> : null}
      {result.status === "ready" && result.items.length ? (
        <ul data-testid="search-results" style={{ paddingLeft: 18 }}>
          {result.items.map((a) => (
            <li key={a.id} data-testid="search-result" style={{ marginTop: 8 }}>
              <span data-testid="search-result-label" style={{ fontWeight: 600 }}>{a.label}</span>
              <span style={{ color: "#777" }}> · {a.type} #{a.id}</span>
              {a.uri ? <div style={{ fontSize: 12, wordBreak: "break-all" }}>{a.uri}</div> : null}
              <div style={{ fontSize: 12 }}>
                Produced by: {a.producers.length ? a.producers.map((r, i) => (
                  <span key={i}>{i ? "; " : ""}<RefLink value={r} standalone={standalone} /></span>)) : "—"}
              </div>
              <div style={{ fontSize: 12 }}>
                Consumed by: {a.consumers.length ? a.consumers.map((r, i) => (
                  <span key={i}>{i ? "; " : ""}<RefLink value={r} standalone={standalone} /></span>)) : "—"}
              </div>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

/** The start page (standalone) and Airflow's nav page: recent runs, and artifact search. */
function Browse({ base, standalone }) {
  return (
    <div data-testid="browse" style={{ ...box, height: "100%", overflow: "auto", boxSizing: "border-box",
      color: "#111", background: "#fff" }}>
      <RunList base={base} standalone={standalone} />
      <ArtifactSearch base={base} standalone={standalone} />
    </div>
  );
}

/** Props: dagId + runId (a DAG run), or contextId (standalone); taskId/mapIndex focus one task; apiBase overrides
 * where the API lives (default: next to the bundle). */
export default function App({ dagId, runId, taskId, mapIndex, contextId, apiBase: baseOverride, standalone }) {
  const base = useMemo(() => apiBase(baseOverride), [baseOverride]);
  const [state, setState] = useState({ status: "loading" });
  useEffect(() => {
    if (!(dagId && runId) && contextId == null) return;
    let live = true;
    setState({ status: "loading" });
    const request = contextId != null ? getJson(base, `api/lineage/context/${contextId}`)
      : getJson(base, "api/lineage/run", { dag_id: dagId, run_id: runId });
    request
      .then(async (data) => {
        const positions = data.nodes.length ? await layout(data.nodes, data.edges) : {};
        if (live) setState({ status: "ready", data, positions });
      })
      .catch((e) => live && setState({ status: "error", message: explain(e) }));
    return () => { live = false; };
  }, [base, dagId, runId, contextId]);
  const focusKeys = useMemo(() => {
    if (state.status !== "ready" || !taskId) return new Set();
    const wanted = mapIndex == null || mapIndex === "" || Number(mapIndex) === -1 ? null : Number(mapIndex);
    return new Set(state.data.nodes.filter((n) => n.kind === "execution" && n.task_id === taskId
      && (wanted === null || n.map_index === wanted)).map((n) => n.key));
  }, [state, taskId, mapIndex]);

  if (!(dagId && runId) && contextId == null) {
    return <Browse base={base} standalone={Boolean(standalone)} />;
  }
  if (state.status === "loading") return <Message testid="loading">Loading lineage…</Message>;
  if (state.status === "error") return <Message tone="error" testid="error">{state.message}</Message>;
  const { data, positions } = state;
  if (!data.nodes.length) {
    return (
      <Message testid="empty">
        {data.recorded === false
          ? "No MLMD records for this run: is the listener enabled? ([mlmd] enabled = True in the workers' "
            + "configuration, and the mlmd-airflow provider installed where the tasks run.)"
          : "This run has no executions or artifacts recorded in MLMD yet."}
      </Message>
    );
  }
  return (
    <div style={{ height: "100%", minHeight: 480, display: "flex", flexDirection: "column" }} data-testid="lineage">
      <ReactFlowProvider>
        <Graph data={data} positions={positions} focusKeys={focusKeys} base={base} dagId={dagId}
          standalone={Boolean(standalone)} initialSelected={[...focusKeys][0] || null} />
      </ReactFlowProvider>
    </div>
  );
}
