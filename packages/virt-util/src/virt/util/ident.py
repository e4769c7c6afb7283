"""UUIDs, MAC addresses and host user/group ids as libvirt parses, formats and generates them (virUUID*, virMacAddr*,
virGetUserID/virGetGroupID)."""

from __future__ import annotations

import secrets
import uuid

from virt.util.errors import InvalidArgError, XMLError

# ---------------------------------------------------------------------------------------------- UUID

_HEX = "0123456789abcdefABCDEF"
_SPACES = " \t\n\v\f\r"


def parse_uuid(text: str) -> uuid.UUID:
    """A UUID from libvirt's liberal notation (virUUIDParse).

    Exactly 32 hex digits, either case; '-' or ' ' may appear any number of times between byte
    pairs (not inside one) and before the first; whitespace may surround the whole. So
    "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "4dea22b31d52d8f32516782e98ab3fa0" and
    "4d ea 22 b3 ..." are the same UUID. Anything else raises InvalidArgError.
    """
    octets = bytearray()
    pos = 0
    while pos < len(text) and text[pos] in _SPACES:
        pos += 1
    while len(octets) < 16:
        if pos >= len(text):
            raise _bad_uuid(text)
        if text[pos] in "- ":
            pos += 1
            continue
        pair = text[pos : pos + 2]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise _bad_uuid(text)
        octets.append(int(pair, 16))
        pos += 2
    if text[pos:].strip(_SPACES):
        raise _bad_uuid(text)
    return uuid.UUID(bytes=bytes(octets))


def _bad_uuid(text: str) -> InvalidArgError:
    return InvalidArgError(f"malformed uuid '{text}'")


def format_uuid(value: uuid.UUID | bytes | str) -> str:
    """The canonical form: lowercase 8-4-4-4-12 hex digits."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        if len(value) != 16:
            raise InvalidArgError(f"a raw UUID is 16 bytes, not {len(value)}")
        return str(uuid.UUID(bytes=value))
    return str(parse_uuid(value))


def generate_uuid() -> uuid.UUID:
    """A random (version 4) UUID, as virUUIDGenerate makes."""
    return uuid.uuid4()


def is_valid_uuid(value: uuid.UUID | bytes) -> bool:
    """False for the placeholder UUIDs firmware reports, whose 16 bytes are all the same (virUUIDIsValid)."""
    raw = value.bytes if isinstance(value, uuid.UUID) else value
    return len(set(raw)) > 1


# ----------------------------------------------------------------------------------------------- MAC

#: The OUI each hypervisor uses for the MAC addresses it generates.
MAC_PREFIXES: dict[str, str] = {
    "qemu": "52:54:00",
    "kvm": "52:54:00",
    "test": "52:54:00",
    "lxc": "00:16:3e",
    "xen": "00:16:3e",
    "libxl": "00:16:3e",
    "vmware": "00:50:56",
    "esx": "00:50:56",
    "vbox": "08:00:27",
    "hyperv": "00:15:5d",
    "bhyve": "58:9c:fc",
}


def parse_mac(text: str) -> bytes:
    """The 6 bytes of a MAC address (virMacAddrParse).

    Six groups of one or two hex digits separated by ':' or '-'; parsing stops after the sixth group
    at the end of the string or at any whitespace or control character. Anything else raises
    InvalidArgError "unable to parse mac address '<text>'".
    """
    octets = bytearray()
    pos = 0
    while True:
        end = pos
        while end < len(text) and end - pos < 3 and text[end] in _HEX:
            end += 1
        if not 1 <= end - pos <= 2:
            raise InvalidArgError(f"unable to parse mac address '{text}'")
        octets.append(int(text[pos:end], 16))
        if len(octets) == 6:
            if end == len(text) or ord(text[end]) <= 0x20:
                return bytes(octets)
            raise InvalidArgError(f"unable to parse mac address '{text}'")
        if end == len(text) or text[end] not in ":-":
            raise InvalidArgError(f"unable to parse mac address '{text}'")
        pos = end + 1


def format_mac(mac: bytes | str) -> str:
    """The canonical form: lowercase, colon-separated, two digits each ("52:54:00:0a:0b:0c")."""
    raw = parse_mac(mac) if isinstance(mac, str) else mac
    if len(raw) != 6:
        raise InvalidArgError(f"a MAC address is 6 bytes, not {len(raw)}")
    return ":".join(f"{b:02x}" for b in raw)


def is_multicast(mac: bytes | str) -> bool:
    """Whether the group bit (lowest bit of the first byte) is set."""
    raw = parse_mac(mac) if isinstance(mac, str) else mac
    return bool(raw[0] & 1)


def is_broadcast(mac: bytes | str) -> bool:
    """ff:ff:ff:ff:ff:ff."""
    raw = parse_mac(mac) if isinstance(mac, str) else mac
    return raw == b"\xff" * 6


def validate_mac(text: str) -> str:
    """A guest NIC's ``<mac address>`` in canonical form, refused as the domain XML parser refuses it.

    Unparsable text raises XMLError "unable to parse mac address '<text>'"; a multicast address
    XMLError "expected unicast mac address, found multicast '<text>'".
    """
    try:
        canonical = format_mac(parse_mac(text))
    except InvalidArgError as err:
        raise XMLError(err.detail) from None
    if is_multicast(canonical):
        raise XMLError(f"expected unicast mac address, found multicast '{text}'")
    return canonical


def generate_mac(prefix: str = MAC_PREFIXES["qemu"]) -> str:
    """A MAC address with the 3-byte OUI ``prefix`` (or a hypervisor name in MAC_PREFIXES) and 3 random bytes."""
    oui = MAC_PREFIXES.get(prefix, prefix)
    head = parse_mac(f"{oui}:00:00:00")[:3]
    return format_mac(head + secrets.token_bytes(3))


# ---------------------------------------------------------------------------------------- users, groups


def host_id(name: str, kind: str) -> int:
    """The host uid (``kind`` "user") or gid ("group") that ``name`` stands for, as libvirt's
    virGetUserID/virGetGroupID read it: "+N" (or digits) is the number N itself, anything else a name.
    KeyError when no such user or group exists, ValueError for a "+" that no number follows."""
    import grp
    import pwd

    if name.startswith("+") or name.isdigit():
        return int(name[1:] if name.startswith("+") else name)
    return pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid
