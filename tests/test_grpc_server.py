"""mlmd-server in a thread of the test process, on a free loopback port, talked to by real gRPC clients:
every RPC served, one shared store, errors as status codes, deadlines, retries, limits, garbage, health,
graceful stop and the structured failure log."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import mlmd_core as mlmd
from mlmd_core import errors
from mlmd_core.grpc.client import GrpcBackend
from mlmd_core.grpc.server import SERVICE_NAME, MetadataStoreServer, open_backend, serve
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.proto import metadata_store_service_pb2 as service_pb

RPC_NAMES = [m.name for m in service_pb.DESCRIPTOR.services_by_name["MetadataStoreService"].methods]


@pytest.fixture
def server() -> Iterator[MetadataStoreServer]:
    s = serve(port=0)
    yield s
    s.stop(grace=1.0)


def client(port: int, **fields: Any) -> mlmd.MetadataStore:
    return mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port, **fields))


class ScriptedBackend:
    """A backend whose calls sleep, fail or count as a test needs (wraps a real store for the rest)."""

    def __init__(self, inner: Any = None, delay: float = 0.0, fail_first: int = 0, exc: Exception | None = None):
        self.inner = inner or open_backend(pb.MetadataStoreServerConfig())
        self.delay = delay
        self.fail_first = fail_first
        self.exc = exc or errors.AbortedError("Transaction aborted by a concurrent writer, retry")
        self.calls = 0
        self.started = threading.Event()
        self.lock = threading.Lock()

    def call(self, method: str, request: Any) -> Any:
        with self.lock:
            self.calls += 1
            n = self.calls
        self.started.set()
        if self.delay:
            time.sleep(self.delay)
        if n <= self.fail_first:
            raise self.exc
        return self.inner.call(method, request)

    def close(self) -> None:
        self.inner.close()


def test_every_rpc_is_served(server: MetadataStoreServer) -> None:
    """All 52 RPCs of the service answer; none is UNIMPLEMENTED or crashes with INTERNAL on an empty request."""
    backend = GrpcBackend(pb.MetadataStoreClientConfig(host="127.0.0.1", port=server.port))
    codes = {}
    for name in RPC_NAMES:
        try:
            backend.call(name, getattr(service_pb, f"{name}Request")())
            codes[name] = "OK"
        except errors.StatusError as exc:
            codes[name] = type(exc).__name__
    backend.close()
    assert len(codes) == 52
    assert not [n for n, c in codes.items() if c in ("UnimplementedError", "InternalError", "UnknownError")], codes
    assert codes["GetArtifacts"] == "OK" and codes["GetArtifactType"] == "NotFoundError"


def test_in_memory_store_persists_across_calls_and_clients(server: MetadataStoreServer) -> None:
    """Unlike ml-metadata's per-RPC fake database (its issue #79), one store lives as long as the server."""
    a = client(server.port)
    type_id = a.put_artifact_type(pb.ArtifactType(name="Data"))
    [artifact_id] = a.put_artifacts([pb.Artifact(type_id=type_id, uri="/d")])
    b = client(server.port)
    assert [x.id for x in b.get_artifacts()] == [artifact_id]
    assert b.get_artifact_type("Data").id == type_id
    a.close()
    b.close()


def _failing_calls(s: mlmd.MetadataStore) -> list[tuple[str, Any]]:
    type_id = s.put_artifact_type(pb.ArtifactType(name="T", properties={"p": pb.INT}))
    return [
        ("not found", lambda: s.get_artifact_type("missing")),
        ("already exists", lambda: s.put_artifact_type(pb.ArtifactType(name="T", properties={"p": pb.STRING}))),
        ("invalid", lambda: s.put_artifacts(
            [pb.Artifact(type_id=type_id, properties={"p": pb.Value(string_value="x")})])),
        ("bad filter", lambda: s.get_artifacts(mlmd.ListOptions(filter_query="uri === 1"))),
        ("unknown id", lambda: s.put_events([pb.Event(artifact_id=999, execution_id=999, type=pb.Event.INPUT)])),
        ("contexts of nothing", lambda: s.get_contexts_by_artifact(12345)),
    ]


def _outcome(fn: Any) -> tuple[str, str]:
    try:
        fn()
    except errors.StatusError as exc:
        return type(exc).__name__, exc.message
    return "OK", ""


