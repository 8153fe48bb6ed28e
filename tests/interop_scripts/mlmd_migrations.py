"""ml-metadata's schema migrations, for tests/test_migrations.py; meant for the side venv's python.

Usage::

    python mlmd_migrations.py versions DIR      # DIR/v10.sqlite populated (scenario "full"), then ml-metadata's
                                               # downgrades: DIR/v9.sqlite ... DIR/v0.sqlite
    python mlmd_migrations.py upgrade DB...     # opens each DB with enable_upgrade_migration=True
    python mlmd_migrations.py downgrade DB N    # downgrade_schema(DB, N)
    python mlmd_migrations.py create DB N [DB N ...]  # creates each DB (a new store), then downgrades it to N
    python mlmd_migrations.py open DB           # opens DB without migration; prints the error if any

Exits non-zero with the traceback on stderr when ml-metadata raises (except for `open`).
"""

from __future__ import annotations

import os
import shutil
import sys

import ml_metadata as mlmd
import scenario
from ml_metadata.proto import metadata_store_pb2 as pb


def _config(path: str, mode: str = "READWRITE") -> pb.ConnectionConfig:
    return scenario.connection_config(pb, path, mode)


def main(argv: list[str]) -> int:
    command = argv[1]
    if command == "versions":
        out = argv[2]
        os.makedirs(out, exist_ok=True)
        work = os.path.join(out, "work.sqlite")
        scenario.POPULATE["full"](mlmd, pb, mlmd.MetadataStore(_config(work, "READWRITE_OPENCREATE")))
        shutil.copy(work, os.path.join(out, "v10.sqlite"))
        for version in range(9, -1, -1):
            mlmd.downgrade_schema(_config(work), version)
            shutil.copy(work, os.path.join(out, f"v{version}.sqlite"))
        os.remove(work)
    elif command == "upgrade":
        for path in argv[2:]:
            mlmd.MetadataStore(_config(path), enable_upgrade_migration=True)
    elif command == "downgrade":
        mlmd.downgrade_schema(_config(argv[2]), int(argv[3]))
    elif command == "create":
        for path, version in zip(argv[2::2], argv[3::2]):
            mlmd.MetadataStore(_config(path, "READWRITE_OPENCREATE"))
            mlmd.downgrade_schema(_config(path), int(version))
    elif command == "open":
        try:
            mlmd.MetadataStore(_config(argv[2]))
            print("OK")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            print(f"{type(exc).__name__}: {exc}")
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
