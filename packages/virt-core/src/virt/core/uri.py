"""Connection URIs as libvirt parses them: driver[+transport]://[user@][host][:port]/[path][?query]."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

if TYPE_CHECKING:
    from pathlib import Path

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9.-]*(\+[A-Za-z][A-Za-z0-9.-]*)?")
TRANSPORTS = ("unix", "tcp", "tls", "ssh", "libssh", "libssh2", "ext")


def uri_error(uri: str, why: str) -> VirtError:
    return VirtError(f"Unable to parse URI {uri}: {why}", code=ErrorNumber.INVALID_ARG, domain=ErrorDomain.URI,
                     message=f"invalid argument: Unable to parse URI {uri}: {why}")


@dataclass(frozen=True)
class URI:
    """One parsed connection URI. ``driver`` and ``transport`` come from the scheme (``qemu+ssh``)."""

    scheme: str
    driver: str
    transport: str | None = None
    user: str | None = None
    server: str | None = None
    port: int | None = None
    path: str = ""
    query: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> URI:
        if not text or any(c.isspace() for c in text):
            raise uri_error(text, "empty URI or URI with white space")
        scheme, sep, rest = text.partition(":")
        if not sep or not _SCHEME.fullmatch(scheme):
            raise uri_error(text, "missing or invalid scheme")
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise uri_error(text, str(exc)) from None
        driver, _, transport = scheme.partition("+")
        if transport and transport not in TRANSPORTS:
            raise uri_error(text, f"unknown transport '{transport}', expected one of {', '.join(TRANSPORTS)}")
        if not rest.startswith("//"):
            if rest:
                raise uri_error(text, "expected '//' after the scheme")
        query = tuple(parse_qsl(parts.query, keep_blank_values=True))
        return cls(
            scheme=scheme.lower(), driver=driver.lower(), transport=transport.lower() or None,
            user=unquote(parts.username) if parts.username else None,
            server=parts.hostname or None, port=port, path=unquote(parts.path),
            query=query, original=text,
        )

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def is_remote(self) -> bool:
        """Goes through the remote driver: a transport, a host name, or ``?socket=``."""
        return bool(self.transport or self.server or "socket" in self.params)

    def without_transport(self) -> URI:
        """The URI the remote side opens: transport, user, host, port and remote-only params removed."""
        local_params = tuple((k, v) for k, v in self.query if k not in REMOTE_PARAMS)
        return URI(scheme=self.driver, driver=self.driver, path=self.path, query=local_params)

    def __str__(self) -> str:
        if self.original:
            return self.original
        auth = f"{quote(self.user)}@" if self.user else ""
        host = self.server or ""
        if host and ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port else ""
        q = "?" + "&".join(f"{k}={v}" for k, v in self.query) if self.query else ""
        return f"{self.scheme}://{auth}{host}{port}{self.path}{q}"


#: Query parameters that belong to the client side of a remote connection, as libvirt's remote driver has them.
REMOTE_PARAMS = frozenset({
    "name", "command", "socket", "netcat", "keyfile", "no_verify", "no_tty", "pkipath", "known_hosts",
    "known_hosts_verify", "sshauth", "mode", "proxy", "tls_priority",
})


def config_paths() -> list[Path]:
    """Client config files, most specific first: $VIRT_CONFIG, ~/.config/virt/virt.conf, /etc/virt/virt.conf."""
    from pathlib import Path  # here: only URI-less connections read the config (pathlib costs ~10 ms to import)

    paths = []
    if os.environ.get("VIRT_CONFIG"):
        paths.append(Path(os.environ["VIRT_CONFIG"]))
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths += [base / "virt" / "virt.conf", Path("/etc/virt/virt.conf")]
    return paths


def _client_config() -> dict[str, Any]:
    from virt.util.config import read

    for path in config_paths():
        if path.is_file():
            return dict(read(path).as_dict())
    return {}


def resolve(name: str | None) -> URI:
    """The URI to open for ``name``: an alias from the config, the default URI, or name itself.

    With no name: $VIRT_DEFAULT_URI, then $LIBVIRT_DEFAULT_URI, then ``uri_default`` in the config,
    then ``test:///default``.
    """
    conf: dict[str, Any] | None = None
    if not name:
        name = os.environ.get("VIRT_DEFAULT_URI") or os.environ.get("LIBVIRT_DEFAULT_URI")
        if not name:
            conf = _client_config()
            default = conf.get("uri_default")
            name = default if isinstance(default, str) and default else "test:///default"
    if "://" not in name and ":" not in name:  # only names without a scheme can be aliases
        conf = _client_config() if conf is None else conf
        aliases = conf.get("uri_aliases") or []
        for alias in aliases if isinstance(aliases, list) else [aliases]:
            key, _, target = str(alias).partition("=")
            if key == name and target:
                return URI.parse(target)
        raise uri_error(name, "no such URI alias and not a URI")
    return URI.parse(name)
