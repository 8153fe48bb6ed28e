// SVG export of the laid-out graph, built with DOM calls (textContent, setAttribute) so names stay text.
import { colorOf } from "./style.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

/** The graph as an SVG document string. */
export function toSvg(nodes, edges, positions) {
  const boxes = nodes.map((n) => positions[n.key]).filter(Boolean);
  const width = Math.max(0, ...boxes.map((b) => b.x + b.width)) + 20;
  const height = Math.max(0, ...boxes.map((b) => b.y + b.height)) + 20;
  const svg = el("svg", { xmlns: NS, width, height, viewBox: `-10 -10 ${width} ${height}`, "font-family": "sans-serif" });
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8,
    orient: "auto-start-reverse" });
  marker.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#777" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const e of edges) {
    const s = positions[e.source];
    const t = positions[e.target];
    if (!s || !t) continue;
    const x1 = s.x + s.width;
    const y1 = s.y + s.height / 2;
    const x2 = t.x;
    const y2 = t.y + t.height / 2;
    const mx = (x1 + x2) / 2;
    svg.appendChild(el("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, fill: "none", stroke: "#777",
      "marker-end": "url(#arrow)" }));
  }
  for (const n of nodes) {
    const b = positions[n.key];
    if (!b) continue;
    const c = colorOf(n);
    svg.appendChild(el("rect", { x: b.x, y: b.y, width: b.width, height: b.height, rx: n.kind === "artifact" ? 18 : 4,
      fill: c.bg, stroke: c.border, "stroke-width": 2, "stroke-dasharray": n.external ? "6 4" : "none" }));
    svg.appendChild(el("text", { x: b.x + 10, y: b.y + 22, "font-size": 13, fill: "#111" }, n.label));
    svg.appendChild(el("text", { x: b.x + 10, y: b.y + 42, "font-size": 11, fill: "#555" },
      `${n.type}${n.state ? " · " + n.state : ""}`));
  }
  return new XMLSerializer().serializeToString(svg);
}

export function download(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
