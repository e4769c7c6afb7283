"""A small user-space iSCSI initiator (RFC 7143 over TCP): what the iscsi-direct pool needs.

libvirt's iscsi-direct backend uses libiscsi; this speaks the protocol itself so that no kernel
support (iscsi_tcp) and no C library is needed: login (no authentication or CHAP with MD5),
SendTargets discovery, and the SCSI commands TEST UNIT READY, INQUIRY, REPORT LUNS,
READ CAPACITY(16), READ(16) and WRITE(16) (data sent on the target's R2Ts). No digests, one
connection per session, one command at a time.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass
from types import TracebackType

from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

DEFAULT_PORT = 3260
#: Seconds a target may take to answer one PDU before the session is declared dead.
TIMEOUT = 30.0
#: What we accept in one Data-In segment (declared at login).
MAX_RECV = 262144
#: Blocks written by one WRITE(16) when wiping (1 MiB of 512-byte blocks).
CHUNK_BLOCKS = 2048

# opcodes (initiator -> target, target -> initiator)
NOP_OUT, SCSI_CMD, LOGIN_REQ, TEXT_REQ, DATA_OUT, LOGOUT_REQ = 0x00, 0x01, 0x03, 0x04, 0x05, 0x06
NOP_IN, SCSI_RSP, LOGIN_RSP, TEXT_RSP, DATA_IN, LOGOUT_RSP, R2T, ASYNC, REJECT = (
    0x20, 0x21, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3F)
IMMEDIATE = 0x40
FINAL = 0x80
NO_TAG = 0xFFFFFFFF

#: SCSI status and sense keys the initiator reacts to.
GOOD, CHECK_CONDITION = 0x00, 0x02
UNIT_ATTENTION = 0x06
#: Peripheral device type of a disk (INQUIRY byte 0).
DIRECT_ACCESS = 0x00

#: Login status classes, as targets explain them.
_LOGIN_STATUS = {0x0201: "authentication failure", 0x0202: "authorization failure",
                 0x0203: "target not found", 0x0204: "target removed", 0x0300: "target error",
                 0x0301: "service unavailable", 0x0302: "out of resources"}


class ISCSIError(VirtError):
    """A failed iSCSI exchange, reported as libvirt's iscsi-direct backend does (internal error)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=ErrorNumber.INTERNAL_ERROR, domain=ErrorDomain.STORAGE)


@dataclass
class SCSIResult:
    status: int
    data: bytes
    sense_key: int = 0
    asc: int = 0
    ascq: int = 0


@dataclass
class Target:
    """One SendTargets answer: the target's IQN and its portals (``host:port,tpgt``)."""

    name: str
    addresses: list[str]


@dataclass
class Inquiry:
    device_type: int
    vendor: str
    product: str
    revision: str


def portal_address(host: str, port: int | None) -> tuple[str, int, str]:
    """(host, port, the portal as libvirt writes it: ``host:port``, ``[v6]:port``)."""
    port = port or DEFAULT_PORT
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, port, shown


def encode_lun(lun: int) -> bytes:
    """SAM LUN: peripheral addressing below 256, flat addressing above (as REPORT LUNS lists them)."""
    if lun < 256:
        return bytes([0, lun]) + bytes(6)
    return bytes([0x40 | (lun >> 8) & 0x3F, lun & 0xFF]) + bytes(6)


def decode_lun(raw: bytes) -> int:
    method = raw[0] >> 6
    if method == 1:
        return ((raw[0] & 0x3F) << 8) | raw[1]
    return raw[1]


