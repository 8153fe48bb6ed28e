// Left-to-right layout of the lineage graph with ELK's layered algorithm (what Airflow's own graph view uses).
import ELK from "elkjs/lib/elk.bundled.js";

const elk = new ELK();

export const NODE_HEIGHT = 58;

export function nodeWidth(node) {
  const text = Math.max((node.label || "").length, (node.type || "").length * 0.8);
  return Math.min(280, Math.max(140, Math.round(text * 7.2) + 36));
}

/** Positions {key: {x, y, width, height}} for the API's nodes and edges. */
export async function layout(nodes, edges) {
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "70",
      "elk.spacing.nodeNode": "24",
      // Only node positions are used (React Flow draws the edges): polyline routing is the cheapest, 3-6x
      // faster than splines on a 500-node run.
      "elk.edgeRouting": "POLYLINE",
    },
    children: nodes.map((n) => ({ id: n.key, width: nodeWidth(n), height: NODE_HEIGHT })),
    edges: edges.map((e, i) => ({ id: `e${i}`, sources: [e.source], targets: [e.target] })),
  });
  const positions = {};
  for (const c of result.children) positions[c.id] = { x: c.x, y: c.y, width: c.width, height: c.height };
  return positions;
}
