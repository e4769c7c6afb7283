"""``<features>``: acpi, apic, pae, hap, hyperv, kvm, xen, pmu, vmport, smm, gic, ioapic, capabilities, ..."""

from __future__ import annotations

from typing import Any

from virt.conf.domain.types import OnOff, UInt10, ULong10, YesNo, scale_value
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Enum,
    Model,
    ParseContext,
    String,
    Text,
    Writer,
)
from virt.util.errors import ConfigUnsupportedError, XMLError


class Flag(Model):
    """A feature that is on when present (``<acpi/>``)."""


class StateFeature(Model):
    """A feature with ``state='on|off'``; present without state means on (``<pmu/>`` = on)."""

    state = Attr(OnOff)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.state is None:
            self.state = True


def _flag(tag: str) -> type[Model]:
    return type(tag.replace("-", "_").capitalize(), (Flag,), {"TAG": tag})


def _state(tag: str) -> type[StateFeature]:
    return type("F_" + tag.replace("-", "_"), (StateFeature,), {"TAG": tag})


class APIC(Model):
    TAG = "apic"
    eoi = Attr(OnOff)


class GIC(Model):
    TAG = "gic"
    version = Attr(Enum("2", "3", "host", name="gic version"))


class IOAPIC(Model):
    TAG = "ioapic"
    driver = Attr(Enum("kvm", "qemu", name="ioapic driver"))


