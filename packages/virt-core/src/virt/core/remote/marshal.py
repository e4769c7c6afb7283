"""Between wire values and the driver interface, for every procedure and event, in both directions.

The wire carries structs (remote_nonnull_domain, 16-byte UUIDs, char arrays, typed parameter
lists); the driver interface (``virt.core.driver``) takes and returns refs (``DomainRef``), UUID
strings, ``str``, dicts and NamedTuple records. One engine derives every conversion from the XDR
declarations, so the server (wire -> driver -> wire) and the remote driver (driver -> wire ->
driver) share it; the few calls whose C signature differs from their wire struct are listed once.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from virt.core import types as t
from virt.core.remote import procedures as P
from virt.core.remote.protocol import UUID, NonnullDomain, NonnullNetwork
from virt.util import xdr

Conv = Callable[[Any], Any] | None

#: Wire structs that are refs or records on the driver interface (same field order).
REFS: dict[int, type] = {
    id(NonnullDomain): t.DomainRef,
    id(NonnullNetwork): t.NetworkRef,
    id(P.NAMED["network_port"]): t.NetworkPortRef,
    id(P.NAMED["nwfilter"]): t.NWFilterRef,
    id(P.NAMED["nwfilter_binding"]): t.NWFilterBindingRef,
    id(P.NAMED["interface"]): t.InterfaceRef,
    id(P.NAMED["storage_pool"]): t.StoragePoolRef,
    id(P.NAMED["storage_vol"]): t.StorageVolRef,
    id(P.NAMED["node_device"]): t.NodeDeviceRef,
    id(P.NAMED["secret"]): t.SecretRef,
    id(P.NAMED["domain_snapshot"]): t.DomainSnapshotRef,
    id(P.NAMED["domain_checkpoint"]): t.DomainCheckpointRef,
    id(P.NAMED["vcpu_info"]): t.VcpuInfo,  # (records from here on, not refs)
    id(P.NAMED["network_dhcp_lease"]): t.NetworkDHCPLease,
}
#: The refs among them: names of objects, repeated call after call (see _memo).
_REF_TYPES = {t.DomainRef, t.NetworkRef, t.NetworkPortRef, t.NWFilterRef, t.NWFilterBindingRef, t.InterfaceRef,
              t.StoragePoolRef, t.StorageVolRef, t.NodeDeviceRef, t.SecretRef, t.DomainSnapshotRef,
              t.DomainCheckpointRef}  # fmt: skip

#: Calls whose reply is a record of virt.core.types (matched to the wire fields by name).
RECORDS: dict[str, type] = {
    "domain_get_info": t.DomainInfo,
    "node_get_info": t.NodeInfo,
    "storage_pool_get_info": t.StoragePoolInfo,
    "storage_vol_get_info": t.StorageVolInfo,
    "storage_vol_get_info_flags": t.StorageVolInfo,
    "domain_get_block_info": t.DomainBlockInfo,
    "domain_get_job_info": t.DomainJobInfo,
    "domain_block_stats": t.BlockStats,
    "domain_interface_stats": t.InterfaceStats,
}

#: Wire fields that exist only on the wire: the client fills them, the server does not pass them on.
#: (``doms`` of virConnectGetAllDomainStats: an empty list asks about every domain.)
WIRE_ONLY: dict[str, Any] = {"need_results": 1, "doms": ()}

#: Node device calls carry the device's name where the driver takes a NodeDeviceRef.
_NODE_DEVICE_BY_NAME = re.compile(r"^NODE_DEVICE_(?!LOOKUP|CREATE_XML|DEFINE_XML)")


def snake(name: str) -> str:
    """A wire field name as a Python attribute: nrVirtCpu -> nr_virt_cpu."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def uuid_to_wire(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return bytes.fromhex(str(value).replace("-", ""))