def test_errors_match_in_process(server: MetadataStoreServer) -> None:
    """Each failing call raises the same mlmd_core.errors class with the same message over gRPC as in-process."""
    local = mlmd.MetadataStore(pb.ConnectionConfig(fake_database=pb.FakeDatabaseConfig()))
    remote = client(server.port)
    expected = [(label, _outcome(fn)) for label, fn in _failing_calls(local)]
    got = [(label, _outcome(fn)) for label, fn in _failing_calls(remote)]
    assert got == expected
    assert {cls for _, (cls, _) in got} >= {"NotFoundError", "AlreadyExistsError", "InvalidArgumentError"}


def test_status_codes_on_the_wire(server: MetadataStoreServer) -> None:
    """A raw gRPC stub sees the canonical status code and MLMD's message."""
    from mlmd_core.proto import metadata_store_service_pb2_grpc as service_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = service_grpc.MetadataStoreServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.GetArtifactType(service_pb.GetArtifactTypeRequest(type_name="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in info.value.details()


def test_failed_call_logs_one_structured_line(server: MetadataStoreServer, caplog: pytest.LogCaptureFixture) -> None:
    s = client(server.port)
    with caplog.at_level(logging.WARNING, logger="mlmd_core.grpc.server"):
        s.get_artifacts()  # succeeds: no line
        with pytest.raises(errors.NotFoundError):
            s.get_execution_type("absent")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "mlmd_core.grpc.server"]
    assert len(lines) == 1
    assert lines[0]["event"] == "rpc_failed" and lines[0]["method"] == "GetExecutionType"
    assert lines[0]["code"] == "NOT_FOUND" and "absent" in lines[0]["message"]
    assert lines[0]["peer"].startswith("ipv4:127.0.0.1:") and lines[0]["duration_ms"] >= 0


def test_unexpected_exception_is_internal_and_server_stays_up() -> None:
    backend = ScriptedBackend(fail_first=1, exc=ZeroDivisionError("boom"))
    with MetadataStoreServer(backend, port=0).start() as srv:
        s = client(srv.port)
        with pytest.raises(errors.InternalError, match="ZeroDivisionError: boom"):
            s.get_artifacts()
        assert s.get_artifacts() == []


def test_aborted_is_retried_by_the_client() -> None:
    """MetadataStore retries AbortedError (a concurrent writer) over gRPC as in-process: 2 failures, then OK."""
    backend = ScriptedBackend(fail_first=2)
    with MetadataStoreServer(backend, port=0).start() as srv:
        assert client(srv.port).put_artifact_type(pb.ArtifactType(name="X")) >= 10
        assert backend.calls == 3


def test_aborted_gives_up_after_five_attempts() -> None:
    backend = ScriptedBackend(fail_first=100)
    with MetadataStoreServer(backend, port=0).start() as srv:
        with pytest.raises(errors.AbortedError):
            client(srv.port).get_artifacts()
        assert backend.calls == 5


def test_client_timeout_gives_deadline_exceeded() -> None:
    backend = ScriptedBackend(delay=2.0)
    with MetadataStoreServer(backend, port=0).start() as srv:
        started = time.monotonic()
        with pytest.raises(errors.DeadlineExceededError):
            client(srv.port, client_timeout_sec=0.2).get_artifacts()
        assert time.monotonic() - started < 1.5  # did not wait for the 2 s answer
        backend.delay = 0
        assert client(srv.port, client_timeout_sec=5).get_artifacts() == []


def test_no_server_gives_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = client(port, client_timeout_sec=5)  # building the client does no I/O, as in ml-metadata
    with pytest.raises(errors.UnavailableError):
        s.get_artifacts()


def test_garbage_request_bytes_give_invalid_argument(server: MetadataStoreServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        raw = channel.unary_unary(f"/{SERVICE_NAME}/PutArtifacts")
        with pytest.raises(grpc.RpcError) as info:
            raw(b"\xff\xff\xff\xff\x0f\x08garbage")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "ml_metadata.PutArtifactsRequest" in info.value.details()
        unknown = channel.unary_unary(f"/{SERVICE_NAME}/DeleteEverything")
        with pytest.raises(grpc.RpcError) as info:
            unknown(b"")
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert client(server.port).get_artifacts() == []


def test_garbage_bytes_on_the_socket_leave_the_server_up(server: MetadataStoreServer) -> None:
    http2_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for payload in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 64, http2_preface + b"\x00" * 9000):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(payload)
            try:
                sock.recv(4096)
            except (TimeoutError, ConnectionResetError):
                pass
    s = client(server.port)
    assert s.put_artifact_type(pb.ArtifactType(name="StillUp")) >= 10


def test_oversized_request_is_rejected_and_server_stays_up() -> None:
    with MetadataStoreServer(open_backend(pb.MetadataStoreServerConfig()), port=0,
                             max_message_bytes=64 * 1024).start() as srv:
        s = client(srv.port)
        type_id = s.put_artifact_type(pb.ArtifactType(name="Big"))
        with pytest.raises(errors.ResourceExhaustedError):
            s.put_artifacts([pb.Artifact(type_id=type_id, uri="x" * 100_000)])
        assert s.get_artifacts() == []
        assert s.put_artifacts([pb.Artifact(type_id=type_id, uri="small")]) == [1]


def test_client_max_receive_message_length(server: MetadataStoreServer) -> None:
    """channel_arguments.max_receive_message_length is honoured: a bigger response is ResourceExhausted."""
    s = client(server.port)
    type_id = s.put_artifact_type(pb.ArtifactType(name="Wide"))
    s.put_artifacts([pb.Artifact(type_id=type_id, uri="u" * 2000) for _ in range(20)])
    small = client(server.port, channel_arguments=pb.GrpcChannelArguments(max_receive_message_length=4096))
    with pytest.raises(errors.ResourceExhaustedError):
        small.get_artifacts()
    assert len(s.get_artifacts()) == 20


def test_health_service(server: MetadataStoreServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            answer = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_graceful_stop_finishes_in_flight_calls() -> None:
    """stop() (what SIGTERM runs) lets a running call complete, turns health NOT_SERVING, refuses new calls."""
    backend = ScriptedBackend(delay=1.0)
    srv = MetadataStoreServer(backend, port=0).start()
    s = client(srv.port)
    result: dict[str, Any] = {}

    def slow_put() -> None:
        try:
            result["id"] = s.put_artifact_type(pb.ArtifactType(name="InFlight"))
        except Exception as exc:  # pragma: no cover - the failure the test reports
            result["error"] = exc

    worker = threading.Thread(target=slow_put)
    worker.start()
    assert backend.started.wait(5)
    stopper = threading.Thread(target=srv.stop, kwargs={"grace": 10})
    stopper.start()
    deadline = time.monotonic() + 5
    while srv.health.Check(health_pb2.HealthCheckRequest(service=""), None).status != \
            health_pb2.HealthCheckResponse.NOT_SERVING:
        assert time.monotonic() < deadline, "health never turned NOT_SERVING"
        time.sleep(0.01)
    assert worker.is_alive(), "the in-flight call ended before shutdown began"
    worker.join(10)
    stopper.join(10)
    assert result.get("id", 0) >= 10, result
    with pytest.raises(errors.UnavailableError):
        client(srv.port, client_timeout_sec=2).get_artifacts()


def test_one_store_shared_by_concurrent_clients(tmp_path: Any) -> None:
    """Eight threads with their own channels write to one file-backed server; every write is there."""
    config = pb.MetadataStoreServerConfig()
    config.connection_config.sqlite.filename_uri = str(tmp_path / "shared.sqlite")
    with serve(config, port=0, max_workers=4) as srv:
        type_id = client(srv.port).put_artifact_type(pb.ArtifactType(name="Shared"))
        failures: list[Exception] = []

        def work(n: int) -> None:
            s = client(srv.port)
            try:
                for i in range(25):
                    s.put_artifacts([pb.Artifact(type_id=type_id, uri=f"/{n}/{i}")])
            except Exception as exc:  # pragma: no cover
                failures.append(exc)
            finally:
                s.close()

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures
        uris = {a.uri for a in client(srv.port).get_artifacts()}
        assert uris == {f"/{n}/{i}" for n in range(8) for i in range(25)}


def test_port_in_use_is_an_error(server: MetadataStoreServer) -> None:
    with pytest.raises((errors.UnavailableError, RuntimeError)):
        MetadataStoreServer(ScriptedBackend(), port=server.port)
