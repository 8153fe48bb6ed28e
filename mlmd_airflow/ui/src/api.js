// JSON calls to the plugin's routes. The API base is where the bundle was served from (".../mlmd/static/x.js" ->
// ".../mlmd/"), so an Airflow behind a sub-path or proxy works without configuration. Same-origin cookies carry
// Airflow's session token (`_token`).

export const apiBase = (override) =>
  override != null ? override.replace(/\/?$/, "/") : new URL(/* @vite-ignore */ "../", import.meta.url).href;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(base, path, params) {
  const url = new URL(path, new URL(base, document.baseURI));
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== "") url.searchParams.set(k, v);
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, detail);
  }
  return response.json();
}

export function explain(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return "Not signed in to Airflow (401): sign in again and reload.";
    if (error.status === 403) return "You may not read this DAG's runs (403): ask an admin for access.";
    if (error.status === 404) return `Not found: ${error.message}`;
    return `The MLMD API answered ${error.status}: ${error.message}`;
  }
  return `Could not reach the MLMD API: ${error && error.message}`;
}
