"""MetadataStore: ml-metadata 1.17's Python API (same methods, signatures, defaults and errors).

Every method builds a MetadataStoreService request and hands it to a backend — the in-process SQL engine
(ConnectionConfig) or an mlmd-server over gRPC (MetadataStoreClientConfig) — so both behave the same.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.proto import metadata_store_service_pb2 as service_pb

# The page size the client asks for while following next_page_token (MLMD's MAX_NUM_RESULT).
MAX_NUM_RESULT = 100
# The same in process, where no RPC caps a page: each page runs the listing's query again past the rows before
# it (a filter query on MariaDB: 2-6 ms a page whatever its size), and holds its rows at once (1,000 artifacts of
# 5 properties read joined on a server: 3.6 MB at the peak; 10,000: about 33 MB).
IN_PROCESS_PAGE_SIZE = 1_000
# The request class of each MetadataStoreService method, by method name.
_REQUESTS = {m.name: getattr(service_pb, m.input_type.name)
             for m in service_pb.DESCRIPTOR.services_by_name["MetadataStoreService"].methods}
_DEFAULT_RETRIES = 5

_log = logging.getLogger(__name__)


class OrderByField(enum.Enum):
    """Fields to order listings by."""

    CREATE_TIME = pb.ListOperationOptions.OrderByField.Field.CREATE_TIME
    UPDATE_TIME = pb.ListOperationOptions.OrderByField.Field.LAST_UPDATE_TIME
    ID = pb.ListOperationOptions.OrderByField.Field.ID


@dataclass
class ListOptions:
    """How to list nodes: at most `limit` (None or 0: all), ordered, filtered by `filter_query`."""

    limit: Optional[int] = None
    order_by: Optional[OrderByField] = None
    is_asc: bool = True
    filter_query: Optional[str] = None


class ExtraOptions:
    """Accepted for compatibility; ml-metadata ignores it too."""

    def __init__(self, euc: Any = None):
        self.euc = euc


class Backend(Protocol):
    def call(self, method: str, request: Any) -> Any: ...

    def close(self) -> None: ...


class _ConnectError(RuntimeError):
    """Base of constructor errors: RuntimeError as in ml-metadata, and the MLMD error class as well."""


_CONNECT_ERROR_CLASSES: dict[type, type] = {}


def _connect_error(exc: errors.StatusError) -> Exception:
    """The error as an instance of both its MLMD class and RuntimeError (what ml-metadata raises)."""
    cls = _CONNECT_ERROR_CLASSES.get(type(exc))
    if cls is None:
        cls = type(type(exc).__name__, (type(exc), _ConnectError), {"__module__": errors.__name__})
        _CONNECT_ERROR_CLASSES[type(exc)] = cls
    made = cls.__new__(cls)
    errors.StatusError.__init__(made, exc.message, exc.error_code)
    return made


def describe_config(config: pb.ConnectionConfig | pb.MetadataStoreClientConfig) -> str:
    """A store's address for logs and messages (never its password): a SQLite path, mysql://host:port/db,
    postgresql://host:port/db or grpc://host:port."""
    if isinstance(config, pb.MetadataStoreClientConfig):
        return f"grpc://{config.host}:{config.port}{' (TLS)' if config.HasField('ssl_config') else ''}"
    which = config.WhichOneof("config")
    if which == "sqlite":
        return config.sqlite.filename_uri or ":memory:"
    if which == "mysql":
        my = config.mysql
        return f"mysql://{my.host or my.socket}:{my.port or 3306}/{my.database}"
    if which == "postgresql":
        pg = config.postgresql
        return f"postgresql://{pg.host or pg.hostaddr}:{pg.port or 5432}/{pg.dbname}"
    return "in-memory (fake_database)" if which == "fake_database" else "unset config"


