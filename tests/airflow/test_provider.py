"""The provider as Airflow sees it (real `airflow` CLI), the [mlmd] settings, and the plugin."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mlmd_airflow.config import OPTIONS, MlmdConfigError, Settings, load_settings
from mlmd_airflow.hooks.mlmd import EXTRA_FIELDS, MlmdHook
from mlmd_airflow.provider import get_provider_info

LISTENER_FILE = Path(__file__).resolve().parents[2] / "mlmd_airflow" / "listener.py"
needs_listener = pytest.mark.skipif(not LISTENER_FILE.exists(), reason="mlmd_airflow/listener.py not written yet")


def _json(stdout: str):
    """The JSON document in a CLI's stdout: its last line (Airflow may print log lines before it)."""
    return json.loads(stdout.strip().splitlines()[-1])


def _value(stdout: str) -> str:
    """The value `airflow config get-value` printed: its last line."""
    return stdout.strip().splitlines()[-1]


# ----------------------------------------------------------------------------------------- provider info


def test_provider_info_declares_the_connection_form_without_deprecated_hook_methods() -> None:
    info = get_provider_info()
    assert info["package-name"] == "mlmd-airflow"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == MlmdHook.conn_type == "mlmd"
    assert conn_type["hook-class-name"] == "mlmd_airflow.hooks.mlmd.MlmdHook"
    # The form offers exactly the extra fields the hook understands.
    assert set(conn_type["conn-fields"]) == EXTRA_FIELDS
    assert conn_type["conn-fields"]["tls_key"]["schema"]["format"] == "password"
    assert "extra" in conn_type["ui-field-behaviour"]["hidden-fields"]
    # Deprecated since Airflow 3.2 (and they need wtforms): the form lives in provider info instead.
    assert "get_connection_form_widgets" not in MlmdHook.__dict__
    assert "get_ui_field_behaviour" not in MlmdHook.__dict__


def test_config_section_matches_settings() -> None:
    options = get_provider_info()["config"]["mlmd"]["options"]
    assert set(options) == {f.name for f in dataclasses.fields(Settings)}
    assert set(options) == set(OPTIONS)
    # The documented defaults are the dataclass defaults.
    assert load_settings(conf=_Conf({})) == Settings()


# --------------------------------------------------------------------------------------------- settings


