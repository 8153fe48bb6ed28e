"""Every fenced code block of README.md and docs/*.md is executed or checked against the real thing (issue #10).

Blocks are collected in page order and named `<file>#<N>` (N counts every fence of the file). Per language:

- ``python``: runs as written in a subprocess, in a throw-away directory (``/tmp/`` mapped into it).
- ``bash`` / ``shell`` / ``console``: the page's shell blocks run in page order, command by command, in one
  sandbox per page (its own cwd, HOME and AIRFLOW_HOME; no inherited AIRFLOW_* / MLMD_* variable), so a block
  sees what the blocks above it made (exported variables, cwd, files). Servers (`mlmd-server`, `mlmd server`,
  `python -m mlmd_core.grpc`, `mlmd ui`, `make ui-demo`) start in the background on a free loopback port, must
  get ready (the server's "listening" line, an HTTP answer) and are stopped with SIGTERM (mlmd-server must exit 0)
  before the next server of the page or at the end of the block. What the docs name but a test machine does not
  have is mapped (`Sandbox.map`, the shell functions of `PROLOGUE`): `<this repository>` is this working tree; the
  documented hosts (`mysql.internal`, `mlmd.internal`, ...) are the local test servers, their users and
  databases the test servers' users and throw-away databases (`-p` prompts dropped); absolute paths (`/etc/mlmd`,
  `/backups`, ...) live in the sandbox; documented server ports are free ports; `date +%F` is the day the
  backup example restores. `make demo` really runs (once per test run, started in the background as the run
  begins, shared by the pages that show it); `make test` is this suite, so it is `make -n test`; other targets
  run with the install step taken as done (`-o .venv/.installed`); `pip install X` checks that X, with its
  extras, is installed. Per-page set-up (`SESSION_HOOKS`: the store, Airflow deployment or databases a page
  presumes) and checks of what a block did (`BLOCK_HOOKS`: a command's `# output` comment, the store it wrote,
  the backend a connection resolves to) complete it.
- ``text``: output shown after a shell block must be an abridgement (`...` lines elided, ids, timings, hashes and
  run ids normalised) of what that block printed; the banner lines of caching.md must have the shape of the
  banners a real run of the page's DAG logs.
- ``ini``: the `[mlmd]` section loads through Airflow's own config (airflow.cfg of a throw-away home).
- ``toml``: the entry-point group is the one pyproject.toml uses, and a real package (a dist-info on PYTHONPATH)
  registering a command that way runs as `mlmd <name>`.
- ``json``: the keys (in order), value types and values (but the times) of the real `mlmd show --json` output.
- ``protobuf``: parses (text format) as the `MetadataStoreServerConfig` it documents.
- ``mermaid``: well-formed (header, subgraphs, brackets, node ids), the `airflow.*` MLMD types it names are the
  ones mlmd_airflow records, and the pipeline diagram's arrows are the DAG's task dependencies.
- ``nginx``: structure (braces, `;`), `grpc_pass` names a defined upstream, whose port is the `--grpc_port` the
  page starts the replicas with (nginx itself is not installed; this is a structural check).
- no language: a usage synopsis of `mlmd`: every option exists, every shown default is the real one.

A block that cannot run here says so right before it with ``<!-- docs-test: skip REASON -->``; there may be at most
`SKIP_ALLOWED` of those (none today).
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomllib
from ports import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_ALLOWED: set[str] = set()  # "file#N" of blocks that may carry a docs-test: skip marker
SHELL = {"bash", "shell", "console", "sh"}


# ------------------------------------------------------------------------------------------------ collection


@dataclass(frozen=True)
class Block:
    doc: str  # relative to ROOT
    n: int  # 1-based, over every fence of the file
    lang: str
    code: str
    line: int
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.n}"


def collect(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{path}:{start + 1}: unclosed fence"
        i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        skip = re.fullmatch(r"<!-- docs-test: skip (.+?) -->", before.strip())
        out.append(Block(str(path.relative_to(ROOT)), len(out) + 1, m.group(1), "\n".join(body) + "\n", start + 1,
                         skip.group(1) if skip else None))
    return out


BLOCKS = [b for doc in DOCS for b in collect(doc)]
BY_ID = {b.id: b for b in BLOCKS}


def test_every_fence_is_collected() -> None:
    for doc in DOCS:
        fences = len(re.findall(r"^```", doc.read_text(), re.M))
        assert fences == 2 * len([b for b in BLOCKS if b.doc == str(doc.relative_to(ROOT))]), doc
    assert {b.lang for b in BLOCKS} <= set(CHECKS) | SHELL, {b.lang for b in BLOCKS} - set(CHECKS) - SHELL


def test_skip_markers_are_few() -> None:
    markers = [(doc, m.start()) for doc in DOCS for m in re.finditer(r"<!-- docs-test: skip", doc.read_text())]
    skipped = {b.id for b in BLOCKS if b.skip}
    assert len(markers) == len(skipped), "a docs-test: skip marker that is not right before a fence"
    assert skipped <= SKIP_ALLOWED, f"blocks skipped without being allowed: {sorted(skipped - SKIP_ALLOWED)}"


# The pages with shell blocks, in the order their tests are handed to xdist's workers (see _order).
SESSION_ORDER = ["docs/getting-started.md", "docs/caching.md", "docs/cli.md", "docs/operations.md",
                 "docs/airflow.md", "docs/server.md", "README.md"]
DEMO_PAGES = {b.doc for b in BLOCKS if b.lang in SHELL and "make demo" in b.code}


def _order(block: Block) -> int:
    """The slowest first, so that xdist's workers finish together: the pages' shell sessions (the longest chain,
    `make demo` and what uses it, first; README, which also waits for the demo, last of them), then the blocks
    that start Airflow, then the rest."""
    if block.lang in SHELL | {"text"} and block.doc in SESSION_ORDER:
        return SESSION_ORDER.index(block.doc)
    return len(SESSION_ORDER) + ("airflow" not in block.code)


@pytest.mark.parametrize("block_id", [b.id for b in sorted(BLOCKS, key=_order)])
def test_block(block_id: str, tmp_path: Path, shared: Shared) -> None:
    block = BY_ID[block_id]
    if block.skip:
        pytest.skip(block.skip)
    check = CHECKS.get(block.lang, check_shell)
    check(block, tmp_path, shared)


# ------------------------------------------------------------------------------------------------ environment


def clean_env(sandbox: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: nothing of Airflow or MLMD from the test process (tests/airflow's
    conftest exports some), a HOME and an AIRFLOW_HOME of its own, the project's venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "MLMD_"))}
    (sandbox / "home").mkdir(parents=True, exist_ok=True)
    (sandbox / "airflow").mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(sandbox / "home"), AIRFLOW_HOME=str(sandbox / "airflow"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


class Shared:
    """Results computed once per test run and shared by the xdist workers (a lock file per result)."""

    def __init__(self, base: Path) -> None:
        self.base, self.memo, self.thread = base, {}, None

    def get(self, name: str, compute: Callable[[Path], Any]) -> Any:
        if name in self.memo:
            return self.memo[name]
        workdir, result = self.base / name, self.base / f"{name}.json"
        with open(self.base / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not result.exists():
                workdir.mkdir(parents=True, exist_ok=True)
                result.write_text(json.dumps(compute(workdir)))
            value = self.memo[name] = json.loads(result.read_text())
        return value


    def try_compute(self, name: str, compute: Callable[[Path], Any]) -> None:
        """Computes `name` unless it is done or another thread or worker is at it (then returns at once)."""
        with open(self.base / f"{name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            result = self.base / f"{name}.json"
            if not result.exists():
                (self.base / name).mkdir(parents=True, exist_ok=True)
                result.write_text(json.dumps(compute(self.base / name)))

    def prefetch(self, items: list[tuple[str, Callable[[Path], Any]]]) -> None:
        """One background thread per worker works through `items` (the pages' shell sessions), so the slow ones
        (`make demo` and what depends on it) run alongside the other tests instead of after them."""

        def work() -> None:
            for name, compute in items:
                with contextlib.suppress(Exception):  # a failure shows again in the test that needs it
                    self.try_compute(name, compute)

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Shared]:
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:  # every worker's basetemp is a sibling in the run's directory
        base = tmp_path_factory.getbasetemp().parent / f"docs-{run_id[:12]}"
    else:
        base = tmp_path_factory.getbasetemp() / "docs-shared"
    base.mkdir(parents=True, exist_ok=True)
    result = Shared(base)
    selected = {item.callspec.params.get("block_id") for item in request.session.items if hasattr(item, "callspec")}
    if any(BY_ID[b].doc in DEMO_PAGES and _order(BY_ID[b]) < len(SESSION_ORDER) for b in selected if b in BY_ID):
        result.prefetch([("demo", run_demo)])  # `make demo` takes a while: start it now, alongside other blocks
    yield result
    if result.thread:  # a worker may run out of tests first: the demo it started must not be cut short
        result.thread.join(timeout=300)


# ------------------------------------------------------------------------------------------------ python


def check_python(block: Block, tmp_path: Path, shared: Shared) -> None:
    import server_backends

    for backend, marker in (("mysql", "config.mysql."), ("postgresql", "config.postgresql.")):
        if marker in block.code:
            server_backends.require(backend)
    code = block.code.replace("/tmp/", f"{tmp_path}/")
    result = run([sys.executable, "-c", code], clean_env(tmp_path), tmp_path, timeout=120)
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"


# docs/backends.md's examples connect to the local MariaDB / PostgreSQL (as the server test suites do).
DOCS_DATABASE = "mlmd_docs_example"


def teardown_module() -> None:
    """Drops the database the docs' server examples create."""
    import server_backends

    for backend in server_backends.SERVERS:
        if server_backends.unreachable(backend):
            continue
        conn = server_backends.admin_connection(backend)
        try:
            quoted = f"`{DOCS_DATABASE}`" if backend == "mysql" else f'"{DOCS_DATABASE}" WITH (FORCE)'
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {quoted}")
        finally:
            conn.close()


# ------------------------------------------------------------------------------------------------ shell


def commands(code: str) -> list[str]:
    """The commands of a shell block: comment and blank lines dropped, continuation lines and heredocs joined."""
    lines, out, i = code.splitlines(), [], 0
    while i < len(lines):
        cmd = lines[i]
        i += 1
        if not cmd.strip() or cmd.lstrip().startswith("#"):
            continue
        while cmd.endswith("\\") and i < len(lines):
            cmd += "\n" + lines[i]
            i += 1
        heredoc = re.search(r"<<-?'?(\w+)'?", cmd)
        if heredoc:
            while i < len(lines):
                cmd += "\n" + lines[i]
                i += 1
                if lines[i - 1].strip() == heredoc.group(1):
                    break
        out.append(cmd)
    return out


# Shell functions of every sandbox shell: what cannot run literally runs in its principled equivalent.
PROLOGUE = r"""
make() {
  case "$1" in
    demo) ln -sfn "$DOCS_DEMO_DIR" .demo && cat "$DOCS_DEMO_OUT" && return "$DOCS_DEMO_RC" ;;
    test) command make -n -o .venv/.installed test ;;  # `make test` is this test suite: show what it runs
    *) command make -o .venv/.installed "$@" ;;      # installed already: no pip step
  esac
}
git() {
  if [ "$1" = clone ] && [ "$2" = "$DOCS_REPO" ]; then  # <this repository>: the working tree under test
    mkdir -p "$3" && for f in "$DOCS_REPO"/* "$DOCS_REPO"/.venv; do ln -s "$f" "$3/"; done
  else command git "$@"; fi
}
pip() {
  [ "$1" = install ] || { echo "docs sandbox: only pip install is mapped" >&2; return 2; }
  shift; python -c "$DOCS_PIP_CHECK" "$@"
}
date() { if [ "$1" = +%F ]; then echo 2026-01-31; else command date "$@"; fi; }  # the backup's day
"""

PIP_CHECK = r"""
import importlib.metadata as md, re, sys
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    dist = md.distribution(req.name)
    deps = [Requirement(r) for r in dist.requires or []]
    for extra in sorted(req.extras):
        assert extra in dist.metadata.get_all("Provides-Extra"), f"{req.name} has no extra {extra}"
        for dep in deps:
            if dep.marker and dep.marker.evaluate({"extra": extra}) and not dep.marker.evaluate({"extra": ""}):
                version = md.version(dep.name)
                assert dep.specifier.contains(version, prereleases=True), f"{dep} but {version} is installed"
                print(f"  [{extra}] {dep.name} {version}")
    print(f"{req.name} {dist.version} is installed")
"""

SERVER = re.compile(r"^(?:\w+=\S+\s+)*(?:\S*/)?(mlmd-server\b|mlmd server\b|python -m mlmd_core\.grpc\b|mlmd ui\b"
                    r"|make ui-demo\b)")
DOC_PORTS = (8080, 8081, 8443, 8765, 9090)
SANDBOX_DIRS = ("/etc/mlmd", "/var/lib/mlmd", "/backups", "/run/secrets", "/etc/mysql", "/tmp")
TOOLS = ("sqlite3", "mysqldump", "mysqladmin", "mysql", "pg_dump", "createdb", "pg_restore", "make")
HOSTS = ("mysql.internal", "postgres.internal", "mlmd-server.internal", "mlmd.internal", "mlmd.example.com")


@dataclass
class Server:
    proc: subprocess.Popen
    log: Path
    command: str


@dataclass
class Sandbox:
    """One page's shell session."""

    doc: str
    dir: Path
    env: dict[str, str]
    ports: dict[int, int] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)  # documented name -> throw-away name
    servers: list[Server] = field(default_factory=list)
    background: list[Server] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    block: Block | None = None
    shared: Shared | None = None

    def __post_init__(self) -> None:
        self.ports = {p: free_port() for p in DOC_PORTS}
        self.state = self.dir / ".docs-shell-state"
        self.cwd = self.dir / "work"
        self.cwd.mkdir(parents=True, exist_ok=True)
        for d in SANDBOX_DIRS:
            (self.dir / "root" / d.lstrip("/")).mkdir(parents=True, exist_ok=True)

    # The placeholders of the docs, mapped onto this machine.
    def map(self, cmd: str) -> str:
        import server_backends

        cmd = cmd.replace("<this repository>", '"$DOCS_REPO"')
        dirs = "|".join(map(re.escape, SANDBOX_DIRS))
        cmd = re.sub(rf"(?<![\w./$])({dirs})(?=/|\b)", lambda m: str(self.dir / "root") + m[1], cmd)  # one pass
        for host in HOSTS:
            cmd = cmd.replace(host, "127.0.0.1")
        cmd = cmd.replace("--host=0.0.0.0", "--host=127.0.0.1").replace("--mysql_config_host=mysql ",
                                                                       "--mysql_config_host=127.0.0.1 ")
        cmd = re.sub(r"(?<![\d.])(" + "|".join(map(str, DOC_PORTS)) + r")(?!\d)",
                     lambda m: str(self.ports[int(m.group(1))]), cmd)
        my, pg = server_backends.MYSQL, server_backends.POSTGRES

        def url(m: re.Match) -> str:
            cred = my if m.group(1) == "mysql" else pg
            auth = cred["user"] + (":" + cred["password"] if cred["password"] else "")
            return f"{m.group(1)}{m.group(2) or ''}://{auth}@{cred['host']}:{cred['port']}/{self.db(m.group(3))}"

        cmd = re.sub(r"\b(mysql|postgresql)(\+\w+)?://[^@\s/]*@127\.0\.0\.1:\d+/(\w+)", url, cmd)
        cmd = re.sub(r"--mysql_config_user=\S+", f"--mysql_config_user={my['user']}", cmd)
        cmd = re.sub(r"--mysql_config_password=\S+", f"--mysql_config_password={my['password']}", cmd)
        cmd = re.sub(r"--mysql_config_port=\d+", f"--mysql_config_port={my['port']}", cmd)
        cmd = re.sub(r"--mysql_config_database=(\w+)", lambda m: f"--mysql_config_database={self.db(m[1])}", cmd)
        cmd = re.sub(r"--postgres_config_user=\S+", f"--postgres_config_user={pg['user']}", cmd)
        cmd = re.sub(r"--postgres_config_port=\d+", f"--postgres_config_port={pg['port']}", cmd)
        cmd = re.sub(r"--postgres_config_dbname=(\w+)", lambda m: f"--postgres_config_dbname={self.db(m[1])}", cmd)
        if re.match(r"(mysqldump|mysql|mysqladmin)\b", cmd):
            cmd = re.sub(r"--user=\S+", f"--user={my['user']}", cmd)
            cmd = re.sub(r" -p(?= )", f" --password={my['password']}" if my["password"] else "", cmd)
            cmd = re.sub(r"(?<= )(mlmd(?:_restored)?)(?= |$)", lambda m: self.db(m[1]), cmd)
        if re.match(r"(pg_dump|pg_restore|createdb)\b", cmd):
            cmd = re.sub(r"--username=\S+", f"--username={pg['user']}", cmd)
            cmd = re.sub(r"--dbname=(\w+)", lambda m: f"--dbname={self.db(m[1])}", cmd)
            cmd = re.sub(r"(?<= )(mlmd(?:_restored)?)(?= |$)", lambda m: self.db(m[1]), cmd)
        return cmd

    def db(self, name: str) -> str:
        if name not in self.databases:
            self.databases[name] = f"mlmd_docs_{os.getpid()}_{secrets.token_hex(3)}_{name}"
        return self.databases[name]

    def shell(self, cmd: str, timeout: float = 240) -> subprocess.CompletedProcess:
        script = (f"{PROLOGUE}\ncd {shlex.quote(str(self.cwd))}\n[ -f {self.state} ] && source {self.state}\n"
                  f"set -o pipefail\n{cmd}\n__rc=$?\n"
                  f"{{ export -p; printf 'cd %q\\n' \"$PWD\"; }} > {self.state}\nexit $__rc\n")
        return run(["bash", "-c", script], self.env, self.cwd, timeout=timeout)

    def start(self, cmd: str) -> Server:
        """A server command in the background; returns once it is ready (or fails the block)."""
        self.stop()
        cmd = re.sub(r"\s+#.*$", "", cmd)
        kind = "grpc" if re.search(r"mlmd-server|mlmd server|mlmd_core\.grpc", cmd) else "http"
        if kind == "grpc" and "--grpc_port" not in cmd:
            cmd += f" --grpc_port={self.ports[8080]}"
        elif "mlmd ui" in cmd and "--port" not in cmd:
            cmd += f" --port {self.ports[8765]}"
        elif "make ui-demo" in cmd and "UI_PORT=" not in cmd:
            cmd = f"UI_PORT={self.ports[8080]} {cmd}"
        port = int(re.search(r"(?:--grpc_port=|--port[ =]|UI_PORT=)(\d+)", cmd).group(1))
        log = self.dir / f"server-{len(self.background) + 1}.log"
        script = (f"{PROLOGUE}\n[ -f {self.state} ] && source {self.state}\n{cmd}\n")
        with open(log, "w") as out:
            proc = subprocess.Popen(["bash", "-c", script], env=self.env, cwd=self.cwd, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        server = Server(proc, log, cmd)
        self.servers.append(server)
        self.background.append(server)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode} before it was ready: {cmd}\n"
                                     f"{log.read_text()}")
            if kind == "grpc" and '"event": "listening"' in log.read_text():
                return server
            if kind == "http":
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                        if resp.status < 500:
                            return server
            time.sleep(0.2)
        raise AssertionError(f"server not ready after 90 s: {cmd}\n{log.read_text()}")

    def stop(self) -> None:
        for server in self.servers:
            if server.proc.poll() is None:
                os.killpg(server.proc.pid, signal.SIGTERM)
            try:
                server.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(server.proc.pid, signal.SIGKILL)
                server.proc.wait()
                raise AssertionError(f"server did not stop on SIGTERM: {server.command}") from None
            if re.search(r"mlmd-server|mlmd server|mlmd_core\.grpc", server.command):
                assert server.proc.returncode == 0, f"{server.command}: exit {server.proc.returncode}\n" \
                                                    f"{server.log.read_text()[-3000:]}"
        self.servers = []


