"""The wire contract: our protos against google/ml-metadata 1.17.1.

The real ml-metadata lives in a side venv (protobuf<5); see mlmd_side_venv.py.
Everything compared with it goes through one JSON-over-stdio subprocess.
"""

from __future__ import annotations

import base64
import difflib
import inspect
import json
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, message_factory, text_format
from mlmd_side_venv import side_python

from mlmd_core import proto
from mlmd_core.proto import metadata_store_pb2 as ms
from mlmd_core.proto import metadata_store_service_pb2 as mss
from mlmd_core.proto import metadata_store_service_pb2_grpc as mss_grpc
from mlmd_core.proto import simple_types_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent

PROTO_FILES = {
    "ml_metadata/proto/metadata_store.proto": ms,
    "ml_metadata/proto/metadata_store_service.proto": mss,
    "ml_metadata/simple_types/proto/simple_types.proto": simple_types_pb2,
}

RPC_NAMES = [
    "PutArtifactType",
    "PutExecutionType",
    "PutContextType",
    "PutTypes",
    "PutArtifacts",
    "PutExecutions",
    "PutEvents",
    "PutExecution",
    "PutLineageSubgraph",
    "PutContexts",
    "PutAttributionsAndAssociations",
    "PutParentContexts",
    "GetArtifactType",
    "GetArtifactTypesByID",
    "GetArtifactTypes",
    "GetExecutionType",
    "GetExecutionTypesByID",
    "GetExecutionTypes",
    "GetContextType",
    "GetContextTypesByID",
    "GetContextTypes",
    "GetArtifacts",
    "GetExecutions",
    "GetContexts",
    "GetArtifactsByID",
    "GetExecutionsByID",
    "GetContextsByID",
    "GetArtifactsByType",
    "GetExecutionsByType",
    "GetContextsByType",
    "GetArtifactByTypeAndName",
    "GetExecutionByTypeAndName",
    "GetContextByTypeAndName",
    "GetArtifactsByURI",
    "GetEventsByExecutionIDs",
    "GetEventsByArtifactIDs",
    "GetArtifactsByExternalIds",
    "GetExecutionsByExternalIds",
    "GetContextsByExternalIds",
    "GetArtifactTypesByExternalIds",
    "GetExecutionTypesByExternalIds",
    "GetContextTypesByExternalIds",
    "GetContextsByArtifact",
    "GetContextsByExecution",
    "GetParentContextsByContext",
    "GetChildrenContextsByContext",
    "GetParentContextsByContexts",
    "GetChildrenContextsByContexts",
    "GetArtifactsByContext",
    "GetExecutionsByContext",
    "GetLineageGraph",
    "GetLineageSubgraph",
]


