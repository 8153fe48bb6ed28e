"""`mlmd cache list | explain | invalidate`: inspect and invalidate @cached_step entries.

Plugged into the `mlmd` command through the `mlmd.cli` entry-point group (mlmd_core never imports
mlmd_airflow). The store is given like for `mlmd db` (`--sqlite PATH`, `--config FILE`, `--mysql-*`,
`--postgres-*`) or as the Airflow connection `--conn-id`; with none of them, the `[mlmd] conn_id` connection
(the embedded `$AIRFLOW_HOME/mlmd.sqlite` when no connection is defined).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from mlmd_airflow.cache import index
from mlmd_airflow.cache.manifest import Manifest, diff
from mlmd_core import MetadataStore
from mlmd_core.cli.target import examples
from mlmd_core.proto import metadata_store_pb2 as pb

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `12h`, `7d`, `2w` (or a bare number of seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 15m, 12h, 7d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`mlmd db`'s store options plus `--conn-id`; the command gets `store_args` (for `_store`)."""
    from mlmd_core.cli.store_options import _option_names
    from mlmd_core.cli.store_options import store_options as core_options

    probe = core_options(lambda **_: None)  # reuse the exact option definitions of `mlmd db`
    params = [p for p in getattr(probe, "__click_params__", [])]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        picked = {k: kwargs.pop(k) for k in list(kwargs) if k in _option_names()}
        conn_id = kwargs.pop("conn_id", None)
        return command(store_args=(picked, conn_id), **kwargs)

    wrapper.__click_params__ = [*getattr(command, "__click_params__", []), *params]  # type: ignore[attr-defined]
    return click.option("--conn-id", default=None,
                        help="Airflow connection of the store (default: [mlmd] conn_id).")(wrapper)


@contextmanager
def _store(store_args: tuple[dict[str, Any], str | None]) -> Iterator[MetadataStore]:
    picked, conn_id = store_args
    if any(v is not None for v in picked.values()):
        from mlmd_core.cli.store_options import connection_config

        config = connection_config(**picked)
        if config.WhichOneof("config") == "sqlite":
            config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE  # never create a store
        store = MetadataStore(config)
        try:
            yield store
        finally:
            store.close()
        return
    from mlmd_airflow.hooks.mlmd import store_for

    yield store_for(conn_id)


def _prop(e: pb.Execution, name: str) -> Any:
    for props in (e.custom_properties, e.properties):
        if name in props:
            v = props[name]
            return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return None


def _row(e: pb.Execution, now_ms: int) -> dict[str, Any]:
    computed = _prop(e, index.COMPUTED_AT) or e.last_update_time_since_epoch
    return {"execution": e.id, "state": pb.Execution.State.Name(e.last_known_state), "step": _prop(e, index.STEP),
            "key": _prop(e, index.KEY), "age_s": round((now_ms - computed) / 1000, 1),
            "source": _prop(e, index.CACHED_FROM) or e.id, "dag_id": _prop(e, "dag_id"), "run_id": _prop(e, "run_id"),
            "task_id": _prop(e, "task_id"), "invalidated": _prop(e, index.INVALIDATED)}




@click.group(epilog=examples("mlmd cache list --sqlite ~/airflow/mlmd.sqlite --step churn_training.train"))
def cache() -> None:
    """Inspect and invalidate @cached_step entries (docs/caching.md)."""


def _selection(command: Any) -> Any:
    """The options that pick entries, shared by `list` and `invalidate`."""
    command = click.option("--older-than", "older_than",
                           help="Entries computed longer ago than this (7d, 12h, ...).")(command)
    command = click.option("--key", help="Entries with this cache key.")(command)
    return click.option("--step", help="Entries of this step.")(command)


