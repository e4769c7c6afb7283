"""Secret commands (secret-*)."""

from __future__ import annotations

import base64
from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Message, Table, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import Command, CommandGroup, data, flag, string
from virt.core.enums import ConnectListAllSecretsFlags as SF

from .common import call, exclusive, flags_from, read_file, read_xml_arg, secret

USAGE_TYPES = ("none", "volume", "ceph", "iscsi", "tls", "vtpm")
_SECRET = data("secret", "secret UUID")


def cmd_secret_list(ctx: Context, args: Args) -> Any:
    flags = flags_from(args, (("ephemeral", SF.EPHEMERAL), ("no-ephemeral", SF.NO_EPHEMERAL),
                              ("private", SF.PRIVATE), ("no-private", SF.NO_PRIVATE)))
    secrets = call("Failed to list secrets", ctx.conn.list_all_secrets, flags)
    secrets.sort(key=lambda s: s.uuid())
    table = Table(["UUID", "Usage"])
    for sec in secrets:
        kind = sec.usage_type()
        kind_name = USAGE_TYPES[kind] if 0 <= kind < len(USAGE_TYPES) else "unknown"
        usage = "Unused" if kind == 0 else f"{kind_name} {sec.usage_id()}"
        table.add(sec.uuid(), usage, values=[sec.uuid(), {"type": kind_name, "id": sec.usage_id()}])
    return table


def cmd_secret_define(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    sec = call(f"Failed to set attributes from {path}", ctx.conn.define_secret, xml,
               1 if args.bool("validate") else 0)
    return Message(f"Secret {sec.uuid()} created")


def cmd_secret_dumpxml(ctx: Context, args: Args) -> Any:
    return Text(secret(ctx, args).xml_desc(0))


def cmd_secret_set_value(ctx: Context, args: Args) -> Any:
    exclusive(args, ("file", "base64"), ("interactive", "base64"), ("interactive", "file"))
    sec = secret(ctx, args)
    if args.string("file") is not None:
        raw = read_file(args.string("file") or "").encode("utf-8", "surrogateescape")
        value = raw if args.bool("plain") else _b64(raw)
    elif args.bool("interactive"):
        import getpass

        typed = getpass.getpass("Enter new value for secret:").encode()
        value = typed if args.bool("plain") else _b64(typed)
    elif args.string("base64") is not None:
        value = _b64((args.string("base64") or "").encode())
    else:
        raise CLIError("Input secret value is missing")
    call("Failed to set secret value", sec.set_value, value, 0)
    return Message("Secret value set")


def _b64(text: bytes) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise CLIError("Invalid base64 data") from None


def cmd_secret_get_value(ctx: Context, args: Args) -> Any:
    sec = secret(ctx, args)
    value = call("Failed to get secret value", sec.get_value, 0)
    if args.bool("plain"):
        return Text(value.decode("utf-8", "replace"), value=value.decode("utf-8", "replace"), newline=False)
    return Text(base64.b64encode(value).decode())


def cmd_secret_undefine(ctx: Context, args: Args) -> Any:
    sec = secret(ctx, args)
    call(f"Failed to delete secret {sec.uuid()}", sec.undefine)
    return Message(f"Secret {sec.uuid()} deleted")


GROUP = CommandGroup("Secret", "secret", [
    Command("secret-define", cmd_secret_define, "define or modify a secret from an XML file",
            "Define or modify a secret.",
            (data("file", "file containing secret attributes in XML"), flag("validate", "validate the XML against the schema"))),
    Command("secret-dumpxml", cmd_secret_dumpxml, "secret attributes in XML", "Output attributes of a secret as an XML dump to stdout.",
            (_SECRET,)),
    Command("secret-get-value", cmd_secret_get_value, "Output a secret value", "Output a secret value to stdout.",
            (_SECRET, flag("plain", "get value without converting to base64"))),
    Command("secret-list", cmd_secret_list, "list secrets", "Returns a list of secrets",
            (flag("ephemeral", "list ephemeral secrets"), flag("no-ephemeral", "list non-ephemeral secrets"),
             flag("private", "list private secrets"), flag("no-private", "list non-private secrets"))),
    Command("secret-set-value", cmd_secret_set_value, "set a secret value", "Set a secret value.",
            (_SECRET, string("file", "read secret from file"), flag("plain", "read the secret from file without converting from base64"),
             flag("interactive", "read the secret from the terminal"), string("base64", "base64-encoded secret value"))),
    Command("secret-undefine", cmd_secret_undefine, "undefine a secret", "Undefine a secret.", (_SECRET,)),
])
