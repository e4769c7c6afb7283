"""Names VMX and domain XML use for the same things, and VMX's hex escapes."""

from __future__ import annotations

#: scsiN.virtualDev -> <controller model>; "pvscsi" is libvirt's "vmpvscsi".
SCSI_MODELS_FROM_VMX = {"buslogic": "buslogic", "lsilogic": "lsilogic", "lsisas1068": "lsisas1068",
                        "pvscsi": "vmpvscsi"}
SCSI_MODELS_TO_VMX = {xml: vmx for vmx, xml in SCSI_MODELS_FROM_VMX.items()}

#: ethernetN.virtualDev -> <model type>; "vmxnet" with features 15 is vmxnet2.
NET_MODELS_FROM_VMX = {name: name for name in ("vlance", "vmxnet", "vmxnet3", "e1000", "e1000e")}
NET_MODELS_TO_VMX = ("vlance", "vmxnet", "vmxnet2", "vmxnet3", "e1000", "e1000e")

#: URI scheme of a network serial port -> <protocol type> (vSphere's VirtualSerialPortURIBackingInfo).
SERIAL_PROTOCOLS_FROM_VMX = {"tcp": "raw", "tcp4": "raw", "tcp6": "raw", "telnet": "telnet",
                             "telnets": "telnets", "ssl": "tls", "tcp+ssl": "tls", "tcp4+ssl": "tls",
                             "tcp6+ssl": "tls"}
SERIAL_PROTOCOLS_TO_VMX = {"raw": "tcp", "telnet": "telnet", "telnets": "telnets", "tls": "ssl"}

#: What VMX escapes in names (%XX: '/' and '\\' too) and in any text (|XX: '"').
PIPE_SPECIALS = '"'
PERCENT_SPECIALS = "/\\"


def escape_hex(text: str, escape: str, specials: str) -> str:
    """``escape`` itself and every character of ``specials`` as ``escape`` + two hex digits."""
    return "".join(f"{escape}{ord(ch):02x}" if ch == escape or ch in specials else ch for ch in text)


def unescape_hex(text: str, escape: str) -> str:
    """The reverse of ``escape_hex``; a bad sequence raises ValueError. Bytes are UTF-8 as libvirt
    writes them back unchanged."""
    out = bytearray()
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == escape:
            pair = text[pos + 1:pos + 3]
            if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                raise ValueError(text)
            out.append(int(pair, 16))
            pos += 3
        else:
            out += ch.encode("utf-8", "surrogateescape")
            pos += 1
    return out.decode("utf-8", "surrogateescape")
