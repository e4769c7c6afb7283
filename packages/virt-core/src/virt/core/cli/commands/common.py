"""Helpers shared by the command tables: object lookups with virsh's error messages, files, flags."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from virt.core.cli.parse import Args, CLIError

if TYPE_CHECKING:
    from virt.core.cli.engine import Context
    from virt.core.connection import (
        Domain,
        Interface,
        Network,
        NodeDevice,
        NWFilter,
        Secret,
        StoragePool,
        StorageVolume,
    )

#: virshDomainStateToString.
DOMAIN_STATES = ("no state", "running", "idle", "paused", "in shutdown", "shut off", "crashed", "pmsuspended")

#: virshDomainStateReasonToString, per state; a missing reason reads "unknown".
DOMAIN_STATE_REASONS: dict[int, tuple[str, ...]] = {
    0: ("unknown",),
    1: ("unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled",
        "save canceled", "event wakeup", "crashed", "post-copy", "post-copy failed"),
    2: ("unknown",),
    3: ("unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog", "from snapshot",
        "shutting down", "creating snapshot", "crashed", "starting up", "post-copy", "post-copy failed",
        "api error"),
    4: ("unknown", "user"),
    5: ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot",
        "daemon"),
    6: ("unknown", "panicked"),
    7: ("unknown",),
}


def state_name(state: int) -> str:
    return DOMAIN_STATES[state] if 0 <= state < len(DOMAIN_STATES) else "no state"


def state_reason(state: int, reason: int) -> str:
    reasons = DOMAIN_STATE_REASONS.get(state, ())
    return reasons[reason] if 0 <= reason < len(reasons) else "unknown"


def exclusive(args: Args, *pairs: tuple[str, str]) -> None:
    """virsh's VSH_EXCLUSIVE_OPTIONS."""
    for a, b in pairs:
        if args.bool(a) and args.bool(b):
            raise CLIError(f"Options --{a} and --{b} are mutually exclusive")


def requires(args: Args, option: str, needed: str) -> None:
    """virsh's VSH_REQUIRE_OPTION."""
    if args.bool(option) and not args.bool(needed):
        raise CLIError(f"Option --{option} is required by option --{needed}")


def flags_from(args: Args, table: Iterable[tuple[str, int]]) -> int:
    """OR of the flag values whose option is given: ``flags_from(args, (("paused", 1), ...))``."""
    value = 0
    for name, bit in table:
        if args.bool(name):
            value |= int(bit)
    return value


def impact(args: Args, *, live: int = 1, config: int = 2) -> int | None:
    """The --config/--live/--current flags; None when none was given (the legacy, flag-less call)."""
    exclusive(args, ("current", "live"), ("current", "config"))
    flags = 0
    if args.bool("config"):
        flags |= config
    if args.bool("live"):
        flags |= live
    if not flags and not args.bool("current"):
        return None
    return flags


