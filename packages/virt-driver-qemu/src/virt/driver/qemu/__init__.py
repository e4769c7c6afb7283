"""virt's QEMU/KVM driver: QMP client, capabilities, command-line generation and the running driver."""