def _keys(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            key, _, value = item.decode(errors="replace").partition("=")
            out[key] = value
    return out


def _text(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def chap_response(ident: int, secret: bytes, challenge: bytes) -> bytes:
    """CHAP with MD5 (RFC 1994): MD5(identifier, secret, challenge)."""
    return hashlib.md5(bytes([ident]) + secret + challenge, usedforsecurity=False).digest()


class Session:
    """One iSCSI session to a portal: discovery (no target) or normal (a target's LUNs).

    Use as a context manager; ``close()`` logs out and closes the connection.
    """

    def __init__(self, host: str, port: int | None, initiator: str, target: str | None = None, *,
                 username: str | None = None, password: bytes | None = None, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.portal = portal_address(host, port)
        self.initiator, self.target = initiator, target
        self.timeout = timeout
        self.itt = 0
        self.cmdsn = 1
        self.expstatsn = 0
        self.max_send = 8192  # the target's MaxRecvDataSegmentLength until it says otherwise
        self.sock: socket.socket | None = None
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as err:
            raise ISCSIError(f"Failed to connect: {self.portal}: {err.strerror or err}") from None
        try:
            self._login(username, password)
        except BaseException:
            self._drop()
            raise

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the wire -----------------------------------------------------------------------------------
    def _next_itt(self) -> int:
        self.itt = (self.itt + 1) & 0x7FFFFFFF
        return self.itt

    def _send(self, bhs: bytearray, data: bytes = b"") -> None:
        assert self.sock is not None and len(bhs) == 48
        bhs[5:8] = len(data).to_bytes(3, "big")
        try:
            self.sock.sendall(bytes(bhs) + _pad(data))
        except OSError as err:
            raise ISCSIError(f"connection to {self.portal} lost: {err.strerror or err}") from None

    def _recv_exact(self, n: int) -> bytes:
        assert self.sock is not None
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except TimeoutError:
                raise ISCSIError(f"target {self.portal} did not answer within {self.timeout:g}s") from None
            except OSError as err:
                raise ISCSIError(f"connection to {self.portal} lost: {err.strerror or err}") from None
            if not chunk:
                raise ISCSIError(f"connection closed by target {self.portal}")
            buf += chunk
        return bytes(buf)

    def _recv(self) -> tuple[bytes, bytes]:
        """The next PDU (header, data), answering the target's pings on the way."""
        while True:
            bhs = self._recv_exact(48)
            ahs = bhs[4] * 4
            length = int.from_bytes(bhs[5:8], "big")
            if ahs:
                self._recv_exact(ahs)
            data = self._recv_exact(length + (-length % 4))[:length]
            opcode = bhs[0] & 0x3F
            statsn = struct.unpack(">I", bhs[24:28])[0]
            if opcode in (SCSI_RSP, TEXT_RSP, LOGIN_RSP, LOGOUT_RSP) or (opcode == DATA_IN and bhs[1] & 0x01) \
                    or (opcode == NOP_IN and bhs[16:20] != b"\xff\xff\xff\xff"):
                self.expstatsn = (statsn + 1) & 0xFFFFFFFF
            elif opcode in (NOP_IN, ASYNC):
                self.expstatsn = statsn  # the target's ping or notice does not advance StatSN
            if opcode == NOP_IN:
                ttt = bhs[20:24]
                if ttt != b"\xff\xff\xff\xff":  # the target wants an answer
                    out = bytearray(48)
                    out[0] = NOP_OUT | IMMEDIATE
                    out[1] = FINAL
                    out[8:16] = bhs[8:16]
                    out[16:20] = b"\xff\xff\xff\xff"
                    out[20:24] = ttt
                    out[24:28] = struct.pack(">I", self.cmdsn)
                    out[28:32] = struct.pack(">I", self.expstatsn)
                    self._send(out)
                continue
            if opcode == ASYNC:
                # events 1-3: the target logs us out or drops the connection; the others are notices
                if bhs[36] in (1, 2, 3):
                    raise ISCSIError(f"target {self.portal} ended the session (asynchronous event {bhs[36]})")
                continue
            if opcode == REJECT:
                raise ISCSIError(f"target {self.portal} rejected a request (reason 0x{bhs[2]:02x})")
            return bhs, data

    # -- login, logout ------------------------------------------------------------------------------
    def _login_pdu(self, itt: int, csg: int, nsg: int, transit: bool, pairs: list[tuple[str, str]],
                   isid: bytes) -> tuple[bytes, bytes]:
        bhs = bytearray(48)
        bhs[0] = LOGIN_REQ | IMMEDIATE
        bhs[1] = (0x80 if transit else 0) | (csg << 2) | (nsg if transit else 0)
        bhs[8:14] = isid
        bhs[16:20] = struct.pack(">I", itt)
        bhs[24:28] = struct.pack(">I", self.cmdsn)
        bhs[28:32] = struct.pack(">I", self.expstatsn)
        self._send(bhs, _text(pairs))
        rsp, data = self._recv()
        if rsp[0] & 0x3F != LOGIN_RSP:
            raise ISCSIError(f"unexpected answer 0x{rsp[0]:02x} to a login request")
        status = (rsp[36] << 8) | rsp[37]
        if status:
            what = _LOGIN_STATUS.get(status, f"status 0x{status:04x}")
            raise ISCSIError(f"Failed to login: {what} ({self.target or 'discovery'} at {self.portal})")
        self.expstatsn = (struct.unpack(">I", rsp[24:28])[0] + 1) & 0xFFFFFFFF
        return rsp, data

    def _login(self, username: str | None, password: bytes | None) -> None:
        # a random ISID of the "random" type (qualifier 0x80), so sessions of other initiators never clash
        isid = bytes([0x80]) + os.urandom(5)
        itt = self._next_itt()
        first = [("InitiatorName", self.initiator),
                 ("SessionType", "Normal" if self.target else "Discovery")]
        if self.target:
            first.append(("TargetName", self.target))
        # security stage
        if username is not None:
            rsp, data = self._login_pdu(itt, 0, 1, False, [*first, ("AuthMethod", "CHAP,None")], isid)
            keys = _keys(data)
            if keys.get("AuthMethod") == "CHAP":
                rsp, data = self._login_pdu(itt, 0, 1, False, [("CHAP_A", "5")], isid)
                keys = _keys(data)
                if keys.get("CHAP_A") != "5" or "CHAP_C" not in keys:
                    raise ISCSIError(f"Failed to login: target {self.portal} offers no CHAP with MD5")
                challenge = _hex(keys["CHAP_C"])
                answer = chap_response(int(keys["CHAP_I"]), password or b"", challenge)
                rsp, data = self._login_pdu(itt, 0, 1, True, [("CHAP_N", username),
                                                              ("CHAP_R", "0x" + answer.hex())], isid)
            elif not rsp[1] & 0x80:
                rsp, data = self._login_pdu(itt, 0, 1, True, [], isid)
        else:
            rsp, data = self._login_pdu(itt, 0, 1, True, [*first, ("AuthMethod", "None")], isid)
            first = []
        # operational stage: no digests; every write waits for the target's R2T
        pairs = [("HeaderDigest", "None"), ("DataDigest", "None"), ("InitialR2T", "Yes"),
                 ("ImmediateData", "No"), ("MaxRecvDataSegmentLength", str(MAX_RECV)),
                 ("MaxBurstLength", "262144"), ("FirstBurstLength", "65536"), ("DefaultTime2Wait", "0"),
                 ("DefaultTime2Retain", "0"), ("ErrorRecoveryLevel", "0")]
        if not self.target:
            pairs = [("HeaderDigest", "None"), ("DataDigest", "None"),
                     ("MaxRecvDataSegmentLength", str(MAX_RECV))]
        for _ in range(8):
            rsp, data = self._login_pdu(itt, 1, 3, True, pairs, isid)
            keys = _keys(data)
            if "MaxRecvDataSegmentLength" in keys:
                self.max_send = int(keys["MaxRecvDataSegmentLength"])
            if rsp[1] & 0x80 and rsp[1] & 0x03 == 3:
                return
            pairs = []
        raise ISCSIError(f"Failed to login: target {self.portal} never completed the login")

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            bhs = bytearray(48)
            bhs[0] = LOGOUT_REQ | IMMEDIATE
            bhs[1] = FINAL  # reason 0: close the session
            bhs[16:20] = struct.pack(">I", self._next_itt())
            bhs[24:28] = struct.pack(">I", self.cmdsn)
            bhs[28:32] = struct.pack(">I", self.expstatsn)
            self._send(bhs)
            self._recv()
        except VirtError:
            pass  # the connection closes either way
        finally:
            self._drop()

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- discovery ----------------------------------------------------------------------------------
    def send_targets(self) -> list[Target]:
        """SendTargets=All on a discovery session: every target the portal offers."""
        itt = self._next_itt()
        ttt = NO_TAG
        payload = _text([("SendTargets", "All")])
        collected = b""
        while True:
            bhs = bytearray(48)
            bhs[0] = TEXT_REQ | IMMEDIATE
            bhs[1] = FINAL
            bhs[16:20] = struct.pack(">I", itt)
            bhs[20:24] = struct.pack(">I", ttt)
            bhs[24:28] = struct.pack(">I", self.cmdsn)
            bhs[28:32] = struct.pack(">I", self.expstatsn)
            self._send(bhs, payload)
            rsp, data = self._recv()
            collected += data
            if rsp[1] & 0x80:
                break
            ttt = struct.unpack(">I", rsp[20:24])[0]
            payload = b""
        targets: list[Target] = []
        for item in collected.split(b"\0"):
            key, _, value = item.decode(errors="replace").partition("=")
            if key == "TargetName":
                targets.append(Target(value, []))
            elif key == "TargetAddress" and targets:
                targets[-1].addresses.append(value)
        return targets

    # -- SCSI ---------------------------------------------------------------------------------------
    def command(self, lun: int, cdb: bytes, *, read: int = 0, write: bytes = b"") -> SCSIResult:
        """One SCSI command: ``read`` bytes expected back, or ``write`` data sent on R2Ts."""
        itt = self._next_itt()
        bhs = bytearray(48)
        bhs[0] = SCSI_CMD
        bhs[1] = FINAL | (0x40 if read else 0) | (0x20 if write else 0) | 0x01  # simple task attribute
        bhs[8:16] = encode_lun(lun)
        bhs[16:20] = struct.pack(">I", itt)
        bhs[20:24] = struct.pack(">I", read or len(write))
        bhs[24:28] = struct.pack(">I", self.cmdsn)
        bhs[28:32] = struct.pack(">I", self.expstatsn)
        bhs[32:32 + len(cdb)] = cdb
        self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        self._send(bhs)
        buf = bytearray(read)
        received = 0
        while True:
            rsp, data = self._recv()
            opcode = rsp[0] & 0x3F
            if struct.unpack(">I", rsp[16:20])[0] != itt and opcode != R2T:
                continue
            if opcode == DATA_IN:
                offset = struct.unpack(">I", rsp[40:44])[0]
                buf[offset:offset + len(data)] = data
                received = max(received, offset + len(data))
                if rsp[1] & 0x01:  # status came with the data
                    return SCSIResult(rsp[3], bytes(buf[:received]))
            elif opcode == R2T:
                self._data_out(lun, itt, rsp, write)
            elif opcode == SCSI_RSP:
                if rsp[2] != 0:
                    raise ISCSIError(f"target {self.portal} failed the command (response 0x{rsp[2]:02x})")
                result = SCSIResult(rsp[3], bytes(buf[:received]))
                if len(data) > 2:
                    _sense(result, data[2:2 + struct.unpack(">H", data[:2])[0]])
                return result
            else:
                raise ISCSIError(f"unexpected answer 0x{opcode:02x} to a SCSI command")

    def _data_out(self, lun: int, itt: int, r2t: bytes, data: bytes) -> None:
        ttt = r2t[20:24]
        offset, length = struct.unpack(">II", r2t[40:48])
        end = offset + length
        datasn = 0
        while offset < end:
            n = min(self.max_send, end - offset)
            bhs = bytearray(48)
            bhs[0] = DATA_OUT
            bhs[1] = FINAL if offset + n >= end else 0
            bhs[8:16] = encode_lun(lun)
            bhs[16:20] = struct.pack(">I", itt)
            bhs[20:24] = ttt
            bhs[28:32] = struct.pack(">I", self.expstatsn)
            bhs[36:40] = struct.pack(">I", datasn)
            bhs[40:44] = struct.pack(">I", offset)
            self._send(bhs, data[offset:offset + n])
            offset += n
            datasn += 1

    def checked(self, lun: int, cdb: bytes, what: str, *, read: int = 0, write: bytes = b"") -> bytes:
        """A command that must succeed; a unit attention (a reset, a new session) is retried."""
        for _ in range(5):
            result = self.command(lun, cdb, read=read, write=write)
            if result.status == CHECK_CONDITION and result.sense_key == UNIT_ATTENTION:
                continue
            if result.status != GOOD:
                raise ISCSIError(f"{what}: SCSI status 0x{result.status:02x}, sense key 0x{result.sense_key:x} "
                                 f"(asc 0x{result.asc:02x} ascq 0x{result.ascq:02x})")
            return result.data
        raise ISCSIError(f"{what}: the unit keeps reporting unit attention")

    def test_unit_ready(self, lun: int, wait: float = 30.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            result = self.command(lun, bytes(6))
            if result.status == GOOD:
                return
            if result.status != CHECK_CONDITION or result.sense_key != UNIT_ATTENTION \
                    or time.monotonic() > deadline:
                raise ISCSIError(f"Failed testunitready: LUN {lun}: SCSI status 0x{result.status:02x}")

    def report_luns(self) -> list[int]:
        size = 16
        while True:
            cdb = bytes([0xA0, 0, 0, 0, 0, 0]) + struct.pack(">I", size) + bytes(2)
            data = self.checked(0, cdb, "Failed to reportluns", read=size)
            full = struct.unpack(">I", data[:4])[0] + 8
            if full <= size:
                return sorted(decode_lun(data[i:i + 8]) for i in range(8, min(full, len(data)), 8))
            size = full

    def inquiry(self, lun: int) -> Inquiry:
        data = self.checked(lun, bytes([0x12, 0, 0, 0, 96, 0]), "Failed to send inquiry command", read=96)
        return Inquiry(data[0] & 0x1F, data[8:16].decode(errors="replace").strip(),
                       data[16:32].decode(errors="replace").strip(), data[32:36].decode(errors="replace").strip())

    def read_capacity(self, lun: int) -> tuple[int, int]:
        """(block size, number of blocks) from READ CAPACITY(16)."""
        cdb = bytes([0x9E, 0x10]) + bytes(8) + struct.pack(">I", 32) + bytes(2)
        data = self.checked(lun, cdb, "Failed to get capacity of lun", read=32)
        last_lba, block = struct.unpack(">QI", data[:12])
        return block, last_lba + 1

    def write16(self, lun: int, lba: int, data: bytes, block: int) -> None:
        cdb = bytes([0x8A, 0]) + struct.pack(">QI", lba, len(data) // block) + bytes(2)
        self.checked(lun, cdb, f"failed to write to LUN {lun}", write=data)

    def read16(self, lun: int, lba: int, blocks: int, block: int) -> bytes:
        cdb = bytes([0x88, 0]) + struct.pack(">QI", lba, blocks) + bytes(2)
        return self.checked(lun, cdb, f"failed to read from LUN {lun}", read=blocks * block)


def _sense(result: SCSIResult, sense: bytes) -> None:
    if not sense:
        return
    if sense[0] & 0x7F in (0x72, 0x73):  # descriptor format
        result.sense_key, result.asc, result.ascq = sense[1] & 0x0F, sense[2], sense[3]
    elif len(sense) >= 14:
        result.sense_key, result.asc, result.ascq = sense[2] & 0x0F, sense[12], sense[13]


def _hex(value: str) -> bytes:
    if value.lower().startswith("0x"):
        return bytes.fromhex(value[2:])
    if value.lower().startswith("0b"):
        import base64

        return base64.b64decode(value[2:])
    raise ISCSIError(f"unsupported CHAP challenge encoding '{value[:4]}'")
