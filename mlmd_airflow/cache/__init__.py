"""@cached_step: reuse the outputs of prior executions with identical code and inputs (docs/caching.md).

    fingerprint (encoding, code, files) -> manifest + key -> index (lookup in MLMD) -> reuse or compute
    registry: hand-over to the listener of the same task process; lease: single flight on MLMD.
"""

from __future__ import annotations

from mlmd_airflow.cache.encoding import UncacheableInputError, register_encoder
from mlmd_airflow.cache.manifest import Manifest
from mlmd_airflow.cache.operators import cached_operator, mlmd_cached_task
from mlmd_airflow.cache.step import CacheOptionError, CacheOptions, CacheStoreError, cached_step

__all__ = ["CacheOptionError", "CacheOptions", "CacheStoreError", "Manifest", "UncacheableInputError",
           "cached_operator", "cached_step", "mlmd_cached_task", "register_encoder"]
