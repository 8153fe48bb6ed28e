"""Task processes compile no SQL of their own: the listener's plugin compiles the statements recording uses when
it loads (recording.warm_up), and mlmd_core shares compiled SQLite statements between the stores of a process, so
a task process forked from one that loaded the plugin records its task with what it inherited. Each case runs in
a new interpreter, whose statement cache nothing else has filled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Records one task (started, then done with an XCom output) into a new SQLite file store in a forked child, as
# Airflow's task runner would, and prints how many statements the child compiled. PRELOAD is what the parent
# imported first.
SCRIPT = textwrap.dedent("""
    import os, sys
    PRELOAD
    from mlmd_airflow.recording import TaskRun, Writer, XComRef
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb
    from mlmd_core.store import sql

    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    compiled = []
    original = sql.Statement.__init__
    def counting(self, element, dialect):
        compiled.append(str(element).split()[0])
        original(self, element, dialect)
    sql.Statement.__init__ = counting
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = sys.argv[1]
    store = MetadataStore(config)
    before_records = len(compiled)
    writer = Writer(store)
    output = XComRef("d", "r", "t", -1, "return_value")
    for state, airflow_state, outputs in ((pb.Execution.RUNNING, "running", []),
                                          (pb.Execution.COMPLETE, "success", [output])):
        writer.record(TaskRun(dag_id="d", run_id="r", task_id="t", map_index=-1, try_number=1, execution_type="d.t",
                              operator="@task", state=state, airflow_state=airflow_state, outputs=outputs))
    store.close()
    print("COMPILED", before_records, len(compiled) - before_records)
    sys.stdout.flush()
    os._exit(0)
""")


def _compiled_in_task_process(tmp_path: Path, preload: str, enabled: str = "True") -> tuple[int, int]:
    """(statements compiled opening the store, while recording) in the forked child; `enabled`: `[mlmd] enabled`."""
    script = SCRIPT.replace("PRELOAD", preload)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "mlmd.sqlite")], capture_output=True,
                          text=True, timeout=300, check=True, env={**os.environ, "AIRFLOW__MLMD__ENABLED": enabled})
    [line] = [line for line in done.stdout.splitlines() if line.startswith("COMPILED ")]  # Airflow logs too
    opening, recording = map(int, line.split()[1:])
    return opening, recording


def test_a_task_process_forked_after_the_listener_loaded_compiles_nothing_to_record(tmp_path: Path) -> None:
    opening, recording = _compiled_in_task_process(tmp_path, "import mlmd_airflow.listener")
    assert recording == 0
    assert opening <= 2  # a new file's schema version and type reads: the warm-up's store was in memory


def test_without_the_listener_a_task_process_compiles_its_statements(tmp_path: Path) -> None:
    """The control: the same child, its parent having imported the recording code only. Its store's opening
    compiles the everyday statements (mlmd_core.warm_up, the first SQLite store of a process), recording the
    rest."""
    opening, recording = _compiled_in_task_process(tmp_path, "import mlmd_airflow.recording")
    assert opening >= 40
    assert recording >= 1


def test_a_disabled_listener_compiles_nothing_when_the_plugin_loads(tmp_path: Path) -> None:
    """With `[mlmd] enabled = False` the task processes record nothing, so the plugin warms nothing up either."""
    opening, recording = _compiled_in_task_process(tmp_path, "import mlmd_airflow.listener", enabled="False")
    assert opening >= 40
    assert recording >= 1


# Imports what the plugin manager imports (the listener, or only the recording code for the control) and prints
# which modules of the store drivers and of the gRPC client are loaded then.
DRIVERS_SCRIPT = textwrap.dedent("""
    import json, sys
    import PRELOAD
    print("LOADED", json.dumps(sorted(n for n in sys.modules if n.split(".")[0] in ("MySQLdb", "pymysql", "psycopg")
                                      or n == "mlmd_core.grpc.client")))
""")
_CONNECTIONS: dict[str, dict | str] = {
    "sqlite": {"conn_type": "mlmd", "extra": {"backend": "sqlite", "path": "/tmp/never-opened.sqlite"}},
    "postgresql": {"conn_type": "mlmd", "host": "127.0.0.1", "schema": "never_opened", "login": "airflow",
                   "password": "never-sent", "extra": {"backend": "postgresql"}},
    "grpc": {"conn_type": "mlmd", "host": "127.0.0.1", "port": 1},
    "postgresql-uri": "mlmd://airflow:never-sent@127.0.0.1:5432/never_opened?backend=postgresql",  # the URI form
}


def _drivers_loaded(connection: str | None, preload: str = "mlmd_airflow.listener") -> set[str]:
    """The driver / gRPC client modules loaded once `preload` is imported, with `mlmd_default` set to
    _CONNECTIONS[connection] in the environment (None: not in the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    # no Fernet key (unit-test mode brings one), as in a deployment that has not set one: see the assertion below
    env.update(AIRFLOW__CORE__UNIT_TEST_MODE="False", AIRFLOW__CORE__FERNET_KEY="")
    if connection is not None:
        value = _CONNECTIONS[connection]
        env["AIRFLOW_CONN_MLMD_DEFAULT"] = value if isinstance(value, str) else json.dumps(value)
    done = subprocess.run([sys.executable, "-c", DRIVERS_SCRIPT.replace("PRELOAD", preload)], capture_output=True,
                          text=True, timeout=300, check=True, env=env)
    # the connection is read without Airflow's models, whose encryption of its fields warns without a Fernet key
    assert "cryptography key" not in done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("LOADED ")]
    return set(json.loads(line.split(" ", 1)[1]))


def test_the_plugin_preloads_the_driver_of_the_connection_in_the_environment() -> None:
    """A task process forked from the component then finds its store's driver (or the gRPC client) loaded:
    importing psycopg was 50 ms of each PostgreSQL task process, the gRPC client 25 ms."""
    assert "mlmd_core.grpc.client" in _drivers_loaded("grpc")
    for form in ("postgresql", "postgresql-uri"):
        postgresql = _drivers_loaded(form)
        assert "psycopg" in postgresql and "mlmd_core.grpc.client" not in postgresql
    assert not _drivers_loaded("sqlite")  # the embedded store needs no driver
    assert not _drivers_loaded("grpc", preload="mlmd_airflow.recording")  # the control: nothing without the plugin


def test_without_a_connection_in_the_environment_the_plugin_preloads_the_installed_drivers() -> None:
    """The connection may live in a secrets backend or Airflow's database, which the plugin does not query while
    it loads: the SQL drivers that are installed (mlmd-airflow's mysql and postgres extras) are preloaded then,
    not the gRPC client, which every installation has."""
    loaded = _drivers_loaded(None)
    assert "psycopg" in loaded and ({"MySQLdb", "pymysql"} & loaded)
    assert "mlmd_core.grpc.client" not in loaded
