"""Authentication: the ``auth`` block and the interfaces authenticator extensions implement.

Like the Go Collector's ``extension/auth``, an authenticator is an extension
listed in ``service.extensions`` and named by a server's or a client's
``auth: {authenticator: <extension id>}``:

- a **server authenticator** has ``async authenticate(headers)`` and raises
  ``AuthError`` to refuse; ``headers`` maps lowercase header (gRPC metadata)
  names to their first value.  Receivers call it before they read the request
  body (``grpc_interceptor``, ``AuthMiddleware``).
- a **client authenticator** has ``headers() -> dict`` whose entries are added
  to every outgoing request (HTTP headers / gRPC metadata).

A new authenticator type is a new extension module with those methods; no
receiver or exporter changes.  Refusals never echo the credentials they saw.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .component import ComponentConfig, ComponentID, ConfigError

__all__ = [
    "AuthConfig",
    "AuthError",
    "ServerAuthenticator",
    "ClientAuthenticator",
    "server_authenticator",
    "client_authenticator",
    "grpc_interceptor",
    "AuthMiddleware",
    "ErrorBody",
]


class AuthError(Exception):
    """A refused request.  The message is sent to the client: never put credentials in it.
    ``challenge`` is the ``WWW-Authenticate`` value of the HTTP 401 answer."""

    def __init__(self, message: str = "unauthenticated", challenge: str = ""):
        super().__init__(message)
        self.challenge = challenge


@runtime_checkable
class ServerAuthenticator(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> None: ...


@runtime_checkable
class ClientAuthenticator(Protocol):
    def headers(self) -> dict[str, str]: ...


@dataclass
class AuthConfig(ComponentConfig):
    """``auth`` (Go ``configauth.Config``): the id of an authenticator extension, which
    must also be listed in ``service.extensions``."""

    # metadata "extension": the config loader checks the id against extensions / service.extensions
    authenticator: str = field(default="", metadata={"extension": True})

    def validate(self) -> None:
        if not self.authenticator:
            raise ConfigError("authenticator", "required: the id of an authenticator extension (e.g. bearertokenauth)")
        ComponentID.parse(self.authenticator, "authenticator")


def _lookup(host, cfg: AuthConfig, path: str, method: str, role: str):
    ext = host.get_extension(cfg.authenticator) if host is not None else None
    key = f"{path}.authenticator" if path else "authenticator"
    if ext is None:
        raise ConfigError(
            key,
            f"authenticator extension {cfg.authenticator!r} not found: add it to 'extensions' and 'service.extensions'",
        )
    if not callable(getattr(ext, method, None)):
        raise ConfigError(key, f"extension {cfg.authenticator!r} is not a {role} authenticator")
    return ext


def server_authenticator(host, cfg: AuthConfig, path: str = "") -> ServerAuthenticator:
    """The started extension ``cfg`` names, checked to be a server authenticator."""
    return _lookup(host, cfg, path, "authenticate", "server")


def client_authenticator(host, cfg: AuthConfig, path: str = "") -> ClientAuthenticator:
    """The started extension ``cfg`` names, checked to be a client authenticator."""
    return _lookup(host, cfg, path, "headers", "client")


async def _check(authenticator: ServerAuthenticator, headers: Mapping[str, str]) -> None:
    result = authenticator.authenticate(headers)
    if inspect.isawaitable(result):
        await result


# ---------------------------------------------------------------------------
# gRPC: a server interceptor; the method handler (which parses the request) never runs on refusal


def grpc_interceptor(authenticator: ServerAuthenticator, on_refused: Callable[[], Any] | None = None):
    import grpc

    class AuthInterceptor(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, handler_call_details):
            headers: dict[str, str] = {}
            for key, value in handler_call_details.invocation_metadata or ():
                if isinstance(value, str):  # -bin metadata carries no credentials
                    headers.setdefault(key.lower(), value)
            try:
                await _check(authenticator, headers)
            except AuthError as e:
                if on_refused is not None:
                    on_refused()
                handler = await continuation(handler_call_details)
                message = str(e) or "unauthenticated"

                async def abort(request, context):
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

                if handler is None:
                    return None
                # same shape as the real handler, without its request deserializer (bytes stay unparsed)
                return (
                    grpc.unary_unary_rpc_method_handler(abort)
                    if not handler.request_streaming and not handler.response_streaming
                    else grpc.stream_stream_rpc_method_handler(abort)
                )
            return await continuation(handler_call_details)

    return AuthInterceptor()


# ---------------------------------------------------------------------------
# HTTP: an ASGI middleware in front of the routes (behind CORS, so preflights pass)

ErrorBody = Callable[[str, bool], tuple[bytes, str]]  # (message, as_json) -> (body, content type)


class AuthMiddleware:
    """Answers 401 (a ``google.rpc.Status`` built by ``error_body`` in the request's
    encoding, ``Connection: close``) before the request body is read."""

    def __init__(
        self,
        app,
        authenticator: ServerAuthenticator,
        error_body: ErrorBody,
        on_refused: Callable[[], Any] | None = None,
    ):
        self.app = app
        self.authenticator = authenticator
        self.error_body = error_body
        self.on_refused = on_refused

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers") or ():
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            await _check(self.authenticator, headers)
        except AuthError as e:
            if self.on_refused is not None:
                self.on_refused()
            ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            body, body_type = self.error_body(str(e) or "unauthenticated", ctype == "application/json")
            response_headers = [
                (b"content-type", body_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            if e.challenge:
                response_headers.append((b"www-authenticate", e.challenge.encode("latin-1", "replace")))
            await send({"type": "http.response.start", "status": 401, "headers": response_headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
