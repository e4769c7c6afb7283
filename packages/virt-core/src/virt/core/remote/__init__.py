"""libvirt's remote protocol: wire declarations (protocol, procedures), the virtd server and the remote driver."""