def build_samples(ms, mss):
    """Builds sample messages; runs unchanged against ours and ml_metadata's modules.

    Uses nothing but its arguments: its source is also exec'd in the side venv.
    """
    samples = {}

    artifact = ms.Artifact(
        id=7,
        name="model-7",
        type_id=11,
        type="Model",
        uri="gs://bucket/model/7",
        external_id="ext-model-7",
        state=ms.Artifact.LIVE,
        create_time_since_epoch=1700000000123,
        last_update_time_since_epoch=1700000000456,
    )
    artifact.properties["int"].int_value = -42
    artifact.properties["double"].double_value = 0.25
    artifact.properties["string"].string_value = 'h\u00e9llo\n"quoted"'
    artifact.properties["bool"].bool_value = True
    artifact.custom_properties["struct"].struct_value.update(
        {"list": [1, "two", True, None], "nested": {"x": 1.5, "y": "z"}}
    )
    artifact.custom_properties["proto"].proto_value.Pack(
        ms.Context(id=3, name="ctx", type_id=2, properties={"p": ms.Value(int_value=1)})
    )
    artifact.custom_properties["empty"].string_value = ""
    artifact.system_metadata.Pack(ms.Event(artifact_id=1, type=ms.Event.OUTPUT))
    samples["Artifact"] = artifact

    execution = ms.Execution(
        id=5,
        name="run-5",
        type_id=12,
        last_known_state=ms.Execution.COMPLETE,
        properties={"lr": ms.Value(double_value=0.5)},
        custom_properties={"note": ms.Value(string_value="ok")},
    )
    event = ms.Event(
        artifact_id=7,
        execution_id=5,
        type=ms.Event.DECLARED_OUTPUT,
        milliseconds_since_epoch=1700000000789,
    )
    event.path.steps.add(key="model")
    event.path.steps.add(index=0)
    context = ms.Context(name="pipeline-run-1", type_id=13, external_id="ctx-ext")
    context.properties["run"].int_value = 1

    request = mss.PutExecutionRequest(
        execution=execution,
        contexts=[context],
        options=mss.PutExecutionRequest.Options(
            reuse_context_if_already_exist=True,
            reuse_artifact_if_already_exist_by_external_id=True,
            force_update_time=False,
            force_reuse_context=True,
        ),
        transaction_options=ms.TransactionOptions(tag="txn"),
    )
    request.artifact_event_pairs.add(artifact=artifact, event=event)
    request.artifact_event_pairs.add(artifact=ms.Artifact(type_id=11, uri="/b"))
    samples["PutExecutionRequest"] = request

    artifact_type = ms.ArtifactType(
        id=11,
        name="Model",
        version="v1",
        description="a model",
        external_id="type-ext",
        properties={"int": ms.INT, "double": ms.DOUBLE, "struct": ms.STRUCT, "proto": ms.PROTO, "bool": ms.BOOLEAN},
        base_type=ms.ArtifactType.MODEL,
    )
    execution_type = ms.ExecutionType(
        id=12,
        name="Trainer",
        properties={"lr": ms.DOUBLE},
        base_type=ms.ExecutionType.TRAIN,
    )
    execution_type.input_type.dict.properties["examples"].simple.name = "Examples"
    execution_type.input_type.dict.none_type_not_required = True
    execution_type.output_type.union_type.candidates.add().none.SetInParent()
    execution_type.output_type.union_type.candidates.add().any.SetInParent()
    graph = ms.LineageGraph(
        artifact_types=[artifact_type],
        execution_types=[execution_type],
        context_types=[ms.ContextType(id=13, name="Run", properties={"run": ms.INT})],
        artifacts=[artifact, ms.Artifact(id=8, type_id=11, state=ms.Artifact.DELETED)],
        executions=[execution],
        contexts=[context, ms.Context(id=14, name="parent", type_id=13)],
        events=[event],
        attributions=[ms.Attribution(artifact_id=7, context_id=14)],
        associations=[ms.Association(execution_id=5, context_id=14)],
        parent_contexts=[ms.ParentContext(child_id=15, parent_id=14)],
    )
    samples["LineageGraph"] = graph

    token = ms.ListOperationNextPageToken(
        id_offset=100,
        field_offset=1700000000000,
        set_options=ms.ListOperationOptions(
            max_result_size=5,
            order_by_field=ms.ListOperationOptions.OrderByField(
                field=ms.ListOperationOptions.OrderByField.CREATE_TIME, is_asc=False
            ),
            filter_query="uri LIKE 'gs://%'",
        ),
        listed_ids=[100, 99, 98],
    )
    samples["ListOperationNextPageToken"] = token

    samples["PutLineageSubgraphResponse"] = mss.PutLineageSubgraphResponse(
        execution_ids=[1, 2], artifact_ids=[3, 4, 2**40], context_ids=[5]
    )
    parents = mss.GetParentContextsByContextsResponse()
    parents.contexts[15].parent_contexts.add(id=14, name="parent")
    parents.contexts[16].SetInParent()
    samples["GetParentContextsByContextsResponse"] = parents
    samples["GetParentContextsByContextsRequest"] = mss.GetParentContextsByContextsRequest(context_ids=[15, 16, 17])

    subgraph_request = mss.GetLineageSubgraphRequest(
        lineage_subgraph_query_options=ms.LineageSubgraphQueryOptions(
            starting_artifacts=ms.LineageSubgraphQueryOptions.StartingNodes(filter_query="id = 7"),
            max_num_hops=3,
            direction=ms.LineageSubgraphQueryOptions.UPSTREAM,
            ending_executions=ms.LineageSubgraphQueryOptions.EndingNodes(
                filter_query="name = 'x'", include_ending_nodes=True
            ),
        ),
    )
    subgraph_request.read_mask.paths.extend(["artifacts", "events"])
    samples["GetLineageSubgraphRequest"] = subgraph_request

    config = ms.ConnectionConfig(
        mysql=ms.MySQLDatabaseConfig(
            host="db",
            port=3306,
            database="mlmd",
            user="u",
            password="p",
            ssl_options=ms.MySQLDatabaseConfig.SSLOptions(ca="/ca.pem", verify_server_cert=True),
            skip_db_creation=True,
        ),
        retry_options=ms.RetryOptions(max_num_retries=3),
    )
    samples["ConnectionConfig"] = config
    samples["MetadataStoreServerConfig"] = ms.MetadataStoreServerConfig(
        connection_config=ms.ConnectionConfig(
            sqlite=ms.SqliteMetadataSourceConfig(
                filename_uri="file:/tmp/x.db",
                connection_mode=ms.SqliteMetadataSourceConfig.READWRITE_OPENCREATE,
            )
        ),
        migration_options=ms.MigrationOptions(enable_upgrade_migration=True, downgrade_to_schema_version=9),
    )
    samples["PutArtifactTypeRequest"] = mss.PutArtifactTypeRequest(
        artifact_type=artifact_type, can_add_fields=True, all_fields_match=False
    )
    return samples


