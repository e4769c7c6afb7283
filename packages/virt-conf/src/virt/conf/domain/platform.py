"""``<clock>`` and its timers, lifecycle actions, ``<pm>`` and ``<perf>``."""

from __future__ import annotations

from virt.conf.domain.types import UInt10, ULong10, YesNo
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    Writer,
)
from virt.util.errors import XMLError

TIMER_NAMES = ("platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock", "armvtimer")


class Catchup(Model):
    TAG = "catchup"
    threshold = Attr(UInt10)
    slew = Attr(UInt10)
    limit = Attr(UInt10)


class Timer(Model):
    TAG = "timer"
    name = Attr(Enum(*TIMER_NAMES, name="timer name"))
    present = Attr(YesNo)
    tickpolicy = Attr(Enum("delay", "catchup", "merge", "discard", name="timer tickpolicy"))
    track = Attr(Enum("boot", "guest", "wall", "realtime", name="timer track"))
    frequency = Attr(ULong10)
    mode = Attr(Enum("auto", "native", "emulate", "paravirt", "smpsafe", name="timer mode"))
    catchup = Child(Catchup)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.name is None:
            raise XMLError("missing timer name")
        if self.name != "rtc" and self.track is not None:
            raise XMLError("track attribute is only valid for timer rtc")
        if self.name in ("kvmclock", "hypervclock"):
            for attr in ("tickpolicy", "track", "mode", "frequency"):
                if getattr(self, attr) is not None:
                    raise XMLError(f"timer {self.name} doesn't support setting of timer {attr}")
        if self.name != "tsc":
            self.frequency = None
            self.mode = None
        c = self.catchup
        if c is not None and (c.threshold or c.slew or c.limit) and self.tickpolicy != "catchup":
            raise XMLError("setting of timer catchup policies is only supported with tickpolicy='catchup'")
        if self.frequency == 0:
            self.frequency = None
        c = self.catchup
        if c is not None and not (c.threshold or c.slew or c.limit):
            self.catchup = None


class Clock(Model):
    TAG = "clock"
    offset = Attr(Enum("utc", "localtime", "variable", "timezone", "absolute", name="clock offset"))
    adjustment = Attr(String)
    basis = Attr(Enum("utc", "localtime", name="clock basis"))
    timezone = Attr(String)
    start = Attr(ULong10)
    timers = Children(Timer)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.offset is None:
            self.offset = "utc"
        o = self.offset
        if o in ("utc", "localtime"):
            if self.adjustment is not None:
                if self.adjustment == "reset":
                    pass
                else:
                    try:
                        adj = int(self.adjustment)
                    except ValueError:
                        raise XMLError(f"unknown clock adjustment '{self.adjustment}'") from None
                    self.offset = "variable"
                    self.basis = o
                    self.adjustment = str(adj)
            self.timezone = self.start = None
            if self.offset != "variable":
                self.basis = None
        if self.offset == "variable":
            if self.adjustment is None:
                self.adjustment = "0"
            else:
                try:
                    int(self.adjustment)
                except ValueError:
                    raise XMLError(f"Invalid value '{self.adjustment}' for attribute 'adjustment'") from None
            if self.basis is None:
                self.basis = "utc"
            self.timezone = self.start = None
        elif self.offset == "timezone":
            if not self.timezone:
                raise XMLError("missing 'timezone' attribute for clock with offset='timezone'")
            self.adjustment = self.basis = self.start = None
        elif self.offset == "absolute":
            if self.start is None:
                raise XMLError("missing 'start' attribute for clock with offset='absolute'")
            self.adjustment = self.basis = self.timezone = None


LIFECYCLE = ("destroy", "restart", "rename-restart", "preserve")
CRASH = LIFECYCLE + ("coredump-destroy", "coredump-restart")
LOCKFAILURE = ("poweroff", "restart", "pause", "ignore")


class _Suspend(Model):
    enabled = Attr(YesNo)


class SuspendToMem(_Suspend):
    TAG = "suspend-to-mem"


class SuspendToDisk(_Suspend):
    TAG = "suspend-to-disk"


class PM(Model):
    TAG = "pm"
    suspend_to_mem = Child(SuspendToMem)
    suspend_to_disk = Child(SuspendToDisk)

    def post_parse(self, ctx: ParseContext) -> None:
        for name in ("suspend_to_mem", "suspend_to_disk"):
            v = getattr(self, name)
            if v is not None and v.enabled is None:
                setattr(self, name, None)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.suspend_to_mem is not None or self.suspend_to_disk is not None:
            super().write(w, tag)


PERF_EVENTS = ("cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
               "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend",
               "stalled_cycles_backend", "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults",
               "context_switches", "cpu_migrations", "page_faults_min", "page_faults_maj", "alignment_faults",
               "emulation_faults")


class PerfEvent(Model):
    TAG = "event"
    name = Attr(Enum(*PERF_EVENTS, name="perf event name"))
    enabled = Attr(YesNo)


class Perf(Model):
    TAG = "perf"
    events = Children(PerfEvent)

    def post_parse(self, ctx: ParseContext) -> None:
        seen: dict[str, PerfEvent] = {}
        for e in self.events:
            if e.name is None:
                raise XMLError("missing name for event")
            if e.enabled is None:
                raise XMLError("missing state of event")
            seen.setdefault(e.name, e)
        self.events = [seen[n] for n in PERF_EVENTS if n in seen]

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.events:
            super().write(w, tag)