class _Conf:
    """A stand-in for airflow's conf with only explicit values (no env, no airflow.cfg)."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def get(self, section: str, key: str, fallback: str | None = None) -> str | None:
        assert section == "mlmd"
        return self.values.get(key, fallback)


def test_settings_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings() == Settings()
    monkeypatch.setenv("AIRFLOW__MLMD__STRICT", "True")
    monkeypatch.setenv("AIRFLOW__MLMD__ENABLED", "false")
    monkeypatch.setenv("AIRFLOW__MLMD__CONN_ID", "mlmd_prod")
    monkeypatch.setenv("AIRFLOW__MLMD__RECORD_XCOM", "Value")
    monkeypatch.setenv("AIRFLOW__MLMD__XCOM_VALUE_MAX_BYTES", "100")
    monkeypatch.setenv("AIRFLOW__MLMD__EXCLUSIONS", " tmp_*.* , etl.cleanup_*,, ")
    monkeypatch.setenv("AIRFLOW__MLMD__TIMEOUT", "2.5")
    assert load_settings() == Settings(conn_id="mlmd_prod", enabled=False, strict=True, record_xcom="value",
                                       xcom_value_max_bytes=100, exclusions=("tmp_*.*", "etl.cleanup_*"), timeout=2.5)


@pytest.mark.parametrize(("option", "value", "words"), [
    ("strict", "sometimes", ["strict", "True or False"]),
    ("record_xcom", "all", ["record_xcom", "none, reference, value"]),
    ("timeout", "0", ["timeout", "greater than 0"]),
    ("timeout", "5s", ["timeout", "number"]),
    ("xcom_value_max_bytes", "1.5", ["xcom_value_max_bytes", "number"]),
    ("conn_id", "  ", ["conn_id", "empty"]),
])
def test_bad_setting_names_the_option(monkeypatch: pytest.MonkeyPatch, option: str, value: str,
                                      words: list[str]) -> None:
    monkeypatch.setenv(f"AIRFLOW__MLMD__{option.upper()}", value)
    with pytest.raises(MlmdConfigError) as info:
        load_settings()
    assert str(info.value).startswith(f"[mlmd] {option}")
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(("dag_id", "task_id", "excluded"), [
    ("tmp_scratch", "anything", True),
    ("etl", "cleanup_old", True),
    ("etl", "load", False),
    ("ETL", "cleanup_old", False),  # case-sensitive, like dag ids
    ("my_tmp_dag", "t", False),     # the pattern is anchored at the start
    ("reports", "email", True),
    ("reports", "email_2", False),
])
def test_exclusions_match_dag_id_dot_task_id(dag_id: str, task_id: str, excluded: bool) -> None:
    settings = load_settings(conf=_Conf({"exclusions": "tmp_*.*, etl.cleanup_*, reports.email"}))
    assert settings.is_excluded(dag_id, task_id) is excluded
    assert Settings().is_excluded(dag_id, task_id) is False


# -------------------------------------------------------------------------------------------- airflow CLI


def test_airflow_lists_the_provider_and_its_hook(airflow_cli) -> None:
    providers = _json(airflow_cli("providers", "list", "-o", "json").stdout)
    assert [p["version"] for p in providers if p["package_name"] == "mlmd-airflow"] == ["0.1.0"]
    hooks = _json(airflow_cli("providers", "hooks", "-o", "json").stdout)
    assert {"connection_type": "mlmd", "class": "mlmd_airflow.hooks.mlmd.MlmdHook",
            "conn_id_attribute_name": "mlmd_conn_id", "package_name": "mlmd-airflow",
            "hook_name": "ML Metadata Store"} in hooks
    widgets = _json(airflow_cli("providers", "widgets", "-o", "json").stdout)
    ours = {w["connection_parameter_name"] for w in widgets if w["package_name"] == "mlmd-airflow"}
    assert ours == {f"extra__mlmd__{name}" for name in EXTRA_FIELDS}


def test_airflow_shows_the_mlmd_config_section(airflow_cli, airflow_env) -> None:
    configs = _json(airflow_cli("providers", "configs", "-o", "json").stdout)
    ours = [c["provider_config"] for c in configs if c["provider_config"][0] == "mlmd-airflow"]
    assert len(ours) == 1
    options = ours[0][1]["mlmd"]["options"]
    assert {name: o["default"] for name, o in options.items()} == {
        "enabled": "True", "conn_id": "mlmd_default", "strict": "False", "record_xcom": "reference",
        "xcom_value_max_bytes": "4096", "exclusions": "", "timeout": "5.0", "cache_enabled": "True",
        "cache_refresh": "False", "cache_lease_ttl": "30.0", "cache_wait_timeout": "3600.0"}
    assert _value(airflow_cli("config", "get-value", "mlmd", "conn_id").stdout) == "mlmd_default"
    assert _value(airflow_cli("config", "get-value", "mlmd", "record_xcom").stdout) == "reference"
    env = {**airflow_env, "AIRFLOW__MLMD__CONN_ID": "mlmd_prod"}
    assert _value(airflow_cli("config", "get-value", "mlmd", "conn_id", env=env).stdout) == "mlmd_prod"


def _mlmd_plugin(airflow_cli, env=None) -> dict:
    plugins = _json(airflow_cli("plugins", "-o", "json", env=env).stdout)
    (plugin,) = [p for p in plugins if p["name"] == "mlmd"]
    assert plugin["source"].startswith("mlmd-airflow==0.1.0: EntryPoint(name='mlmd'")
    return plugin


@needs_listener
def test_airflow_loads_the_plugin_with_the_listener(airflow_cli) -> None:
    plugin = _mlmd_plugin(airflow_cli)
    assert len(plugin["listeners"]) == 1 and "mlmd_airflow.listener" in plugin["listeners"][0]


def test_disabled_plugin_registers_no_listener(airflow_cli, airflow_env) -> None:
    plugin = _mlmd_plugin(airflow_cli, env={**airflow_env, "AIRFLOW__MLMD__ENABLED": "False"})
    assert plugin["listeners"] == []
