#!/usr/bin/env python3
"""Regenerate the Python protobuf/gRPC modules in ``mlmd_core/proto/``.

Usage (from anywhere)::

    python protos/generate.py           # (re)write mlmd_core/proto/*_pb2*.py[i]
    python protos/generate.py --check   # exit 1 if the committed files are stale

The ``.proto`` sources live under ``protos/ml_metadata/...`` so that the
descriptor file names are ``ml_metadata/proto/metadata_store.proto`` etc.,
exactly as in google/ml-metadata. The generated modules are written flat into
``mlmd_core/proto/`` and their ``ml_metadata.*`` imports are rewritten to
``mlmd_core.proto``.

The output depends on the protoc bundled with grpcio-tools, so generation is
pinned to ``GRPCIO_TOOLS_VERSION``: its protoc (33.5) stamps the modules with
protobuf gencode version 6.33.5, which the protobuf 6.33.5+ and 7.x runtimes
both accept.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
from pathlib import Path

GRPCIO_TOOLS_VERSION = "1.81.1"

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
OUT_DIR = REPO_ROOT / "mlmd_core" / "proto"
OUT_PACKAGE = "mlmd_core.proto"

PROTOS = (
    "ml_metadata/proto/metadata_store.proto",
    "ml_metadata/proto/metadata_store_service.proto",
    "ml_metadata/simple_types/proto/simple_types.proto",
)

# protoc output path (relative to its output dir) -> flat name in OUT_DIR.
OUTPUTS = {
    "ml_metadata/proto/metadata_store_pb2.py": "metadata_store_pb2.py",
    "ml_metadata/proto/metadata_store_pb2.pyi": "metadata_store_pb2.pyi",
    "ml_metadata/proto/metadata_store_service_pb2.py": "metadata_store_service_pb2.py",
    "ml_metadata/proto/metadata_store_service_pb2.pyi": "metadata_store_service_pb2.pyi",
    "ml_metadata/proto/metadata_store_service_pb2_grpc.py": ("metadata_store_service_pb2_grpc.py"),
    "ml_metadata/simple_types/proto/simple_types_pb2.py": "simple_types_pb2.py",
    "ml_metadata/simple_types/proto/simple_types_pb2.pyi": "simple_types_pb2.pyi",
}

# `from ml_metadata.proto import x_pb2 as y` -> `from mlmd_core.proto import ...`
_IMPORT_RE = re.compile(r"^from ml_metadata\.(?:simple_types\.)?proto import ", re.MULTILINE)
# Module name given to the builder (becomes the classes' __module__).
_MODULE_RE = re.compile(r"'ml_metadata\.(?:simple_types\.)?proto\.(\w+)'")


def _rewrite(text: str) -> str:
    text = _IMPORT_RE.sub(f"from {OUT_PACKAGE} import ", text)
    text = _MODULE_RE.sub(rf"'{OUT_PACKAGE}.\1'", text)
    leftovers = re.findall(r"^\s*(?:import|from)\s+ml_metadata\b.*$", text, re.M)
    if leftovers:
        raise RuntimeError(f"unrewritten ml_metadata imports: {leftovers}")
    return text


def installed_grpcio_tools() -> str:
    try:
        return importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def generate(out_dir: Path) -> dict[str, str]:
    """Runs protoc into a scratch dir; returns {flat file name: content}."""
    from grpc_tools import protoc  # imported lazily: only generation needs it

    wkt_include = Path(protoc.__file__).resolve().parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="mlmd-protoc-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={wkt_include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *PROTOS,
        ]
        proc = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"protoc failed with exit code {proc.returncode}")
        results = {}
        for src, dst in OUTPUTS.items():
            text = (Path(tmp) / src).read_text(encoding="utf-8")
            results[dst] = _rewrite(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in results.items():
        (out_dir / name).write_text(text, encoding="utf-8", newline="\n")
    return results


def check() -> int:
    with tempfile.TemporaryDirectory(prefix="mlmd-gen-check-") as tmp:
        fresh = generate(Path(tmp))
    stale = []
    for name, text in fresh.items():
        path = OUT_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(name)
            print(f"stale: {path.relative_to(REPO_ROOT)}", file=sys.stderr)
            if current is not None:
                diff = difflib.unified_diff(
                    current.splitlines(True),
                    text.splitlines(True),
                    f"committed/{name}",
                    f"generated/{name}",
                )
                for line in list(diff)[:40]:
                    # The serialized descriptor is one very long line.
                    line = line.rstrip("\n")
                    sys.stderr.write((line[:160] + " ..." if len(line) > 160 else line) + "\n")
    if stale:
        print(
            "generated protobuf modules are stale; run: python protos/generate.py",
            file=sys.stderr,
        )
        return 1
    print(f"{len(fresh)} generated files are up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temp dir and fail if mlmd_core/proto differs",
    )
    parser.add_argument(
        "--any-grpcio-tools",
        action="store_true",
        help=f"do not insist on grpcio-tools=={GRPCIO_TOOLS_VERSION}",
    )
    args = parser.parse_args(argv)

    found = installed_grpcio_tools()
    if found != GRPCIO_TOOLS_VERSION and not args.any_grpcio_tools:
        print(
            f"grpcio-tools {found} is installed, but the generated modules are "
            f"pinned to grpcio-tools=={GRPCIO_TOOLS_VERSION} (its protoc decides "
            "the protobuf runtime versions the code accepts). Install it with "
            f"`pip install grpcio-tools=={GRPCIO_TOOLS_VERSION}`, or pass "
            "--any-grpcio-tools.",
            file=sys.stderr,
        )
        return 2

    if args.check:
        return check()
    written = generate(OUT_DIR)
    for name in written:
        print(f"wrote {(OUT_DIR / name).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
