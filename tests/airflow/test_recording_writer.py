"""The MLMD side of the mapping without running Airflow: idempotent writes, concurrent writers, XCom value
recording, and the step naming that must not depend on how a DAG file was imported."""

from __future__ import annotations

import hashlib
import os
import threading
import types
from pathlib import Path

import pytest
from recording_helpers import DAGS_DIR, events, executions, open_store

from mlmd_airflow.recording import Writer, model, snapshot
from mlmd_core.proto import metadata_store_pb2 as pb


def _run(state: int = pb.Execution.RUNNING, **changes: object) -> model.TaskRun:
    run = model.TaskRun(dag_id="d", run_id="r1", task_id="t", map_index=-1, try_number=1,
                        execution_type="pkg.step", operator="pkg.Op", state=state, airflow_state="running")
    for key, value in changes.items():
        setattr(run, key, value)
    return run


ASSET = model.AssetRef(uri="s3://b/k", name="k", extra={"a": 1})


def test_repeated_writes_from_fresh_writers_are_idempotent(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.sqlite")
    out = model.XComRef("d", "r1", "t", -1, "return_value", {"b": 2, "a": 1}, True)
    first = Writer(store).record(_run(inputs=[ASSET], outputs=[out]))
    # Another process (new Writer, empty caches) writes the same record, then the final state.
    again = Writer(store).record(_run(inputs=[ASSET], outputs=[out]))
    done = Writer(store).record(_run(pb.Execution.COMPLETE, airflow_state="success", outputs=[ASSET, out]))
    assert first == again == done
    [execution] = store.get_executions()
    assert execution.last_known_state == pb.Execution.COMPLETE
    assert events(store, execution.id) == [
        ("INPUT", "asset:s3://b/k", ("k",)), ("OUTPUT", "asset:s3://b/k", ("k",)),
        ("OUTPUT", "xcom:d/r1/t/-1/return_value", ("return_value",))]
    assert len(store.get_artifacts()) == 2
    assert len(store.get_contexts()) == 2
    [run_ctx] = store.get_contexts_by_type(model.DAG_RUN_CONTEXT_TYPE)
    assert len(store.get_parent_contexts_by_context(run_ctx.id)) == 1


def test_concurrent_writers_of_one_run_and_asset(tmp_path: Path) -> None:
    """Eight 'workers' (threads, own Writers and store handles) record tasks of one run touching one Asset."""
    path = tmp_path / "m.sqlite"
    open_store(path).close()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            store = open_store(path)
            Writer(store).record(_run(task_id=f"t{i}", outputs=[ASSET]))
            store.close()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_store(path)
    assert len(store.get_executions()) == 8
    assert [a.external_id for a in store.get_artifacts()] == ["asset:s3://b/k"]
    assert len(store.get_contexts()) == 2
    assert len(store.get_events_by_artifact_ids([store.get_artifacts()[0].id])) == 8


@pytest.mark.parametrize("mode,max_bytes,stored", [("value", 4096, True), ("value", 10, False),
                                                   ("reference", 4096, False)])
def test_record_xcom_value(tmp_path: Path, mode: str, max_bytes: int, stored: bool) -> None:
    store = open_store(tmp_path / "m.sqlite")
    value = {"z": [1, 2], "a": "ü"}
    out = model.XComRef("d", "r1", "t", -1, "return_value", value, True)
    Writer(store).record(_run(outputs=[out], record_xcom=mode, xcom_value_max_bytes=max_bytes))
    [artifact] = store.get_artifacts()
    text = '{"a":"ü","z":[1,2]}'  # canonical: sorted keys, no spaces, UTF-8
    assert artifact.properties["sha256"].string_value == hashlib.sha256(text.encode()).hexdigest()
    assert artifact.properties["size"].int_value == len(text.encode())
    assert ("value" in artifact.properties) is stored
    if stored:
        assert artifact.properties["value"].string_value == text


def test_fingerprint_ignores_dict_order_but_not_content() -> None:
    assert model.xcom_fingerprint({"a": 1, "b": 2}) == model.xcom_fingerprint({"b": 2, "a": 1})
    assert model.xcom_fingerprint({"a": 1}) != model.xcom_fingerprint({"a": 2})
    assert model.xcom_fingerprint((1, 2))[2] != model.xcom_fingerprint([1, 2])[2]  # serde keeps tuples apart


def test_reduce_query_with_unquotable_run_id_is_skipped(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.sqlite")
    query = model.XComQuery("d", "r'\"", "up", "return_value")
    Writer(store).record(_run(run_id="r'\"", inputs=[query]))
    [e] = executions(store).values()
    assert events(store, e["id"]) == []


def _function_from(path: Path, module_name: str) -> types.FunctionType:
    code = compile("def my_dag():\n    def train():\n        pass\n    return train\n", str(path), "exec")
    namespace: dict = {"__name__": module_name}
    exec(code, namespace)
    return namespace["my_dag"]()


def test_step_names_do_not_depend_on_how_the_dag_file_was_imported(tmp_path: Path) -> None:
    in_dags = DAGS_DIR / "mlmd_lineage.py"
    # dag-processor / worker import name, `python dag.py`, and a plain import: one ExecutionType name
    names = {snapshot.code_path(_function_from(in_dags, m)) for m in (
        "unusual_prefix_0123abcd_mlmd_lineage", "__main__", "mlmd_lineage", "tests.airflow.dags.mlmd_lineage")}
    assert names == {"mlmd_lineage.my_dag.train"}
    # outside the DAGs folder, library code keeps its module; a script run as __main__ is named after its file
    elsewhere = tmp_path / "steps.py"
    assert snapshot.code_path(_function_from(elsewhere, "mylib.steps")) == "mylib.steps.my_dag.train"
    assert snapshot.code_path(_function_from(elsewhere, "__main__")) == "steps.my_dag.train"
    assert os.path.isdir(DAGS_DIR)


def test_openlineage_datasets_become_artifacts(tmp_path: Path) -> None:
    """An operator that reports datasets to the OpenLineage provider (installed in the dev environment) through
    get_openlineage_facets_on_complete(): its real OperatorLineage datasets become artifacts."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import BaseOperator
    from openlineage.client.event_v2 import Dataset

    class Query(BaseOperator):
        def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage:
            return OperatorLineage(inputs=[Dataset("postgres://db:5432", "shop.public.orders")],
                                   outputs=[Dataset("s3://bucket", "reports/daily.parquet"), Dataset("", "no-ns")])

    assert snapshot.openlineage_available()
    inputs, outputs = snapshot.openlineage_artifacts(Query(task_id="q"), None)
    store = open_store(tmp_path / "m.sqlite")
    Writer(store).record(_run(inputs=inputs, outputs=outputs))
    [e] = executions(store).values()
    assert events(store, e["id"]) == [
        ("INPUT", "openlineage:postgres://db:5432/shop.public.orders", ("postgres://db:5432/shop.public.orders",)),
        ("OUTPUT", "openlineage:s3://bucket/reports/daily.parquet", ("s3://bucket/reports/daily.parquet",))]
    [orders] = store.get_artifacts_by_uri("postgres://db:5432/shop.public.orders")
    assert {k: v.string_value for k, v in orders.properties.items()} == {
        "namespace": "postgres://db:5432", "name": "shop.public.orders"}
    assert store.get_artifact_type(model.OPENLINEAGE_DATASET_TYPE).properties["namespace"] == pb.STRING


def test_a_new_process_reads_the_types_it_needs_instead_of_putting_them(tmp_path: Path, mocker) -> None:
    """A task process (a new Writer) whose types are stored already only reads them: putting a type takes the
    lock that serializes type writes (SQLite's write lock, a row lock on a server), which task processes starting
    together would queue for. A type that lacks a property the listener needs is put, and gets it."""
    store = open_store(tmp_path / "m.sqlite")
    Writer(store).record(_run())  # the first task ever: the types are created
    puts = [mocker.spy(store, f"put_{kind}_type") for kind in ("artifact", "execution", "context")]
    out = model.XComRef("d", "r1", "t", -1, "return_value", {"a": 1}, True)
    Writer(store).record(_run(pb.Execution.COMPLETE, airflow_state="success", outputs=[out]))
    assert [spy.call_count for spy in puts] == [1, 0, 0]  # only the XCom type, new
    Writer(store).record(_run(pb.Execution.COMPLETE, airflow_state="success", outputs=[out]))
    assert [spy.call_count for spy in puts] == [1, 0, 0]

    older = open_store(tmp_path / "older.sqlite")  # its step's type written by a release with fewer properties
    older.put_execution_type(pb.ExecutionType(name="pkg.step", properties={"dag_id": pb.STRING}))
    put_execution_type = mocker.spy(older, "put_execution_type")
    Writer(older).record(_run())
    assert put_execution_type.call_count == 1
    assert set(older.get_execution_type("pkg.step").properties) == set(model.EXECUTION_PROPERTIES)