def uuid_from_wire(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@cache
def converters(decl: xdr.XdrType) -> tuple[Conv, Conv]:
    """(to_wire, from_wire) for values of a declaration; None where values pass unchanged."""
    if decl is UUID:
        return uuid_to_wire, uuid_from_wire
    if isinstance(decl, xdr.Array):
        if decl.element is xdr.char:
            size = decl.size if decl.fixed else None
            return (lambda s: P.str_to_char_array(s, size)), P.char_array_to_str
        if decl.element is P.NAMED["typed_param"]:
            return P.typed_params_to_wire, P.typed_params_from_wire
        return _each(*converters(decl.element))
    if isinstance(decl, xdr.Optional):
        return _unless_none(*converters(decl.element))
    if isinstance(decl, xdr.Struct):
        convs = [converters(f) for _, f in decl.fields]
        tos = [c[0] for c in convs]
        frms = [c[1] for c in convs]
        ref = REFS.get(id(decl))
        if ref is None and not any(tos) and not any(frms):
            return None, None

        def to_wire(v: Any) -> tuple[Any, ...]:
            return tuple([c(x) if c else x for c, x in zip(tos, v, strict=False)])  # xdr reports wrong counts

        new = ref or decl.Value

        def from_wire(v: Any) -> Any:
            return new(*[c(x) if c else x for c, x in zip(frms, v, strict=True)])

        if ref is not None and ref in _REF_TYPES:
            return _memo(to_wire), _memo(from_wire)
        return to_wire, from_wire
    return None, None


def _memo(convert: Callable[[Any], Any], size: int = 4096) -> Callable[[Any], Any]:
    """A converter of refs (a domain, a pool...) remembering its recent answers: a program names the
    same few objects call after call, and converting a UUID each time is a good part of a call's cost."""
    seen: dict[Any, Any] = {}

    def remembered(v: Any) -> Any:
        try:
            return seen[v]
        except KeyError:
            pass
        except TypeError:  # not hashable (a list where a tuple was expected): convert, as before
            return convert(v)
        out = convert(v)
        if len(seen) >= size:
            seen.clear()
        seen[v] = out
        return out

    return remembered


def _each(to: Conv, frm: Conv) -> tuple[Conv, Conv]:
    """Converters of a list from those of its elements."""

    def list_to(v: Any, to: Callable[[Any], Any] = to) -> list[Any]:  # type: ignore[assignment]
        return [to(x) for x in v]

    def list_from(v: Any, frm: Callable[[Any], Any] = frm) -> list[Any]:  # type: ignore[assignment]
        return [frm(x) for x in v]

    return (list_to if to else None), (list_from if frm else None)


def _unless_none(to: Conv, frm: Conv) -> tuple[Conv, Conv]:
    """Converters of optional data from those of the data."""

    def opt_to(v: Any, to: Callable[[Any], Any] = to) -> Any:  # type: ignore[assignment]
        return None if v is None else to(v)

    def opt_from(v: Any, frm: Callable[[Any], Any] = frm) -> Any:  # type: ignore[assignment]
        return None if v is None else frm(v)

    return (opt_to if to else None), (opt_from if frm else None)


def _zero(decl: xdr.XdrType) -> Any:
    """The value a client sends for an argument its caller left out."""
    if isinstance(decl, (xdr.Optional, xdr.Void)):
        return None
    if isinstance(decl, xdr.Array):
        return []
    if isinstance(decl, xdr.VarBytes):
        return "" if decl.text else b""
    return 0


@dataclass
class Call:
    """How one procedure's values cross between the wire and the driver interface."""

    proc: P.Procedure
    #: (wire field name, field index, to_wire, from_wire, zero) of the arguments the driver sees.
    params: list[tuple[str, int, Conv, Conv, Any]] = field(default_factory=list)
    wire_only: dict[int, Any] = field(default_factory=dict)
    ret_fields: list[tuple[str, Conv, Conv]] = field(default_factory=list)
    #: "void", "single", "list" (a list and its count) or "tuple".
    ret_mode: str = "void"
    record: type | None = None
    #: The record's attribute for each reply field (wire names in snake case).
    record_names: tuple[str, ...] = ()
    #: For each field of the record, the index of the reply field that fills it.
    record_order: tuple[int, ...] = ()
    #: Fast paths: the arguments' converters when they fill the wire struct in order; the record's
    #: ``_make`` when the reply fills it in order with nothing to convert.
    _tos: list[Conv] | None = None
    _make: Callable[[Any], Any] | None = None

    @classmethod
    def build(cls, proc: P.Procedure) -> Call:
        call = cls(proc)  # a subclass in _OVERRIDES when the C signature differs from the wire
        fields = proc.args.fields if isinstance(proc.args, xdr.Struct) else []
        by_name = bool(_NODE_DEVICE_BY_NAME.match(proc.name))
        for index, (name, decl) in enumerate(fields):
            if name in WIRE_ONLY:
                call.wire_only[index] = WIRE_ONLY[name]
                continue
            to, frm = converters(decl)
            if by_name and name == "name":
                to, frm = (lambda ref: ref.name if isinstance(ref, t.NodeDeviceRef) else ref), t.NodeDeviceRef
            call.params.append((name, index, to, frm, _zero(decl)))
        if isinstance(proc.ret, xdr.Struct):
            call.ret_fields = [(name, *converters(decl)) for name, decl in proc.ret.fields]
            if len(call.ret_fields) == 1:
                call.ret_mode = "single"
            elif (len(call.ret_fields) == 2 and call.ret_fields[1][0] == "ret"
                  and isinstance(proc.ret.fields[0][1], xdr.Array)):  # fmt: skip
                call.ret_mode = "list"
            else:
                call.ret_mode = "tuple"
                call.record = RECORDS.get(proc.method)
            call.record_names = tuple(snake(name) for name, _t, _f in call.ret_fields)
            if call.record is not None:
                fields = call.record._fields  # type: ignore[attr-defined]
                call.record_order = tuple(call.record_names.index(f) for f in fields)
                if call.record_order == tuple(range(len(fields))) and not any(f for _n, _t, f in call.ret_fields):
                    call._make = call.record._make  # type: ignore[attr-defined]
        if call.params and not call.wire_only and [i for _n, i, *_ in call.params] == list(range(len(call.params))):
            call._tos = [to for _n, _i, to, _f, _z in call.params]
        return call

    # -- server side: wire -> driver -> wire ---------------------------------------------------------
    def args_from_wire(self, wire: Any) -> tuple[Any, ...]:
        return tuple([frm(wire[i]) if frm else wire[i] for _, i, _to, frm, _z in self.params])

    def ret_to_wire(self, result: Any, wire_args: Any = None) -> Any:
        mode = self.ret_mode
        if mode == "void":
            return None
        if mode == "single":
            to = self.ret_fields[0][1]
            return (to(result) if to else result,)
        if mode == "list":
            # A list, or (list, count) from drivers whose count is not simply the list's length.
            if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list) \
                    and isinstance(result[1], int):
                items, count = result
            else:
                items = list(result)
                count = len(items)
            if wire_args is not None and self.wire_only and not wire_args[next(iter(self.wire_only))]:
                return ([], count)  # need_results == 0: only the count
            to = self.ret_fields[0][1]
            return (to(items) if to else items, count)
        in_order = self._make is not None and result.__class__ is self.record
        if in_order:
            return tuple(result)  # a record in wire order, nothing to convert
        if getattr(result, "_fields", None) is not None:
            values = [getattr(result, name) for name in self.record_names]
        else:
            values = list(result)
        return tuple([to(v) if to else v for (_, to, _f), v in zip(self.ret_fields, values, strict=False)])

    # -- client side: driver -> wire -> driver -------------------------------------------------------
    def args_to_wire(self, args: tuple[Any, ...]) -> Any:
        tos = self._tos
        if tos is not None and len(args) == len(tos):  # every argument given, no wire-only field
            return [to(v) if to is not None and v is not None else v for to, v in zip(tos, args)]
        if len(args) > len(self.params):
            raise TypeError(f"{self.proc.method}() takes at most {len(self.params)} arguments ({len(args)} given)")
        if not self.params and not self.wire_only:
            return None
        values: list[Any] = [None] * (len(self.params) + len(self.wire_only))
        for index, value in self.wire_only.items():
            values[index] = value
        for pos, (_, index, to, _frm, zero) in enumerate(self.params):
            value = args[pos] if pos < len(args) else zero
            values[index] = to(value) if to and value is not None else value
        return values

    def client_converters(self) -> tuple[Callable[[tuple[Any, ...]], Any], Callable[[Any], Any]]:
        """What the client's hot path calls: (args_to_wire, ret_from_wire), or cheaper callables with
        the same results for the usual shapes (arguments that go on the wire as given; a reply whose
        only field, or whose record in wire order, is the answer: a C callable, no Python frame)."""
        if type(self) is not Call:  # the calls whose C signature differs convert their own way
            return self.args_to_wire, self.ret_from_wire
        from_wire: Callable[[Any], Any] = self.ret_from_wire
        if self.ret_mode in ("single", "list") and self.ret_fields[0][2] is None:
            from_wire = operator.itemgetter(0)
        elif self.ret_mode == "tuple" and self._make is not None:
            from_wire = functools.partial(tuple.__new__, self.record)  # type: ignore[arg-type]  # = record._make
        tos = self._tos
        if tos is not None and not any(tos):
            count, convert = len(tos), self.args_to_wire

            def exact(args: tuple[Any, ...]) -> Any:
                return args if len(args) == count else convert(args)

            return exact, from_wire
        if tos is not None and len(tos) == 1:  # one argument to convert: an object's ref, usually
            to, convert = tos[0], self.args_to_wire
            assert to is not None

            def one(args: tuple[Any, ...]) -> Any:
                return (to(args[0]),) if len(args) == 1 and args[0] is not None else convert(args)

            return one, from_wire
        return self.args_to_wire, from_wire

    def ret_from_wire(self, wire: Any) -> Any:
        mode = self.ret_mode
        if mode == "void":
            return None
        if mode == "single":
            frm = self.ret_fields[0][2]
            return frm(wire[0]) if frm else wire[0]
        if mode == "list":
            frm = self.ret_fields[0][2]
            return frm(wire[0]) if frm else wire[0]
        if self._make is not None:  # a record filled in wire order, nothing to convert
            return self._make(wire)
        values = [frm(v) if frm else v for (_, _t, frm), v in zip(self.ret_fields, wire, strict=True)]
        if self.record is not None:
            return self.record(*[values[i] for i in self.record_order])
        return tuple(values)


