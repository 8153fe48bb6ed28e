// State colours: COMPLETE, FAILED, RUNNING and CACHED must be told apart at a glance (and not by colour alone:
// each node also prints its state).
export const STATE_COLORS = {
  COMPLETE: { bg: "#e8f5e9", border: "#2e7d32" },
  FAILED: { bg: "#ffebee", border: "#c62828" },
  RUNNING: { bg: "#e3f2fd", border: "#1565c0" },
  CACHED: { bg: "#f3e5f5", border: "#7b1fa2" },
  NEW: { bg: "#fafafa", border: "#9e9e9e" },
  CANCELED: { bg: "#fff8e1", border: "#f9a825" },
};
const ARTIFACT = { bg: "#fffdf5", border: "#8d6e63" };
const EXTERNAL = { bg: "#f5f5f5", border: "#616161" };

export function colorOf(node) {
  if (node.kind === "artifact") return node.external ? EXTERNAL : ARTIFACT;
  return STATE_COLORS[node.state] || STATE_COLORS.NEW;
}
