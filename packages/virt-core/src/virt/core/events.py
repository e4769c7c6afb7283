"""The event bus: drivers emit events, connections deliver them to callbacks or async iterators."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One event: ``kind`` is the object kind ("domain", "network", "storage_pool", "node_device",
    "secret"), ``event_id`` libvirt's id for that kind (DomainEventID...), ``obj`` the object's ref,
    ``payload`` the event's values in libvirt's callback order (e.g. lifecycle: event type, detail)."""

    kind: str
    event_id: int
    obj: Any
    payload: tuple[Any, ...] = ()


Callback = Callable[[Event], None]


@dataclass
class _Subscription:
    kind: str
    event_id: int
    obj: Any  # None: every object
    callback: Callback


class EventBus:
    """Thread-safe fan-out. Callbacks run on one dispatcher thread, in emission order, never while
    the emitting driver holds its locks."""

    def __init__(self) -> None:
        self._subs: dict[int, _Subscription] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def subscribe(self, kind: str, event_id: int, callback: Callback, obj: Any = None) -> int:
        with self._lock:
            sub_id = next(self._ids)
            self._subs[sub_id] = _Subscription(kind, int(event_id), obj, callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="virt-events", daemon=True)
                self._thread.start()
        return sub_id

    def unsubscribe(self, sub_id: int) -> bool:
        with self._lock:
            return self._subs.pop(sub_id, None) is not None

    def has_subscribers(self) -> bool:
        return bool(self._subs)

    def emit(self, kind: str, event_id: int, obj: Any, *payload: Any) -> None:
        if self._subs:
            self._queue.put(Event(kind, int(event_id), obj, payload))

    def _matching(self, ev: Event) -> list[Callback]:
        with self._lock:
            return [s.callback for s in self._subs.values()
                    if s.kind == ev.kind and s.event_id == ev.event_id
                    and (s.obj is None or _same_object(s.obj, ev.obj))]

    def _run(self) -> None:
        while (ev := self._queue.get()) is not None:
            for callback in self._matching(ev):
                try:
                    callback(ev)
                except Exception:  # a broken callback must not stop delivery to the others
                    log.exception("event callback %r failed", callback)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event emitted so far has been delivered (tests, orderly shutdown)."""
        done = threading.Event()
        self._queue.put(Event("__flush__", -1, done))
        with self._lock:
            self._subs[0] = _Subscription("__flush__", -1, None, lambda ev: ev.obj.set())
        done.wait(timeout)
        with self._lock:
            self._subs.pop(0, None)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None


def _same_object(a: Any, b: Any) -> bool:
    """Refs match on UUID when both have one (names can be reused), else on equality."""
    ua, ub = getattr(a, "uuid", None), getattr(b, "uuid", None)
    return ua == ub if ua is not None and ub is not None else bool(a == b)


async def aiter_events(bus: EventBus, kind: str, event_id: int, obj: Any = None) -> AsyncIterator[Event]:
    """Deliver events into the running asyncio loop: ``async for ev in aiter_events(...)``."""
    import asyncio  # here, not at the top: the CLI and most callers never need it (~50 ms to import)

    loop = asyncio.get_running_loop()
    q: asyncio.Queue[Event] = asyncio.Queue()
    def deliver(ev: Event) -> None:
        loop.call_soon_threadsafe(q.put_nowait, ev)

    sub = bus.subscribe(kind, event_id, deliver, obj)
    try:
        while True:
            yield await q.get()
    finally:
        bus.unsubscribe(sub)
