"""Shared helpers for every virt distribution: errors, logging, processes, files, units, native code."""
