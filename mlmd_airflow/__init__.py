"""mlmd_airflow: an Apache Airflow provider that records every task run in an ML Metadata (MLMD) store.

Importing this package is cheap on purpose (Airflow imports providers during discovery): the hook, settings,
plugin and listener live in submodules and import Airflow only when used.
"""

__version__ = "0.1.0"

_LAZY = {"cached_step": "mlmd_airflow.cache", "cached_operator": "mlmd_airflow.cache",
         "UncacheableInputError": "mlmd_airflow.cache"}


def __getattr__(name: str) -> object:
    """`from mlmd_airflow import cached_step` without importing the cache (or Airflow) on `import mlmd_airflow`."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlmd_airflow' has no attribute {name!r}")
