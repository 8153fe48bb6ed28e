// Two ES modules from one source tree (`npm run build` runs both):
//
// - `vite build` -> dist/mlmd-lineage.js, the view: what the Airflow plugin registers as its react_apps bundle.
//   It ships React Flow, ELK and our code, but NOT React or Chakra: `react`, `react-dom`, `react/jsx-runtime`,
//   `@chakra-ui/react` and `@emotion/react` are aliased to src/host/*.cjs, which read the modules Airflow's UI
//   exposes to plugins on globalThis. So the view renders with Airflow's React, Chakra theme and colour mode.
// - `vite build --mode standalone` -> dist/mlmd-standalone.js, for pages without an Airflow host (`mlmd ui`, and
//   /mlmd/view): bundles React, ReactDOM and the Chakra components the view uses, sets the same globals, then
//   imports mlmd-lineage.js next to it and mounts it inside a ChakraProvider with Chakra's default system.
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";
import { defineConfig } from "vite";

const host = (file) => fileURLToPath(new URL(`src/host/${file}`, import.meta.url));

// Vite leaves ES-format library output unminified (whitespace): minify the final chunk ourselves.
const minifyEs = {
  name: "minify-es",
  async generateBundle(_options, bundle) {
    for (const chunk of Object.values(bundle)) {
      if (chunk.type === "chunk") {
        chunk.code = (await transform(chunk.code, { minify: true, format: "esm", target: "es2020" })).code;
      }
    }
  },
};

export default defineConfig(({ mode }) => {
  const standalone = mode === "standalone";
  return {
    plugins: [minifyEs],
    esbuild: { jsx: "automatic" },
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
    resolve: standalone ? {} : {
      // exact specifiers only (`react-dom/client` is never imported by the view)
      alias: [
        { find: /^react$/, replacement: host("react.cjs") },
        { find: /^react\/jsx-runtime$/, replacement: host("jsx-runtime.cjs") },
        { find: /^react-dom$/, replacement: host("react-dom.cjs") },
        { find: /^@chakra-ui\/react$/, replacement: host("chakra.cjs") },
        { find: /^@emotion\/react$/, replacement: host("emotion.cjs") },
      ],
    },
    build: {
      outDir: "dist",
      emptyOutDir: !standalone, // the view builds first, then the standalone loader joins it
      target: "es2020",
      minify: "esbuild",
      reportCompressedSize: false,
      commonjsOptions: { include: [/node_modules/, /src[\\/]host[\\/]/] },
      lib: standalone
        ? { entry: "src/standalone.jsx", formats: ["es"], fileName: () => "mlmd-standalone.js" }
        : { entry: "src/main.jsx", formats: ["es"], fileName: () => "mlmd-lineage.js" },
      rollupOptions: {
        output: { inlineDynamicImports: true },
        // React Flow's and Chakra's "use client" directives mean nothing in a bundle: not worth a warning each
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  };
});
