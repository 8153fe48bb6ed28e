"""filter_query by example: properties, neighbours (contexts_, events_), dates, ordering and paging.

Two training runs of a small pipeline go into an in-memory store; each query below prints what it finds.
The language is ml-metadata's; docs/filter_query.md has the full reference.

Run with ``python examples/filter_queries.py``.
"""

from __future__ import annotations

import time

import mlmd_core as mlmd
from mlmd_core.proto import metadata_store_pb2 as pb


def build(store: mlmd.MetadataStore) -> int:
    """Run 1 trains on days 1-2, run 2 (a child of an `experiment` context) on days 1-3.

    Returns a time in milliseconds since the epoch between the two runs, for the date queries.
    """
    dataset = store.put_artifact_type(pb.ArtifactType(name="Dataset", properties={"day": pb.INT, "split": pb.STRING}))
    model = store.put_artifact_type(pb.ArtifactType(name="Model", properties={"accuracy": pb.DOUBLE}))
    trainer = store.put_execution_type(pb.ExecutionType(name="Trainer", properties={"lr": pb.DOUBLE}))
    run_type = store.put_context_type(pb.ContextType(name="PipelineRun"))
    experiment_type = store.put_context_type(pb.ContextType(name="Experiment"))
    [experiment] = store.put_contexts([pb.Context(type_id=experiment_type, name="churn")])

    def run(name: str, days: list[int], lr: float, accuracy: float, state: int) -> None:
        data = [pb.Artifact(type_id=dataset, name=f"{name}/day{d}", uri=f"/data/day{d}.csv",
                            properties={"day": pb.Value(int_value=d), "split": pb.Value(string_value="train")})
                for d in days]
        trained = pb.Artifact(type_id=model, name=f"{name}/model", uri=f"/models/{name}",
                              properties={"accuracy": pb.Value(double_value=accuracy)})
        trained.custom_properties["framework"].string_value = "sklearn" if lr < 0.1 else "numpy"
        execution = pb.Execution(type_id=trainer, name=f"{name}/train", last_known_state=state,
                                 properties={"lr": pb.Value(double_value=lr)})
        events = [(a, pb.Event(type=pb.Event.INPUT)) for a in data] + [(trained, pb.Event(type=pb.Event.OUTPUT))]
        _, _, [run_id] = store.put_execution(execution, events, [pb.Context(type_id=run_type, name=name)])
        store.put_parent_contexts([pb.ParentContext(child_id=run_id, parent_id=experiment)])

    run("run-1", [1, 2], lr=0.05, accuracy=0.81, state=pb.Execution.COMPLETE)
    time.sleep(0.02)
    between = int(time.time() * 1000)
    time.sleep(0.02)
    run("run-2", [1, 2, 3], lr=0.2, accuracy=0.93, state=pb.Execution.FAILED)
    return between


def main() -> None:
    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()  # in memory; a SQLite path, MySQL or an mlmd-server work the same
    store = mlmd.MetadataStore(config)
    between = build(store)

    def names(getter: str, query: str, **options: object) -> list[str]:
        """The names of the nodes `store.<getter>` returns for a filter query."""
        found = getattr(store, f"get_{getter}")(mlmd.ListOptions(filter_query=query, **options))
        return [node.name for node in found]

    examples = [
        # attributes and properties
        ("artifacts", "type = 'Model'"),
        ("artifacts", "properties.accuracy.double_value > 0.9"),
        ("artifacts", "custom_properties.framework.string_value = 'sklearn'"),
        ("artifacts", "properties.day.int_value >= 2 AND uri LIKE '%day3%'"),
        ("executions", "last_known_state = FAILED"),
        ("executions", "properties.lr.double_value < 0.1"),
        # neighbours: the contexts a node is in, the events linking it to executions
        ("artifacts", "contexts_r.type = 'PipelineRun' AND contexts_r.name = 'run-1'"),
        ("artifacts", "events_e.type = OUTPUT"),
        ("artifacts", "events_e.type = INPUT AND properties.day.int_value = 1"),
        # from a context: its artifacts, executions and parent contexts
        ("contexts", "artifacts_a.uri = '/data/day3.csv'"),
        ("contexts", "parent_contexts_p.name = 'churn'"),
        ("contexts", "executions_e.last_known_state = COMPLETE"),
        # dates: milliseconds since the epoch
        ("artifacts", f"type = 'Model' AND create_time_since_epoch > {between}"),
        ("executions", f"last_update_time_since_epoch <= {between}"),
    ]
    for getter, query in examples:
        print(f"{getter:10} {query}\n           -> {names(getter, query)}")

    # with ordering and a limit: the two newest datasets of any run
    newest = names("artifacts", "type = 'Dataset'", limit=2, order_by=mlmd.OrderByField.ID, is_asc=False)
    print(f"newest two datasets: {newest}")
    # scoped to one context: get_artifacts_by_context takes the same options
    [run2] = [c for c in store.get_contexts_by_type("PipelineRun") if c.name == "run-2"]
    in_run2 = store.get_artifacts_by_context(run2.id, list_options=mlmd.ListOptions(
        filter_query="properties.day.int_value > 1"))
    print(f"run-2 datasets after day 1: {[a.name for a in in_run2]}")
    # a mistyped query is an InvalidArgumentError that says what is wrong
    try:
        names("artifacts", "properties.day.int_value = 'one'")
    except mlmd.errors.InvalidArgumentError as exc:
        print(f"bad query: {exc}")
    store.close()


if __name__ == "__main__":
    main()
