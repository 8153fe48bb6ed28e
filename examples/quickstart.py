"""The ML Metadata getting-started walkthrough on mlmd_core's embedded store.

It is ml-metadata's own walkthrough with one line changed: ``import mlmd_core as mlmd``.
Run it with ``make demo`` or ``python examples/quickstart.py [path/to/store.sqlite]``.
"""

import sys

import mlmd_core as mlmd
from mlmd_core import metadata_store
from mlmd_core.proto import metadata_store_pb2


def connect(path: str | None) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    if path:
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    else:
        config.fake_database.SetInParent()  # in memory, for as long as the store object lives
    return metadata_store.MetadataStore(config)


def main(path: str | None = None) -> None:
    store = connect(path)

    # Types: what kinds of artifacts, executions and contexts there are, and their properties.
    data_type = metadata_store_pb2.ArtifactType(name="DataSet")
    data_type.properties["day"] = metadata_store_pb2.INT
    data_type.properties["split"] = metadata_store_pb2.STRING
    data_type_id = store.put_artifact_type(data_type)

    model_type = metadata_store_pb2.ArtifactType(name="SavedModel")
    model_type.properties["version"] = metadata_store_pb2.INT
    model_type.properties["name"] = metadata_store_pb2.STRING
    model_type_id = store.put_artifact_type(model_type)

    trainer_type = metadata_store_pb2.ExecutionType(name="Trainer")
    trainer_type.properties["state"] = metadata_store_pb2.STRING
    trainer_type_id = store.put_execution_type(trainer_type)

    experiment_type = metadata_store_pb2.ContextType(name="Experiment")
    experiment_type.properties["note"] = metadata_store_pb2.STRING
    experiment_type_id = store.put_context_type(experiment_type)
    print(f"registered types: DataSet={data_type_id} SavedModel={model_type_id} "
          f"Trainer={trainer_type_id} Experiment={experiment_type_id}")

    # An input dataset.
    data_artifact = metadata_store_pb2.Artifact(uri="path/to/data", type_id=data_type_id)
    data_artifact.properties["day"].int_value = 1
    data_artifact.properties["split"].string_value = "train"
    [data_artifact_id] = store.put_artifacts([data_artifact])

    # A training run that reads it.
    trainer_run = metadata_store_pb2.Execution(type_id=trainer_type_id)
    trainer_run.properties["state"].string_value = "RUNNING"
    [run_id] = store.put_executions([trainer_run])
    input_event = metadata_store_pb2.Event(artifact_id=data_artifact_id, execution_id=run_id,
                                           type=metadata_store_pb2.Event.DECLARED_INPUT)
    store.put_events([input_event])

    # The model it writes.
    model_artifact = metadata_store_pb2.Artifact(uri="path/to/model/file", type_id=model_type_id)
    model_artifact.properties["version"].int_value = 1
    model_artifact.properties["name"].string_value = "MNIST-v1"
    [model_artifact_id] = store.put_artifacts([model_artifact])
    output_event = metadata_store_pb2.Event(artifact_id=model_artifact_id, execution_id=run_id,
                                            type=metadata_store_pb2.Event.DECLARED_OUTPUT)
    store.put_events([output_event])

    trainer_run.id = run_id
    trainer_run.properties["state"].string_value = "COMPLETED"
    store.put_executions([trainer_run])

    # The experiment groups them.
    experiment = metadata_store_pb2.Context(type_id=experiment_type_id, name="exp1")
    experiment.properties["note"].string_value = "My first experiment."
    [experiment_id] = store.put_contexts([experiment])
    attribution = metadata_store_pb2.Attribution(artifact_id=model_artifact_id, context_id=experiment_id)
    association = metadata_store_pb2.Association(execution_id=run_id, context_id=experiment_id)
    store.put_attributions_and_associations([attribution], [association])
    print(f"recorded: dataset={data_artifact_id} run={run_id} model={model_artifact_id} "
          f"experiment={experiment_id}")

    # Queries.
    print("artifacts:", [(a.id, a.type, a.uri) for a in store.get_artifacts()])
    print("by id:", [a.uri for a in store.get_artifacts_by_id([model_artifact_id])])
    print("by uri:", [a.id for a in store.get_artifacts_by_uri("path/to/data")])
    print("by type DataSet:", [a.id for a in store.get_artifacts_by_type("DataSet")])
    print("executions:", [(e.id, e.type, e.properties["state"].string_value) for e in store.get_executions()])
    print("trainer types:", [t.name for t in store.get_execution_types_by_id([trainer_type_id])])
    print("artifacts in exp1:", [a.id for a in store.get_artifacts_by_context(experiment_id)])
    print("executions in exp1:", [e.id for e in store.get_executions_by_context(experiment_id)])
    events = store.get_events_by_artifact_ids([model_artifact_id])
    producer = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.DECLARED_OUTPUT]
    print("model produced by execution:", producer)
    inputs = [e.artifact_id for e in store.get_events_by_execution_ids(producer)
              if e.type == metadata_store_pb2.Event.DECLARED_INPUT]
    print("which read artifacts:", [a.uri for a in store.get_artifacts_by_id(inputs)])
    print(f"(mlmd_core {mlmd.__version__})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
