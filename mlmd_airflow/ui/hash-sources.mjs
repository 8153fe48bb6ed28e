// Writes dist/SOURCES.sha256: the hash of everything the bundle is built from. tests/test_ui_bundle.py recomputes
// it (same rule: sorted posix paths, sha256 over "path\0content\0") to fail when dist/ is stale.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const roots = ["package.json", "package-lock.json", "vite.config.js", "hash-sources.mjs", "src"];
const files = [];
const walk = (p) => (statSync(p).isDirectory() ? readdirSync(p).forEach((n) => walk(join(p, n))) : files.push(p));
roots.forEach(walk);
const hash = createHash("sha256");
for (const f of files.map((f) => f.split("\\").join("/")).sort()) {
  hash.update(f + "\0");
  hash.update(readFileSync(f));
  hash.update("\0");
}
writeFileSync("dist/SOURCES.sha256", hash.digest("hex") + "\n");
