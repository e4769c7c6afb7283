"""Questions about QEMU's QMP schema (query-qmp-schema), asked as slash-separated paths.

A path starts with a command or event name and walks the schema: ``arg-type``/``ret-type`` pick a
command's argument or return type, a plain name picks an object member, ``*name`` a member that is
optional (has a default), ``+case`` a union variant, ``^value`` an enum value, ``$feature`` a
feature of the entry reached, ``!type`` a builtin's JSON type. Arrays are looked through and an
alternate matches when one of its branches does. Example: ``netdev_add/arg-type/type/^dgram``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Schema = dict[str, dict[str, Any]]


def schema_index(entries: Iterable[dict[str, Any]]) -> Schema:
    """query-qmp-schema's list of entries, indexed by name."""
    return {str(e["name"]): e for e in entries if isinstance(e, dict) and "name" in e}


def _find(items: Sequence[dict[str, Any]] | None, key: str, value: str) -> dict[str, Any] | None:
    for item in items or ():
        if item.get(key) == value:
            return item
    return None


def _walk(schema: Schema, name: str | None, query: Sequence[str], depth: int = 0) -> bool:
    entry = schema.get(name or "")
    if entry is None or depth > 64:
        return False
    if not query:
        return True
    step = query[0]
    if step.startswith("$"):
        return step[1:] in (entry.get("features") or ()) and len(query) == 1
    meta = entry.get("meta-type")
    if meta == "array":
        return _walk(schema, entry.get("element-type"), query, depth + 1)
    if meta in ("command", "event"):
        return _walk(schema, entry.get(step), query[1:], depth + 1)
    if meta == "object":
        if step.startswith("+"):
            found = _find(entry.get("variants"), "case", step[1:])
        else:
            found = _find(entry.get("members"), "name", step.lstrip("*"))
            if found is not None and step.startswith("*") and "default" not in found:
                return False
        return found is not None and _walk(schema, found.get("type"), query[1:], depth + 1)
    if meta == "enum":
        return step.startswith("^") and step[1:] in (entry.get("values") or ()) and len(query) == 1
    if meta == "alternate":
        return any(_walk(schema, m.get("type"), query, depth + 1) for m in entry.get("members") or ())
    if meta == "builtin":
        return step.startswith("!") and entry.get("json-type") == step[1:] and len(query) == 1
    return False


def path_exists(schema: Schema, path: str) -> bool:
    """Whether ``path`` (see the module docstring) leads somewhere in ``schema``."""
    head, *rest = path.split("/")
    return _walk(schema, head, rest)
