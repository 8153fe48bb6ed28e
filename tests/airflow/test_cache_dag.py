"""Two dag.test() runs of tests/airflow/dags/mlmd_cache_main.py on one fresh store: what @cached_step reused,
recomputed and recorded (the DAG's docstring lists the scenarios), then the CLI on the resulting store."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from recording_helpers import load_dag, open_store, store_env

from mlmd_core.proto import metadata_store_pb2 as pb

DAG_ID = "mlmd_cache_main"
RUN2_CONF = {"order": [3, 1, 2], "mlmd_cache": {"refresh": ["refreshed"], "disable": ["disabled_step"]}}


def _statuses(outcomes: list, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """{(task_id, map_index): outcome} of the task-level outcomes of one run (last try wins)."""
    out = {}
    for o in outcomes:
        if o.task and o.task[1] == run_id:
            out[(o.task[2], o.task[3])] = o
    return out


def _xcoms(run_id: str, key: str = "return_value") -> dict[tuple[str, int], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == DAG_ID, XComModel.run_id == run_id,
                                               XComModel.key == key).all()
        return {(r.task_id, r.map_index): r.value for r in rows}


@pytest.fixture(scope="module")
def runs(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlmd_airflow.cache import step

    out = tmp_path_factory.mktemp("cache_out")
    os.environ["MLMD_CACHE_TEST_DIR"] = str(out)
    os.environ["MLMD_FINGERPRINT_CACHE"] = str(out / "fingerprints.sqlite")
    os.environ["AIRFLOW_CONN_MLMD_BROKEN"] = json.dumps(
        {"conn_type": "mlmd", "extra": {"backend": "sqlite", "path": "/dev/null/no-store-here.sqlite"}})
    path = tmp_path_factory.mktemp("cache_store") / "mlmd.sqlite"
    try:
        with store_env(path):
            dag = load_dag(DAG_ID)
            start = len(step.outcomes)
            first = dag.test()
            time.sleep(2.1)  # run 1's entries are now older than ttl_short's max_age
            (out / "gone.txt").unlink()
            calls_after_first = {f.name: f.read_text() for f in out.glob("*.calls")}
            second = dag.test(run_conf=RUN2_CONF)
            outcomes = step.outcomes[start:]
            calls_after_second = {f.name: f.read_text() for f in out.glob("*.calls")}
    finally:
        for name in ("MLMD_CACHE_TEST_DIR", "MLMD_FINGERPRINT_CACHE", "AIRFLOW_CONN_MLMD_BROKEN"):
            os.environ.pop(name, None)
    store = open_store(path)
    yield {"first": first, "second": second, "outcomes": outcomes, "store": store, "out": out, "path": path,
           "one": _statuses(outcomes, first.run_id), "two": _statuses(outcomes, second.run_id),
           "calls": (calls_after_first, calls_after_second)}
    store.close()


def _status(run: dict, which: str) -> dict[tuple[str, int], str]:
    return {k: o.status for k, o in run[which].items()}


def test_airflow_states(runs: dict) -> None:
    for which in ("first", "second"):
        states = {(ti.task_id, ti.map_index): str(ti.state) for ti in runs[which].get_task_instances()}
        assert states.pop(("unhashable", -1)) == "failed"
        assert set(states.values()) == {"success"}, states  # hits end SUCCESS, never SKIPPED


def test_first_run_computes(runs: dict) -> None:
    one = _status(runs, "one")
    assert one[("train", -1)] == one[("train_b", -1)] == "miss"
    assert runs["one"][("train_b", -1)].reason == "argument lr 0.1→0.01"
    assert one[("features_a", -1)] == "miss"
    assert one[("features_b", -1)] == "hit"  # comments/docstring/formatting do not count
    assert one[("features_c", -1)] == "miss"
    assert runs["one"][("features_c", -1)].reason == "code of helper clean() changed"
    assert one[("ttl_long", -1)] == "miss"
    assert one[("never_cached", -1)] == "disabled"  # DAG default_args params
    assert one[("store_down", -1)] == "uncached" and "metadata store unavailable" in \
        runs["one"][("store_down", -1)].reason
    assert {one[("square", i)] for i in range(3)} == {"miss"}


def test_second_run_reuses(runs: dict) -> None:
    two = _status(runs, "two")
    # extract re-ran (a new XCom artifact with the same content): downstream still hits
    for task_id in ("train", "train_b", "features_a", "features_b", "features_c", "above_task", "mlmd_decorated",
                    "bash_cached", "write_kept", "ttl_long"):
        assert two[(task_id, -1)] == "hit", (task_id, runs["two"][(task_id, -1)])
    assert {two[("square", i)] for i in range(3)} == {"hit"}  # reordered list: keyed by element value
    assert two[("total", -1)] == "miss"  # ... but the reduce sees another order
    assert runs["two"][("total", -1)].reason == "input values: content changed"
    assert two[("write_gone", -1)] == "miss"
    assert "gone.txt no longer exists" in runs["two"][("write_gone", -1)].reason
    assert two[("ttl_short", -1)] == "miss"  # the entry is older than its max_age, measured from computation
    assert "older than max_age" in runs["two"][("ttl_short", -1)].reason
    assert two[("refreshed", -1)] == "refresh" and two[("disabled_step", -1)] == "disabled"
    assert two[("never_cached", -1)] == "disabled"
    hit = runs["two"][("train", -1)]
    assert hit.source_run == runs["first"].run_id and hit.key == runs["one"][("train", -1)].key


def test_outputs_flow_downstream_on_a_hit(runs: dict) -> None:
    one, two = _xcoms(runs["first"].run_id), _xcoms(runs["second"].run_id)
    assert two[("report", -1)] == one[("report", -1)] == "model with lr 0.1: [0.1, 0.2, 0.30000000000000004]"
    assert two[("use_decorated", -1)] == one[("use_decorated", -1)] == 20
    assert two[("bash_cached", -1)] == "hi"
    assert sorted(two[("square", i)] for i in range(3)) == [1, 4, 9]
    assert [two[("square", i)] for i in range(3)] == [9, 1, 4]
    first_calls, second_calls = runs["calls"]
    assert first_calls["bash.calls"] == second_calls["bash.calls"] == "run\n"  # the hit did not run bash
    assert (runs["out"] / "gone.txt").exists()  # recomputed


def test_xcom_marker(runs: dict) -> None:
    markers = _xcoms(runs["second"].run_id, "mlmd_cache")
    assert markers[("train", -1)]["status"] == "hit"
    assert markers[("train", -1)]["source_run"] == runs["first"].run_id
    assert markers[("write_gone", -1)]["status"] == "miss"


def test_mlmd_records_cached_executions(runs: dict) -> None:
    store = runs["store"]
    got = {}
    for e in store.get_executions():
        if "run_id" in e.properties:
            got[(e.properties["run_id"].string_value, e.properties["task_id"].string_value,
                 e.properties["map_index"].int_value)] = e
    r1, r2 = runs["first"].run_id, runs["second"].run_id
    first, second = got[(r1, "train", -1)], got[(r2, "train", -1)]
    assert first.last_known_state == pb.Execution.COMPLETE
    assert second.last_known_state == pb.Execution.CACHED
    assert second.custom_properties["cache_key"].string_value == first.custom_properties["cache_key"].string_value
    assert second.custom_properties["cached_from"].int_value == first.id
    json.loads(second.custom_properties["cache_manifest"].string_value)
    # the hit links the SAME output artifact as the execution it reuses; nothing is copied
    outs = {}
    ins = {}
    for ev in store.get_events_by_execution_ids([first.id, second.id, got[(r2, "report", -1)].id]):
        (outs if ev.type == pb.Event.OUTPUT else ins).setdefault(ev.execution_id, set()).add(ev.artifact_id)
    assert outs[first.id] == outs[second.id]
    # ... and the downstream task of run 2 consumed that artifact (lineage crosses the cache hit)
    assert ins[got[(r2, "report", -1)].id] == outs[first.id]
    assert got[(r2, "write_gone", -1)].last_known_state == pb.Execution.COMPLETE
    assert got[(r2, "refreshed", -1)].last_known_state == pb.Execution.COMPLETE
    assert "cache_key" not in got[(r2, "disabled_step", -1)].custom_properties


def test_retry_after_publish_hits(runs: dict) -> None:
    first_calls, second_calls = runs["calls"]
    assert first_calls["expensive.calls"] == "x"  # try 2 of flaky_outer reused the published helper result
    assert second_calls["expensive.calls"] == "x"
    assert _xcoms(runs["first"].run_id)[("flaky_outer", -1)] == 700


def test_unhashable_argument_fails_clearly(runs: dict) -> None:
    store = runs["store"]
    failed = [e for e in store.get_executions() if e.properties["task_id"].string_value == "unhashable"]
    assert failed and all(e.last_known_state == pb.Execution.FAILED for e in failed)
    assert "UncacheableInputError" in failed[0].properties["error"].string_value
    assert "argument 'lock'" in failed[0].properties["error"].string_value


def test_cached_calls_are_recorded(runs: dict) -> None:
    calls = [e for e in runs["store"].get_executions_by_type("mlmd_airflow.CachedCall")]
    states = sorted(pb.Execution.State.Name(e.last_known_state) for e in calls)
    assert states == ["CACHED", "CACHED", "CACHED", "COMPLETE"]  # run 1 try 1 computed; every later try reused
    assert {e.custom_properties["task_id"].string_value for e in calls} == {"flaky_outer"}


# ----------------------------------------------------------------------- the CLI on the store of the two runs
# (last in this module: invalidation changes the shared store)


def _cli(runs: dict, *args: str) -> str:
    from click.testing import CliRunner

    from mlmd_airflow.cache.cli import cache

    result = CliRunner().invoke(cache, [args[0], "--sqlite", str(runs["path"]), *args[1:]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _execution(runs: dict, run: str, task_id: str) -> pb.Execution:
    run_id = runs[run].run_id
    return next(e for e in runs["store"].get_executions() if "run_id" in e.properties
                and e.properties["run_id"].string_value == run_id and e.properties["task_id"].string_value == task_id)


def test_cli_list(runs: dict) -> None:
    rows = [json.loads(line) for line in _cli(runs, "list", "--step", "train", "--json").splitlines()]
    assert sorted(r["state"] for r in rows) == ["CACHED", "CACHED", "COMPLETE", "COMPLETE"]
    assert {r["task_id"] for r in rows} == {"train", "train_b"}
    text = _cli(runs, "list", "--step", "features")
    assert text.strip().endswith("6 entries")
    assert _cli(runs, "list", "--step", "train", "--older-than", "1d").strip().endswith("0 entries")


def test_cli_explain(runs: dict) -> None:
    text = _cli(runs, "explain", "--execution", str(_execution(runs, "first", "train_b").id))
    assert "argument lr = 0.01" in text and "  - argument lr 0.1→0.01" in text
    data = json.loads(_cli(runs, "explain", "--execution", str(_execution(runs, "first", "features_c").id),
                           "--json"))
    assert data["changes"] == ["code of helper clean() changed"] and data["usable"] is True


def test_cli_invalidate_cascade(runs: dict) -> None:
    store = runs["store"]
    extract = _execution(runs, "first", "extract")
    [artifact_id] = [e.artifact_id for e in store.get_events_by_execution_ids([extract.id])
                     if e.type == pb.Event.OUTPUT]
    dry = _cli(runs, "invalidate", "--artifact", str(artifact_id), "--cascade", "--dry-run")
    assert dry.strip().endswith("4 entries to invalidate")  # train and train_b, computed and reused
    assert _cli(runs, "list", "--step", "train").strip().endswith("4 entries")
    text = _cli(runs, "invalidate", "--artifact", str(artifact_id), "--cascade", "--reason", "bad extract")
    assert text.strip().endswith("4 entries invalidated")
    assert _cli(runs, "list", "--step", "train").strip().endswith("0 entries")
    assert _cli(runs, "list", "--step", "features").strip().endswith("6 entries")  # not derived: untouched
    bad = store.get_executions_by_id([_execution(runs, "second", "train").id])[0]
    assert bad.custom_properties["cache_invalidated"].string_value == "bad extract"
    assert _cli(runs, "invalidate", "--step", "square").strip().endswith("6 entries invalidated")
