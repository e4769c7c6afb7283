"""virt-driver-example: the template third-party driver (in-memory domains, URI example:///)."""