class TSeg(Model):
    TAG = "tseg"
    unit = Attr(String)
    value = Text(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.value is not None:
            nbytes = scale_value(self.value, self.unit, 1024 * 1024)
            if nbytes % (1024 * 1024):
                raise ConfigUnsupportedError("SMM TSEG size must be divisible by 1 MiB")
            self.value, self.unit = nbytes // (1024 * 1024), "MiB"


class SMM(StateFeature):
    TAG = "smm"
    tseg = Child(TSeg)

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        if self.tseg is not None and not self.state:
            raise XMLError("Unable to set TSEG size with SMM disabled")


class MaxPageSize(Model):
    TAG = "maxpagesize"
    unit = Attr(String)
    value = Text(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.value is not None:
            self.value = -(-scale_value(self.value, self.unit, 1024) // 1024)
            self.unit = "KiB"


class HPT(Model):
    TAG = "hpt"
    resizing = Attr(Enum("enabled", "disabled", "required", name="HPT resizing"))
    maxpagesize = Child(MaxPageSize)


class MSRs(Model):
    TAG = "msrs"
    unknown = Attr(Enum("ignore", "fault", name="msrs unknown"))


class _Value(Model):
    value = Attr(String)


def _valued(tag: str) -> type[_Value]:
    return type("V_" + tag, (_Value,), {"TAG": tag})


# -- hyperv ----------------------------------------------------------------------------------------

class HvSpinlocks(StateFeature):
    TAG = "spinlocks"
    retries = Attr(UInt10)

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        if self.state:
            if self.retries is None:
                raise XMLError("missing HyperV spinlock retry count")
            if self.retries < 0xFFF:
                raise XMLError("HyperV spinlock retry count must be at least 4095")
        else:
            self.retries = None


class HvVendorId(StateFeature):
    TAG = "vendor_id"
    value = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        if self.state:
            if not self.value:
                raise XMLError("missing 'value' attribute for HyperV feature 'vendor_id'")
            if len(self.value) > 12:
                raise XMLError("value of HyperV vendor_id feature must not be longer than 12 characters")
        else:
            self.value = None


HvDirect = _state("direct")
HvExtended = _state("extended")


class HvStimer(StateFeature):
    TAG = "stimer"
    direct = Child(HvDirect)


class HvTlbflush(StateFeature):
    TAG = "tlbflush"
    direct = Child(HvDirect)
    extended = Child(HvExtended)


class HyperV(Model):
    TAG = "hyperv"
    mode = Attr(Enum("custom", "passthrough", name="HyperV mode"))
    relaxed = Child(_state("relaxed"))
    vapic = Child(_state("vapic"))
    spinlocks = Child(HvSpinlocks)
    vpindex = Child(_state("vpindex"))
    runtime = Child(_state("runtime"))
    synic = Child(_state("synic"))
    stimer = Child(HvStimer)
    reset = Child(_state("reset"))
    vendor_id = Child(HvVendorId)
    frequencies = Child(_state("frequencies"))
    reenlightenment = Child(_state("reenlightenment"))
    tlbflush = Child(HvTlbflush)
    ipi = Child(_state("ipi"))
    evmcs = Child(_state("evmcs"))
    avic = Child(_state("avic"))
    emsr_bitmap = Child(_state("emsr_bitmap"))
    xmm_input = Child(_state("xmm_input"))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is None:
            self.mode = "custom"
        if self.mode == "passthrough":
            for f in self._fields:
                if f.name != "mode":
                    setattr(self, f.name, None)


# -- kvm, xen, tcg, capabilities ----------------------------------------------------------------

class DirtyRing(StateFeature):
    TAG = "dirty-ring"
    size = Attr(UInt10)

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        if self.state:
            if self.size is not None and (self.size < 1024 or self.size > 65536 or self.size & (self.size - 1)):
                raise XMLError("dirty ring must be power of 2 and ranges [1024, 65536]")
        else:
            self.size = None


class KVM(Model):
    TAG = "kvm"
    hidden = Child(_state("hidden"))
    hint_dedicated = Child(_state("hint-dedicated"))
    poll_control = Child(_state("poll-control"))
    pv_ipi = Child(_state("pv-ipi"))
    dirty_ring = Child(DirtyRing)


class XenPassthrough(StateFeature):
    TAG = "passthrough"
    mode = Attr(Enum("sync_pt", "share_pt", name="passthrough mode"))


class Xen(Model):
    TAG = "xen"
    e820_host = Child(_state("e820_host"))
    passthrough = Child(XenPassthrough)


class TBCache(Model):
    TAG = "tb-cache"
    unit = Attr(String)
    value = Text(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.value is not None:
            self.value = -(-scale_value(self.value, self.unit, 1024) // 1024)
            self.unit = "KiB"


class TCG(Model):
    TAG = "tcg"
    tb_cache = Child(TBCache)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.tb_cache is not None:
            super().write(w, tag)


CAPABILITIES = ("audit_control", "audit_write", "block_suspend", "chown", "dac_override", "dac_read_search",
                "fowner", "fsetid", "ipc_lock", "ipc_owner", "kill", "lease", "linux_immutable", "mac_admin",
                "mac_override", "mknod", "net_admin", "net_bind_service", "net_broadcast", "net_raw", "setgid",
                "setfcap", "setpcap", "setuid", "sys_admin", "sys_boot", "sys_chroot", "sys_module", "sys_nice",
                "sys_pacct", "sys_ptrace", "sys_rawio", "sys_resource", "sys_time", "sys_tty_config", "syslog",
                "wake_alarm")


class Capabilities(Model):
    TAG = "capabilities"
    policy = Attr(Enum("default", "allow", "deny", name="capabilities policy"))

    def parse_extra(self, el: Any, ctx: ParseContext) -> set[str]:
        self.caps: dict[str, bool] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag in CAPABILITIES:
                state = child.get("state")
                if state not in (None, "on", "off"):
                    raise XMLError(f"Invalid value '{state}' for attribute 'state' of element '{child.tag}'")
                self.caps.setdefault(child.tag, state != "off")
        return set(CAPABILITIES)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.policy is None:
            self.policy = "default"

    def format_extra(self, w: Writer) -> None:
        for name in CAPABILITIES:
            if name in self.caps:
                w.leaf(name, [("state", "on" if self.caps[name] else "off")], None)


class PS2(StateFeature):
    TAG = "ps2"


class AsyncTeardown(Model):
    TAG = "async-teardown"
    enabled = Attr(YesNo)


class Features(Model):
    """``<features>`` in libvirt's enum order."""

    TAG = "features"
    acpi = Child(_flag("acpi"))
    apic = Child(APIC)
    pae = Child(_flag("pae"))
    hap = Child(_state("hap"))
    viridian = Child(_flag("viridian"))
    privnet = Child(_flag("privnet"))
    hyperv = Child(HyperV)
    kvm = Child(KVM)
    pvspinlock = Child(_state("pvspinlock"))
    capabilities = Child(Capabilities)
    pmu = Child(_state("pmu"))
    vmport = Child(_state("vmport"))
    gic = Child(GIC)
    smm = Child(SMM)
    ioapic = Child(IOAPIC)
    hpt = Child(HPT)
    vmcoreinfo = Child(_state("vmcoreinfo"))
    htm = Child(_state("htm"))
    nested_hv = Child(_state("nested-hv"))
    msrs = Child(MSRs)
    ccf_assist = Child(_state("ccf-assist"))
    xen = Child(Xen)
    cfpc = Child(_valued("cfpc"))
    sbbc = Child(_valued("sbbc"))
    ibs = Child(_valued("ibs"))
    tcg = Child(TCG)
    async_teardown = Child(AsyncTeardown)
    ps2 = Child(PS2)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.gic is not None and self.gic.version is None:
            pass
        if self.ioapic is not None and self.ioapic.driver is None:
            self.ioapic = None
        if self.msrs is not None and self.msrs.unknown is None:
            raise XMLError("missing 'unknown' attribute for feature 'msrs'")
        for name in ("cfpc", "sbbc", "ibs"):
            v = getattr(self, name)
            if v is not None:
                allowed = {"cfpc": ("broken", "workaround", "fixed"), "sbbc": ("broken", "workaround", "fixed"),
                           "ibs": ("broken", "workaround", "fixed-ibs", "fixed-ccd", "fixed-na")}[name]
                if v.value not in allowed:
                    raise XMLError(f"Invalid value '{v.value}' for attribute 'value' of element '{name}'")
        if self.hpt is not None and self.hpt.resizing is None and self.hpt.maxpagesize is None:
            self.hpt = None

    def enabled(self, name: str) -> bool:
        """Whether a feature is on (present, and state not 'off')."""
        f = getattr(self, name.replace("-", "_"), None)
        if f is None:
            return False
        return getattr(f, "state", True) is not False

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in self._fields)
