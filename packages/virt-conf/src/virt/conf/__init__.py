"""libvirt's XML formats: parse, validate, normalize and format them (domain, network, pool, ...)."""

from __future__ import annotations

from virt.conf.registry import FORMATS, model_for, normalize, parse, validate

__all__ = ["FORMATS", "model_for", "normalize", "parse", "validate"]
