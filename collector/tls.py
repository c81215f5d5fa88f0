"""TLS settings shared by every server and client in the collector (Go ``configtls``).

One place for the ``tls:`` blocks: ``TLSServerConfig`` (receivers) and
``TLSClientConfig`` (exporters) share ``TLSSetting`` (certificate files and
protocol versions) and turn themselves into what the transports need: an
``ssl.SSLContext`` (uvicorn, httpx) or gRPC credentials.

Validation checks the shape (cert and key together, known versions) and that
every named file can be read, so ``otel-lite-collector validate`` reports a
missing certificate before the daemon starts.  Files are read when the
component starts; ``reload_interval`` is accepted for compatibility with the
Go Collector but certificates are not reloaded (restart to rotate them).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import ClassVar

from .component import ComponentConfig, ConfigError, Duration

__all__ = ["TLS_VERSIONS", "TLSSetting", "TLSServerConfig", "TLSClientConfig", "read_file"]

# "1.0" and "1.1" are refused: both are deprecated (RFC 8996) and off in current OpenSSL builds.
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def read_file(path: str, key: str) -> bytes:
    """The bytes of ``path``; a ``ConfigError`` at ``key`` when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(key, f"cannot read {path!r}: {e.strerror or e}") from None


def _check_readable(path: str, key: str) -> None:
    if not path:
        return
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ConfigError(key, f"cannot read {path!r}: {e.strerror or e}") from None


@dataclass
class TLSSetting(ComponentConfig):
    """Certificate files and protocol versions (Go ``configtls.Config``)."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    min_version: str = "1.2"
    max_version: str = ""  # "" = the newest supported (1.3)
    reload_interval: Duration | None = None  # accepted; certificates are read once, at start

    _FILE_KEYS: ClassVar[tuple[str, ...]] = ("ca_file", "cert_file", "key_file")

    def validate(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError(
                "cert_file" if not self.cert_file else "key_file", "cert_file and key_file must be set together"
            )
        for key in ("min_version", "max_version"):
            value = getattr(self, key)
            if value and value not in TLS_VERSIONS:
                raise ConfigError(
                    key,
                    f'unsupported TLS version {value!r} (use "1.2" or "1.3"; '
                    "1.0 and 1.1 are insecure and not supported)",
                )
        if self.min_version and self.max_version and TLS_VERSIONS[self.min_version] > TLS_VERSIONS[self.max_version]:
            raise ConfigError("max_version", f"must not be lower than min_version ({self.min_version})")
        for key in self._FILE_KEYS:
            _check_readable(getattr(self, key), key)

    def _versions(self, ctx: ssl.SSLContext) -> None:
        ctx.minimum_version = TLS_VERSIONS[self.min_version or "1.2"]
        if self.max_version:
            ctx.maximum_version = TLS_VERSIONS[self.max_version]

    def uses_grpc_default_versions(self) -> bool:
        """gRPC's Python API cannot set TLS versions; its core always allows 1.2 to 1.3."""
        return self.min_version in ("", "1.2") and self.max_version in ("", "1.3")

    def _load_chain(self, ctx: ssl.SSLContext) -> None:
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                "cert_file", f"cannot load the certificate {self.cert_file!r} with key {self.key_file!r}: {e}"
            ) from None


@dataclass
class TLSServerConfig(TLSSetting):
    """Server TLS (Go ``configtls.ServerConfig``): ``cert_file`` and ``key_file`` are
    required; ``client_ca_file`` turns on mutual TLS (clients must present a
    certificate signed by one of its CAs)."""

    client_ca_file: str = ""

    _FILE_KEYS: ClassVar[tuple[str, ...]] = ("ca_file", "cert_file", "key_file", "client_ca_file")

    def validate(self) -> None:
        if not self.cert_file and not self.key_file:
            raise ConfigError("cert_file", "required when tls is set (with key_file)")
        super().validate()

    def ssl_context(self) -> ssl.SSLContext:
        """A server context for HTTP (uvicorn); ``ConfigError`` (key relative to ``tls``) on bad files."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._versions(ctx)
        self._load_chain(ctx)
        if self.client_ca_file:
            try:
                ctx.load_verify_locations(cafile=self.client_ca_file)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError("client_ca_file", f"cannot load {self.client_ca_file!r}: {e}") from None
            ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def grpc_credentials(self):
        """``grpc.ServerCredentials``; client certificates required when ``client_ca_file`` is set."""
        import grpc

        key = read_file(self.key_file, "key_file")
        cert = read_file(self.cert_file, "cert_file")
        client_ca = read_file(self.client_ca_file, "client_ca_file") if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )


@dataclass
class TLSClientConfig(TLSSetting):
    """Client TLS (Go ``configtls.ClientConfig``).  ``ca_file`` replaces the system
    CAs; ``cert_file``/``key_file`` present a client certificate (mutual TLS);
    ``insecure`` (gRPC) sends plaintext; ``insecure_skip_verify`` (HTTP) accepts
    any server certificate."""

    insecure: bool = False  # gRPC: plaintext instead of TLS
    insecure_skip_verify: bool = False
    server_name_override: str = ""

    def read_files(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(ca, key, cert) file contents, None where unset (``ConfigError`` at ``tls.<key>``)."""

        def read(path: str, key: str) -> bytes | None:
            if not path:
                return None
            try:
                return read_file(path, key)
            except ConfigError as e:
                raise ConfigError(f"tls.{key}", e.message) from None

        return read(self.ca_file, "ca_file"), read(self.key_file, "key_file"), read(self.cert_file, "cert_file")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context for HTTP (httpx); ``ConfigError`` at ``tls.<key>`` on bad files."""
        if self.ca_file:  # replaces the system CAs, as in the Go Collector
            try:
                ctx = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError("tls.ca_file", f"cannot load {self.ca_file!r}: {e}") from None
        else:  # the system store (SSL_CERT_FILE / SSL_CERT_DIR honoured) plus certifi's, which httpx trusts
            ctx = ssl.create_default_context()
            try:
                import certifi

                ctx.load_verify_locations(cafile=certifi.where())
            except (ImportError, OSError, ssl.SSLError):  # pragma: no cover - the system store alone
                pass
        self._versions(ctx)
        if self.cert_file:
            try:
                self._load_chain(ctx)
            except ConfigError as e:
                raise ConfigError(f"tls.{e.path}", e.message) from None
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def grpc_credentials(self):
        """``grpc.ChannelCredentials`` from the files (system CAs when ``ca_file`` is unset)."""
        import grpc

        ca, key, cert = self.read_files()
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
