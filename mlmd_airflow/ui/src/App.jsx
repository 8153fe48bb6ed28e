// The lineage view: fetches the run's graph, lays it out with ELK, draws it with React Flow, and shows a side
// panel with the clicked node's details. The chrome is Chakra UI with semantic tokens ("bg", "fg", "border",
// colour palettes), so inside Airflow it takes the host's theme and light/dark mode. All store text is rendered
// as React text children (escaped), never as HTML, so artifact names and property values cannot inject markup.
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import {
  Background, Controls, Handle, MarkerType, Position, ReactFlow, ReactFlowProvider, useReactFlow,
} from "@xyflow/react";
import { apiBase, explain, getJson } from "./api.js";
import { layout } from "./layout.js";
import { STATE_PALETTES, lookOf } from "./style.js";
import { download, toSvg } from "./svg.js";
import {
  Alert, Badge, Box, Button, Card, CloseButton, Code, EmptyState, Flex, HStack, Heading, Input, Link, List, Span,
  Spinner, Stack, Table, Text,
} from "./ui.js";

// React Flow's colours from the theme's tokens (as Airflow's graph view does): they switch with light/dark mode
const FLOW_VARS = {
  "--xy-background-color": "var(--chakra-colors-bg)",
  "--xy-background-pattern-color": "var(--chakra-colors-border)",
  "--xy-edge-stroke": "var(--chakra-colors-fg-subtle)",
  "--xy-controls-button-background-color": "var(--chakra-colors-bg-panel)",
  "--xy-controls-button-background-color-hover": "var(--chakra-colors-bg-muted)",
  "--xy-controls-button-color": "var(--chakra-colors-fg)",
  "--xy-controls-button-color-hover": "var(--chakra-colors-fg)",
  "--xy-controls-button-border-color": "var(--chakra-colors-border)",
  "--xy-controls-box-shadow": "var(--chakra-shadows-sm)",
};

// Light or dark, as the host's theme says: Chakra (and Airflow's theme switch) put a `dark` class on <html>. React
// Flow gets the same mode, else the `light` class it puts on its root would pin the nodes' tokens to light.
function subscribeColorMode(onChange) {
  const observer = new MutationObserver(onChange);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
  return () => observer.disconnect();
}
const colorMode = () => (document.documentElement.classList.contains("dark") ? "dark" : "light");
const useColorMode = () => useSyncExternalStore(subscribeColorMode, colorMode);

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
  return href ? <Link href={href} data-testid="run-link" color="fg.info" variant="underline">{text}</Link>
    : <Span>{text}</Span>;
}

function StateBadge({ state, ...rest }) {
  return <Badge colorPalette={STATE_PALETTES[state] || "gray"} variant="subtle" {...rest}>{state}</Badge>;
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
  const look = lookOf(n);
  return (
    <Box
      data-testid="mlmd-node" data-key={n.key} data-kind={n.kind} data-state={n.state}
      data-external={String(Boolean(n.external))} data-focused={String(Boolean(data.focused))}
      title={`${n.type}: ${n.label}`} style={{ width: data.width, height: data.height }}
      colorPalette={look.palette} bg={look.bg} color="fg" borderColor={look.border}
      borderWidth={data.focused ? "4px" : "2px"} borderStyle={n.external ? "dashed" : "solid"}
      borderRadius={n.kind === "artifact" ? "18px" : "sm"} boxShadow={data.focused ? "md" : "xs"}
      px="2.5" py="1.5" overflow="hidden" cursor="pointer" fontFamily="body"
    >
      <Handle type="target" position={Position.Left} style={{ visibility: "hidden" }} />
      <Text data-testid="mlmd-node-label" fontWeight="semibold" fontSize="13px" truncate>{n.label}</Text>
      <Text fontSize="11px" color={look.fg} truncate>{subtitle(n)}</Text>
      <Handle type="source" position={Position.Right} style={{ visibility: "hidden" }} />
    </Box>
  );
}

const nodeTypes = { mlmd: LineageNode };

function Value({ value }) {
  if (value === null || value === undefined) return <Span color="fg.subtle">—</Span>;
  return <Span whiteSpace="pre-wrap" wordBreak="break-word">{String(value)}</Span>;
}

