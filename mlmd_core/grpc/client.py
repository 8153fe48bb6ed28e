"""The gRPC backend of MetadataStore: the same requests as in-process, sent to an mlmd-server."""

from __future__ import annotations

from typing import Any, Optional

import grpc

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.proto import metadata_store_service_pb2 as service_pb
from mlmd_core.proto import metadata_store_service_pb2_grpc as service_grpc


def channel_options(config: pb.MetadataStoreClientConfig) -> list[tuple[str, Any]]:
    """gRPC channel options from channel_arguments, mapped as ml-metadata's client maps them."""
    options: list[tuple[str, Any]] = []
    if not config.HasField("channel_arguments"):
        return options
    args = config.channel_arguments
    if args.HasField("max_receive_message_length"):
        options.append(("grpc.max_receive_message_length", args.max_receive_message_length))
    if args.HasField("http2_max_ping_strikes"):
        options.append(("grpc.http2.max_ping_strikes", args.http2_max_ping_strikes))
    return options


def channel_for(config: pb.MetadataStoreClientConfig) -> grpc.Channel:
    """A channel as ml-metadata's client opens it (its ssl_config.server_cert is the client's own chain)."""
    host = f"[{config.host}]" if ":" in config.host and not config.host.startswith("[") else config.host
    target = f"{host}:{config.port}"
    options = channel_options(config)
    if not config.HasField("ssl_config"):
        return grpc.insecure_channel(target, options=options)
    ssl = config.ssl_config
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ssl.custom_ca.encode("ascii") if ssl.custom_ca else None,
        private_key=ssl.client_key.encode("ascii") if ssl.client_key else None,
        certificate_chain=ssl.server_cert.encode("ascii") if ssl.server_cert else None,
    )
    return grpc.secure_channel(target, credentials, options=options)


def _rpc_names() -> frozenset[str]:
    return frozenset(m.name for m in service_pb.DESCRIPTOR.services_by_name["MetadataStoreService"].methods)


_RPC_NAMES = _rpc_names()


class GrpcBackend:
    """Sends each request to the server's RPC of the same name; status codes become MLMD errors.

    Like ml-metadata's client it does no I/O when built: a server that is down surfaces as UnavailableError
    on the first call, and MetadataStore retries only AbortedError."""

    def __init__(self, config: pb.MetadataStoreClientConfig):
        self._channel = channel_for(config)
        self._stub = service_grpc.MetadataStoreServiceStub(self._channel)
        self._timeout: Optional[float] = config.client_timeout_sec if config.HasField("client_timeout_sec") else None

    def call(self, method: str, request: Any) -> Any:
        if method not in _RPC_NAMES:
            raise errors.UnimplementedError(f"{method} is not implemented.")
        try:
            return getattr(self._stub, method)(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise errors.make_exception(details or "", code.value[0]) from exc

    def close(self) -> None:
        self._channel.close()
