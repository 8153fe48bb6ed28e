"""mlmd_airflow.api.graph without a server: redaction, non-Airflow stores, and a bounded number of store calls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lineage_fixture import XSS_NAME, record_demo, record_wide

from mlmd_airflow.api import graph
from mlmd_core import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb


@pytest.fixture
def store(tmp_path: Path) -> Any:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    s = MetadataStore(config)
    yield s
    s.close()


def test_demo_run(store: MetadataStore) -> None:
    ids = record_demo(store).executions
    g = graph.run_graph(store, "ui_demo", "run2")
    by_label = {n["label"]: n for n in g["nodes"]}
    assert by_label["train"]["cached_from"]["execution_id"] == ids[("ui_demo", "run1", "train")]
    assert by_label["train.return_value"]["external"] is True  # the reused output, computed in run 1
    assert by_label["train.return_value"]["origin"]["run_id"] == "run1"
    assert by_label["extract.return_value"]["external"] is False
    assert by_label["features"]["origin"]["dag_id"] == "ui_upstream"
    assert by_label[XSS_NAME]["external"] is True
    assert g["context"]["name"] == "ui_demo/run2"


def test_unreadable_dags_are_redacted(store: MetadataStore) -> None:
    record_demo(store)
    g = graph.run_graph(store, "ui_demo", "run2", readable=lambda dag_id: dag_id == "ui_demo")
    origin = {n["label"]: n for n in g["nodes"]}["features"]["origin"]
    assert origin["hidden"] is True and "dag_id" not in origin and "run_id" not in origin
    asset = {n["label"]: n for n in g["nodes"]}["features"]["id"]
    detail = graph.artifact_detail(store, asset, readable=lambda dag_id: dag_id == "ui_demo")
    assert [p.get("hidden") for p in detail["producers"]] == [True]
    assert {c["run_id"] for c in detail["consumers"]} == {"run1", "run2"}
    hidden = graph.execution_detail(store, detail["producers"][0]["execution_id"], readable=lambda d: False)
    assert hidden.get("hidden") is True and "properties" not in hidden


def test_any_mlmd_context(store: MetadataStore) -> None:
    """A store written by plain MLMD code (TFX, KFP, ...): no Airflow properties, same graph."""
    ctype = store.put_context_type(pb.ContextType(name="pipeline_run"))
    etype = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    atype = store.put_artifact_type(pb.ArtifactType(name="Model"))
    [ctx] = store.put_contexts([pb.Context(type_id=ctype, name="run-1")])
    model = pb.Artifact(type_id=atype, uri="/models/1")
    event = pb.Event(type=pb.Event.OUTPUT)
    trainer = pb.Execution(type_id=etype, last_known_state=pb.Execution.COMPLETE)
    store.put_execution(trainer, [(model, event)], [pb.Context(id=ctx, type_id=ctype, name="run-1")])
    g = graph.context_graph(store, ctx)
    assert {(n["kind"], n["label"], n["state"]) for n in g["nodes"]} == {
        ("execution", "Trainer #1", "COMPLETE"), ("artifact", "1", "")}
    assert g["edges"] == [{"source": "execution:1", "target": "artifact:1", "event": "OUTPUT"}]
    assert graph.run_graph(store, "nope", "nope")["recorded"] is False
    with pytest.raises(graph.LineageNotFound):
        graph.context_graph(store, 12345)
    assert [r["name"] for r in graph.recent_contexts(store)] == ["run-1"]


def _count_calls(store: MetadataStore) -> list[str]:
    calls: list[str] = []
    real = store._call

    def counting(method: str, request: Any) -> Any:
        calls.append(method)
        return real(method, request)

    store._call = counting  # type: ignore[method-assign]
    return calls


def test_store_calls_do_not_grow_with_the_run(store: MetadataStore) -> None:
    record_wide(store, "small", "r", 5)
    record_wide(store, "big", "r", 250)
    calls = _count_calls(store)
    graph.run_graph(store, "small", "r")
    small = list(calls)
    calls.clear()
    started = time.perf_counter()
    big = graph.run_graph(store, "big", "r")
    elapsed = time.perf_counter() - started
    assert len(big["nodes"]) == 500 and len(big["edges"]) == 499
    # the same calls; only mlmd_core's paging of the by-context listings (pages of 100) adds a few
    assert set(calls) == set(small) and len(calls) <= len(small) + 8, (small, calls)
    print(f"graph of a 500-node run: {elapsed * 1000:.0f} ms, {len(calls)} store calls")
    assert elapsed < 2.0  # benchmark target is < 100 ms; loose here, the machine is shared


def test_recent_dag_runs(store: MetadataStore) -> None:
    record_demo(store)
    runs = graph.recent_dag_runs(store)
    assert [(r["dag_id"], r["run_id"]) for r in runs] == [("ui_demo", "run2"), ("ui_demo", "run1"),
                                                         ("ui_upstream", "up1")]
    assert all(r["context_id"] for r in runs)
    assert [r["run_id"] for r in graph.recent_dag_runs(store, {"ui_upstream", "it's"})] == ["up1"]
    assert graph.recent_dag_runs(store, set()) == []
    assert len(graph.recent_dag_runs(store, limit=1)) == 1


def test_search_artifacts(store: MetadataStore) -> None:
    record_demo(store)
    [features] = graph.search_artifacts(store, "LAKE/FEAT")
    assert features["uri"] == "s3://lake/features" and features["label"] == "features"
    assert [p["run_id"] for p in features["producers"]] == ["up1"]
    assert {c["run_id"] for c in features["consumers"]} == {"run1", "run2"}
    # a LIKE wildcard in the text is matched literally; HTML comes back as data
    assert graph.search_artifacts(store, "lake_features") == []
    [xss] = graph.search_artifacts(store, "<img")
    assert XSS_NAME in xss["uri"]
    models = graph.search_artifacts(store, filter_query="uri = 'file:///models/m1'")
    assert [a["uri"] for a in models] == ["file:///models/m1"]
    # only artifacts a readable DAG touched; other DAGs' executions are redacted
    only_demo = graph.search_artifacts(store, "lake", readable=lambda dag: dag == "ui_demo")
    assert {a["uri"] for a in only_demo} == {"s3://lake/features", xss["uri"]}  # ui_demo reads both
    assert all(a["producers"][0].get("hidden") is True for a in only_demo)
    assert graph.search_artifacts(store, "models", readable=lambda dag: dag == "ui_upstream") == []
    assert graph.search_artifacts(store, "", readable=lambda dag: False) == []
    with pytest.raises(Exception, match="filter_query"):
        graph.search_artifacts(store, filter_query="nonsense ((")