def read_file(path: str) -> str:
    """A file's text as virsh's virFileReadAll reports failures."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as exc:
        raise CLIError(f"Failed to open file '{path}': {exc.strerror}" if exc.strerror else str(exc)) from None


def read_xml_arg(args: Args, name: str = "file") -> tuple[str, str]:
    path = args.string(name) or ""
    return path, read_file(path)


def failed(message: str, exc: BaseException) -> CLIError:
    """``error: <message>`` followed by the cause, as virsh reports a failed call."""
    return CLIError(message, cause=exc)


# -- lookups (virsh's virshCommandOpt*By* and their messages) -----------------------------------------
def _virt_error() -> type[Exception]:
    from virt.util.errors import VirtError

    return VirtError


def domain(ctx: Context, args: Args, name: str = "domain", *, by_id: bool = True) -> Domain:
    key = args.string(name) or ""
    conn = ctx.conn
    VirtError = _virt_error()
    try:
        if not by_id and key.isdigit():
            from virt.core.connection import _looks_like_uuid

            if _looks_like_uuid(key):
                return conn.lookup_domain_by_uuid(key)
            return conn.lookup_domain_by_name(key)
        return conn.lookup_domain(key)
    except VirtError:
        # virsh drops the lookup's own error for domains: one line only.
        raise CLIError(f"failed to get domain '{key}'") from None


def network(ctx: Context, args: Args, name: str = "network") -> Network:
    key = args.string(name) or ""
    try:
        return ctx.conn.lookup_network(key)
    except _virt_error() as exc:
        raise failed(f"failed to get network '{key}'", exc) from None


def pool(ctx: Context, args: Args, name: str = "pool") -> StoragePool:
    key = args.string(name) or ""
    return pool_by_key(ctx, key)


def pool_by_key(ctx: Context, key: str) -> StoragePool:
    try:
        return ctx.conn.lookup_storage_pool(key)
    except _virt_error() as exc:
        raise failed(f"failed to get pool '{key}'", exc) from None


def volume(ctx: Context, args: Args, name: str = "vol", pool_option: str = "pool") -> StorageVolume:
    """By name in --pool, else by key, else by path (virsh's order)."""
    key = args.string(name) or ""
    pool_name = args.string(pool_option)
    VirtError = _virt_error()
    pool_obj = pool_by_key(ctx, pool_name) if pool_name else None
    last: BaseException | None = None
    vol = None
    if pool_obj is not None:
        try:
            vol = pool_obj.lookup_volume(key)
        except VirtError as exc:
            last = exc
    if vol is None:
        try:
            vol = ctx.conn.lookup_storage_vol_by_key(key)
        except VirtError as exc:
            last = exc
    if vol is None:
        try:
            vol = ctx.conn.lookup_storage_vol_by_path(key)
        except VirtError as exc:
            last = exc
    if vol is None:
        message = f"failed to get vol '{key}'" if pool_name else \
            f"failed to get vol '{key}', specifying --{pool_option} might help"
        raise CLIError(message, cause=last)
    if pool_obj is not None and vol.ref.pool != pool_obj.name():
        raise CLIError(f"Requested volume '{key}' is not in pool '{pool_obj.name()}'")
    return vol


def node_device(ctx: Context, args: Args, name: str = "device") -> NodeDevice:
    key = args.string(name) or ""
    try:
        return ctx.conn.lookup_node_device(key)
    except _virt_error() as exc:
        raise failed(f"Could not find matching device '{key}'", exc) from None


def interface(ctx: Context, args: Args, name: str = "interface") -> Interface:
    key = args.string(name) or ""
    try:
        return ctx.conn.lookup_interface(key)
    except _virt_error() as exc:
        raise failed(f"failed to get interface '{key}'", exc) from None


def secret(ctx: Context, args: Args, name: str = "secret") -> Secret:
    key = args.string(name) or ""
    try:
        return ctx.conn.lookup_secret(key)
    except _virt_error() as exc:
        raise failed(f"failed to get secret '{key}'", exc) from None


def nwfilter(ctx: Context, args: Args, name: str = "nwfilter") -> NWFilter:
    key = args.string(name) or ""
    try:
        return ctx.conn.lookup_nwfilter(key)
    except _virt_error() as exc:
        raise failed(f"failed to get nwfilter '{key}'", exc) from None


def call(what: str, fn: Any, *a: Any) -> Any:
    """Run ``fn(*a)``; a VirtError becomes ``error: <what>`` followed by the cause."""
    try:
        return fn(*a)
    except _virt_error() as exc:
        raise failed(what, exc) from None


def escape(text: str) -> str:
    """XML character data: &, < and > escaped (xml.sax.saxutils pulls in urllib; too slow to import)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """An XML attribute value in single quotes, as libvirt writes them."""
    return "'" + escape(text).replace("'", "&apos;").replace('"', "&quot;") + "'"


def version_string(number: int) -> str:
    """libvirt's version number (major * 1,000,000 + minor * 1,000 + micro) as "9.0.0"."""
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def wait_for_events(got: threading.Event, timeout: float | None, loop: bool) -> str:
    """Wait as virsh's event commands do: for the first event (``got`` set by the callback), or with
    ``loop`` until ``timeout`` or Ctrl-C. Returns the line saying how the wait ended, or ""."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return "event loop timed out\n"
            if got.wait(0.2 if left is None else min(left, 0.2)):
                got.clear()
                if not loop:
                    return ""
    except KeyboardInterrupt:
        return "event loop interrupted\n"
