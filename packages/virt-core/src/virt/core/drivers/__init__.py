"""Drivers built into virt-core (the test driver)."""
