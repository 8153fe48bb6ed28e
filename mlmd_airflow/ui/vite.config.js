// Builds src/main.jsx into one ES module, dist/mlmd-lineage.js, that the Airflow plugin registers as a react_app
// and the standalone page imports. React is bundled (see src/main.jsx for how it lives inside Airflow's React).
import { transform } from "esbuild";
import { defineConfig } from "vite";

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

export default defineConfig({
  plugins: [minifyEs],
  esbuild: { jsx: "automatic" },
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    minify: "esbuild",
    reportCompressedSize: false,
    lib: { entry: "src/main.jsx", formats: ["es"], fileName: () => "mlmd-lineage.js" },
    rollupOptions: { output: { inlineDynamicImports: true } },
  },
});
