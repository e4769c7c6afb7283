"""virt's own XML tools: xml-validate, xml-normalize, and offline domxml-to/from-native converters."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Message, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import Command, CommandGroup, data, flag, string


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CLIError(f"Failed to open file '{path}': {exc.strerror}") from None


def plugin_kwargs(args: Args) -> dict[str, Any]:
    """Values of the options plugins added to this command, by their registered keyword."""
    return {o.dest: args.get(o.name) for o in args.command.options if o.dest and o.name in args}


def _parse_options(args: Args) -> dict[str, Any]:
    """--flags and --option KEY=VALUE[,KEY=VALUE] (",," is a literal comma) as parse options."""
    options: dict[str, Any] = {}
    if args.string("flags"):
        options["flags"] = args.string("flags")
    text = args.string("option") or ""
    for item in text.replace(",,", "\0").split(","):
        key, _, value = item.replace("\0", ",").partition("=")
        if key and value:
            options[key.strip()] = value
    return options


def cmd_xml_validate(ctx: Context, args: Args) -> Any:
    from virt.conf import validate

    path = args.string("file") or ""
    validate(_read_bytes(path), **_parse_options(args))
    return Message(f"{path} validates")


def cmd_xml_normalize(ctx: Context, args: Args) -> Any:
    path = args.string("file") or ""
    xml = _read_bytes(path)
    options = _parse_options(args)
    if args.string("pool"):
        options["pool_xml"] = _read_bytes(args.string("pool") or "")
    options.update(plugin_kwargs(args))
    # libvirt's xml2xml round trip is a live parse and format (ids, aliases kept); --inactive is what
    # define followed by dumpxml --inactive prints.
    options["inactive"] = args.bool("inactive")
    driver = args.string("driver")
    if driver:
        from virt.core.registry import resolve_ref

        normalizers = ctx.get_registry().normalizers
        if driver not in normalizers:
            known = ", ".join(sorted(normalizers)) or "none"
            raise CLIError(f"no normalizer for driver '{driver}' (installed: {known})")
        return Text(str(resolve_ref(normalizers[driver])(xml, **options)))
    from virt.conf import normalize

    return Text(normalize(xml, **options))


def _native_format(ctx: Context, name: str, direction: str) -> Any:
    from virt.core.registry import resolve_ref

    formats = ctx.get_registry().native_formats
    fmt = formats.get(name)
    func = getattr(fmt, direction, None) if fmt else None
    if func is None:
        known = ", ".join(sorted(n for n, f in formats.items() if getattr(f, direction))) or "none"
        raise CLIError(f"unsupported configuration: native format '{name}' is not available offline "
                       f"(installed: {known}; use -c URI to ask a driver)")
    return resolve_ref(func)


def offline_to_native(ctx: Context, args: Args) -> Any:
    name = args.string("format") or ""
    path = args.string("xml")
    if not path:
        raise CLIError("command 'domxml-to-native' requires --xml or --domain option")
    convert = _native_format(ctx, name, "to_native")
    return Text(str(convert(_read_bytes(path).decode("utf-8", "surrogateescape"), **plugin_kwargs(args))))


def offline_from_native(ctx: Context, args: Args) -> Any:
    name = args.string("format") or ""
    convert = _native_format(ctx, name, "from_native")
    text = _read_bytes(args.string("config") or "").decode("utf-8", "surrogateescape")
    return Text(str(convert(text, **plugin_kwargs(args))))


# Empty values mean "none", so that templated command lines (a test harness's) may always pass them.
_PARSE_OPTIONS = (string("flags", "parse flags, '|'-separated (e.g. REDEFINE)", named_only=True, empty_ok=True),
                  string("option", "extra parse options KEY=VALUE, comma-separated", named_only=True,
                         empty_ok=True))

GROUP = CommandGroup("Virt XML tools", "xml", [
    Command("xml-normalize", cmd_xml_normalize, "print an XML document as libvirt would store it",
            "Prints the XML after a parse and format as libvirt does it (generic defaults, or a driver's with "
            "--driver); with --inactive, what define followed by dumpxml --inactive prints.",
            (data("file", "XML document"), string("driver", "normalize with this driver's defaults", named_only=True),
             flag("inactive", "inactive parse and format: drop live-only data (a domain's id, aliases)"),
             string("pool", "pool XML that a volume is normalized against", named_only=True), *_PARSE_OPTIONS),
            needs_connection=False),
    Command("xml-validate", cmd_xml_validate, "validate an XML document",
            "Checks an XML document of any libvirt format (detected from its root element); non-zero exit when invalid.",
            (data("file", "XML document"), *_PARSE_OPTIONS), needs_connection=False),
])