def run_session(doc: str, workdir: Path, shared: Shared) -> dict[str, Any]:
    """Runs the shell blocks of `doc` in page order; the result per block: its commands' outputs, or the error."""
    import server_backends

    blocks = [b for b in BLOCKS if b.doc == doc and b.lang in SHELL and not b.skip]
    env = clean_env(workdir, DOCS_REPO=str(ROOT), DOCS_PIP_CHECK=PIP_CHECK)
    box = Sandbox(doc, workdir, env, shared=shared)
    text = "\n".join(b.code for b in blocks)
    needs = {backend for backend, pattern in (("mysql", r"mysql(://|dump|_config| --host)"),
                                              ("postgresql", r"postgres(ql://|_config)|pg_dump"))
             if re.search(pattern, text)}
    missing = {backend: server_backends.unreachable(backend) for backend in needs}
    missing = {k: v for k, v in missing.items() if v}
    results: dict[str, Any] = {}
    if "make demo" in text:
        demo = shared.get("demo", run_demo)
        env.update(DOCS_DEMO_DIR=demo["dir"], DOCS_DEMO_OUT=demo["out_file"], DOCS_DEMO_RC=str(demo["rc"]))
    try:
        try:
            if doc in SESSION_HOOKS:
                SESSION_HOOKS[doc](box)
        except Exception as exc:  # noqa: BLE001 - every block of the page reports it
            for block in blocks:
                results[block.id] = {"error": f"setting up the page failed: {exc!r}"}
            return results
        for block in blocks:
            blocked = [reason for backend, reason in missing.items()
                       if re.search(backend.replace("postgresql", "postgres|pg_"), block.code)]
            blocked += [f"{tool} is not installed (Debian: sqlite3, mariadb-client, postgresql-client, make)"
                        for tool in TOOLS if re.search(rf"^\s*{tool}\b", block.code, re.M) and not shutil.which(tool)]
            if blocked:
                results[block.id] = {"skip": blocked[0]}
                continue
            outputs: list[dict[str, Any]] = []
            results[block.id] = {"commands": outputs}
            box.block = block
            try:
                for hook in BLOCK_HOOKS:
                    if hook[0] == doc and hook[1] in block.code and hook[2]:
                        hook[2](box)
                for cmd in commands(block.code):
                    mapped = box.map(cmd)
                    if SERVER.match(mapped):
                        server = box.start(mapped)
                        outputs.append({"cmd": cmd, "server": True, "log": server.log.read_text()})
                        continue
                    proc = box.shell(mapped)
                    outputs.append({"cmd": cmd, "rc": proc.returncode, "out": proc.stdout, "err": proc.stderr})
                    assert proc.returncode == 0, f"`{cmd}` exited with {proc.returncode}\n{mapped}\n" \
                                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
                for hook in BLOCK_HOOKS:
                    if hook[0] == doc and hook[1] in block.code and hook[3]:
                        hook[3](box, outputs)
                box.stop()
            except Exception as exc:  # noqa: BLE001 - the block's test reports it; the page goes on
                results[block.id]["error"] = str(exc) if isinstance(exc, AssertionError) else repr(exc)
                with contextlib.suppress(Exception):
                    box.stop()
        if doc in SESSION_FINAL:
            SESSION_FINAL[doc](box, results)
    finally:
        box.stop()
        for server in box.background:
            if server.proc.poll() is None:
                os.killpg(server.proc.pid, signal.SIGKILL)
        results["meta"] = box.meta
    return results


