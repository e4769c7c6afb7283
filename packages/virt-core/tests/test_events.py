"""The event bus delivers in order, per subscription, and into asyncio."""

import asyncio
import threading

from virt.core.events import EventBus, aiter_events
from virt.core.types import DomainRef

A = DomainRef("a", "00000000-0000-0000-0000-00000000000a", 1)
B = DomainRef("b", "00000000-0000-0000-0000-00000000000b", 2)


def test_filters_and_order():
    bus = EventBus()
    got, only_a = [], []
    bus.subscribe("domain", 0, lambda ev: got.append((ev.obj.name, ev.payload)))
    sub = bus.subscribe("domain", 0, lambda ev: only_a.append(ev.payload), obj=A)
    bus.subscribe("domain", 1, lambda ev: got.append("wrong id"))
    for i in range(50):
        bus.emit("domain", 0, A if i % 2 else B, i, 0)
    bus.flush()
    assert [p[0] for _, p in got] == list(range(50))
    assert [p[0] for p in only_a] == list(range(1, 50, 2))
    assert bus.unsubscribe(sub) and not bus.unsubscribe(sub)
    bus.close()


def test_broken_callback_does_not_stop_others():
    bus = EventBus()
    got = []
    bus.subscribe("domain", 0, lambda ev: 1 / 0)
    bus.subscribe("domain", 0, lambda ev: got.append(ev.payload))
    bus.emit("domain", 0, A, 5, 0)
    bus.flush()
    assert got == [(5, 0)]
    bus.close()


def test_async_iterator():
    bus = EventBus()

    async def main():
        it = aiter_events(bus, "domain", 0)
        first = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.05)
        threading.Thread(target=lambda: bus.emit("domain", 0, A, 2, 1)).start()
        ev = await asyncio.wait_for(first, 5)
        await it.aclose()
        return ev

    ev = asyncio.run(main())
    assert ev.obj == A and ev.payload == (2, 1)
    bus.close()