class MetadataStore:
    """A store of artifacts, executions, contexts, their types and the links between them."""

    def __init__(self, config: pb.ConnectionConfig | pb.MetadataStoreClientConfig,
                 enable_upgrade_migration: bool = False):
        self._max_num_retries = _DEFAULT_RETRIES
        self._backend: Backend
        self._in_process = isinstance(config, pb.ConnectionConfig)  # a SqlService backend, not gRPC
        if self._in_process:
            from mlmd_core.store.bootstrap import open_service
            from mlmd_core.warm_up import warm_up_for

            if config.HasField("retry_options") and config.retry_options.HasField("max_num_retries"):
                self._max_num_retries = config.retry_options.max_num_retries
            migration = pb.MigrationOptions(enable_upgrade_migration=enable_upgrade_migration)
            try:
                self._backend = open_service(config, migration)
            except errors.StatusError as exc:
                raise _connect_error(exc) from exc
            warm_up_for(config)  # the process's first SQLite store compiles the everyday statements
        elif isinstance(config, pb.MetadataStoreClientConfig):
            if enable_upgrade_migration:
                raise ValueError("Upgrade migration is not allowed when using gRPC connection client. "
                                 "Upgrade needs to be performed on the server side.")
            from mlmd_core.grpc.client import GrpcBackend

            self._backend = GrpcBackend(config)
        else:
            raise ValueError("MetadataStore is expecting either proto.ConnectionConfig or "
                             f"proto.MetadataStoreClientConfig, got {type(config).__name__}")

    # ------------------------------------------------------------------------------------- plumbing

    def _call(self, method: str, request: Any) -> Any:
        """Runs an RPC, retrying AbortedError (a concurrent writer) with jittered exponential backoff."""
        try:  # the first attempt without _retrying's closure: most calls need no other
            return self._backend.call(method, request)
        except errors.AbortedError:
            if self._max_num_retries <= 1:
                raise
        return self._retrying(lambda: self._backend.call(method, request), failed=1)

    def _retrying(self, run: Callable[[], Any], failed: int = 0) -> Any:
        """run(), again after each AbortedError (`failed` attempts made already) up to max_num_retries in all."""
        attempt = failed
        while True:
            if attempt:
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
            try:
                return run()
            except errors.AbortedError:
                attempt += 1
                if attempt >= max(self._max_num_retries, 1):
                    raise

    def _call_with_list_options(self, method: str, field: str, request: Any,
                                list_options: Optional[ListOptions]) -> list:
        """Follows next_page_token, MAX_NUM_RESULT rows a call (IN_PROCESS_PAGE_SIZE in process), until `limit`
        rows or the end."""
        if list_options is None:
            return getattr(self._call(method, request), field)[:]
        if list_options.limit and list_options.limit < 1:
            raise errors.InvalidArgumentError(
                f"Invalid list_options.limit value passed. list_options.limit is expected to be greater "
                f"than 1, got {list_options.limit}")
        options = request.options
        page_size = IN_PROCESS_PAGE_SIZE if self._in_process else MAX_NUM_RESULT
        options.max_result_size = page_size
        options.order_by_field.is_asc = list_options.is_asc
        if list_options.order_by:
            options.order_by_field.field = list_options.order_by.value
        if list_options.filter_query:
            options.filter_query = list_options.filter_query
        remaining = list_options.limit or None
        result: list = []
        while True:
            if remaining is not None and remaining < page_size:
                options.max_result_size = remaining
            response = self._call_page(method, request)
            page = getattr(response, field)[:]  # copied out ([:]): see _get_list
            result.extend(page)
            if remaining is not None:
                remaining -= len(page)
                if remaining <= 0:
                    break
            if not response.HasField("next_page_token") or not response.next_page_token:
                break
            options.next_page_token = response.next_page_token
        return result

    def _call_page(self, method: str, request: Any) -> Any:
        """One page of a listing; in process without the RPC's cap on its rows (MLMD's server gives at most 101)."""
        if self._in_process:
            return self._retrying(lambda: self._backend.call(method, request, page_rows=None))  # type: ignore[call-arg]
        return self._call(method, request)

    @property
    def pipeline_asset(self) -> None:
        """Not supported (as in ml-metadata OSS): logs a warning and returns None."""
        _log.warning("pipeline_asset is not supported in this store.")
        return None

    def close(self) -> None:
        """Releases the store's connections (the object is unusable afterwards)."""
        self._backend.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- type writes

    def _put_type(self, method: str, field: str, value: Any, can_add_fields: bool, can_omit_fields: bool) -> int:
        request = _REQUESTS[method](
            can_add_fields=can_add_fields, can_omit_fields=can_omit_fields, all_fields_match=True)
        getattr(request, field).CopyFrom(value)
        return self._call(method, request).type_id

    def put_artifact_type(self, artifact_type: pb.ArtifactType, can_add_fields: bool = False,
                          can_omit_fields: bool = False, extra_options: Optional[ExtraOptions] = None) -> int:
        """Creates or reconciles an artifact type by (name, version); returns its id."""
        return self._put_type("PutArtifactType", "artifact_type", artifact_type, can_add_fields, can_omit_fields)

    def put_execution_type(self, execution_type: pb.ExecutionType, can_add_fields: bool = False,
                           can_omit_fields: bool = False, extra_options: Optional[ExtraOptions] = None) -> int:
        """Creates or reconciles an execution type by (name, version); returns its id."""
        return self._put_type("PutExecutionType", "execution_type", execution_type, can_add_fields,
                              can_omit_fields)

    def put_context_type(self, context_type: pb.ContextType, can_add_fields: bool = False,
                         can_omit_fields: bool = False, extra_options: Optional[ExtraOptions] = None) -> int:
        """Creates or reconciles a context type by (name, version); returns its id."""
        return self._put_type("PutContextType", "context_type", context_type, can_add_fields, can_omit_fields)

    # ---------------------------------------------------------------------------------- node writes

    def _put_nodes(self, method: str, field: str, nodes: Sequence[Any],
                   field_mask_paths: Optional[Sequence[str]]) -> list[int]:
        request = _REQUESTS[method]()
        getattr(request, field).extend(nodes)
        if field_mask_paths:
            request.update_mask.paths.extend(field_mask_paths)
        return getattr(self._call(method, request), f"{field[:-1]}_ids")[:]

    def put_artifacts(self, artifacts: Sequence[pb.Artifact], field_mask_paths: Optional[Sequence[str]] = None,
                      extra_options: Optional[ExtraOptions] = None, *,
                      abort_if_latest_updated_time_changed: bool = False) -> list[int]:
        """Inserts artifacts without id, updates those with one; returns their ids in input order.

        `abort_if_latest_updated_time_changed` (PutArtifactsRequest.Options, not exposed by ml-metadata's Python
        client): an update is refused with FailedPreconditionError unless the given artifact's
        last_update_time_since_epoch equals the stored one, a compare-and-set."""
        if not abort_if_latest_updated_time_changed:
            return self._put_nodes("PutArtifacts", "artifacts", artifacts, field_mask_paths)
        request = service_pb.PutArtifactsRequest()
        request.artifacts.extend(artifacts)
        if field_mask_paths:
            request.update_mask.paths.extend(field_mask_paths)
        request.options.abort_if_latest_updated_time_changed = True
        return self._call("PutArtifacts", request).artifact_ids[:]

    def put_executions(self, executions: Sequence[pb.Execution], field_mask_paths: Optional[Sequence[str]] = None,
                       extra_options: Optional[ExtraOptions] = None) -> list[int]:
        """Inserts executions without id, updates those with one; returns their ids in input order."""
        return self._put_nodes("PutExecutions", "executions", executions, field_mask_paths)

    def put_contexts(self, contexts: Sequence[pb.Context], field_mask_paths: Optional[Sequence[str]] = None,
                     extra_options: Optional[ExtraOptions] = None) -> list[int]:
        """Inserts contexts without id, updates those with one; returns their ids in input order."""
        return self._put_nodes("PutContexts", "contexts", contexts, field_mask_paths)

    def put_events(self, events: Sequence[pb.Event], extra_options: Optional[ExtraOptions] = None) -> None:
        """Inserts events (they are never updated)."""
        request = service_pb.PutEventsRequest()
        request.events.extend(events)
        self._call("PutEvents", request)

    def put_execution(self, execution: pb.Execution,
                      artifact_and_events: Sequence[tuple[pb.Artifact, Optional[pb.Event]]],
                      contexts: Optional[Sequence[pb.Context]],
                      reuse_context_if_already_exist: bool = False,
                      reuse_artifact_if_already_exist_by_external_id: bool = False,
                      force_reuse_context: bool = False, force_update_time: bool = False,
                      extra_options: Optional[ExtraOptions] = None) -> tuple[int, list[int], list[int]]:
        """Atomically writes an execution, its artifacts and events, and links them to the contexts.

        Returns (execution_id, artifact_ids, context_ids)."""
        request = service_pb.PutExecutionRequest(
            execution=execution,
            options=service_pb.PutExecutionRequest.Options(
                reuse_context_if_already_exist=reuse_context_if_already_exist,
                reuse_artifact_if_already_exist_by_external_id=reuse_artifact_if_already_exist_by_external_id,
                force_reuse_context=force_reuse_context,
                force_update_time=force_update_time))
        for pair in artifact_and_events:
            if not pair:
                continue
            added = request.artifact_event_pairs.add()
            added.artifact.CopyFrom(pair[0])
            if len(pair) == 2 and pair[1] is not None:
                added.event.CopyFrom(pair[1])
        if contexts:
            request.contexts.extend(contexts)
        response = self._call("PutExecution", request)
        return response.execution_id, response.artifact_ids[:], response.context_ids[:]

    def put_lineage_subgraph(self, executions: Sequence[pb.Execution], artifacts: Sequence[pb.Artifact],
                             contexts: Sequence[pb.Context],
                             event_edges: Sequence[tuple[Optional[int], Optional[int], pb.Event]],
                             reuse_context_if_already_exist: bool = False,
                             reuse_artifact_if_already_exist_by_external_id: bool = False,
                             extra_options: Optional[ExtraOptions] = None
                             ) -> tuple[list[int], list[int], list[int]]:
        """Atomically writes executions, artifacts, contexts and the events between them.

        Each edge is (execution_index, artifact_index, event); returns (execution_ids, artifact_ids,
        context_ids)."""
        request = service_pb.PutLineageSubgraphRequest(
            executions=executions, artifacts=artifacts, contexts=contexts,
            options=service_pb.PutLineageSubgraphRequest.Options(
                reuse_context_if_already_exist=reuse_context_if_already_exist,
                reuse_artifact_if_already_exist_by_external_id=reuse_artifact_if_already_exist_by_external_id))
        for execution_index, artifact_index, event in event_edges:
            edge = request.event_edges.add()
            if execution_index is not None:
                edge.execution_index = execution_index
            if artifact_index is not None:
                edge.artifact_index = artifact_index
            edge.event.CopyFrom(event)
        response = self._call("PutLineageSubgraph", request)
        return response.execution_ids[:], response.artifact_ids[:], response.context_ids[:]

    def put_attributions_and_associations(self, attributions: Sequence[pb.Attribution],
                                          associations: Sequence[pb.Association],
                                          extra_options: Optional[ExtraOptions] = None) -> None:
        """Links artifacts and executions to contexts (existing links are left as they are)."""
        request = service_pb.PutAttributionsAndAssociationsRequest(
            attributions=attributions, associations=associations)
        self._call("PutAttributionsAndAssociations", request)

    def put_parent_contexts(self, parent_contexts: Sequence[pb.ParentContext],
                            extra_options: Optional[ExtraOptions] = None) -> None:
        """Adds parent-child relations between contexts (no duplicates, no cycles)."""
        request = service_pb.PutParentContextsRequest(parent_contexts=parent_contexts)
        self._call("PutParentContexts", request)

    # ----------------------------------------------------------------------------------- type reads

    def _get_type(self, method: str, field: str, type_name: str, type_version: Optional[str]) -> Any:
        request = _REQUESTS[method](type_name=type_name)
        if type_version:
            request.type_version = type_version
        return getattr(self._call(method, request), field)

    def get_artifact_type(self, type_name: str, type_version: Optional[str] = None,
                          extra_options: Optional[ExtraOptions] = None) -> pb.ArtifactType:
        """The artifact type with this name (and version); NotFoundError if there is none."""
        return self._get_type("GetArtifactType", "artifact_type", type_name, type_version)

    def get_execution_type(self, type_name: str, type_version: Optional[str] = None,
                           extra_options: Optional[ExtraOptions] = None) -> pb.ExecutionType:
        """The execution type with this name (and version); NotFoundError if there is none."""
        return self._get_type("GetExecutionType", "execution_type", type_name, type_version)

    def get_context_type(self, type_name: str, type_version: Optional[str] = None,
                         extra_options: Optional[ExtraOptions] = None) -> pb.ContextType:
        """The context type with this name (and version); NotFoundError if there is none."""
        return self._get_type("GetContextType", "context_type", type_name, type_version)

    def _get_list(self, method: str, field: str, **fields: Any) -> list:
        # Repeated fields are copied out with [:] throughout: list() walks upb's container by index until it
        # raises IndexError, which costs as much again as the copy.
        request = _REQUESTS[method](**fields)
        return getattr(self._call(method, request), field)[:]

    def get_artifact_types(self, extra_options: Optional[ExtraOptions] = None) -> list[pb.ArtifactType]:
        """Every artifact type except the mlmd.* system types."""
        return self._get_list("GetArtifactTypes", "artifact_types")

    def get_execution_types(self, extra_options: Optional[ExtraOptions] = None) -> list[pb.ExecutionType]:
        """Every execution type except the mlmd.* system types."""
        return self._get_list("GetExecutionTypes", "execution_types")

    def get_context_types(self, extra_options: Optional[ExtraOptions] = None) -> list[pb.ContextType]:
        """Every context type."""
        return self._get_list("GetContextTypes", "context_types")

    def get_artifact_types_by_id(self, type_ids: Iterable[int],
                                 extra_options: Optional[ExtraOptions] = None) -> list[pb.ArtifactType]:
        """The artifact types with these ids (unknown ids are skipped)."""
        return self._get_list("GetArtifactTypesByID", "artifact_types", type_ids=list(type_ids))

    def get_execution_types_by_id(self, type_ids: Iterable[int],
                                  extra_options: Optional[ExtraOptions] = None) -> list[pb.ExecutionType]:
        """The execution types with these ids (unknown ids are skipped)."""
        return self._get_list("GetExecutionTypesByID", "execution_types", type_ids=list(type_ids))

    def get_context_types_by_id(self, type_ids: Iterable[int],
                                extra_options: Optional[ExtraOptions] = None) -> list[pb.ContextType]:
        """The context types with these ids (unknown ids are skipped)."""
        return self._get_list("GetContextTypesByID", "context_types", type_ids=list(type_ids))

    def get_artifact_types_by_external_ids(self, external_ids: Iterable[str],
                                           extra_options: Optional[ExtraOptions] = None) -> list[pb.ArtifactType]:
        """Artifact types by external id; NotFoundError when none matches."""
        return self._get_list("GetArtifactTypesByExternalIds", "artifact_types", external_ids=list(external_ids))

    def get_execution_types_by_external_ids(self, external_ids: Iterable[str],
                                            extra_options: Optional[ExtraOptions] = None
                                            ) -> list[pb.ExecutionType]:
        """Execution types by external id; NotFoundError when none matches."""
        return self._get_list("GetExecutionTypesByExternalIds", "execution_types", external_ids=list(external_ids))

    def get_context_types_by_external_ids(self, external_ids: Iterable[str],
                                          extra_options: Optional[ExtraOptions] = None) -> list[pb.ContextType]:
        """Context types by external id; NotFoundError when none matches."""
        return self._get_list("GetContextTypesByExternalIds", "context_types", external_ids=list(external_ids))

    # ----------------------------------------------------------------------------------- node reads

    def get_artifacts(self, list_options: Optional[ListOptions] = None,
                      extra_options: Optional[ExtraOptions] = None) -> list[pb.Artifact]:
        """All artifacts, or those ListOptions selects."""
        return self._call_with_list_options("GetArtifacts", "artifacts", service_pb.GetArtifactsRequest(),
                                            list_options)

    def get_executions(self, list_options: Optional[ListOptions] = None,
                       extra_options: Optional[ExtraOptions] = None) -> list[pb.Execution]:
        """All executions, or those ListOptions selects."""
        return self._call_with_list_options("GetExecutions", "executions", service_pb.GetExecutionsRequest(),
                                            list_options)

    def get_contexts(self, list_options: Optional[ListOptions] = None,
                     extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """All contexts, or those ListOptions selects."""
        return self._call_with_list_options("GetContexts", "contexts", service_pb.GetContextsRequest(),
                                            list_options)

    def get_artifacts_by_id(self, artifact_ids: Iterable[int],
                            extra_options: Optional[ExtraOptions] = None) -> list[pb.Artifact]:
        """The artifacts with these ids, in id order; unknown ids are left out."""
        return self._get_list("GetArtifactsByID", "artifacts", artifact_ids=list(artifact_ids))

    def get_executions_by_id(self, execution_ids: Iterable[int],
                             extra_options: Optional[ExtraOptions] = None) -> list[pb.Execution]:
        """The executions with these ids, in id order; unknown ids are left out."""
        return self._get_list("GetExecutionsByID", "executions", execution_ids=list(execution_ids))

    def get_contexts_by_id(self, context_ids: Iterable[int],
                           extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """The contexts with these ids, in id order; unknown ids are left out."""
        return self._get_list("GetContextsByID", "contexts", context_ids=list(context_ids))

    def get_artifacts_and_types_by_artifact_ids(self, artifact_ids: Iterable[int],
                                                extra_options: Optional[ExtraOptions] = None
                                                ) -> tuple[list[pb.Artifact], list[pb.ArtifactType]]:
        """The artifacts with these ids and their types."""
        request = service_pb.GetArtifactsByIDRequest(artifact_ids=list(artifact_ids), populate_artifact_types=True)
        response = self._call("GetArtifactsByID", request)
        return response.artifacts[:], response.artifact_types[:]

    def _get_by_type(self, method: str, field: str, type_name: str, type_version: Optional[str]) -> list:
        request = _REQUESTS[method](type_name=type_name)
        if type_version:
            request.type_version = type_version
        return getattr(self._call(method, request), field)[:]

    def get_artifacts_by_type(self, type_name: str, type_version: Optional[str] = None,
                              extra_options: Optional[ExtraOptions] = None) -> list[pb.Artifact]:
        """The artifacts of a type ([] for an unknown type)."""
        return self._get_by_type("GetArtifactsByType", "artifacts", type_name, type_version)

    def get_executions_by_type(self, type_name: str, type_version: Optional[str] = None,
                               extra_options: Optional[ExtraOptions] = None) -> list[pb.Execution]:
        """The executions of a type ([] for an unknown type)."""
        return self._get_by_type("GetExecutionsByType", "executions", type_name, type_version)

    def get_contexts_by_type(self, type_name: str, type_version: Optional[str] = None,
                             extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """The contexts of a type ([] for an unknown type)."""
        return self._get_by_type("GetContextsByType", "contexts", type_name, type_version)

    def _get_by_type_and_name(self, method: str, field: str, type_name: str, name: str,
                              type_version: Optional[str]) -> Any:
        request = _REQUESTS[method](type_name=type_name, **{f"{field}_name": name})
        if type_version:
            request.type_version = type_version
        response = self._call(method, request)
        return getattr(response, field) if response.HasField(field) else None

    def get_artifact_by_type_and_name(self, type_name: str, artifact_name: str, type_version: Optional[str] = None,
                                      extra_options: Optional[ExtraOptions] = None) -> Optional[pb.Artifact]:
        """The artifact of this type and name, or None."""
        return self._get_by_type_and_name("GetArtifactByTypeAndName", "artifact", type_name, artifact_name,
                                          type_version)

    def get_execution_by_type_and_name(self, type_name: str, execution_name: str,
                                       type_version: Optional[str] = None,
                                       extra_options: Optional[ExtraOptions] = None) -> Optional[pb.Execution]:
        """The execution of this type and name, or None."""
        return self._get_by_type_and_name("GetExecutionByTypeAndName", "execution", type_name, execution_name,
                                          type_version)

    def get_context_by_type_and_name(self, type_name: str, context_name: str, type_version: Optional[str] = None,
                                     extra_options: Optional[ExtraOptions] = None) -> Optional[pb.Context]:
        """The context of this type and name, or None."""
        return self._get_by_type_and_name("GetContextByTypeAndName", "context", type_name, context_name,
                                          type_version)

    def get_artifacts_by_uri(self, uri: str, extra_options: Optional[ExtraOptions] = None) -> list[pb.Artifact]:
        """The artifacts whose uri is exactly `uri`."""
        return self._get_list("GetArtifactsByURI", "artifacts", uris=[uri])

    def get_artifacts_by_external_ids(self, external_ids: Iterable[str],
                                      extra_options: Optional[ExtraOptions] = None) -> list[pb.Artifact]:
        """Artifacts by external id; NotFoundError when none matches."""
        return self._get_list("GetArtifactsByExternalIds", "artifacts", external_ids=list(external_ids))

    def get_executions_by_external_ids(self, external_ids: Iterable[str],
                                       extra_options: Optional[ExtraOptions] = None) -> list[pb.Execution]:
        """Executions by external id; NotFoundError when none matches."""
        return self._get_list("GetExecutionsByExternalIds", "executions", external_ids=list(external_ids))

    def get_contexts_by_external_ids(self, external_ids: Iterable[str],
                                     extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """Contexts by external id; NotFoundError when none matches."""
        return self._get_list("GetContextsByExternalIds", "contexts", external_ids=list(external_ids))

    # ------------------------------------------------------------------------------ relationship reads

    def get_contexts_by_artifact(self, artifact_id: int,
                                 extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """The contexts an artifact is attributed to; NotFoundError if there are none."""
        return self._get_list("GetContextsByArtifact", "contexts", artifact_id=artifact_id)

    def get_contexts_by_execution(self, execution_id: int,
                                  extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """The contexts an execution is associated with; NotFoundError if there are none."""
        return self._get_list("GetContextsByExecution", "contexts", execution_id=execution_id)

    def get_artifacts_by_context(self, context_id: int, list_options: Optional[ListOptions] = None,
                                 extra_options: Optional[ExtraOptions] = None) -> list[pb.Artifact]:
        """The artifacts attributed to a context."""
        return self._call_with_list_options("GetArtifactsByContext", "artifacts",
                                            service_pb.GetArtifactsByContextRequest(context_id=context_id),
                                            list_options)

    def get_executions_by_context(self, context_id: int, list_options: Optional[ListOptions] = None,
                                  extra_options: Optional[ExtraOptions] = None) -> list[pb.Execution]:
        """The executions associated with a context, newest first unless list_options say otherwise."""
        if list_options is None:
            list_options = ListOptions(order_by=OrderByField.CREATE_TIME, is_asc=False)
        return self._call_with_list_options("GetExecutionsByContext", "executions",
                                            service_pb.GetExecutionsByContextRequest(context_id=context_id),
                                            list_options)

    def get_parent_contexts_by_context(self, context_id: int,
                                       extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """The parents of a context."""
        return self._get_list("GetParentContextsByContext", "contexts", context_id=context_id)

    def get_children_contexts_by_context(self, context_id: int,
                                         extra_options: Optional[ExtraOptions] = None) -> list[pb.Context]:
        """The children of a context."""
        return self._get_list("GetChildrenContextsByContext", "contexts", context_id=context_id)

    def get_events_by_execution_ids(self, execution_ids: Iterable[int],
                                    extra_options: Optional[ExtraOptions] = None) -> list[pb.Event]:
        """The events of these executions."""
        return self._get_list("GetEventsByExecutionIDs", "events", execution_ids=list(execution_ids))

    def get_events_by_artifact_ids(self, artifact_ids: Iterable[int],
                                   extra_options: Optional[ExtraOptions] = None) -> list[pb.Event]:
        """The events of these artifacts."""
        return self._get_list("GetEventsByArtifactIDs", "events", artifact_ids=list(artifact_ids))

    # -------------------------------------------------------------------------------------- lineage

    def get_lineage_subgraph(self, query_options: pb.LineageSubgraphQueryOptions,
                             field_mask_paths: Optional[Sequence[str]] = None,
                             extra_options: Optional[ExtraOptions] = None) -> pb.LineageGraph:
        """The lineage subgraph reached from the starting nodes, hydrated as ml-metadata's client does."""
        if not field_mask_paths:  # as ml-metadata: empty means everything
            field_mask_paths = [f.name for f in pb.LineageGraph.DESCRIPTOR.fields]
        request = service_pb.GetLineageSubgraphRequest(lineage_subgraph_query_options=query_options)
        if self._in_process:  # walk and hydrate in one transaction
            from mlmd_core.store.service import hydrated_lineage_subgraph

            request.read_mask.paths.extend(field_mask_paths)
            return self._retrying(lambda: self._backend.run(  # type: ignore[attr-defined]
                "GetLineageSubgraph", hydrated_lineage_subgraph, request,
                service_pb.GetLineageSubgraphResponse, False)).lineage_subgraph
        request.read_mask.paths.extend(p for p in field_mask_paths if not p.endswith("_types"))
        skeleton = self._call("GetLineageSubgraph", request).lineage_subgraph
        paths = set(field_mask_paths)
        graph = pb.LineageGraph()
        if paths & {"artifacts", "artifact_types"} and skeleton.artifacts:
            artifacts, artifact_types = self.get_artifacts_and_types_by_artifact_ids(a.id for a in skeleton.artifacts)
            if "artifacts" in paths:
                graph.artifacts.extend(artifacts)
            if "artifact_types" in paths:
                graph.artifact_types.extend(artifact_types)
        if paths & {"executions", "execution_types"} and skeleton.executions:
            executions = self.get_executions_by_id(e.id for e in skeleton.executions)
            if "executions" in paths:
                graph.executions.extend(executions)
            if "execution_types" in paths:
                graph.execution_types.extend(self.get_execution_types_by_id({e.type_id for e in executions}))
        if paths & {"contexts", "context_types"} and skeleton.contexts:
            contexts = self.get_contexts_by_id(c.id for c in skeleton.contexts)
            if "contexts" in paths:
                graph.contexts.extend(contexts)
            if "context_types" in paths:
                graph.context_types.extend(self.get_context_types_by_id({c.type_id for c in contexts}))
        for edges in ("events", "associations", "attributions"):
            if edges in paths:
                getattr(graph, edges).extend(getattr(skeleton, edges))
        return graph


    def get_lineage_graph(self, query_options: pb.LineageGraphQueryOptions,
                          extra_options: Optional[ExtraOptions] = None) -> pb.LineageGraph:
        """The lineage around the artifacts `query_options.artifacts_options` selects, within its stop
        conditions and max_node_size: full artifacts, executions and events, plus all types.

        ml-metadata 1.17 has no such method (its server answers UNIMPLEMENTED); this is the RPC of
        earlier releases, which TFX-era code calls."""
        request = service_pb.GetLineageGraphRequest(options=query_options)
        return self._call("GetLineageGraph", request).subgraph


def downgrade_schema(config: pb.ConnectionConfig, downgrade_to_schema_version: int) -> None:
    """Downgrades the database schema to an older version, so that an older ml-metadata (or KFP/TFX) can use
    it again; data the older schema has no place for is dropped. Returns None when done, as ml-metadata does.

    Raises InvalidArgumentError for a target below 0 or above the library's version (10); other failures
    (an empty database, a database newer than the library) as the MLMD error class that is also a
    RuntimeError, like MetadataStore's constructor."""
    if downgrade_to_schema_version < 0:
        raise errors.InvalidArgumentError("downgrade_to_schema_version not specified")
    from mlmd_core.store.bootstrap import open_service

    try:
        open_service(config, pb.MigrationOptions(downgrade_to_schema_version=downgrade_to_schema_version))
    except errors.CancelledError as exc:
        if not exc.message.startswith("Downgrade migration was performed."):
            raise _connect_error(exc) from exc
        _log.info(exc.message)  # the success path: ml-metadata logs it too
        return None
    except errors.InvalidArgumentError as exc:
        if exc.message.startswith("MLMD cannot be downgraded to schema_version"):
            raise
        raise _connect_error(exc) from exc
    except errors.StatusError as exc:
        raise _connect_error(exc) from exc
    raise errors.InternalError("downgrade_schema: the store opened without performing the downgrade")
