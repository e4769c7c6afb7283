"""The errors the test driver raises, with the codes, error domains and texts libvirt's test driver uses."""

from __future__ import annotations

from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

E = ErrorNumber
#: Errors raised by the test driver itself carry VIR_FROM_TEST; those libvirt raises from its shared
#: object code (domain_conf, virdomainobjlist, ...) carry VIR_FROM_DOMAIN.
TEST = ErrorDomain.TEST
DOMAIN = ErrorDomain.DOMAIN


def error(code: ErrorNumber, detail: str | None = None, domain: ErrorDomain = TEST) -> VirtError:
    """A VirtError of the subclass registered for ``code``, with libvirt's prefix before ``detail``."""
    cls = VirtError._by_code.get(code, VirtError)
    return cls(detail, code=code, domain=domain)


def bare(code: ErrorNumber, message: str, domain: ErrorDomain = TEST) -> VirtError:
    """An error whose message is ``message`` exactly (libvirt's virReportInvalidArg prints no prefix)."""
    cls = VirtError._by_code.get(code, VirtError)
    return cls(message, code=code, domain=domain, message=message)


def internal(detail: str) -> VirtError:
    return error(E.INTERNAL_ERROR, detail)


def invalid_arg(detail: str, domain: ErrorDomain = TEST) -> VirtError:
    return error(E.INVALID_ARG, detail, domain)


def operation_invalid(detail: str | None, domain: ErrorDomain = TEST) -> VirtError:
    return error(E.OPERATION_INVALID, detail, domain)


def not_running() -> VirtError:
    """virDomainObjCheckActive's error."""
    return operation_invalid("domain is not running", DOMAIN)


def unsupported_flags(flags: int, function: str) -> VirtError:
    """virCheckFlags: only the unsupported bits are printed."""
    return bare(E.INVALID_ARG, f"unsupported flags (0x{flags:x}) in function {function}")


def test_function(call: str) -> str:
    """The name libvirt's test driver gives the C function serving ``call`` (for flag errors)."""
    from virt.core.driver import c_name

    return "test" + c_name(call)[3:]