# ---- calls whose C signature differs from their wire struct ----------------------------------------------


class _MemoryStats(Call):
    """virDomainMemoryStats: the driver gives {tag: value}; the wire a list of (tag, value)."""

    def ret_to_wire(self, result: Any, wire_args: Any = None) -> Any:
        items = result.items() if isinstance(result, dict) else result
        return ([(int(tag), int(val)) for tag, val in items],)

    def ret_from_wire(self, wire: Any) -> Any:
        return {tag: val for tag, val in wire[0]}


class _AllParams(Call):
    """Typed-parameter getters whose C API allocates (virNetworkPortGetParameters): the driver takes
    (object, flags) and returns every parameter; the wire also carries ``nparams`` both ways."""

    def args_from_wire(self, wire: Any) -> tuple[Any, ...]:
        frm = self.params[0][3]
        return (frm(wire[0]) if frm else wire[0], wire[-1])

    def ret_to_wire(self, result: Any, wire_args: Any = None) -> Any:
        to = self.ret_fields[0][1]
        return (to(result) if to else result, len(result))

    def args_to_wire(self, args: tuple[Any, ...]) -> Any:
        obj, flags = (args + (0,))[:2]
        to = self.params[0][2]
        return [to(obj) if to else obj, P.CONSTANTS["NETWORK_PORT_PARAMETERS_MAX"], flags]

    def ret_from_wire(self, wire: Any) -> Any:
        frm = self.ret_fields[0][2]
        return frm(wire[0]) if frm else wire[0]


