"""``<seclabel>``, ``<keywrap>`` and ``<launchSecurity>``."""

from __future__ import annotations

from virt.conf.domain.types import HexOut, OnOff, UInt10, YesNo
from virt.conf.xmlmodel import (
    Attr,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
)
from virt.util.errors import XMLError


class Seclabel(Model):
    TAG = "seclabel"
    type = Attr(Enum("dynamic", "static", "none", name="security type"))
    model = Attr(String)
    relabel = Attr(YesNo)
    label = TextChild(String)
    imagelabel = TextChild(String)
    baselabel = TextChild(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            self.type = "dynamic"
        t = self.type
        if self.relabel is None:
            self.relabel = t == "dynamic"
        elif t == "dynamic" and not self.relabel:
            raise XMLError("dynamic label type must use resource relabeling")
        elif t == "none" and self.relabel:
            raise XMLError("resource relabeling is not compatible with 'none' label type")
        if not (t == "static" or (not ctx.inactive and t != "none")):
            self.label = None
        if t == "static" and not self.label:
            raise XMLError("security label is missing")
        if ctx.inactive or not self.relabel or t == "none":
            self.imagelabel = None
        if t != "dynamic":
            self.baselabel = None

    def write(self, w: Writer, tag: str | None = None) -> None:
        attrs = [("type", self.type or "dynamic")]
        if self.model is not None:
            attrs.append(("model", self.model))
        if self.type == "none":
            w.leaf("seclabel", attrs, None)
            return
        attrs.append(("relabel", "yes" if self.relabel else "no"))
        children = []
        if self.label is not None:
            children.append(("label", self.label))
        if self.relabel and self.imagelabel is not None:
            children.append(("imagelabel", self.imagelabel))
        if self.type == "dynamic" and self.baselabel is not None:
            children.append(("baselabel", self.baselabel))
        if not children:
            w.leaf("seclabel", attrs, None)
            return
        w.start("seclabel", attrs)
        mark = w.mark()
        for t, v in children:
            w.leaf(t, [], v)
        w.end("seclabel", None, mark)


class KeywrapCipher(Model):
    TAG = "cipher"
    name = Attr(Enum("aes", "dea", name="cipher name"))
    state = Attr(OnOff)


class Keywrap(Model):
    TAG = "keywrap"
    ciphers = Children(KeywrapCipher)

    def post_parse(self, ctx: ParseContext) -> None:
        seen = set()
        for c in self.ciphers:
            if c.name is None:
                raise XMLError("missing name for cipher")
            if c.state is None:
                raise XMLError("missing state for cipher")
            if c.name in seen:
                raise XMLError(f"duplicate cipher name '{c.name}' in keywrap")
            seen.add(c.name)


class Policy(HexOut):
    def parse(self, text: str) -> int:
        s = text.strip()
        return int(s[2:] if s[:2].lower() == "0x" else s, 16)


class LaunchSecurity(Model):
    TAG = "launchSecurity"
    type = Attr(Enum("sev", "s390-pv", "sev-snp", name="launch security type"))
    kernelHashes = Attr(YesNo)
    cbitpos = TextChild(UInt10)
    reducedPhysBits = TextChild(UInt10)
    policy = TextChild(Policy(4, max=2**32 - 1))
    dhCert = TextChild(String)
    session = TextChild(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("missing launch security type")
        if self.type == "sev":
            if self.policy is None:
                raise XMLError("failed to get launch security policy for launch security type SEV")
        else:
            self.kernelHashes = None
            self.cbitpos = self.reducedPhysBits = self.policy = None
            self.dhCert = self.session = None
