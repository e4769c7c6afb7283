"""virt-driver-esx: VMware ESX/vSphere guests (esx://host/) and the vmware-vmx native format."""
