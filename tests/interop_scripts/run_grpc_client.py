"""Drives an mlmd-server through a MetadataStoreClientConfig: with google's ml-metadata (the side venv's
python, the default) or with mlmd_core (``--lib mlmd_core``, the main venv's python).

Usage::

    python run_grpc_client.py [--lib L] populate HOST PORT [VARIANT]  # scenario.POPULATE[VARIANT] over gRPC
    python run_grpc_client.py [--lib L] dump HOST PORT DB OUT.json     # scenario.dump over gRPC (DB: the
                                                                       # server's SQLite file, read for the plan)
    python run_grpc_client.py [--lib L] walkthrough HOST PORT OUT.json # the MLMD getting-started walkthrough

Exits non-zero with the traceback on stderr when the library raises outside a recorded call.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# scenario.py sits next to this script, and the script's directory comes first on sys.path.
import scenario


def _library(name: str) -> tuple[Any, Any]:
    if name == "mlmd_core":
        import mlmd_core as mlmd
        from mlmd_core.proto import metadata_store_pb2 as pb
    else:
        import ml_metadata as mlmd
        from ml_metadata.proto import metadata_store_pb2 as pb
    return mlmd, pb


def connect(mlmd: Any, pb: Any, host: str, port: int) -> Any:
    config = pb.MetadataStoreClientConfig(host=host, port=port, client_timeout_sec=120)
    return mlmd.MetadataStore(config)


def _as_protos(pb: Any, result: Any) -> Any:
    """Ids (ints, lists and tuples of them) as pb.Value messages, so scenario.encode can record them."""
    if isinstance(result, int):
        return pb.Value(int_value=result)
    if isinstance(result, tuple):
        return tuple(_as_protos(pb, r) for r in result)
    if isinstance(result, list):
        return [_as_protos(pb, r) for r in result]
    return result


def walkthrough(mlmd: Any, pb: Any, store: Any) -> dict[str, dict[str, Any]]:
    """ml-metadata's getting-started guide, every answer recorded (errors included)."""
    out: dict[str, dict[str, Any]] = {}

    def rec(key: str, fn: Any) -> Any:
        try:
            result = fn()
        except Exception as exc:
            out[key] = {"error": type(exc).__name__, "message": str(exc)[:500]}
            return None
        out[key] = scenario.encode(_as_protos(pb, result))
        return result

    data_type = pb.ArtifactType(name="DataSet")
    data_type.properties["day"] = pb.INT
    data_type.properties["split"] = pb.STRING
    data_type_id = rec("put_artifact_type DataSet", lambda: store.put_artifact_type(data_type))
    trainer_type = pb.ExecutionType(name="Trainer")
    trainer_type.properties["state"] = pb.STRING
    trainer_type_id = rec("put_execution_type Trainer", lambda: store.put_execution_type(trainer_type))
    model_type = pb.ArtifactType(name="SavedModel")
    model_type.properties["version"] = pb.INT
    model_type.properties["name"] = pb.STRING
    model_type_id = rec("put_artifact_type SavedModel", lambda: store.put_artifact_type(model_type))
    rec("put_artifact_type DataSet again", lambda: store.put_artifact_type(data_type))
    clash = pb.ArtifactType(name="DataSet")
    clash.properties["day"] = pb.STRING
    rec("put_artifact_type conflicting", lambda: store.put_artifact_type(clash))

    data = pb.Artifact(uri="path/to/data", type_id=data_type_id)
    data.properties["day"].int_value = 1
    data.properties["split"].string_value = "train"
    [data_id] = rec("put_artifacts data", lambda: store.put_artifacts([data]))
    run = pb.Execution(type_id=trainer_type_id)
    run.properties["state"].string_value = "RUNNING"
    [run_id] = rec("put_executions run", lambda: store.put_executions([run]))
    input_event = pb.Event(artifact_id=data_id, execution_id=run_id, type=pb.Event.DECLARED_INPUT)
    rec("put_events input", lambda: store.put_events([input_event]))

    model = pb.Artifact(uri="path/to/model/file", type_id=model_type_id)
    model.properties["version"].int_value = 1
    model.properties["name"].string_value = "MNIST-v1"
    [model_id] = rec("put_artifacts model", lambda: store.put_artifacts([model]))
    output_event = pb.Event(artifact_id=model_id, execution_id=run_id, type=pb.Event.DECLARED_OUTPUT)
    rec("put_events output", lambda: store.put_events([output_event]))
    run.id = run_id
    run.properties["state"].string_value = "COMPLETED"
    rec("put_executions completed", lambda: store.put_executions([run]))

    experiment_type = pb.ContextType(name="Experiment")
    experiment_type.properties["note"] = pb.STRING
    experiment_type_id = rec("put_context_type", lambda: store.put_context_type(experiment_type))
    experiment = pb.Context(type_id=experiment_type_id, name="exp1")
    experiment.properties["note"].string_value = "My first experiment."
    [experiment_id] = rec("put_contexts", lambda: store.put_contexts([experiment]))
    rec("put_attributions_and_associations", lambda: store.put_attributions_and_associations(
        [pb.Attribution(context_id=experiment_id, artifact_id=model_id)],
        [pb.Association(context_id=experiment_id, execution_id=run_id)]))

    # a second run through put_execution, as TFX records a component
    run2 = pb.Execution(type_id=trainer_type_id, name="run2", last_known_state=pb.Execution.COMPLETE)
    model2 = pb.Artifact(type_id=model_type_id, uri="path/to/model/2", name="model2")
    rec("put_execution", lambda: store.put_execution(
        run2, [(pb.Artifact(id=data_id), pb.Event(type=pb.Event.INPUT)), (model2, pb.Event(type=pb.Event.OUTPUT))],
        [experiment], reuse_context_if_already_exist=True))

    rec("get_artifact_types", store.get_artifact_types)
    rec("get_artifacts_by_type DataSet", lambda: store.get_artifacts_by_type("DataSet"))
    rec("get_artifacts_by_id", lambda: store.get_artifacts_by_id([data_id, model_id]))
    rec("get_executions_by_id", lambda: store.get_executions_by_id([run_id]))
    rec("get_executions", store.get_executions)
    rec("get_events_by_artifact_ids", lambda: store.get_events_by_artifact_ids([data_id]))
    rec("get_events_by_execution_ids", lambda: store.get_events_by_execution_ids([run_id]))
    rec("get_artifacts_by_context", lambda: store.get_artifacts_by_context(experiment_id))
    rec("get_executions_by_context", lambda: store.get_executions_by_context(experiment_id))
    rec("get_contexts_by_artifact", lambda: store.get_contexts_by_artifact(model_id))
    rec("get_context_by_type_and_name", lambda: store.get_context_by_type_and_name("Experiment", "exp1"))
    rec("get_artifact_by_type_and_name missing", lambda: store.get_artifact_by_type_and_name("DataSet", "nope"))
    rec("get_artifact_type missing", lambda: store.get_artifact_type("Missing"))
    rec("filter", lambda: store.get_artifacts(list_options=mlmd.ListOptions(
        filter_query="type = 'SavedModel' AND properties.version.int_value = 1")))
    rec("paging", lambda: store.get_artifacts(list_options=mlmd.ListOptions(
        limit=2, order_by=mlmd.OrderByField.ID, is_asc=False)))
    rec("get_lineage_subgraph", lambda: store.get_lineage_subgraph(pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(filter_query="uri = 'path/to/model/file'"),
        max_num_hops=4)))
    return out


def _write(out: str, data: object) -> None:
    with open(out, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def main(argv: list[str]) -> int:
    args = argv[1:]
    lib = "ml_metadata"
    if args[0] == "--lib":
        lib, args = args[1], args[2:]
    mlmd, pb = _library(lib)
    command, host, port = args[0], args[1], int(args[2])
    store = connect(mlmd, pb, host, port)
    if command == "populate":
        scenario.POPULATE[args[3] if len(args) > 3 else "full"](mlmd, pb, store)
    elif command == "dump":
        _write(args[4], scenario.dump(mlmd, pb, store, args[3]))
    elif command == "walkthrough":
        _write(args[3], walkthrough(mlmd, pb, store))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
