"""docs/airflow.md says what the code does: every connection example parses into its documented backend, the
option table matches the provider's [mlmd] section, and the airflow.cfg example loads."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from mlmd_airflow.config import OPTIONS, load_settings
from mlmd_airflow.hooks.mlmd import BACKENDS, MlmdHook, backend_of
from mlmd_core.proto import metadata_store_pb2 as pb

DOC = Path(__file__).resolve().parents[2] / "docs" / "airflow.md"
TEXT = DOC.read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.S | re.M)
    assert match, f"docs/airflow.md has no '## {title}' section"
    return match.group(1)


def connection_examples() -> list[tuple[str, str, str]]:
    """(documented backend, env var name, value) of each example block in the Connection section."""
    examples = []
    for block in re.findall(r"```bash\n(.*?)```", section("Connection"), re.S):
        backend = re.search(r"^# backend: (\w+)$", block, re.M)
        export = re.search(r"^export (AIRFLOW_CONN_\w+)=(.*)$", block, re.M)
        assert backend and export, f"example block without '# backend:' or 'export AIRFLOW_CONN_':\n{block}"
        (value,) = shlex.split(export.group(2))  # exactly what the shell would set
        examples.append((backend.group(1), export.group(1), value))
    return examples


EXAMPLES = connection_examples()
PROTO_KIND = {"sqlite": "sqlite", "mysql": "mysql", "postgresql": "postgresql"}


def test_every_backend_has_an_example() -> None:
    assert sorted({backend for backend, _, _ in EXAMPLES}) == sorted(BACKENDS)


@pytest.mark.parametrize(("backend", "name", "value"), EXAMPLES, ids=[f"{b}-{i}" for i, (b, _, _) in
                                                                        enumerate(EXAMPLES)])
def test_connection_example_parses_into_its_backend(backend: str, name: str, value: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The TLS example names PEM files under ~/mlmd-tls: give it a home that has them.
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mlmd-tls").mkdir()
    for file in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / "mlmd-tls" / file).write_text(f"-----BEGIN X-----\n{file}\n-----END X-----\n")
    monkeypatch.setenv(name, value)
    conn_id = name.removeprefix("AIRFLOW_CONN_").lower()

    hook = MlmdHook(conn_id)
    assert backend_of(hook.get_connection(conn_id)) == backend
    config = hook.get_store_config()
    if backend == "grpc":
        assert isinstance(config, pb.MetadataStoreClientConfig) and config.host and config.port
        if "tls_ca" in value:
            assert config.ssl_config.custom_ca.startswith("-----BEGIN X-----\nca.pem")
            assert config.ssl_config.client_key.startswith("-----BEGIN X-----\nclient.key")
    else:
        assert isinstance(config, pb.ConnectionConfig) and config.WhichOneof("config") == PROTO_KIND[backend]
    if backend == "sqlite":
        assert config.sqlite.filename_uri == "/var/lib/mlmd/metadata.sqlite"
    if backend == "mysql":
        assert (config.mysql.host, config.mysql.database, config.mysql.user) == ("mysql.internal", "mlmd", "airflow")


def test_option_table_matches_the_provider_config() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \|", section("Configuration"), re.M)
    documented = {name: default.strip("`") for name, default in rows}
    expected = {name: spec["default"] or "*(empty)*" for name, spec in OPTIONS.items()}
    assert documented == expected


def test_cfg_example_loads() -> None:
    (ini,) = re.findall(r"```ini\n(.*?)```", section("Configuration"), re.S)
    parser = configparser.ConfigParser()
    parser.read_string(ini)
    settings = load_settings(conf=parser)
    assert settings.conn_id == "mlmd_prod" and settings.timeout == 2.0
    assert settings.is_excluded("tmp_x", "t") and not settings.is_excluded("etl", "load")


def test_recording_section_links_the_recording_doc() -> None:
    assert "(recording.md)" in section("What gets recorded")
    assert [h for h in re.findall(r"^## (.+)$", TEXT, re.M)] == [
        "Install", "Connection", "Configuration", "What gets recorded"]