SIDE_SCRIPT = r"""
import base64, json, sys
from google.protobuf import descriptor_pb2, message_factory, text_format
from ml_metadata.proto import metadata_store_pb2 as ms
from ml_metadata.proto import metadata_store_service_pb2 as mss
from ml_metadata.simple_types.proto import simple_types_pb2

req = json.load(sys.stdin)
out = {}
b64 = lambda data: base64.b64encode(data).decode("ascii")

def dump(msg):
    return {
        "type": msg.DESCRIPTOR.full_name,
        "text": text_format.MessageToString(msg, as_utf8=True),
        "data": b64(msg.SerializeToString(deterministic=True)),
    }

out["descriptors"] = {
    m.DESCRIPTOR.name: b64(m.DESCRIPTOR.serialized_pb) for m in (ms, mss, simple_types_pb2)
}

system_types = {}
for cls in (ms.ArtifactType, ms.ExecutionType, ms.ContextType):
    enum = cls.DESCRIPTOR.enum_types_by_name["SystemDefinedBaseType"]
    system_types[enum.full_name] = {
        v.name: v.GetOptions().Extensions[ms.system_type_extension].type_name for v in enum.values
    }
out["system_types"] = system_types

service = mss.DESCRIPTOR.services_by_name["MetadataStoreService"]
out["methods"] = [
    [m.name, m.input_type.full_name, m.output_type.full_name, m.GetOptions().deprecated]
    for m in service.methods
]

namespace = {}
exec(req["build_samples"], namespace)
out["samples"] = {name: dump(msg) for name, msg in namespace["build_samples"](ms, mss).items()}

parsed = {}
for name, item in req["parse"].items():
    cls = message_factory.GetMessageClass(
        ms.DESCRIPTOR.pool.FindMessageTypeByName(item["type"])
    )
    parsed[name] = dump(cls.FromString(base64.b64decode(item["data"])))
out["parsed"] = parsed

if req.get("grpc_target"):
    import grpc
    from ml_metadata.proto import metadata_store_service_pb2_grpc as mss_grpc
    with grpc.insecure_channel(req["grpc_target"]) as channel:
        stub = mss_grpc.MetadataStoreServiceStub(channel)
        calls = {}
        resp = stub.PutArtifactType(
            mss.PutArtifactTypeRequest(
                artifact_type=ms.ArtifactType(name="T", properties={"p": ms.STRING}),
                can_add_fields=True,
            ),
            timeout=30,
        )
        calls["PutArtifactType"] = dump(resp)
        resp = stub.GetArtifactsByID(
            mss.GetArtifactsByIDRequest(artifact_ids=[7], populate_artifact_types=True), timeout=30
        )
        calls["GetArtifactsByID"] = dump(resp)
        try:
            stub.GetLineageGraph(mss.GetLineageGraphRequest(), timeout=30)
            calls["GetLineageGraph"] = "OK"
        except grpc.RpcError as err:
            calls["GetLineageGraph"] = err.code().name
    out["grpc"] = calls

json.dump(out, sys.stdout)
"""


