"""mlmd_core: an ML Metadata store with the API, protos, wire protocol and schema of ml-metadata 1.17.

Code written for ml-metadata runs on it by changing the import: ``import mlmd_core as mlmd``.
"""

from mlmd_core import errors, proto
from mlmd_core.metadata_store import ListOptions, MetadataStore, OrderByField, downgrade_schema

__version__ = "0.1.0"
__all__ = ["downgrade_schema", "ListOptions", "MetadataStore", "OrderByField", "errors", "proto"]
