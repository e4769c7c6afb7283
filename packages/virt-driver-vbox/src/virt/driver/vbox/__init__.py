"""virt-driver-vbox: VirtualBox guests (vbox:///session) through the VirtualBox web service."""
