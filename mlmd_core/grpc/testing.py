"""Running a real `mlmd-server` process for tests and benchmarks: started on a free loopback port, its port
read from the startup log line, stopped with SIGTERM (the graceful path a container orchestrator uses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from mlmd_core.proto import metadata_store_pb2 as pb


class ServerProcess:
    """`python -m mlmd_core.grpc ARGS --grpc_port=0` as a context manager; `.port` is where it listens and
    `.log` collects its stderr (one line per entry)."""

    def __init__(self, args: Sequence[str] = (), startup_timeout: float = 60.0, env: Optional[dict] = None):
        self.args = list(args)
        if not any(a.lstrip("-").startswith("grpc_port") for a in self.args):
            self.args.append("--grpc_port=0")
        self.startup_timeout = startup_timeout
        self.env = env
        self.proc: Optional[subprocess.Popen[str]] = None
        self.port = 0
        self.log: list[str] = []
        self._ready = threading.Event()
        self._reader: Optional[threading.Thread] = None

    def start(self) -> ServerProcess:
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen([sys.executable, "-m", "mlmd_core.grpc", *self.args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"mlmd-server exited {self.proc.returncode}:\n" + "\n".join(self.log[-30:]))
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("mlmd-server did not start:\n" + "\n".join(self.log[-30:]))
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if '"event": "listening"' in line:
                self.port = int(json.loads(line[line.index("{"):])["port"])
                self._ready.set()

    def client_config(self, **fields: Any) -> pb.MetadataStoreClientConfig:
        return pb.MetadataStoreClientConfig(host="127.0.0.1", port=self.port, **fields)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for the graceful exit; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        if self._reader is not None:
            self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.terminate()
        finally:
            self.kill()


def write_server_config(path: Path | str, config: pb.MetadataStoreServerConfig) -> Path:
    """Writes a text-format MetadataStoreServerConfig (what --metadata_store_server_config_file reads)."""
    from google.protobuf import text_format

    path = Path(path)
    path.write_text(text_format.MessageToString(config))
    return path