def run_side(request: dict) -> dict:
    python = side_python()
    request = {"build_samples": inspect.getsource(build_samples), "parse": {}, **request}
    proc = subprocess.run(
        [python, "-c", SIDE_SCRIPT],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"side venv script failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


def _text(msg) -> str:
    # as_utf8: protobuf 4.x and 6.x differ in how they escape non-ASCII by default.
    return text_format.MessageToString(msg, as_utf8=True)


def _dump(msg) -> dict:
    return {
        "type": msg.DESCRIPTOR.full_name,
        "text": _text(msg),
        "data": base64.b64encode(msg.SerializeToString(deterministic=True)).decode("ascii"),
    }


def _message_class(full_name: str):
    return message_factory.GetMessageClass(ms.DESCRIPTOR.pool.FindMessageTypeByName(full_name))


@pytest.fixture(scope="module")
def our_samples() -> dict:
    return build_samples(ms, mss)


@pytest.fixture(scope="module")
def side(our_samples) -> dict:
    return run_side({"parse": {name: _dump(msg) for name, msg in our_samples.items()}})


def _text_diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    return "".join(
        difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), expected_name, actual_name, n=5)
    )


# (a) ---------------------------------------------------------------------------------------------


def test_generated_modules_are_up_to_date():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) is not installed")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"protos/generate.py --check failed:\n{proc.stdout}{proc.stderr}"


def test_generated_modules_keep_mlmd_file_names_and_our_package():
    for file_name, module in PROTO_FILES.items():
        assert module.DESCRIPTOR.name == file_name
        assert module.DESCRIPTOR.package == "ml_metadata"
    assert ms.Artifact.__module__ == "mlmd_core.proto.metadata_store_pb2"
    assert mss.PutExecutionRequest.__module__ == "mlmd_core.proto.metadata_store_service_pb2"
    assert "ml_metadata" not in sys.modules, "our generated code must not import ml_metadata"


def test_package_reexports():
    expected = {
        "Artifact",
        "ArtifactType",
        "Association",
        "Attribution",
        "ConnectionConfig",
        "Context",
        "ContextType",
        "Event",
        "Execution",
        "ExecutionType",
        "FakeDatabaseConfig",
        "MetadataStoreClientConfig",
        "MySQLDatabaseConfig",
        "ParentContext",
        "SqliteMetadataSourceConfig",
    }
    assert set(proto.__all__) == expected
    for name in expected:
        assert getattr(proto, name) is getattr(ms, name)


# (b) ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", list(PROTO_FILES))
def test_descriptor_equals_mlmd(side, file_name):
    theirs = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(side["descriptors"][file_name]))
    ours = descriptor_pb2.FileDescriptorProto.FromString(PROTO_FILES[file_name].DESCRIPTOR.serialized_pb)
    theirs.ClearField("source_code_info")
    ours.ClearField("source_code_info")
    if ours != theirs:
        diff = _text_diff(
            text_format.MessageToString(theirs),
            text_format.MessageToString(ours),
            f"ml-metadata/{file_name}",
            f"mlmd_core/{file_name}",
        )
        pytest.fail(f"FileDescriptorProto of {file_name} differs from ml-metadata 1.17.1:\n{diff}")
    # Identical bytes: registering both in one pool would be a no-op, not a conflict.
    assert PROTO_FILES[file_name].DESCRIPTOR.serialized_pb == base64.b64decode(side["descriptors"][file_name])


def test_runtime_descriptor_view_matches_serialized():
    """CopyToProto (what the runtime built) agrees with what protoc emitted."""
    for module in PROTO_FILES.values():
        copied = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(copied)
        emitted = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert copied == emitted, module.DESCRIPTOR.name


