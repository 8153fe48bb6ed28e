// Entry point of dist/mlmd-standalone.js: the host for pages outside Airflow's UI (`mlmd ui`, /mlmd/view).
// It does what Airflow's UI does for plugin bundles: exposes React, ReactDOM, the JSX runtime, Chakra (the
// components the view uses, src/ui.js) and Emotion on globalThis, then imports the view (mlmd-lineage.js, served
// next to this file) and renders it inside a ChakraProvider with Chakra's default system. Light or dark follows
// the browser's preference (Chakra's `.dark` class on <html>, as Airflow's theme switch sets it).
import * as EmotionReact from "@emotion/react";
import { ChakraProvider, defaultSystem } from "@chakra-ui/react";
import React from "react";
import ReactDOM from "react-dom";
import { createRoot } from "react-dom/client";
import ReactJSXRuntime from "react/jsx-runtime";
import * as ChakraUI from "./ui.js";

Object.assign(globalThis, { React, ReactDOM, ReactJSXRuntime, ChakraUI: { ...ChakraUI }, EmotionReact });

const VIEW = "./mlmd-lineage.js"; // a variable: Vite must not try to bundle it

function followColorScheme() {
  const query = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () => {
    const mode = query.matches ? "dark" : "light";
    document.documentElement.classList.remove("light", "dark");
    document.documentElement.classList.add(mode);
    document.documentElement.style.colorScheme = mode;
  };
  apply();
  query.addEventListener("change", apply);
}

/** Renders the lineage view into `element`; resolves to an unmount function. */
export async function mount(element, props) {
  followColorScheme();
  const { LineageView } = await import(/* @vite-ignore */ new URL(VIEW, import.meta.url).href);
  const root = createRoot(element);
  root.render(
    <ChakraProvider value={defaultSystem}>
      <LineageView {...props} />
    </ChakraProvider>,
  );
  return () => root.unmount();
}
