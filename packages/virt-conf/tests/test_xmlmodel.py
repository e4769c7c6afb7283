"""The binding engine on a small made-up format."""

import pytest
from virt.conf.xmlmodel import UUID, Attr, Child, Children, Model, OnOff, ParseContext, Raw, String, TextChild, UInt
from virt.util.errors import XMLError


class Bridge(Model):
    TAG = "bridge"
    name = Attr(String)
    stp = Attr(OnOff)
    delay = Attr(UInt)


class Host(Model):
    TAG = "host"
    mac = Attr(String, required=True)


class Net(Model):
    TAG = "network"
    name = TextChild(String, required=True)
    uuid = TextChild(UUID)
    bridge = Child(Bridge)
    hosts = Children(Host)
    metadata = Raw()


DOC = """<network><name>n1</name><uuid>6695eb01f6a4830479aa97f2502e193f</uuid>
<metadata><a:x xmlns:a="urn:x">t</a:x></metadata><host mac="1"/><bridge name="br0" stp="on" delay="5"/><host mac="2"/>
</network>"""


def test_parse_and_format_in_declared_order():
    net = Net.parse(DOC)
    assert net.uuid == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert net.bridge.stp is True and net.bridge.delay == 5
    assert [h.mac for h in net.hosts] == ["1", "2"]
    out = net.format()
    assert out.splitlines()[:4] == [
        "<network>",
        "  <name>n1</name>",
        "  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>",
        "  <bridge name='br0' stp='on' delay='5'/>",
    ]
    assert '<a:x xmlns:a="urn:x">t</a:x>' in out
    assert Net.parse(out) == net


def test_bad_values_name_the_attribute_and_line():
    with pytest.raises(XMLError, match=r"invalid value 'maybe' for attribute 'stp' of element 'bridge' \(line 2\)"):
        Net.parse("<network><name>x</name>\n<bridge stp='maybe'/></network>")


def test_missing_required():
    with pytest.raises(XMLError, match="missing element 'name'"):
        Net.parse("<network/>")


def test_unknown_parts_dropped_or_rejected_when_strict():
    ctx = ParseContext()
    net = Net.from_element(__import__("lxml.etree").etree.fromstring("<network foo='1'><name>x</name><bar/></network>"), ctx)
    assert "bar" not in net.format() and len(ctx.unknown) == 2
    with pytest.raises(XMLError, match="unexpected attribute 'foo'"):
        Net.from_element(__import__("lxml.etree").etree.fromstring("<network foo='1'><name>x</name></network>"),
                         ParseContext(strict=True))


def test_malformed_xml_is_an_xml_error():
    with pytest.raises(XMLError, match="malformed XML document at line 1"):
        Net.parse("<network><name>")


def test_escaping():
    net = Net(name="a<b&'c\"")
    assert net.format() == "<network>\n  <name>a&lt;b&amp;'c\"</name>\n</network>\n"
    assert Net.parse(net.format()).name == "a<b&'c\""


def test_field_dropper_unsets_only_what_has_a_value() -> None:
    from virt.conf.xmlmodel import FieldDropper

    d: dict[str, object] = {"a": None, "b": "x", "ips": [1], "keep": "k"}
    FieldDropper(("a", "b", "ips"), lists=("ips",)).drop(d)
    assert d == {"a": None, "b": None, "ips": [], "keep": "k"}
    one = {"a": "x", "keep": 1}
    FieldDropper(["a"]).drop(one)  # (one name: itemgetter would return the value, not a tuple)
    assert one == {"a": None, "keep": 1}
    untouched = {"a": None, "ips": []}
    ips = untouched["ips"]
    FieldDropper(("a", "ips"), lists=("ips",)).drop(untouched)
    assert untouched["ips"] is ips