def test_defaults_and_wire_details():
    assert ms.ListOperationOptions().max_result_size == 20
    assert ms.ListOperationOptions.OrderByField().field == ms.ListOperationOptions.OrderByField.ID
    assert ms.ListOperationOptions.OrderByField().is_asc is True
    assert ms.MigrationOptions().downgrade_to_schema_version == -1
    assert ms.LineageGraphQueryOptions().max_node_size == 20
    assert mss.PutArtifactTypeRequest().all_fields_match is True
    assert mss.PutTypesRequest().all_fields_match is True
    port = ms.MySQLDatabaseConfig.DESCRIPTOR.fields_by_name["port"]
    assert port.type == port.TYPE_INT64
    # Packed proto2 repeated field: one length-delimited record (tag 0x0a).
    assert mss.PutLineageSubgraphResponse(execution_ids=[1, 2]).SerializeToString() == b"\x0a\x02\x01\x02"
    # Unpacked (the default in proto2): one record per element (tag 0x08).
    assert mss.PutArtifactsResponse(artifact_ids=[1, 2]).SerializeToString() == b"\x08\x01\x08\x02"
    assert ms.TransactionOptions.DESCRIPTOR.extension_ranges == [(1000, 536870912)]


# (c) ---------------------------------------------------------------------------------------------


def test_samples_cover_the_important_shapes(our_samples):
    artifact = our_samples["Artifact"]
    assert artifact.custom_properties["struct"].WhichOneof("value") == "struct_value"
    assert artifact.custom_properties["proto"].proto_value.Is(ms.Context.DESCRIPTOR)
    assert {"PutExecutionRequest", "LineageGraph", "ListOperationNextPageToken"} <= set(our_samples)


def test_mlmd_serialized_parses_in_ours(side):
    for name, item in side["samples"].items():
        ours = _message_class(item["type"]).FromString(base64.b64decode(item["data"]))
        assert ours.DESCRIPTOR.file.name in PROTO_FILES, name
        text = _text(ours)
        assert text == item["text"], f"{name}:\n" + _text_diff(item["text"], text, "ml-metadata", "ours")
        # Nothing was left as unknown fields: re-serialization is byte-identical.
        assert ours.SerializeToString(deterministic=True) == base64.b64decode(item["data"]), name


def test_ours_serialized_parses_in_mlmd(side, our_samples):
    assert set(side["parsed"]) == set(our_samples)
    for name, msg in our_samples.items():
        parsed = side["parsed"][name]
        text = _text(msg)
        assert parsed["type"] == msg.DESCRIPTOR.full_name
        assert parsed["text"] == text, f"{name}:\n" + _text_diff(text, parsed["text"], "ours", "ml-metadata")
        assert base64.b64decode(parsed["data"]) == msg.SerializeToString(deterministic=True), name


def test_same_construction_gives_same_bytes(side, our_samples):
    for name, msg in our_samples.items():
        theirs = side["samples"][name]
        assert base64.b64decode(theirs["data"]) == msg.SerializeToString(deterministic=True), name
        assert theirs["text"] == _text(msg), name


def test_page_token_is_urlsafe_base64_of_the_message(our_samples):
    token = our_samples["ListOperationNextPageToken"]
    encoded = base64.urlsafe_b64encode(token.SerializeToString())
    assert ms.ListOperationNextPageToken.FromString(base64.urlsafe_b64decode(encoded)) == token


# (d) ---------------------------------------------------------------------------------------------


def _system_type_names(cls) -> dict:
    enum = cls.DESCRIPTOR.enum_types_by_name["SystemDefinedBaseType"]
    return {v.name: v.GetOptions().Extensions[ms.system_type_extension].type_name for v in enum.values}


def test_system_type_extension_values():
    assert ms.system_type_extension.number == 384560917
    assert ms.system_type_extension.containing_type.full_name == "google.protobuf.EnumValueOptions"
    assert _system_type_names(ms.ArtifactType) == {
        "UNSET": "unset_artifact_type",
        "DATASET": "mlmd.Dataset",
        "MODEL": "mlmd.Model",
        "METRICS": "mlmd.Metrics",
        "STATISTICS": "mlmd.Statistics",
    }
    assert _system_type_names(ms.ExecutionType) == {
        "UNSET": "unset_execution_type",
        "TRAIN": "mlmd.Train",
        "TRANSFORM": "mlmd.Transform",
        "PROCESS": "mlmd.Process",
        "EVALUATE": "mlmd.Evaluate",
        "DEPLOY": "mlmd.Deploy",
    }
    assert _system_type_names(ms.ContextType) == {"UNSET": "unset_context_type"}
    value = ms.ArtifactType.SystemDefinedBaseType.DESCRIPTOR.values_by_number[ms.ArtifactType.MODEL]
    assert value.GetOptions().Extensions[ms.system_type_extension].type_name == "mlmd.Model"


