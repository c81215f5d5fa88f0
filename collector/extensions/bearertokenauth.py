"""The ``bearertokenauth`` extension: a static bearer token, for servers and clients.

Names and keys of the contrib ``bearertokenauthextension``: ``token`` (use
``${env:VAR}`` to keep it out of the file), ``filename`` (the token is the
file's content without surrounding whitespace, re-read when the file changes,
checked at most once a second), ``tokens`` (several accepted tokens, server
side), ``scheme`` (default ``Bearer``; empty = the bare token) and ``header``
(default ``Authorization``).

As a server authenticator (a receiver's ``auth``) it accepts a request whose
header is ``<scheme> <token>`` (the scheme compared case-insensitively, the
token in constant time, against every configured token); as a client
authenticator (an exporter's ``auth``) it adds that header to every request.
Tokens are never logged nor echoed in errors.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass, field

from ..auth import AuthError
from ..component import Component, ComponentConfig, ConfigError, Factory

__all__ = ["FACTORY", "BearerTokenAuthConfig", "BearerTokenAuth"]

_RECHECK_SECONDS = 1.0
_HEADER_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _bad_value(text: str) -> bool:
    """Control characters (CR/LF would split headers) or non-ASCII text cannot go in a header value."""
    return any(ord(c) < 0x20 or ord(c) >= 0x7F for c in text)


@dataclass
class BearerTokenAuthConfig(ComponentConfig):
    """``bearertokenauth``: exactly one of ``token``, ``tokens`` or ``filename``."""

    header: str = "Authorization"
    scheme: str = "Bearer"
    token: str = field(default="", metadata={"secret": True})  # print-config shows [REDACTED]
    tokens: list[str] = field(default_factory=list, metadata={"secret": True})
    filename: str = ""

    def validate(self) -> None:
        given = [k for k in ("token", "tokens", "filename") if getattr(self, k)]
        if not given:
            raise ConfigError("", "one of token, tokens or filename is required")
        if len(given) > 1:
            raise ConfigError(given[1], f"set only one of token, tokens and filename (got {', '.join(given)})")
        if not self.header or not set(self.header) <= _HEADER_CHARS:
            raise ConfigError("header", f"invalid header name {self.header!r}")
        if self.scheme and (_bad_value(self.scheme) or " " in self.scheme):
            raise ConfigError("scheme", "must be a single word without spaces or control characters")
        if self.token and _bad_value(self.token):  # the message must not show the token
            raise ConfigError("token", "must not contain control or non-ASCII characters")
        for i, token in enumerate(self.tokens):
            if not token or _bad_value(token):
                raise ConfigError(f"tokens[{i}]", "must be non-empty, without control or non-ASCII characters")
        if self.filename:
            try:
                with open(self.filename, "rb"):
                    pass
            except OSError as e:
                raise ConfigError("filename", f"cannot read {self.filename!r}: {e.strerror or e}") from None


class BearerTokenAuth(Component):
    """Server side ``authenticate(headers)``, client side ``headers()``."""

    def __init__(self, settings, config: BearerTokenAuthConfig):
        self.settings = settings
        self.config = config
        self.log = settings.logger
        self._header = config.header.lower()
        self._scheme = config.scheme
        self._tokens: list[bytes] = [t.encode() for t in ([config.token] if config.token else config.tokens)]
        self._file_state: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self._checked_at = 0.0
        self._lock = threading.Lock()

    async def start(self, host) -> None:
        if self.config.filename:
            self._reload(force=True)

    # -- the token file ---------------------------------------------------------
    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < _RECHECK_SECONDS:
            return
        with self._lock:
            self._checked_at = now
            path = self.config.filename
            try:
                st = os.stat(path)
                state = (st.st_mtime_ns, st.st_size)
                if state == self._file_state and not force:
                    return
                with open(path, "rb") as f:
                    token = f.read(64 * 1024).strip()
            except OSError as e:
                if force:
                    raise ConfigError("filename", f"cannot read {path!r}: {e.strerror or e}") from None
                self.log.warning(
                    "cannot re-read the token file %r (%s); keeping the previous token", path, e.strerror or e
                )
                return
            if not token or _bad_value(token.decode("latin-1")):
                if force:
                    raise ConfigError("filename", f"{path!r} must hold one non-empty ASCII token")
                self.log.warning("the token file %r is empty or invalid; keeping the previous token", path)
                return
            if self._file_state is not None:
                self.log.info("token file %r changed: token reloaded", path)
            self._tokens, self._file_state = [token], state

    def _current(self) -> list[bytes]:
        if self.config.filename:
            self._reload()
        return self._tokens

    # -- server side --------------------------------------------------------------
    async def authenticate(self, headers) -> None:
        value = headers.get(self._header)
        challenge = self._scheme or ""
        if not value:
            raise AuthError(f"missing {self.config.header} header", challenge)
        if self._scheme:
            scheme, _, presented = value.strip().partition(" ")
            scheme_ok = hmac.compare_digest(scheme.lower().encode("latin-1", "replace"), self._scheme.lower().encode())
        else:
            presented, scheme_ok = value.strip(), True
        # digests of equal length: the comparison time tells neither the token's length nor its prefix
        presented_digest = hashlib.sha256(presented.strip().encode("latin-1", "replace")).digest()
        matched = False
        for token in self._current():  # every token compared: the time does not tell which one matched
            matched |= hmac.compare_digest(presented_digest, hashlib.sha256(token).digest())
        if not (scheme_ok and matched):
            raise AuthError("authentication failed", challenge)

    # -- client side ---------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        tokens = self._current()
        if not tokens:
            return {}
        token = tokens[0].decode("latin-1")
        return {self.config.header: f"{self._scheme} {token}" if self._scheme else token}


def _create(settings, config: BearerTokenAuthConfig, next_consumer) -> BearerTokenAuth:
    return BearerTokenAuth(settings, config)


FACTORY = Factory(kind="extension", type="bearertokenauth", config_class=BearerTokenAuthConfig, create=_create)
