"""JSON property objects for -device/-object/-blockdev/-netdev, built the way libvirt adds them.

``Props().s("driver", "virtio-net-pci").T("mq", on).p("vectors", n)`` mirrors libvirt's typed
"add" calls: ``s`` a required string, ``S`` an optional one, ``T`` a tristate switch (only when
set), ``B`` true only, ``b`` a boolean always, ``p`` a positive number, ``k`` a non-negative one,
``u``/``i`` a number always, ``A`` an optional nested value. Keys keep insertion order, which is
the order QEMU sees them in.
"""

from __future__ import annotations

import json
from typing import Any


class Props(dict[str, Any]):
    def s(self, key: str, value: Any) -> Props:
        self[key] = value
        return self

    def S(self, key: str, value: Any) -> Props:
        if value is not None:
            self[key] = value
        return self

    def T(self, key: str, value: bool | None) -> Props:
        if value is not None:
            self[key] = bool(value)
        return self

    def B(self, key: str, value: bool | None) -> Props:
        if value:
            self[key] = True
        return self

    def b(self, key: str, value: bool) -> Props:
        self[key] = bool(value)
        return self

    def p(self, key: str, value: int | None) -> Props:
        if value is not None and value > 0:
            self[key] = value
        return self

    def k(self, key: str, value: int | None) -> Props:
        if value is not None and value >= 0:
            self[key] = value
        return self

    def u(self, key: str, value: int) -> Props:
        self[key] = value
        return self

    def A(self, key: str, value: Any) -> Props:
        if value is not None:
            self[key] = value
        return self

    def json(self) -> str:
        return json.dumps(self, separators=(",", ":"))


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def escape_comma(s: str) -> str:
    """QEMU's option syntax doubles commas inside values."""
    return s.replace(",", ",,")
