"""virt's node device driver: host devices from sysfs as libvirt describes them, PCI detach to vfio-pci."""
