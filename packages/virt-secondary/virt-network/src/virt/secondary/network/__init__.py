"""virt's virtual network driver: Linux bridges, dnsmasq for DHCP and DNS, nftables for NAT and routing."""
