"""Credentials for a connection, from libvirt's client authentication file (auth.conf).

The file is a keyfile: ``[credentials-NAME]`` groups hold ``username``/``password``, and
``[auth-SERVICE-HOST]`` groups point at one (``credentials=NAME``). It is found as libvirt finds
it: the URI's ``authfile`` parameter, ``$LIBVIRT_AUTH_FILE``, ``$XDG_CONFIG_HOME/libvirt/auth.conf``
(default ``~/.config``), then ``/etc/libvirt/auth.conf``.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from virt.util.errors import AuthFailedError, ErrorDomain, ErrorNumber


def auth_file(uri_params: dict[str, str]) -> Path | None:
    candidates: list[Path] = []
    if uri_params.get("authfile"):
        return Path(uri_params["authfile"])
    if os.environ.get("LIBVIRT_AUTH_FILE"):
        return Path(os.environ["LIBVIRT_AUTH_FILE"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidates += [base / "libvirt" / "auth.conf", Path("/etc/libvirt/auth.conf")]
    return next((p for p in candidates if p.is_file()), None)


def lookup(path: Path | None, service: str, host: str, key: str) -> str | None:
    """``key`` (username or password) for ``service`` on ``host``, or None when the file has none."""
    if path is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as exc:
        raise AuthFailedError(f"Failed to read authentication file '{path}': {exc.strerror}",
                              code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.AUTH) from None
    except configparser.Error as exc:
        raise AuthFailedError(f"Failed to parse authentication file '{path}': {exc}",
                              code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.AUTH) from None
    for group in (f"auth-{service}-{host}", f"auth-{service}-default"):
        if parser.has_section(group):
            name = parser.get(group, "credentials", fallback=None)
            if not name:
                raise AuthFailedError(f"Missing item 'credentials' in group '{group}' in '{path}'",
                                      code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.AUTH)
            if not parser.has_section(f"credentials-{name}"):
                raise AuthFailedError(f"Missing group 'credentials-{name}' referenced from group '{group}' "
                                      f"in '{path}'", code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.AUTH)
            return parser.get(f"credentials-{name}", key, fallback=None)
    return None
