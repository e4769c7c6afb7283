"""virt-driver-hyperv: Microsoft Hyper-V guests (hyperv://host/) over WS-Management."""