def run_demo(workdir: Path) -> dict[str, Any]:
    """`make demo` for real, in a checkout of this working tree (the install step is done: `-o` its stamp)."""
    clone = workdir / "mlmd-airflow"
    clone.mkdir(exist_ok=True)
    checkout(clone)
    proc = run(["make", "-o", ".venv/.installed", "demo"], clean_env(workdir), clone, timeout=300)
    out = workdir / "demo.out"
    out.write_text(proc.stdout + proc.stderr[-3000:] * (proc.returncode != 0))
    return {"rc": proc.returncode, "out": proc.stdout, "out_file": str(out), "dir": str(clone / ".demo")}


def checkout(clone: Path) -> None:
    """A directory that looks like a fresh clone of this working tree (its entries symlinked; no .demo)."""
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".demo") and not entry.name.startswith(".pytest"):
            with contextlib.suppress(FileExistsError):
                (clone / entry.name).symlink_to(entry)


def session_name(doc: str) -> str:
    return "session-" + doc.replace("/", "_")


def session(doc: str, shared: Shared) -> dict[str, Any]:
    return shared.get(session_name(doc), lambda d: run_session(doc, d, shared))


def check_shell(block: Block, tmp_path: Path, shared: Shared) -> None:
    result = session(block.doc, shared)[block.id]
    if "skip" in result:
        pytest.skip(result["skip"])
    assert "error" not in result, f"{block.id} (line {block.line}): {result['error']}"


