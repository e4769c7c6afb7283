"""Device access control on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program built from allow rules.

cgroup v2 has no devices.allow/devices.deny files; the kernel asks a BPF program attached to the
group instead. The program made here is straight-line code: one block per rule that returns 1
(allow) when the device's type, major, minor and requested access match, and 0 (deny) after the
last one. Attaching a program to a group that has one replaces it, so the rules of a group are
changed by attaching a newly built program. Rules are ``(kind, major, minor, perms)``: kind
"a", "c" or "b", None for a wildcard number, perms of "r", "w", "m" (as devices.allow takes them).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Iterable
from pathlib import Path

from virt.util.errors import ErrorDomain, SystemError_

Rule = tuple[str, "int | None", "int | None", str]

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}
_BPF_PROG_LOAD, _BPF_PROG_ATTACH, _BPF_PROG_DETACH = 5, 8, 9
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
#: bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
_DEV_TYPES = {"b": 1, "c": 2}
_ACCESS = {"m": 1, "r": 2, "w": 4}
_ATTR_SIZE = 128


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


# The few eBPF instructions the program uses (opcode bytes of the kernel's instruction set).
def _ldx_w(dst: int, src: int, off: int) -> bytes:
    return _insn(0x61, dst, src, off)


def _mov_reg(dst: int, src: int) -> bytes:
    return _insn(0xBF, dst, src)


def _mov_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB7, dst, imm=imm)


def _and_imm(dst: int, imm: int) -> bytes:
    return _insn(0x57, dst, imm=imm)


def _rsh_imm(dst: int, imm: int) -> bytes:
    return _insn(0x77, dst, imm=imm)


def _jne_imm(dst: int, imm: int, off: int) -> bytes:
    return _insn(0x55, dst, off=off, imm=imm)


_EXIT = _insn(0x95)


def _mask(perms: str) -> int:
    return sum(bit for ch, bit in _ACCESS.items() if ch in perms)


def program(rules: Iterable[Rule]) -> bytes:
    """The eBPF instructions that allow exactly ``rules`` (everything else is denied)."""
    code = [
        _ldx_w(2, 1, 0),  # r2 = access_type
        _mov_reg(3, 2),
        _and_imm(2, 0xFFFF),  # r2 = device type
        _rsh_imm(3, 16),  # r3 = requested access
        _ldx_w(4, 1, 4),  # r4 = major
        _ldx_w(5, 1, 8),  # r5 = minor
    ]
    for kind, major, minor, perms in rules:
        # Each check jumps past the rest of the block when it fails: checks are (register, value).
        checks: list[tuple[int, int]] = []
        if kind != "a":
            checks.append((2, _DEV_TYPES[kind]))
        if major is not None:
            checks.append((4, major))
        if minor is not None:
            checks.append((5, minor))
        # block: [mov r6,r3; and r6,~mask; jne r6,0] + one jne per check + [mov r0,1; exit]
        length = 3 + len(checks) + 2
        block = [_mov_reg(6, 3), _and_imm(6, ~_mask(perms) & 0x7FFFFFFF)]
        block.append(_jne_imm(6, 0, length - len(block) - 1))
        for reg, value in checks:
            block.append(_jne_imm(reg, value, length - len(block) - 1))
        block += [_mov_imm(0, 1), _EXIT]
        code += block
    code += [_mov_imm(0, 0), _EXIT]
    return b"".join(code)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise SystemError_(f"BPF device filters are not supported on {platform.machine()}",
                           domain=ErrorDomain.CGROUP)
    libc = ctypes.CDLL(None, use_errno=True)
    ret = int(libc.syscall(nr, cmd, attr, _ATTR_SIZE))
    if ret < 0:
        err = ctypes.get_errno()
        raise SystemError_.from_errno(OSError(err, os.strerror(err)), "bpf() failed",
                                      domain=ErrorDomain.CGROUP)
    return ret


def load(rules: Iterable[Rule]) -> int:
    """Load the program for ``rules``; returns its file descriptor (the caller closes it)."""
    insns = program(rules)
    buf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<IIQQIIQ", attr, 0, _BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                     ctypes.addressof(buf), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
    struct.pack_into("<16s", attr, 48, b"virt_devices")
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except SystemError_ as err:
        detail = log.value.decode(errors="replace").strip()
        raise SystemError_(f"cannot load the device filter: {err.detail or err}" + (f" ({detail})" if detail else ""),
                           domain=ErrorDomain.CGROUP) from None


def attach(group_dir: Path, rules: Iterable[Rule]) -> None:
    """Make ``rules`` the device rules of the v2 group ``group_dir`` (replacing its previous ones)."""
    prog = load(rules)
    try:
        dirfd = os.open(group_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        os.close(prog)
        raise SystemError_.from_errno(err, f"cannot open cgroup '{group_dir}'", domain=ErrorDomain.CGROUP) from None
    try:
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIII", attr, 0, dirfd, prog, _BPF_CGROUP_DEVICE, 0)
        _bpf(_BPF_PROG_ATTACH, attr)
    finally:
        os.close(dirfd)
        os.close(prog)
