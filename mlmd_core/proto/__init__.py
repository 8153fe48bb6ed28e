"""MLMD protocol buffers, the counterpart of ``ml_metadata.proto``.

The generated modules (``metadata_store_pb2``, ``metadata_store_service_pb2``,
``metadata_store_service_pb2_grpc``, ``simple_types_pb2``) come from
``protos/`` via ``python protos/generate.py``; do not edit them by hand. Their
descriptors are identical to ml-metadata 1.17.1's, under the same file names
(``ml_metadata/proto/metadata_store.proto`` etc.).
"""

# Registers the service file in the default descriptor pool, as ml_metadata
# does; the module name itself is not re-exported.
from mlmd_core.proto import metadata_store_service_pb2  # noqa: F401
from mlmd_core.proto.metadata_store_pb2 import (
    Artifact,
    ArtifactType,
    Association,
    Attribution,
    ConnectionConfig,
    Context,
    ContextType,
    Event,
    Execution,
    ExecutionType,
    FakeDatabaseConfig,
    MetadataStoreClientConfig,
    MySQLDatabaseConfig,
    ParentContext,
    SqliteMetadataSourceConfig,
)

__all__ = [
    "ConnectionConfig",
    "MetadataStoreClientConfig",
    "Artifact",
    "Execution",
    "Context",
    "Event",
    "Attribution",
    "Association",
    "ParentContext",
    "ArtifactType",
    "ExecutionType",
    "ContextType",
    "FakeDatabaseConfig",
    "MySQLDatabaseConfig",
    "SqliteMetadataSourceConfig",
]