def outputs_of(block: Block, shared: Shared) -> list[dict[str, Any]]:
    result = session(block.doc, shared)[block.id]
    if "skip" in result:
        pytest.skip(result["skip"])
    assert "error" not in result, f"{block.id}: {result['error']}"
    return result["commands"]


# ------------------------------------------------------------------------------------------------ per page


def _migrate_airflow(box: Sandbox) -> None:
    """An Airflow deployment's database: a copy of one `airflow db migrate` made once per test run."""
    def migrate(workdir: Path) -> dict[str, Any]:
        env = clean_env(workdir)
        proc = run(["airflow", "db", "migrate"], env, workdir)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return {"db": str(Path(env["AIRFLOW_HOME"]) / "airflow.db")}

    template = box.shared.get("airflow-db", migrate)["db"]
    shutil.copyfile(template, Path(box.env["AIRFLOW_HOME"]) / "airflow.db")


MY_DAG = '''import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def my_dag():
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def total(rows: list[int]) -> int:
        return sum(rows)

    total(extract())


my_dag()
'''


def readme_setup(box: Sandbox) -> None:
    """README: an Airflow deployment (migrated, with a DAG `my_dag`) and the mlmd-server `mlmd.internal:8080`."""
    checkout(box.cwd)
    dags = Path(box.env["AIRFLOW_HOME"]) / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "my_dag.py").write_text(MY_DAG)
    _migrate_airflow(box)
    box.start(f"mlmd-server --grpc_port={box.ports[8080]}")
    box.servers = []  # lives for the whole page (stopped at the end of the session)


