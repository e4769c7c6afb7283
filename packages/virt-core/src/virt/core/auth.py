"""Client credentials from libvirt's authentication file (auth.conf), for drivers that log in to a host.

``[auth-SERVICE-HOST]`` (or ``[auth-SERVICE-default]``) names a ``[credentials-NAME]`` group that
holds ``username``/``password``. The file is found as libvirt finds it: the URI's ``authfile``
parameter, ``$LIBVIRT_AUTH_FILE``, ``$XDG_CONFIG_HOME/libvirt/auth.conf``, ``/etc/libvirt/auth.conf``.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from virt.util.errors import AuthFailedError, ErrorDomain, ErrorNumber


def auth_file(uri_params: dict[str, str]) -> Path | None:
    if uri_params.get("authfile"):
        return Path(uri_params["authfile"])
    if os.environ.get("LIBVIRT_AUTH_FILE"):
        return Path(os.environ["LIBVIRT_AUTH_FILE"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return next((p for p in (base / "libvirt" / "auth.conf", Path("/etc/libvirt/auth.conf")) if p.is_file()), None)


def _fail(message: str) -> AuthFailedError:
    return AuthFailedError(message, code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.AUTH)


def lookup(path: Path | None, service: str, host: str, key: str) -> str | None:
    """``key`` (username or password) for ``service`` on ``host``, or None when the file has none."""
    if path is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as exc:
        raise _fail(f"Failed to read authentication file '{path}': {exc.strerror}") from None
    except configparser.Error as exc:
        raise _fail(f"Failed to parse authentication file '{path}': {exc}") from None
    for group in (f"auth-{service}-{host}", f"auth-{service}-default"):
        if parser.has_section(group):
            name = parser.get(group, "credentials", fallback=None)
            if not name:
                raise _fail(f"Missing item 'credentials' in group '{group}' in '{path}'")
            if not parser.has_section(f"credentials-{name}"):
                raise _fail(f"Missing group 'credentials-{name}' referenced from group '{group}' in '{path}'")
            return parser.get(f"credentials-{name}", key, fallback=None)
    return None