@cache.command("list", epilog=examples("mlmd cache list --sqlite ~/airflow/mlmd.sqlite --older-than 7d --json"))
@store_options
@_selection
@click.option("--all", "include_invalidated", is_flag=True, help="Include invalidated entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_cmd(store_args: Any, step: str | None, key: str | None, older_than: str | None,
             include_invalidated: bool, as_json: bool) -> None:
    """Cache entries (COMPLETE and CACHED executions with a key), newest first."""
    older = parse_duration(older_than) if older_than else None
    now = int(time.time() * 1000)
    with _store(store_args) as store:
        rows = [_row(e, now) for e in index.list_entries(store, step=step, key=key, older_than_s=older,
                                                         include_invalidated=include_invalidated, now_ms=now)]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    click.echo(f"{'EXEC':>6}  {'STATE':9} {'AGE':>10}  {'STEP':30} {'KEY':22} RUN")
    for r in rows:
        flag = " (invalidated)" if r["invalidated"] else ""
        click.echo(f"{r['execution']:>6}  {r['state']:9} {r['age_s']:>9}s  {str(r['step'])[:30]:30} "
                   f"{str(r['key'])[:22]:22} {r['dag_id'] or '-'}/{r['run_id'] or '-'}{flag}")
    click.echo(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")


@cache.command("explain", epilog=examples("mlmd cache explain --execution 25 --sqlite ~/airflow/mlmd.sqlite"))
@store_options
@click.option("--key", help="The cache key to explain.")
@click.option("--execution", "execution_id", type=int, help="An execution of a cached step (hit or miss).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and the differences as JSON.")
def explain_cmd(store_args: Any, key: str | None, execution_id: int | None,
                as_json: bool) -> None:
    """What an entry's key is made of, and what differs from the nearest prior key of the same step."""
    if (key is None) == (execution_id is None):
        raise click.UsageError("give exactly one of --key or --execution")
    with _store(store_args) as store:
        if execution_id is not None:
            found = store.get_executions_by_id([execution_id])
        else:
            found = index.list_entries(store, key=key, include_invalidated=True) or store.get_executions(
                index.ListOptions(filter_query=f"custom_properties.{index.KEY}.string_value = "
                                               f"{index._literal(key)}", limit=1))
        if not found or not _prop(found[0], index.MANIFEST):
            raise click.ClickException("no cached-step execution found for " +
                                       (f"execution {execution_id}" if execution_id else f"key {key}"))
        execution = found[0]
        manifest = Manifest.from_json(_prop(execution, index.MANIFEST))
        this_key = _prop(execution, index.KEY)
        priors = [m for m in index.prior_manifests(store, manifest.step, exclude_key=this_key, limit=50)]
        usable = bool(list(index.candidates(store, this_key, max_age_s=None, verify="exists")))
    best, changes = None, []
    for prior in priors:
        d = diff(prior, manifest)
        if best is None or len(d) < len(changes):
            best, changes = prior, d
    if as_json:
        click.echo(json.dumps({"execution": execution.id, "key": this_key, "manifest": manifest.as_dict(),
                               "usable": usable, "nearest_prior_key": best.key if best else None,
                               "changes": changes}, sort_keys=True, indent=2))
        return
    click.echo(f"execution {execution.id}: step {manifest.step}, key {this_key} "
               f"({'usable' if usable else 'not usable'})")
    click.echo(f"  code: {json.dumps(manifest.code, sort_keys=True)}")
    for name, entry in sorted(manifest.params.items()):
        click.echo(f"  argument {name} = {entry.get('show', 'sha256:' + entry['sha256'][:12])}")
    for name, entry in sorted(manifest.inputs.items()):
        click.echo(f"  input {name}: {json.dumps(entry, sort_keys=True)}")
    if best is None:
        click.echo("no other key of this step is recorded")
    else:
        click.echo(f"changes since the nearest prior key {best.key}:")
        for change in changes:
            click.echo(f"  - {change}")


@cache.command("invalidate", epilog=examples("mlmd cache invalidate --step churn_training.train --dry-run",
                                             "mlmd cache invalidate --artifact 12 --cascade --reason 'bad data'"))
@store_options
@_selection
@click.option("--artifact", "artifact_id", type=int, help="Entries that produced this artifact (id).")
@click.option("--cascade", is_flag=True, help="With --artifact: also every entry derived from it (lineage).")
@click.option("--reason", default="invalidated by mlmd cache invalidate", help="Stored with the entries.")
@click.option("--dry-run", is_flag=True, help="Only print what would be invalidated.")
def invalidate_cmd(store_args: Any, step: str | None, key: str | None,
                   older_than: str | None, artifact_id: int | None, cascade: bool, reason: str,
                   dry_run: bool) -> None:
    """Marks entries invalidated so no later run reuses them (nothing is deleted; lineage stays)."""
    if not (step or key or older_than or artifact_id is not None):
        raise click.UsageError("say what to invalidate: --step, --key, --older-than and/or --artifact")
    if cascade and artifact_id is None:
        raise click.UsageError("--cascade needs --artifact")
    older = parse_duration(older_than) if older_than else None
    with _store(store_args) as store:
        if artifact_id is not None:
            if not store.get_artifacts_by_id([artifact_id]):
                raise click.ClickException(f"no artifact with id {artifact_id}")
            if cascade:
                chosen = index.entries_derived_from(store, artifact_id)
            else:
                producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                             if e.type == pb.Event.OUTPUT]
                keys = {_prop(e, index.KEY) for e in store.get_executions_by_id(producers)} - {None}
                chosen = [e for k in sorted(keys) for e in index.list_entries(store, key=k)]
            now = int(time.time() * 1000)
            chosen = [e for e in chosen if (not step or _prop(e, index.STEP) == step)
                      and (not key or _prop(e, index.KEY) == key)
                      and (older is None or now - (_prop(e, index.COMPUTED_AT) or
                                                  e.last_update_time_since_epoch) > older * 1000)]
        else:
            chosen = index.list_entries(store, step=step, key=key, older_than_s=older)
        if dry_run:
            ids = [e.id for e in chosen]
        else:
            ids = index.invalidate(store, chosen, reason)
    for e in chosen:
        if e.id in ids:
            click.echo(f"{'would invalidate' if dry_run else 'invalidated'} execution {e.id} "
                       f"(step {_prop(e, index.STEP)}, key {_prop(e, index.KEY)})")
    click.echo(f"{len(ids)} entr{'y' if len(ids) == 1 else 'ies'} {'to invalidate' if dry_run else 'invalidated'}")