def readme_check_store(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    proc = run(["mlmd", "executions", "--db", f"grpc://127.0.0.1:{box.ports[8080]}", "--json"], box.env, box.cwd)
    types = {json.loads(line)["type"] for line in proc.stdout.splitlines()}
    assert types == {"my_dag.my_dag.extract", "my_dag.my_dag.total"}, proc.stdout + proc.stderr


def readme_check_make(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    demo, test = outputs
    assert "Lineage of the served model" in demo["out"], demo["out"][-2000:]
    assert ".venv/bin/python -m ruff check ." in test["out"] and ".venv/bin/python -m pytest" in test["out"], \
        test["out"]


def gs_check_try(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    _, epochs, listing = outputs
    assert "mlmd cache MISS  step=churn_training.train" in epochs["out"] + epochs["err"]
    assert "argument epochs 500→800" in epochs["out"] + epochs["err"]
    assert "churn_training.train" in listing["out"], listing["out"]


def airflow_check_install(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    assert [o["out"].splitlines()[-1] for o in outputs] == ["mlmd-airflow 0.1.0 is installed"] * 4, outputs
    assert "[mysql] pymysql" in outputs[1]["out"].lower() and "[postgres] psycopg" in outputs[3]["out"], outputs
    assert "[mysqlclient] mysqlclient" in outputs[2]["out"], outputs


def airflow_check_cli(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    """Each command's trailing comment is what it prints: a table row (`...` for elided cells or cell ends), a
    value, or for `airflow plugins` the plugin and its listener."""
    for o in outputs:
        comment = o["cmd"].split("#", 1)[1].strip()
        if comment.startswith("plugin"):
            # the plugin's row has the listener in some column (their order varies between runs)
            assert re.search(r"^mlmd\s+\|(.*\|)?\s*mlmd_airflow\.listener\.", o["out"], re.M), o["out"]
            continue
        cells = [c.strip() for c in comment.split("|")]
        if len(cells) == 1:
            assert o["out"].strip() == comment, (o["cmd"], o["out"])
            continue

        def cell_ok(want: str, got: str) -> bool:
            return want == "..." or got == want or (want.endswith("...") and got.startswith(want[:-3].rstrip()))

        rows = [[c.strip() for c in line.split("|")] for line in o["out"].splitlines()]
        assert any(len(row) >= len(cells) and all(cell_ok(w, g) for w, g in zip(cells, row)) for row in rows), \
            (o["cmd"], o["out"])


CONN_CHECK = r"""
import json, os, sys
from mlmd_airflow.hooks.mlmd import MlmdHook, backend_of
out = {}
for block_id, value in json.loads(sys.argv[1]).items():
    os.environ["AIRFLOW_CONN_MLMD_DEFAULT"] = value
    hook = MlmdHook()
    config = hook.get_store_config()
    out[block_id] = {"backend": backend_of(hook.get_connection("mlmd_default")), "kind": type(config).__name__,
                     "which": None if type(config).__name__ != "ConnectionConfig" else config.WhichOneof("config")}
print(json.dumps(out))
"""


def airflow_setup(box: Sandbox) -> None:
    tls = Path(box.env["HOME"]) / "mlmd-tls"  # the mutual TLS example's certificate files
    tls.mkdir()
    for name in ("ca.pem", "client.pem", "client.key"):
        (tls / name).write_text(f"-----BEGIN X-----\n{name}\n-----END X-----\n")


def airflow_remember_connection(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    proc = box.shell('printf %s "$AIRFLOW_CONN_MLMD_DEFAULT"')
    box.meta.setdefault("connections", {})[box.block.id] = proc.stdout


def airflow_check_connections(box: Sandbox, results: dict[str, Any]) -> None:
    """The connection each block exports opens the backend its `# backend:` comment names (resolved by the hook,
    not opened: the hosts are examples). One process for all of them."""
    connections = box.meta.pop("connections", {})
    proc = box.shell(f"python -c {shlex.quote(CONN_CHECK)} {shlex.quote(json.dumps(connections))}")
    got = json.loads(proc.stdout.splitlines()[-1]) if proc.returncode == 0 else {}
    for block_id in connections:
        documented = re.search(r"^# backend: (\w+)$", BY_ID[block_id].code, re.M).group(1)
        real = got.get(block_id, {"error": proc.stderr[-3000:]})
        kind = "MetadataStoreClientConfig" if documented == "grpc" else "ConnectionConfig"
        if real.get("backend") != documented or real.get("kind") != kind or \
                real.get("which") not in (None, documented):
            results[block_id]["error"] = f"documented backend {documented}, the hook makes {real}"


def caching_setup(box: Sandbox) -> None:
    """caching.md's CLI reads the embedded store of an Airflow home where the page's DAG has run twice."""
    home = Path(box.env["AIRFLOW_HOME"])
    dag_block = next(b for b in BLOCKS if b.doc == box.doc and b.lang == "python" and "@dag" in b.code)
    (home / "dags").mkdir(parents=True, exist_ok=True)
    (home / "dags" / "mlmd_cache_example.py").write_text(dag_block.code)
    _migrate_airflow(box)
    dag_file = home / "dags" / "mlmd_cache_example.py"
    script = ("import importlib.util, logging, sys\nlogging.basicConfig(stream=sys.stdout, level=logging.INFO)\n"
              f"spec = importlib.util.spec_from_file_location('mlmd_cache_example', {str(dag_file)!r})\n"
              "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n"
              "for _ in range(2):\n    assert module.mlmd_cache_example_dag.test().state == 'success'\n")
    proc = run([sys.executable, "-c", script], box.env, box.cwd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    box.meta["banners"] = re.findall(r"(mlmd cache (?:HIT|MISS) .*?)(?: +\[mlmd_airflow\.cache\].*)?$",
                                     proc.stdout + proc.stderr, re.M)


def ops_setup(box: Sandbox) -> None:
    """operations.md: an embedded store in AIRFLOW_HOME, the databases `mlmd` on the test servers (with data), a
    passfile."""
    import server_backends
    from test_cli_read import make_store

    make_store(Path(box.env["AIRFLOW_HOME"]) / "mlmd.sqlite")
    passfile = box.dir / "root" / "run" / "secrets" / "pgpass"
    passfile.write_text("*:*:*:*:unused\n")
    passfile.chmod(0o600)
    for backend in ("mysql", "postgresql"):
        if not server_backends.unreachable(backend):
            _fill(backend, box.db("mlmd"))
            server_backends._created[backend].append(box.db("mlmd_restored"))  # the restore creates it


def _fill(backend: str, database: str) -> None:
    import server_backends
    from test_cli_read import populate

    import mlmd_core as mlmd

    server_backends._created[backend].append(database)  # dropped at the end of the test process
    with mlmd.MetadataStore(server_backends.config_for(backend, database)) as store:
        populate(store)


def ops_check_restore(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    import server_backends

    for backend in ("mysql", "postgresql"):
        cred = server_backends.MYSQL if backend == "mysql" else server_backends.POSTGRES
        url = f"{backend}://{cred['user']}@{cred['host']}:{cred['port']}/{box.db('mlmd_restored')}"
        proc = run(["mlmd", "artifacts", "--db", url, "--json"], box.env, box.cwd)
        assert [json.loads(line)["name"] for line in proc.stdout.splitlines()] == ["raw", "clean", "model",
                                                                                    "metrics"], proc.stderr


def ops_downgrade(box: Sandbox) -> None:
    """The upgrade example starts from an older database (schema version 8)."""
    import server_backends

    cred = server_backends.MYSQL
    proc = run(["mlmd", "db", "downgrade", "--db", f"mysql://{cred['user']}@{cred['host']}:{cred['port']}/"
                f"{box.db('mlmd')}", "--to", "8", "--yes"], box.env, box.cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def cli_setup(box: Sandbox) -> None:
    """cli.md: the store of the page (a four-step pipeline run) as mlmd.sqlite; MySQL's `mlmd` database."""
    import server_backends
    from test_cli_read import make_store

    make_store(box.cwd / "mlmd.sqlite")
    if not server_backends.unreachable("mysql"):
        _fill("mysql", box.db("mlmd"))


def cli_check_outputs(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    for o in outputs:  # every command prints something, unless its output is redirected
        assert o.get("server") or o["out"].strip() or ">" in o["cmd"], f"{o['cmd']}: no output"


def comments_are_outputs(box: Sandbox, outputs: list[dict[str, Any]]) -> None:
    """`cmd    # what it prints`: the comment (`...` for elided parts) matches the output."""
    for o in outputs:
        comment = o["cmd"].split("  #", 1)[1].strip() if "  #" in o["cmd"] else ""
        if comment and not o.get("server"):
            pattern = ".*?".join(re.escape(part.strip()) for part in comment.split("..."))
            assert re.search(pattern, o["out"] + o["err"]), (o["cmd"], o["out"], o["err"])


def server_setup(box: Sandbox) -> None:
    import server_backends

    if not server_backends.unreachable("mysql"):
        server_backends._created["mysql"].append(box.db("mlmd"))  # the server creates it; dropped when the session ends


SESSION_FINAL: dict[str, Callable[[Sandbox, dict[str, Any]], None]] = {"docs/airflow.md": airflow_check_connections}
SESSION_HOOKS: dict[str, Callable[[Sandbox], None]] = {
    "README.md": readme_setup, "docs/airflow.md": airflow_setup, "docs/caching.md": caching_setup,
    "docs/operations.md": ops_setup, "docs/cli.md": cli_setup, "docs/server.md": server_setup,
}
# (doc, text in the block, before the block, after the block)
BLOCK_HOOKS: list[tuple[str, str, Callable | None, Callable | None]] = [
    ("README.md", "airflow dags test my_dag", None, readme_check_store),
    ("README.md", "make demo", None, readme_check_make),
    ("docs/getting-started.md", "dags test churn_training", None, gs_check_try),
    ("docs/airflow.md", "pip install mlmd-airflow", None, airflow_check_install),
    ("docs/airflow.md", "airflow providers list", None, airflow_check_cli),
    ("docs/airflow.md", "export AIRFLOW_CONN_", None, airflow_remember_connection),
    ("docs/operations.md", "pg_restore", None, ops_check_restore),
    ("docs/operations.md", "mlmd db upgrade --db mysql", ops_downgrade, comments_are_outputs),
    ("docs/cli.md", "mlmd", None, cli_check_outputs),
    ("docs/cli.md", "mlmd db current --db mysql", None, comments_are_outputs),
]


# ------------------------------------------------------------------------------------------------ text


def previous_shell(block: Block) -> Block:
    return next(b for b in reversed(BLOCKS) if b.doc == block.doc and b.n < block.n and b.lang in SHELL)


def _normal(line: str) -> str:
    """A line with what differs between runs made uniform: timings, ages, key hashes."""
    line = line.strip()
    line = re.sub(r"mlmdc1:[0-9a-f]+(…|\.\.\.)?", "mlmdc1:K", line)
    line = re.sub(r"\d+(\.\d+)? (s|min|h|d)\b", "T \\2", line)
    line = re.sub(r"\[manual__[^\]]*\]", "[manual__…]", line)
    line = re.sub(r"(#|execution )\d+", r"\1N", line)  # ids follow the order mapped tasks happened to finish in
    line = re.sub(r"\s+", " ", line)  # table columns widen with the numbers
    return line


def abridged_in(doc_text: str, output: str) -> None:
    """An abridgement of `output`: its lines, but the `...` ones, appear there in the same order."""
    out = [_normal(line) for line in output.splitlines() if line.strip()]
    pos = 0
    for line in doc_text.splitlines():
        if line.strip() in ("", "..."):
            continue
        want = _normal(line)
        found = next((i for i in range(pos, len(out)) if out[i] == want), None)
        assert found is not None, f"not in the output (after the lines before it):\n{want}\n\noutput:\n" + \
            "\n".join(out[pos:])
        pos = found + 1


def banner_shape(line: str) -> str:
    line = re.sub(r"step=\S+", "step=S", line.strip())
    line = re.sub(r"key=mlmdc1:[0-9a-f]+(…|\.\.\.)?:", "key=K:", line)
    line = re.sub(r"\(DAG run [^,]*,", "(DAG run R,", line)
    line = re.sub(r"(MISS  step=S key=K:) .*", r"\1 REASON", line)
    return re.sub(r"\d+(\.\d+)?( (s|min|h|d)\b)?", "N", line)


def check_text(block: Block, tmp_path: Path, shared: Shared) -> None:
    if block.code.lstrip().startswith("mlmd cache "):  # caching.md: the shape of the banner lines
        banners = session(block.doc, shared)["meta"]["banners"]
        real = {banner_shape(line) for line in banners}
        for line in block.code.strip().splitlines():
            assert banner_shape(line) in real, (line, banners)
        return
    source = previous_shell(block)
    out = "\n".join(o.get("out", "") for o in outputs_of(source, shared))
    abridged_in(block.code, out)


# ------------------------------------------------------------------------------------------------ ini, toml, json


INI_CHECK = r"""
import json
from airflow.configuration import conf
from mlmd_airflow.config import OPTIONS, load_settings
settings = load_settings()
print(json.dumps({"options": sorted(OPTIONS), "section": dict(conf.getsection("mlmd") or {}),
                  "settings": {k: str(v) for k, v in vars(settings).items()}}))
"""


def check_ini(block: Block, tmp_path: Path, shared: Shared) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(block.code)
    assert parser.sections() == ["mlmd"], parser.sections()
    env = clean_env(tmp_path)
    (Path(env["AIRFLOW_HOME"]) / "airflow.cfg").write_text(block.code)
    proc = run([sys.executable, "-c", INI_CHECK], env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    for key, value in parser["mlmd"].items():
        assert key in got["options"], f"[mlmd] {key} is not an option of the provider"
        assert str(got["section"].get(key)) == value, (key, got["section"])
    settings = got["settings"]
    assert settings["conn_id"] == parser["mlmd"]["conn_id"], settings
    assert float(settings["timeout"]) == float(parser["mlmd"]["timeout"]), settings


def check_toml(block: Block, tmp_path: Path, shared: Shared) -> None:
    """A package registering a command this way: its command appears in `mlmd` and runs."""
    data = tomllib.loads(block.code)
    groups = data["project"]["entry-points"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(groups) <= set(pyproject["project"]["entry-points"]), groups  # the group mlmd_airflow uses too
    site = tmp_path / "site"
    lines = []
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        for name, target in entries.items():
            module, attr = target.split(":")
            path = site / (module.replace(".", "/") + ".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in path.relative_to(site).parents:
                if str(parent) != ".":
                    (site / parent / "__init__.py").touch()
            path.write_text(f"import click\n\n\n@click.command()\ndef {attr}() -> None:\n"
                            f"    click.echo('hello from {attr}')\n")
            lines.append(f"{name} = {target}")
    dist = site / "my_package-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-package\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    env = clean_env(tmp_path, PYTHONPATH=str(site))
    for entries in groups.values():
        for name, target in entries.items():
            proc = run(["mlmd", name], env, tmp_path)
            assert proc.returncode == 0 and proc.stdout.strip() == f"hello from {target.split(':')[1]}", \
                proc.stdout + proc.stderr


def check_json(block: Block, tmp_path: Path, shared: Shared) -> None:
    """cli.md's node: the keys (in order) and value types of the real `--json` output, the same values but the
    times."""
    from test_cli_read import make_store

    doc = json.loads(block.code)
    db = make_store(tmp_path / "mlmd.sqlite")
    proc = run(["mlmd", "show", doc["kind"], str(doc["id"]), "--db", str(db), "--json"], clean_env(tmp_path),
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    real = json.loads(proc.stdout)[doc["kind"]]
    assert list(doc) == list(real), (list(doc), list(real))
    for key, value in doc.items():
        assert type(value) is type(real[key]), key
        if not key.endswith("_since_epoch"):
            assert value == real[key], (key, value, real[key])


# ------------------------------------------------------------------------------------------------ protobuf, nginx


def check_protobuf(block: Block, tmp_path: Path, shared: Shared) -> None:
    from google.protobuf import text_format

    from mlmd_core.proto import metadata_store_pb2 as pb

    config = text_format.Parse(block.code, pb.MetadataStoreServerConfig())
    assert config.connection_config.WhichOneof("config"), "no connection_config"
    assert text_format.Parse(text_format.MessageToString(config), pb.MetadataStoreServerConfig()) == config


def check_nginx(block: Block, tmp_path: Path, shared: Shared) -> None:
    """Balanced braces, directives ended by `;`, the upstream it proxies to is defined, and its servers' port is
    the `--grpc_port` the page starts the replicas with."""
    code = re.sub(r"#.*", "", block.code)
    depth = 0
    for line in code.splitlines():
        stripped = line.strip()
        depth += stripped.count("{") - stripped.count("}")
        assert depth >= 0, line
        body = re.sub(r".*\{", "", stripped).replace("}", "").strip()
        assert not body or body.endswith(";"), f"directive without ';': {line}"
    assert depth == 0
    upstreams = dict(re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", code, re.S))
    targets = re.findall(r"grpc_pass\s+grpcs?://(\w+);", code)
    assert targets and set(targets) <= set(upstreams), (targets, upstreams)
    ports = {int(p) for body in upstreams.values() for p in re.findall(r"server\s+[\w.]+:(\d+);", body)}
    page = (ROOT / block.doc).read_text()
    started = {int(p) for p in re.findall(r"--grpc_port=(\d+)", page)}
    assert ports and ports <= started, (ports, started)
    assert re.search(r"listen\s+\d+\s+ssl\s+http2;", code) and "ssl_certificate_key" in code


# ------------------------------------------------------------------------------------------------ mermaid


def check_mermaid(block: Block, tmp_path: Path, shared: Shared) -> None:
    lines = [ln.strip() for ln in block.code.splitlines() if ln.strip() and not ln.strip().startswith("%%")]
    assert re.fullmatch(r"(flowchart|graph) (LR|RL|TB|TD|BT)", lines[0]), lines[0]
    depth = 0
    for line in lines[1:]:
        if line.startswith("subgraph "):
            depth += 1
            continue
        if line == "end":
            depth -= 1
            assert depth >= 0, "end without subgraph"
            continue
        unquoted = re.sub(r'"[^"]*"', '""', line)
        assert unquoted.count('"') % 2 == 0, line
        for open_, close in ("[]", "()", "{}"):
            assert unquoted.count(open_) == unquoted.count(close), f"unbalanced {open_}{close}: {line}"
        labelled = re.sub(r'(--|-\.|==)\s*""\s*', "", unquoted)  # -- "label" -->
        labelled = re.sub(r"-\.\s+\w[\w ]*?\s+\.-", " -.- ", labelled)  # -. label .-
        nodes = re.sub(r'\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|""', "", labelled)
        parts = re.split(r"\s*[-.=<>]{2,}\s*", nodes)
        for part in parts:
            for node in part.split("&"):
                assert re.fullmatch(r"[A-Za-z_][\w]*", node.strip()), f"not a node: {node!r} in {line}"
    assert depth == 0, "subgraph without end"
    source = "\n".join(p.read_text() for p in (ROOT / "mlmd_airflow").rglob("*.py"))
    for name in set(re.findall(r"\bairflow\.[A-Z]\w+", block.code)):  # the MLMD types the recording writes
        assert f'"{name}"' in source, f"{name} is not a type mlmd_airflow records"
    if "subgraph churn_training" in block.code:
        check_pipeline_diagram(block, tmp_path)


PIPELINE = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("churn_pipeline", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
out = {}
for dag in (module.churn_training_dag, module.churn_scoring_dag):
    out[dag.dag_id] = sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids)
print(json.dumps(out))
"""


def check_pipeline_diagram(block: Block, tmp_path: Path) -> None:
    """The solid arrows inside each DAG's subgraph are exactly the DAG's task dependencies."""
    proc = run([sys.executable, "-c", PIPELINE, str(ROOT / "dags" / "churn_pipeline.py")], clean_env(tmp_path),
               tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    real = json.loads(proc.stdout.splitlines()[-1])
    for dag_id, edges in real.items():
        body = re.search(rf"subgraph {dag_id}\b[^\n]*\n(.*?)\n\s*end\n", block.code, re.S).group(1)
        drawn = set()
        for line in body.splitlines():
            if "-->" not in line:
                continue
            groups = [re.findall(r"(?:^|&)\s*(\w+)", re.sub(r'\[[^\]]*\]', "", part)) for part in line.split("-->")]
            drawn |= {(a, b) for left, right in zip(groups, groups[1:]) for a in left for b in right}
        assert drawn == {tuple(e) for e in edges}, (dag_id, sorted(drawn), edges)


# ------------------------------------------------------------------------------------------------ synopsis


def check_synopsis(block: Block, tmp_path: Path, shared: Shared) -> None:
    """`mlmd CMD [--opt VALUE] ...  # comment`: the command exists, so do its options, shown defaults are real."""
    import click

    from mlmd_core.cli import cli

    for line in block.code.strip().splitlines():
        words = line.split("#", 1)[0].replace("[", " ").replace("]", " ").split()
        assert words[0] == "mlmd", line
        command: click.Command = cli
        i = 1
        while isinstance(command, click.Group) and i < len(words) and not words[i].startswith("-"):
            command = command.get_command(click.Context(cli), words[i])
            assert command is not None, f"no command {words[: i + 1]}"
            i += 1
        options = {opt: p for p in command.params for opt in p.opts}
        rest = words[i:]
        for j, word in enumerate(rest):
            if word.startswith("-"):
                assert word in options, f"{line}: {' '.join(words[:i])} has no option {word}"
                value = rest[j + 1] if j + 1 < len(rest) and not rest[j + 1].startswith("-") else None
                if value and not value.isupper() and options[word].default is not None:
                    assert str(options[word].default) == value, (line, word, options[word].default)
        mentioned = re.findall(r"(?<![\w-])--[\w-]+", line.split("#", 1)[1] if "#" in line else "")
        for word in mentioned:
            assert word in options, f"{line}: comment mentions {word}, not an option"


CHECKS: dict[str, Callable[[Block, Path, Shared], None]] = {
    "python": check_python, "text": check_text, "ini": check_ini, "toml": check_toml, "json": check_json,
    "protobuf": check_protobuf, "nginx": check_nginx, "mermaid": check_mermaid, "": check_synopsis,
    **{lang: check_shell for lang in SHELL},
}


# ------------------------------------------------------------------------------------------------ examples


def test_quickstart_example_runs(tmp_path: Path) -> None:
    store_file = tmp_path / "quickstart.sqlite"
    result = run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(store_file)], clean_env(tmp_path),
                 tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "which read artifacts: ['path/to/data']" in result.stdout
    assert "model produced by execution: [1]" in result.stdout
    assert store_file.exists()


def test_lineage_example_runs(tmp_path: Path) -> None:
    result = run([sys.executable, str(ROOT / "examples" / "lineage.py")], clean_env(tmp_path), tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "provenance of the model: ['config', 'raw']" in result.stdout
    assert "impact of the raw data: ['clean', 'model', 'metrics']" in result.stdout
    assert "run-1: 4 executions, 5 artifacts, 9 edges; external: []" in result.stdout
    assert "get_lineage_graph, 2 hops from the metrics: ['clean', 'metrics', 'model'] ['evaluate']" in result.stdout
