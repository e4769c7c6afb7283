"""The built-in ``test`` driver: an in-memory hypervisor behaving as libvirt's test:///default."""
