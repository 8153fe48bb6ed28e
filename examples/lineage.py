"""Lineage on a small ML pipeline: what went into the model, what a dataset touched, what a run did.

Run with ``python examples/lineage.py``.
"""

import mlmd_core as mlmd
from mlmd_core import lineage
from mlmd_core.proto import metadata_store_pb2 as pb


def build(store: mlmd.MetadataStore) -> dict[str, int]:
    """ingest -> raw, clean(raw) -> clean, train(clean, config) -> model, evaluate(model, clean) -> metrics."""
    dataset = store.put_artifact_type(pb.ArtifactType(name="Dataset"))
    model = store.put_artifact_type(pb.ArtifactType(name="Model"))
    metrics = store.put_artifact_type(pb.ArtifactType(name="Metrics"))
    step = store.put_execution_type(pb.ExecutionType(name="Step"))
    run_type = store.put_context_type(pb.ContextType(name="PipelineRun"))
    ids: dict[str, int] = {}
    run = pb.Context(type_id=run_type, name="run-1")

    def execute(name: str, inputs: list[str], outputs: list[tuple[str, int, str]]) -> None:
        # put_execution writes the artifacts it is given in full, so inputs go in as stored, not as bare ids
        stored = store.get_artifacts_by_id([ids[i] for i in inputs])
        pairs = [(a, pb.Event(type=pb.Event.INPUT)) for a in sorted(stored, key=lambda a: inputs.index(a.name))]
        pairs += [(pb.Artifact(type_id=t, name=o, uri=uri), pb.Event(type=pb.Event.OUTPUT)) for o, t, uri in outputs]
        execution = pb.Execution(type_id=step, name=name, last_known_state=pb.Execution.COMPLETE)
        _, artifact_ids, [ids["run"]] = store.put_execution(execution, pairs, [run],
                                                            reuse_context_if_already_exist=True)
        for (o, _, _), artifact_id in zip(outputs, artifact_ids[len(inputs):]):
            ids[o] = artifact_id

    [ids["config"]] = store.put_artifacts([pb.Artifact(type_id=dataset, name="config", uri="/cfg/train.yaml")])
    execute("ingest", [], [("raw", dataset, "/data/raw")])
    execute("clean", ["raw"], [("clean", dataset, "/data/clean")])
    execute("train", ["clean", "config"], [("model", model, "/models/1")])
    execute("evaluate", ["model", "clean"], [("metrics", metrics, "/metrics/1")])
    return ids


def main() -> None:
    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    store = mlmd.MetadataStore(config)
    ids = build(store)

    up = lineage.upstream(store, ids["model"])
    print("upstream of the model:")
    print(up.to_mermaid())
    print("provenance of the model:", [n.name for n in lineage.provenance(store, ids["model"])])
    print("impact of the raw data:", [n.name for n in lineage.impact(store, ids["raw"])])

    run = lineage.run_graph(store, ids["run"])
    print("run-1:", len(run.executions()), "executions,", len(run.artifacts()), "artifacts,",
          len(run.edges), "edges; external:", [n.name for n in run.artifacts() if n.external])
    print(run.to_dot().splitlines()[0], "...")

    graph = store.get_lineage_graph(pb.LineageGraphQueryOptions(
        artifacts_options=pb.ListOperationOptions(filter_query="name = 'metrics'"),
        stop_conditions=pb.LineageGraphQueryOptions.BoundaryConstraint(max_num_hops=2)))
    print("get_lineage_graph, 2 hops from the metrics:", sorted(a.name for a in graph.artifacts),
          sorted(e.name for e in graph.executions))


if __name__ == "__main__":
    main()
