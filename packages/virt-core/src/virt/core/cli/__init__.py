"""The `virt` command line: virsh-compatible commands described as data, run by one engine."""