class _Vcpus(Call):
    """virDomainGetVcpus: the wire also carries ``maplen`` and the CPU maps.

    The driver returns the vCPU records, or (records, cpumaps bytes); without maps every host CPU is
    allowed (``maplen`` bytes of ones per vCPU).
    """

    def args_from_wire(self, wire: Any) -> tuple[Any, ...]:
        return (converters(NonnullDomain)[1](wire.dom), wire.maxinfo)  # type: ignore[misc]

    def ret_to_wire(self, result: Any, wire_args: Any = None) -> Any:
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], (bytes, bytearray)):
            infos, maps = result
        else:
            infos, maps = result, None
        maplen = max(0, wire_args.maplen) if wire_args is not None else 0
        if maps is None:
            maps = b"\xff" * (maplen * len(infos))
        return ([tuple(v) for v in infos], bytes(maps))

    def args_to_wire(self, args: tuple[Any, ...]) -> Any:
        dom, maxinfo = (args + (-1,))[:2]
        return (converters(NonnullDomain)[0](dom), maxinfo if maxinfo >= 0 else 16384, 0)  # type: ignore[misc]

    def ret_from_wire(self, wire: Any) -> Any:
        return [t.VcpuInfo(*v) for v in wire[0]]


class _CpuMap(Call):
    """virNodeGetCPUMap: the driver gives (list of bools, online count, CPU count); the wire a bitmap."""

    def args_from_wire(self, wire: Any) -> tuple[Any, ...]:
        return (wire.flags,)

    def ret_to_wire(self, result: Any, wire_args: Any = None) -> Any:
        cpus, online, count = result
        bitmap = bytearray((len(cpus) + 7) // 8)
        for i, on in enumerate(cpus):
            if on:
                bitmap[i // 8] |= 1 << (i % 8)
        need_map = wire_args is None or wire_args.need_map
        return (bytes(bitmap) if need_map else b"", int(online), int(count))

    def args_to_wire(self, args: tuple[Any, ...]) -> Any:
        return (1, 1, args[0] if args else 0)

    def ret_from_wire(self, wire: Any) -> Any:
        bitmap, online, count = wire
        return [bool(bitmap[i // 8] & (1 << (i % 8))) if i // 8 < len(bitmap) else False for i in range(count)], \
            online, count


_OVERRIDES: dict[str, type[Call]] = {
    "domain_memory_stats": _MemoryStats,
    "domain_get_vcpus": _Vcpus,
    "node_get_cpu_map": _CpuMap,
    "network_port_get_parameters": _AllParams,
}


@cache
def call_for(number: int) -> Call:
    """The marshalling of remote procedure ``number`` (built on first use)."""
    proc = P.REMOTE_PROCEDURES[number]
    return _OVERRIDES.get(proc.method, Call).build(proc)


def call_for_method(method: str) -> Call:
    return call_for(P.BY_METHOD[method].number)


# ---- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    """How one kind of event travels: its MESSAGE procedure and the layout of its body.

    ``shape`` is (struct, [None for a leaf field | the shape of a nested ``msg`` struct]): leaves are
    the callback id, the object the event is about, or payload values in libvirt's callback order.
    """

    kind: str
    event_id: int
    proc: P.Procedure
    shape: Any


def _shape(decl: xdr.Struct) -> Any:
    return decl, [_shape(f) if name == "msg" and isinstance(f, xdr.Struct) else None for name, f in decl.fields]


# (kind, event id) -> MESSAGE procedure carrying it with a callback id (libvirt's *EventID enums).
_EVENT_PROCS = {
    ("domain", 0): "DOMAIN_EVENT_CALLBACK_LIFECYCLE", ("domain", 1): "DOMAIN_EVENT_CALLBACK_REBOOT",
    ("domain", 2): "DOMAIN_EVENT_CALLBACK_RTC_CHANGE", ("domain", 3): "DOMAIN_EVENT_CALLBACK_WATCHDOG",
    ("domain", 4): "DOMAIN_EVENT_CALLBACK_IO_ERROR", ("domain", 5): "DOMAIN_EVENT_CALLBACK_GRAPHICS",
    ("domain", 6): "DOMAIN_EVENT_CALLBACK_IO_ERROR_REASON", ("domain", 7): "DOMAIN_EVENT_CALLBACK_CONTROL_ERROR",
    ("domain", 8): "DOMAIN_EVENT_CALLBACK_BLOCK_JOB", ("domain", 9): "DOMAIN_EVENT_CALLBACK_DISK_CHANGE",
    ("domain", 10): "DOMAIN_EVENT_CALLBACK_TRAY_CHANGE", ("domain", 11): "DOMAIN_EVENT_CALLBACK_PMWAKEUP",
    ("domain", 12): "DOMAIN_EVENT_CALLBACK_PMSUSPEND", ("domain", 13): "DOMAIN_EVENT_CALLBACK_BALLOON_CHANGE",
    ("domain", 14): "DOMAIN_EVENT_CALLBACK_PMSUSPEND_DISK", ("domain", 15): "DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED",
    ("domain", 16): "DOMAIN_EVENT_BLOCK_JOB_2", ("domain", 17): "DOMAIN_EVENT_CALLBACK_TUNABLE",
    ("domain", 18): "DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE", ("domain", 19): "DOMAIN_EVENT_CALLBACK_DEVICE_ADDED",
    ("domain", 20): "DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION",
    ("domain", 21): "DOMAIN_EVENT_CALLBACK_JOB_COMPLETED",
    ("domain", 22): "DOMAIN_EVENT_CALLBACK_DEVICE_REMOVAL_FAILED",
    ("domain", 23): "DOMAIN_EVENT_CALLBACK_METADATA_CHANGE", ("domain", 24): "DOMAIN_EVENT_BLOCK_THRESHOLD",
    ("domain", 25): "DOMAIN_EVENT_MEMORY_FAILURE", ("domain", 26): "DOMAIN_EVENT_MEMORY_DEVICE_SIZE_CHANGE",
    ("network", 0): "NETWORK_EVENT_LIFECYCLE", ("network", 1): "NETWORK_EVENT_CALLBACK_METADATA_CHANGE",
    ("storage_pool", 0): "STORAGE_POOL_EVENT_LIFECYCLE", ("storage_pool", 1): "STORAGE_POOL_EVENT_REFRESH",
    ("node_device", 0): "NODE_DEVICE_EVENT_LIFECYCLE", ("node_device", 1): "NODE_DEVICE_EVENT_UPDATE",
    ("secret", 0): "SECRET_EVENT_LIFECYCLE", ("secret", 1): "SECRET_EVENT_VALUE_CHANGED",
}  # fmt: skip

#: Wire struct of the object each kind of event is about.
_OBJECT_DECL = {
    "domain": NonnullDomain, "network": NonnullNetwork, "storage_pool": P.NAMED["storage_pool"],
    "node_device": P.NAMED["node_device"], "secret": P.NAMED["secret"],
}  # fmt: skip

#: Registration procedures per event kind: (register, deregister).
EVENT_REGISTRATION = {
    "domain": ("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY"),
    "network": ("CONNECT_NETWORK_EVENT_REGISTER_ANY", "CONNECT_NETWORK_EVENT_DEREGISTER_ANY"),
    "storage_pool": ("CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY", "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY"),
    "node_device": ("CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY", "CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY"),
    "secret": ("CONNECT_SECRET_EVENT_REGISTER_ANY", "CONNECT_SECRET_EVENT_DEREGISTER_ANY"),
}


def _spec(kind: str, event_id: int, name: str) -> EventSpec:
    proc = P.BY_NAME[name]
    assert isinstance(proc.args, xdr.Struct)
    return EventSpec(kind, event_id, proc, _shape(proc.args))


EVENTS: dict[tuple[str, int], EventSpec] = {key: _spec(*key, name) for key, name in _EVENT_PROCS.items()}
EVENTS_BY_PROC: dict[int, EventSpec] = {spec.proc.number: spec for spec in EVENTS.values()}


def event_to_wire(spec: EventSpec, callback_id: int, obj: Any, payload: tuple[Any, ...]) -> Any:
    """The MESSAGE body of an event (server side)."""
    values = iter(payload)

    def build(level: Any) -> tuple[Any, ...]:
        decl, shape = level
        out: list[Any] = []
        for (name, f), sub in zip(decl.fields, shape, strict=True):
            if sub is not None:
                out.append(build(sub))
            elif name == "callbackID":
                out.append(callback_id)
            elif f is _OBJECT_DECL[spec.kind]:
                to = converters(f)[0]
                out.append(to(obj) if to else obj)
            else:
                to = converters(f)[0]
                value = next(values)
                out.append(to(value) if to else value)
        return tuple(out)

    return build(spec.shape)


def event_from_wire(spec: EventSpec, body: Any) -> tuple[int, Any, tuple[Any, ...]]:
    """(callback id, object ref, payload) of a received event MESSAGE (client side)."""
    callback_id = -1
    obj: Any = None
    payload: list[Any] = []

    def walk(level: Any, value: Any) -> None:
        nonlocal callback_id, obj
        decl, shape = level
        for (name, f), sub, v in zip(decl.fields, shape, value, strict=True):
            if sub is not None:
                walk(sub, v)
            elif name == "callbackID":
                callback_id = v
            elif f is _OBJECT_DECL[spec.kind]:
                frm = converters(f)[1]
                obj = frm(v) if frm else v
            else:
                frm = converters(f)[1]
                payload.append(frm(v) if frm else v)

    walk(spec.shape, body)
    return callback_id, obj, tuple(payload)
