"""The lineage UI's back end: `graph` (store -> JSON, framework-free) and `app` (FastAPI routes and the bundle)."""
