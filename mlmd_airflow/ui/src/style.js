// State colours: COMPLETE, FAILED, RUNNING and CACHED must be told apart at a glance (and not by colour alone:
// each node also prints its state). On screen they are Chakra colour palettes, the ones Airflow's theme uses for
// task states (success green, failed red, running cyan; CACHED purple), so they follow the host theme and its
// dark mode; the SVG export is a standalone file and uses fixed colours.
export const STATE_PALETTES = {
  COMPLETE: "green",
  FAILED: "red",
  RUNNING: "cyan",
  CACHED: "purple",
  NEW: "gray",
  CANCELED: "orange",
};

/** Chakra style props of a node (execution: its state's palette; artifact: neutral, dashed from another run). */
export function lookOf(node) {
  if (node.kind === "artifact") {
    return node.external
      ? { palette: "gray", bg: "bg.muted", border: "fg.subtle", fg: "fg.muted" }
      : { palette: "gray", bg: "bg.panel", border: "fg.subtle", fg: "fg.muted" };
  }
  return { palette: STATE_PALETTES[node.state] || "gray", bg: "colorPalette.subtle", border: "colorPalette.solid",
    fg: "colorPalette.fg" };
}

// fixed colours of the SVG export (Chakra's light palettes: *.100 / *.600)
export const STATE_COLORS = {
  COMPLETE: { bg: "#dcfce7", border: "#16a34a" },
  FAILED: { bg: "#fee2e2", border: "#dc2626" },
  RUNNING: { bg: "#cffafe", border: "#0891b2" },
  CACHED: { bg: "#f3e8ff", border: "#9333ea" },
  NEW: { bg: "#f4f4f5", border: "#52525b" },
  CANCELED: { bg: "#ffedd5", border: "#ea580c" },
};
const ARTIFACT = { bg: "#ffffff", border: "#a1a1aa" };
const EXTERNAL = { bg: "#f4f4f5", border: "#a1a1aa" };

export function colorOf(node) {
  if (node.kind === "artifact") return node.external ? EXTERNAL : ARTIFACT;
  return STATE_COLORS[node.state] || STATE_COLORS.NEW;
}
