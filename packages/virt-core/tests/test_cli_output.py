"""The CLI's output layouts, byte for byte as virsh prints them, and JSON."""

from __future__ import annotations

import io
import json

from virt.core.cli.commands.nodedev import tree_lines
from virt.core.cli.output import Fields, Table, Text, display_width, render


def test_table_matches_virsh_layout() -> None:
    table = Table(["Id", "Name", "State"])
    table.add("1", "test", "running")
    table.add("-", "foo", "shut off")
    assert table.text() == (" Id   Name   State\n"
                            "-----------------------\n"
                            " 1    test   running\n"
                            " -    foo    shut off\n")


def test_empty_table_and_last_column_padding() -> None:
    assert Table(["Name", "Path"]).text() == " Name   Path\n--------------\n"
    table = Table(["Id", "Name", "State", "Title"])
    table.add("1", "test", "running", "")
    # the last cell is never padded, but the separator before it is printed
    assert table.text().splitlines()[2] == " 1    test   running   "


def test_quiet_table_has_no_header_and_narrower_columns() -> None:
    table = Table(["Id", "Name", "State"])
    table.add("1", "test", "running")
    assert table.text(quiet=True) == " 1   test   running\n"


def test_wide_and_control_characters() -> None:
    assert display_width("日本") == 4
    table = Table(["Name", "X"])
    table.add("日本", "a")
    table.add("a\tb", "c")
    assert table.text().splitlines()[2:] == [" 日本     a", " a\\x09b   c"]


def test_fields_and_json() -> None:
    fields = Fields()
    fields.add("Max memory:", "8388608 KiB", 8388608)
    fields.add("Persistent:", "yes", True)
    assert fields.text() == "Max memory:     8388608 KiB\nPersistent:     yes\n"
    out = io.StringIO()
    render([fields], out, as_json=True)
    assert json.loads(out.getvalue()) == {"max_memory": 8388608, "persistent": True}


def test_text_newline_rules() -> None:
    assert Text("x").text() == "x\n"
    assert Text("x\n").text() == "x\n"
    assert Text("x", newline=False).text() == "x"


def test_tree_drawing_matches_virsh() -> None:
    parents = {"s1": None, "s2": "s1", "s3": "s2", "s4": "s1"}
    assert tree_lines(["s1", "s2", "s3", "s4"], parents) == [
        "s1", "  |", "  +- s2", "  |   |", "  |   +- s3", "  |     ", "  +- s4", "    "]
