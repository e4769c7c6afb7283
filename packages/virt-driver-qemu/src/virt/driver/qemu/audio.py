"""-audiodev for a domain <audio> backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.props import Props

if TYPE_CHECKING:
    from virt.driver.qemu.command import Builder

E = etree._Element

#: QEMU's names for libvirt's audio types where they differ.
DRIVER_NAMES = {"pulseaudio": "pa", "file": "wav"}


def _common(io: E | None) -> Props:
    p = Props()
    if io is None:
        return p
    fixed = X.yes(io.get("fixedSettings"))
    p.T("mixing-engine", X.yes(io.get("mixingEngine")))
    p.T("fixed-settings", fixed)
    p.p("voices", int(io.get("voices", "0")))
    p.p("buffer-length", int(io.get("bufferLength", "0")))
    if fixed:
        s = io.find("settings")
        if s is not None:
            p.p("frequency", int(s.get("frequency", "0")))
            p.p("channels", int(s.get("channels", "0")))
            p.S("format", s.get("format"))
    return p


def build(b: Builder, audio: E) -> None:
    atype = audio.get("type", "none")
    props = Props().s("id", f"audio{audio.get('id')}").s("driver", DRIVER_NAMES.get(atype, atype))
    tp = audio.get("timerPeriod")
    props.p("timer-period", int(tp) if tp else 0)
    ins, outs = audio.find("input"), audio.find("output")
    pin, pout = _common(ins), _common(outs)
    for io, p in ((ins, pin), (outs, pout)):
        if io is None:
            continue
        if atype == "alsa":
            p.S("dev", io.get("dev"))
        elif atype in ("coreaudio", "sdl"):
            p.p("buffer-count", int(io.get("bufferCount", "0")))
        elif atype == "jack":
            p.S("server-name", io.get("serverName")).S("client-name", io.get("clientName"))
            p.S("connect-ports", io.get("connectPorts")).T("exact-name", X.yes(io.get("exactName")))
        elif atype == "oss":
            p.S("dev", io.get("dev")).p("buffer-count", int(io.get("bufferCount", "0")))
            p.T("try-poll", X.yes(io.get("tryPoll")))
        elif atype == "pulseaudio":
            p.S("name", io.get("name")).S("stream-name", io.get("streamName")).p("latency", int(io.get("latency", "0")))
    if atype == "oss":
        props.T("try-mmap", X.yes(audio.get("tryMMap")))
        props.T("exclusive", X.yes(audio.get("exclusive")))
        dsp = audio.get("dspPolicy")
        if dsp is not None:
            props.u("dsp-policy", int(dsp))
    elif atype == "pulseaudio":
        props.S("server", audio.get("serverName"))
    elif atype == "sdl":
        drv = X.get(audio, "driver", "name") or audio.get("driver")
        if drv:
            b.cmd.env["SDL_AUDIODRIVER"] = drv
    elif atype == "file":
        props.S("path", audio.get("path"))
    if pin:
        props.s("in", dict(pin))
    if pout:
        props.s("out", dict(pout))
    b.cmd.add("-audiodev", props.json())
