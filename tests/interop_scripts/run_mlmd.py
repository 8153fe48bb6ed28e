"""Runs the interop scenario with google's ml-metadata; meant for the side venv's python.

Usage (DB is a SQLite file or a server address mysql://USER[:PASSWORD]@HOST:PORT/DATABASE or
postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE, see scenario.connection_config; the other paths are JSON
files)::

    python run_mlmd.py populate DB [VARIANT]  # creates DB (READWRITE_OPENCREATE) with scenario.POPULATE[VARIANT]
    python run_mlmd.py dump DB OUT.json [PLAN.json]  # opens DB (READWRITE) and writes scenario.dump's answers
                                             # (PLAN: scenario.read_plan(DB), read by the caller; needed for servers)
    python run_mlmd.py append DB TAG OUT.json   # scenario.append with TAG; writes the returned ids
    python run_mlmd.py open DB OUT.json [MODE]  # opens DB (READWRITE or MODE) and writes a summary
    python run_mlmd.py create DB             # creates an empty store (READWRITE_OPENCREATE)
    python run_mlmd.py errors DB OUT.json    # creates DB and writes scenario.write_errors' answers

Exits non-zero with the traceback on stderr when ml-metadata raises.
"""

from __future__ import annotations

import json
import sys

# scenario.py sits next to this script, and the script's directory comes first on sys.path.
import ml_metadata as mlmd
import scenario
from ml_metadata.proto import metadata_store_pb2 as pb


def _open(path: str, mode: str) -> mlmd.MetadataStore:
    return mlmd.MetadataStore(scenario.connection_config(pb, path, mode))


def _write(out: str, data: object) -> None:
    with open(out, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def main(argv: list[str]) -> int:
    command, path = argv[1], argv[2]
    if command == "populate":
        variant = argv[3] if len(argv) > 3 else "full"
        scenario.POPULATE[variant](mlmd, pb, _open(path, "READWRITE_OPENCREATE"), **scenario.populate_options(path))
    elif command == "dump":
        store = _open(path, "READWRITE")
        plan = None
        if len(argv) > 4:
            with open(argv[4]) as f:
                plan = json.load(f)
        _write(argv[3], scenario.dump(mlmd, pb, store, path, plan))
    elif command == "append":
        store = _open(path, "READWRITE")
        _write(argv[4], scenario.append(mlmd, pb, store, argv[3]))
    elif command == "create":
        _open(path, "READWRITE_OPENCREATE")
    elif command == "errors":
        _write(argv[3], scenario.write_errors(mlmd, pb, _open(path, "READWRITE_OPENCREATE")))
    elif command == "open":
        store = _open(path, argv[4] if len(argv) > 4 else "READWRITE")
        _write(argv[3], {
            "version": mlmd.__version__,
            "artifact_types": [t.name for t in store.get_artifact_types()],
            "system_types": [t.name for t in store.get_artifact_types_by_id(range(1, 10))]
            + [t.name for t in store.get_execution_types_by_id(range(1, 10))],
        })
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
