"""The template driver works through the public API when installed (entry point discovered)."""

import pytest
import virt.core
from virt.util.errors import ErrorNumber, VirtError

XML = "<domain type='example'><name>{}</name><memory unit='MiB'>64</memory><vcpu>3</vcpu><os><type>hvm</type></os></domain>"


def test_lifecycle():
    with virt.core.open("example:///") as conn:
        dom = conn.define_domain(XML.format("tmpl1"))
        assert dom.info().max_mem == 65536 and dom.info().nr_virt_cpu == 3
        dom.create()
        assert dom.state()[0] == 1 and dom.id() > 0
        with pytest.raises(VirtError) as exc:
            dom.create()
        assert exc.value.code == ErrorNumber.OPERATION_INVALID
        dom.destroy(0)
        assert dom.state()[0] == 5
        assert "<name>tmpl1</name>" in dom.xml_desc()
        dom.undefine(0)
        with pytest.raises(VirtError) as exc:
            conn.lookup_domain("tmpl1")
        assert exc.value.code == ErrorNumber.NO_DOMAIN


def test_unsupported_call_is_libvirts_error():
    with virt.core.open("example:///") as conn:
        dom = conn.define_domain(XML.format("tmpl2"))
        with pytest.raises(VirtError, match="not supported by the connection driver: virDomainSuspend"):
            dom.suspend()
        dom.undefine(0)
