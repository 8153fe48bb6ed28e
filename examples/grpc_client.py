"""Talking to an mlmd-server over gRPC: start one, check its health, write and read through two clients.

The server is the real `mlmd-server` process (`python -m mlmd_core.grpc`) on a free loopback port, serving
a SQLite file; `mlmd_core.grpc.testing.ServerProcess` starts it, reads the port from its startup log line and
stops it with SIGTERM. Against a server of your own, only the `MetadataStoreClientConfig` below matters:
`MetadataStore(MetadataStoreClientConfig(host=..., port=...))` has the same methods as the in-process store.

Run with ``python examples/grpc_client.py`` (a temporary directory) or ``python examples/grpc_client.py DIR``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import mlmd_core as mlmd
from mlmd_core import errors
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb


def health(port: int) -> str:
    """The status the standard grpc.health.v1 service reports for the MLMD service (what probes ask)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="ml_metadata.MetadataStoreService"), timeout=10)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def record_training(store: mlmd.MetadataStore) -> int:
    """One trainer execution reading a dataset and writing a model; returns the execution's id."""
    dataset = store.put_artifact_type(pb.ArtifactType(name="Dataset"))
    model = store.put_artifact_type(pb.ArtifactType(name="Model", properties={"accuracy": pb.DOUBLE}))
    trainer = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    execution_id, _, _ = store.put_execution(
        pb.Execution(type_id=trainer, name="train-1", last_known_state=pb.Execution.COMPLETE),
        [(pb.Artifact(type_id=dataset, uri="/data/train.csv"), pb.Event(type=pb.Event.INPUT)),
         (pb.Artifact(type_id=model, uri="/models/1", properties={"accuracy": pb.Value(double_value=0.91)}),
          pb.Event(type=pb.Event.OUTPUT))],
        [])
    return execution_id


def main(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    server_config = pb.MetadataStoreServerConfig()
    server_config.connection_config.sqlite.filename_uri = str(workdir / "metadata.sqlite")
    config_file = write_server_config(workdir / "server.pbtxt", server_config)

    with ServerProcess([f"--metadata_store_server_config_file={config_file}", "--grpc_threads=4"]) as server:
        print(f"mlmd-server listening on 127.0.0.1:{server.port}, health: {health(server.port)}")

        # a client: MetadataStore with a MetadataStoreClientConfig; building it does no I/O
        writer = mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=server.port,
                                                                 client_timeout_sec=10))
        execution_id = record_training(writer)
        print(f"writer recorded execution {execution_id}")

        # another client (another worker, a notebook) sees the same store
        reader = mlmd.MetadataStore(server.client_config(client_timeout_sec=10))
        events = reader.get_events_by_execution_ids([execution_id])
        [output] = [e.artifact_id for e in events if e.type == pb.Event.OUTPUT]
        [model] = reader.get_artifacts_by_id([output])
        print(f"reader sees model {model.uri} with accuracy {model.properties['accuracy'].double_value}")
        models = reader.get_artifacts(mlmd.ListOptions(filter_query="properties.accuracy.double_value > 0.9"))
        print(f"filter over gRPC: {[a.uri for a in models]}")

        # errors come back as the same mlmd_core.errors classes as in-process
        try:
            reader.get_artifact_type("Metrics")
        except errors.NotFoundError as exc:
            print(f"NotFoundError over gRPC: {exc}")
        writer.close()
        reader.close()
        status = server.terminate()  # SIGTERM: health turns NOT_SERVING, in-flight calls finish, exit 0
    print(f"server stopped with exit status {status}")

    # every failed call was logged as one JSON line on the server's stderr
    failures = [json.loads(line[line.index("{"):]) for line in server.log if '"rpc_failed"' in line]
    print("server log: " + ", ".join(f"{f['method']} {f['code']}" for f in failures))

    # the data is in the SQLite file: open it in-process, read-only
    local = pb.ConnectionConfig()
    local.sqlite.filename_uri = str(workdir / "metadata.sqlite")
    local.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    with mlmd.MetadataStore(local) as store:
        print(f"in the file: {[e.name for e in store.get_executions()]}, {len(store.get_artifacts())} artifacts")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