def test_system_type_extension_values_match_mlmd(side):
    ours = {
        cls.DESCRIPTOR.enum_types_by_name["SystemDefinedBaseType"].full_name: _system_type_names(cls)
        for cls in (ms.ArtifactType, ms.ExecutionType, ms.ContextType)
    }
    assert ours == side["system_types"]


# (e) ---------------------------------------------------------------------------------------------


def test_service_methods_in_declaration_order(side):
    service = mss.DESCRIPTOR.services_by_name["MetadataStoreService"]
    assert service.full_name == "ml_metadata.MetadataStoreService"
    assert [m.name for m in service.methods] == RPC_NAMES
    assert len(RPC_NAMES) == 52
    ours = [
        [m.name, m.input_type.full_name, m.output_type.full_name, m.GetOptions().deprecated] for m in service.methods
    ]
    assert ours == side["methods"]
    for method in service.methods:
        assert method.input_type.full_name == f"ml_metadata.{method.name}Request"
        assert method.output_type.full_name == f"ml_metadata.{method.name}Response"


def test_grpc_module_has_every_rpc():
    assert mss_grpc.__name__ == "mlmd_core.proto.metadata_store_service_pb2_grpc"
    servicer_methods = [
        name
        for name, _ in inspect.getmembers(mss_grpc.MetadataStoreServiceServicer, inspect.isfunction)
        if not name.startswith("_")
    ]
    assert sorted(servicer_methods) == sorted(RPC_NAMES)
    source_order = [
        line.split("def ")[1].split("(")[0]
        for line in inspect.getsource(mss_grpc.MetadataStoreServiceServicer).splitlines()
        if line.strip().startswith("def ") and "__init__" not in line
    ]
    assert source_order == RPC_NAMES
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        stub = mss_grpc.MetadataStoreServiceStub(channel)
        for name in RPC_NAMES:
            assert callable(getattr(stub, name)), name
    assert callable(mss_grpc.add_MetadataStoreServiceServicer_to_server)


class _FakeServicer(mss_grpc.MetadataStoreServiceServicer):
    def PutArtifactType(self, request, context):
        assert request.can_add_fields
        assert request.all_fields_match  # default true survived the wire
        return mss.PutArtifactTypeResponse(type_id=100 + len(request.artifact_type.properties))

    def GetArtifactsByID(self, request, context):
        artifact = ms.Artifact(id=request.artifact_ids[0], type_id=10, uri="/u")
        artifact.custom_properties["s"].struct_value.update({"a": [1, "b"]})
        artifact.custom_properties["p"].proto_value.Pack(ms.Event(artifact_id=1))
        types = [ms.ArtifactType(id=10, name="T", base_type=ms.ArtifactType.DATASET)]
        return mss.GetArtifactsByIDResponse(
            artifacts=[artifact], artifact_types=types if request.populate_artifact_types else []
        )


def test_mlmd_grpc_client_talks_to_our_servicer():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    mss_grpc.add_MetadataStoreServiceServicer_to_server(_FakeServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        result = run_side({"grpc_target": f"127.0.0.1:{port}"})["grpc"]
    finally:
        server.stop(grace=None)
    assert result["PutArtifactType"]["text"] == "type_id: 101\n"
    got = mss.GetArtifactsByIDResponse.FromString(base64.b64decode(result["GetArtifactsByID"]["data"]))
    assert got.artifacts[0].id == 7
    assert got.artifacts[0].custom_properties["p"].proto_value.Is(ms.Event.DESCRIPTOR)
    assert got.artifact_types[0].base_type == ms.ArtifactType.DATASET
    assert result["GetLineageGraph"] == "UNIMPLEMENTED"
