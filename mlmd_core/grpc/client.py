"""The gRPC backend of MetadataStore: the same requests as in-process, sent to an mlmd-server."""

from __future__ import annotations

from typing import Any

import grpc

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.proto import metadata_store_service_pb2_grpc as service_grpc


def channel_for(config: pb.MetadataStoreClientConfig) -> grpc.Channel:
    """A channel as ml-metadata's client opens it (its ssl_config.server_cert is the client's own chain)."""
    target = f"{config.host}:{config.port}"
    options: list[tuple[str, Any]] = []
    args = config.channel_arguments
    if args.HasField("max_receive_message_length"):
        options.append(("grpc.max_receive_message_length", args.max_receive_message_length))
    if args.HasField("http2_max_ping_strikes"):
        options.append(("grpc.http2.max_ping_strikes", args.http2_max_ping_strikes))
    if not config.HasField("ssl_config"):
        return grpc.insecure_channel(target, options=options)
    ssl = config.ssl_config
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ssl.custom_ca.encode("ascii") if ssl.custom_ca else None,
        private_key=ssl.client_key.encode("ascii") if ssl.client_key else None,
        certificate_chain=ssl.server_cert.encode("ascii") if ssl.server_cert else None,
    )
    return grpc.secure_channel(target, credentials, options=options)


class GrpcBackend:
    """Sends each request to the server's RPC of the same name; status codes become MLMD errors."""

    def __init__(self, config: pb.MetadataStoreClientConfig):
        self._channel = channel_for(config)
        self._stub = service_grpc.MetadataStoreServiceStub(self._channel)
        self._timeout = config.client_timeout_sec if config.HasField("client_timeout_sec") else None

    def call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise errors.make_exception(exc.details() or "", exc.code().value[0]) from exc

    def close(self) -> None:
        self._channel.close()
