"""The plugin manager: entry-point group ``virt``, one marker (``hookimpl``), built by a factory."""

from __future__ import annotations

import logging
from typing import Any

import pluggy
from virt.core import hookspecs
from virt.core.distributions import entry_points

log = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker("virt")
ENTRY_POINT_GROUP = "virt"


def get_plugin_manager(load_entry_points: bool = True, plugins: tuple[Any, ...] = ()) -> pluggy.PluginManager:
    """A new manager with the hook specs, the installed plugins (unless told not to) and ``plugins``.

    A plugin whose import fails (a missing SDK, a broken install) is skipped and the reason logged;
    a plugin implementing an unknown hook fails loudly (``check_pending``).
    """
    pm = pluggy.PluginManager("virt")
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if pm.get_plugin(ep.name) is not None:
                continue
            try:
                module = ep.load()
            except Exception as exc:
                log.warning("skipping virt plugin %r from %s: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
                continue
            pm.register(module, name=ep.name)
            if ep.dist is not None:
                _plugin_dists[id(module)] = ep.dist
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


#: id(plugin module) -> (distribution name, version), for ``virt drivers``.
_plugin_dists: dict[int, tuple[str, str]] = {}


def plugin_distribution(plugin: Any) -> tuple[str, str] | None:
    return _plugin_dists.get(id(plugin))
