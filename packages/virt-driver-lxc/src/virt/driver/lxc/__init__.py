"""The LXC driver of virt: containers built from namespaces, cgroups and a controller process each."""
