"""Secret XML (<secret>): ephemeral/private flags, description and what the secret is used for."""

from __future__ import annotations

import uuid as _uuid

from lxml import etree
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
    keep_first_children,
)
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError

#: Usage type -> (element holding the usage id, the name libvirt's error gives it).
USAGE_ID: dict[str, tuple[str, str]] = {
    "volume": ("volume", "volume usage specified, but volume path is missing"),
    "ceph": ("name", "Ceph usage specified, but name is missing"),
    "iscsi": ("target", "iSCSI usage specified, but target is missing"),
    "tls": ("name", "TLS usage specified, but name is missing"),
    "vtpm": ("name", "vTPM usage specified, but name is missing"),
}


class Usage(Model):
    """<usage type=...>: the object a secret belongs to, identified by one child element."""

    TAG = "usage"
    type = Attr(String)

    #: The volume path, Ceph/TLS/vTPM name or iSCSI target, per type.
    usage_id: str | None

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.usage_id = None
        t = el.get("type")
        if t is None:
            raise XMLError("unknown secret usage type")
        if t != "none" and t not in USAGE_ID:
            raise ConfigUnsupportedError(f"unknown secret usage type {t}")
        if t == "none":
            return {"volume", "name", "target"}
        tag, missing = USAGE_ID[t]
        child = el.find(tag)
        text = "".join(str(t) for t in child.itertext()) if child is not None else ""
        if not text:
            raise InternalError(missing)
        self.usage_id = text
        return {"volume", "name", "target"}

    def format_extra(self, w: Writer) -> None:
        if self.type in USAGE_ID and self.usage_id is not None:
            w.leaf(USAGE_ID[self.type][0], [], self.usage_id)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.type != "none":
            super().write(w, tag)


#: Secret children libvirt reads once (the first).
SECRET_FIRST_ONLY = frozenset({("secret", "uuid"), ("secret", "description"), ("secret", "usage")})


class Secret(Model):
    """A libvirt secret definition (the value itself is never part of the XML)."""

    TAG = "secret"
    ephemeral = Attr(String)
    private = Attr(String)
    uuid = TextChild(UUID)
    description = TextChild(String)
    usage = Child(Usage)

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Secret:
        # libvirt reads each of these once: a repeated one is ignored
        secret: Secret = super().from_element(keep_first_children(el, SECRET_FIRST_ONLY), ctx)
        return secret

    def post_parse(self, ctx: ParseContext) -> None:
        for name in ("ephemeral", "private"):
            value = getattr(self, name)
            if value == "":
                setattr(self, name, None)  # read as an XPath string: '' is no value
            elif value is not None and value not in ("yes", "no"):
                raise XMLError(f"invalid value of '{name}'")
            setattr(self, name, "yes" if value == "yes" else "no")
        if self.uuid is None:
            self.uuid = str(_uuid.uuid4())
        if self.description == "":
            self.description = None

    # -- typed views -----------------------------------------------------------------------
    @property
    def is_ephemeral(self) -> bool:
        return self.ephemeral == "yes"

    @property
    def is_private(self) -> bool:
        return self.private == "yes"

    @property
    def usage_type(self) -> str:
        return self.usage.type if self.usage is not None and self.usage.type else "none"

    @property
    def usage_id(self) -> str | None:
        return self.usage.usage_id if self.usage is not None else None