function Properties({ props }) {
  const entries = Object.entries(props || {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return <Text color="fg.muted">No properties.</Text>;
  return (
    <Table.Root data-testid="properties" size="sm" tableLayout="fixed">
      <Table.Body>
        {entries.map(([k, v]) => (
          <Table.Row key={k} verticalAlign="top">
            <Table.ColumnHeader w="40%" color="fg.muted" fontWeight="medium" wordBreak="break-word">{k}</Table.ColumnHeader>
            <Table.Cell><Value value={v} /></Table.Cell>
          </Table.Row>
        ))}
      </Table.Body>
    </Table.Root>
  );
}

function RefList({ title, items: given, standalone, testid }) {
  const items = given || [];
  return (
    <Box data-testid={testid} mt="4">
      <HStack gap="2">
        <Text fontWeight="semibold">{title}</Text>
        <Badge size="sm" variant="outline">{items.length}</Badge>
      </HStack>
      {items.length === 0 ? <Text color="fg.muted">none</Text> : (
        <List.Root ps="4" mt="1" gap="1">
          {items.map((r, i) => (
            <List.Item key={i} wordBreak="break-word">
              {r.artifact_id != null ? `${r.type}: ${r.name || r.uri || "#" + r.artifact_id}` : (
                <>
                  <RefLink value={r} standalone={standalone} />{" "}
                  {r.state ? <StateBadge state={r.state} size="sm" /> : null}
                </>
              )}
            </List.Item>
          ))}
        </List.Root>
      )}
    </Box>
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
  return (
    <Box as="aside" data-testid="side-panel" w="360px" flexShrink="0" borderLeftWidth="1px" borderColor="border"
      overflow="auto" p="4" bg="bg.panel" color="fg" textStyle="sm">
      <Flex justify="space-between" align="start" gap="2">
        <Heading data-testid="side-title" size="md" wordBreak="break-word">{node.label}</Heading>
        <CloseButton size="xs" onClick={onClose} aria-label="Close" />
      </Flex>
      <HStack data-testid="side-kind" gap="1.5" mt="1" wrap="wrap">
        <Badge variant="outline">{node.kind}</Badge>
        <Text color="fg.muted">{node.type}</Text>
        {node.state ? <StateBadge state={node.state} /> : null}
        {node.external ? <Badge variant="outline" borderStyle="dashed">from another run</Badge> : null}
      </HStack>
      {node.uri ? <Code display="block" mt="2" whiteSpace="pre-wrap" wordBreak="break-all">{node.uri}</Code> : null}
      {node.cached_from ? (
        <Alert.Root data-testid="cached-from" status="info" colorPalette="purple" size="sm" mt="3">
          <Alert.Indicator />
          <Alert.Description>
            Served from cache: outputs computed by <RefLink value={node.cached_from} standalone={standalone} />
          </Alert.Description>
        </Alert.Root>
      ) : null}
      {node.external && node.origin ? (
        <Alert.Root data-testid="origin" status="neutral" size="sm" mt="3">
          <Alert.Indicator />
          <Alert.Description>Produced by <RefLink value={node.origin} standalone={standalone} /></Alert.Description>
        </Alert.Root>
      ) : null}
      <Text fontWeight="semibold" mt="4" mb="1">Properties</Text>
      <Properties props={node.properties} />
      {error ? (
        <Alert.Root status="error" size="sm" mt="3">
          <Alert.Indicator />
          <Alert.Description>{error}</Alert.Description>
        </Alert.Root>
      ) : null}
      {!detail && !error ? <HStack mt="3" color="fg.muted"><Spinner size="xs" /><Text>Loading details…</Text></HStack>
        : null}
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
    </Box>
  );
}

function Loading({ children }) {
  return (
    <HStack data-testid="loading" role="status" m="4" gap="3" color="fg.muted">
      <Spinner size="sm" />
      <Text>{children}</Text>
    </HStack>
  );
}

function ErrorMessage({ children, testid }) {
  return (
    <Alert.Root data-testid={testid} status="error" m="4" w="auto">
      <Alert.Indicator />
      <Alert.Description>{children}</Alert.Description>
    </Alert.Root>
  );
}

function Empty({ title, children }) {
  return (
    <EmptyState.Root data-testid="empty" role="status" size="sm">
      <EmptyState.Content>
        <EmptyState.Title>{title}</EmptyState.Title>
        <EmptyState.Description>{children}</EmptyState.Description>
      </EmptyState.Content>
    </EmptyState.Root>
  );
}

function Legend() {
  return (
    <HStack gap="1.5" wrap="wrap" data-testid="legend">
      {["COMPLETE", "FAILED", "RUNNING", "CACHED"].map((state) => <StateBadge key={state} state={state} />)}
      <Badge variant="plain" color="fg.muted" gap="1">
        <Box as="span" w="3" h="3" borderWidth="2px" borderStyle="dashed" borderColor="fg.subtle" rounded="full" />
        other run
      </Badge>
    </HStack>
  );
}

function Graph({ data, positions, focusKeys, base, dagId, standalone, initialSelected }) {
  const flow = useReactFlow();
  const mode = useColorMode();
  const [selected, setSelected] = useState(initialSelected);
  const nodes = useMemo(() => data.nodes.map((n) => {
    const p = positions[n.key];
    return { id: n.key, type: "mlmd", position: { x: p.x, y: p.y }, draggable: false,
      data: { node: n, width: p.width, height: p.height, focused: focusKeys.has(n.key) } };
  }), [data, positions, focusKeys]);
  const edges = useMemo(() => data.edges.map((e, i) => {
    const stroke = e.event.includes("INPUT") ? "var(--chakra-colors-fg-subtle)" : "var(--chakra-colors-fg-muted)";
    return { id: `e${i}`, source: e.source, target: e.target, data: { event: e.event }, style: { stroke },
      markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: stroke } };
  }), [data]);
  const selectedNode = selected && data.nodes.find((n) => n.key === selected);
  const panelOpen = Boolean(selectedNode);
  // the pane width the view was last fitted for: the nodes move at each fit, so `data-settled` tells when a
  // click lands where the node is drawn (tests wait for it)
  const [fittedFor, setFittedFor] = useState(null);
  const fit = useCallback(() => {
    const focus = [...focusKeys].map((id) => ({ id }));
    Promise.resolve(flow.fitView(focus.length ? { nodes: focus, padding: 0.8, maxZoom: 1.2 } : { padding: 0.1 }))
      .then(() => setFittedFor(panelOpen));
  }, [flow, focusKeys, panelOpen]);
  // fit once laid out, and again when the side panel opens or closes (the graph's width changes): after the
  // browser has resized the flow (React Flow measures it with a ResizeObserver)
  useEffect(() => { const t = setTimeout(fit, 50); return () => clearTimeout(t); }, [fit, panelOpen]);
  const name = `lineage-${data.dag_id || "context"}-${data.run_id || data.context?.id || ""}.svg`.replace(/[^\w.-]+/g, "_");
  return (
    <Flex direction="column" h="100%" color="fg">
      <Flex align="center" gap="3" px="3" py="2" borderBottomWidth="1px" borderColor="border" wrap="wrap"
        textStyle="sm" bg="bg">
        <Text data-testid="summary" color="fg.muted">
          {data.counts.executions} executions · {data.counts.artifacts} artifacts · {data.counts.cached} cached ·{" "}
          {data.counts.external} from other runs
        </Text>
        <Legend />
        <Box flex="1" />
        <Button size="xs" variant="outline" onClick={fit} data-testid="fit">Fit</Button>
        <Button size="xs" variant="outline" data-testid="export-svg"
          onClick={() => download(toSvg(data.nodes, data.edges, positions), name)}>Export SVG</Button>
      </Flex>
      <Flex flex="1" minH="0">
        <Box flex="1" minW="0" data-testid="graph" data-settled={fittedFor === panelOpen}>
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} minZoom={0.05} maxZoom={2} style={FLOW_VARS}
            colorMode={mode}
            nodesConnectable={false} onNodeClick={(_, node) => setSelected(node.id)} proOptions={{ hideAttribution: true }}
            onPaneClick={() => setSelected(null)}>
            <Background gap={20} />
            <Controls showInteractive={false} />
          </ReactFlow>
        </Box>
        {selectedNode ? (
          <SidePanel node={selectedNode} base={base} dagId={data.dag_id || dagId} standalone={standalone}
            onClose={() => setSelected(null)} />
        ) : null}
      </Flex>
    </Flex>
  );
}

function RunList({ base, standalone }) {
  // standalone: any store's contexts (TFX, KFP, Airflow runs); in Airflow: the DAG runs the user may read
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    getJson(base, standalone ? "api/runs" : "api/dag_runs").then(setRuns, (e) => setError(explain(e)));
  }, [base, standalone]);
  const title = <Heading size="md" mb="2">{standalone ? "MLMD runs" : "Recent DAG runs in MLMD"}</Heading>;
  if (error) return <Box>{title}<ErrorMessage testid="error">{error}</ErrorMessage></Box>;
  if (!runs) return <Box>{title}<Loading>Loading runs…</Loading></Box>;
  if (!runs.length) {
    return (
      <Box>
        {title}
        <Empty title="No runs yet">
          {standalone ? "This store has no contexts (runs) yet."
            : "No DAG runs recorded in MLMD that you may read: is the listener enabled ([mlmd] enabled = True)?"}
        </Empty>
      </Box>
    );
  }
  return (
    <Box as="section">
      {title}
      <Table.ScrollArea borderWidth="1px" borderColor="border" rounded="md" maxH="50vh">
        <Table.Root data-testid="runs" size="sm" stickyHeader interactive>
          <Table.Header>
            <Table.Row>
              <Table.ColumnHeader>{standalone ? "Context" : "DAG / run"}</Table.ColumnHeader>
              <Table.ColumnHeader>Type</Table.ColumnHeader>
              {standalone ? null : <Table.ColumnHeader>Logical date</Table.ColumnHeader>}
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {runs.map((r) => standalone ? (
              <Table.Row key={r.id}>
                <Table.Cell><Link href={`?context_id=${r.id}`} color="fg.info">{r.name}</Link></Table.Cell>
                <Table.Cell><Badge variant="outline">{r.type}</Badge></Table.Cell>
              </Table.Row>
            ) : (
              <Table.Row key={r.context_id} data-testid="dag-run">
                <Table.Cell><Link href={runHref(r, false)} color="fg.info">{r.dag_id} / {r.run_id}</Link></Table.Cell>
                <Table.Cell>{r.run_type ? <Badge variant="outline">{r.run_type}</Badge> : null}</Table.Cell>
                <Table.Cell color="fg.muted">{r.logical_date || "—"}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table.Root>
      </Table.ScrollArea>
    </Box>
  );
}

function Refs({ label, refs, standalone }) {
  return (
    <Text textStyle="xs">
      <Span color="fg.muted">{label}: </Span>
      {refs.length ? refs.map((r, i) => (
        <Span key={i}>{i ? "; " : ""}<RefLink value={r} standalone={standalone} /></Span>)) : "—"}
    </Text>
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
  return (
    <Box as="section">
      <Heading size="md" mb="2">Search artifacts</Heading>
      <HStack as="form" onSubmit={submit} gap="2" wrap="wrap">
        <Input data-testid="search-text" aria-label="Name or URI contains" placeholder="name or URI contains…"
          value={text} onChange={(e) => setText(e.target.value)} size="sm" w="260px" />
        <Input data-testid="search-filter" aria-label="filter_query" placeholder="filter_query, e.g. type = 'Model'"
          value={filter} onChange={(e) => setFilter(e.target.value)} size="sm" w="340px" />
        <Button type="submit" data-testid="search-submit" size="sm" loading={result.status === "loading"}>
          Search
        </Button>
      </HStack>
      {result.status === "error" ? <ErrorMessage testid="search-error">{result.message}</ErrorMessage> : null}
      {result.status === "ready" && !result.items.length
        ? <Text data-testid="search-empty" color="fg.muted" mt="3">No artifacts match.</Text> : null}
      {result.status === "ready" && result.items.length ? (
        <Stack data-testid="search-results" gap="2" mt="3">
          {result.items.map((a) => (
            <Card.Root key={a.id} data-testid="search-result" size="sm" variant="outline">
              <Card.Body gap="1">
                <HStack gap="2" wrap="wrap">
                  <Text data-testid="search-result-label" fontWeight="semibold" wordBreak="break-word">{a.label}</Text>
                  <Badge variant="outline">{a.type}</Badge>
                  <Text color="fg.muted" textStyle="xs">#{a.id}</Text>
                </HStack>
                {a.uri ? <Code alignSelf="start" wordBreak="break-all">{a.uri}</Code> : null}
                <Refs label="Produced by" refs={a.producers} standalone={standalone} />
                <Refs label="Consumed by" refs={a.consumers} standalone={standalone} />
              </Card.Body>
            </Card.Root>
          ))}
        </Stack>
      ) : null}
    </Box>
  );
}

/** The start page (standalone) and Airflow's nav page: recent runs, and artifact search. */
function Browse({ base, standalone }) {
  return (
    <Stack data-testid="browse" gap="8" h="100%" overflow="auto" p="4" color="fg" textStyle="sm">
      <RunList base={base} standalone={standalone} />
      <ArtifactSearch base={base} standalone={standalone} />
    </Stack>
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
        performance.mark("mlmd:fetched"); // the speed test reads these marks (fetch, then ELK layout)
        const positions = data.nodes.length ? await layout(data.nodes, data.edges) : {};
        performance.mark("mlmd:laid-out");
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
  if (state.status === "loading") return <Loading>Loading lineage…</Loading>;
  if (state.status === "error") return <ErrorMessage testid="error">{state.message}</ErrorMessage>;
  const { data, positions } = state;
  if (!data.nodes.length) {
    return (
      <Empty title="No lineage recorded">
        {data.recorded === false
          ? "No MLMD records for this run: is the listener enabled? ([mlmd] enabled = True in the workers' "
            + "configuration, and the mlmd-airflow provider installed where the tasks run.)"
          : "This run has no executions or artifacts recorded in MLMD yet."}
      </Empty>
    );
  }
  return (
    <Box h="100%" minH="480px" display="flex" flexDirection="column" data-testid="lineage">
      <ReactFlowProvider>
        <Graph data={data} positions={positions} focusKeys={focusKeys} base={base} dagId={dagId}
          standalone={Boolean(standalone)} initialSelected={[...focusKeys][0] || null} />
      </ReactFlowProvider>
    </Box>
  );
}
