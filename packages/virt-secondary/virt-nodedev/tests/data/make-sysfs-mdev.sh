#!/bin/sh
# The sysfs tree of tests/data/sysfs-mdev: an Intel GVT-g host (i915 at 0000:00:02.0 offering four
# vGPU types, one mdev created), laid out as the kernel documents the mdev sysfs ABI
# (Documentation/driver-api/vfio-mediated-device.rst). Built by hand from that layout, not recorded
# from hardware: this CI host has no mdev-capable device. Usage: make-sysfs-mdev.sh DIR (the tree is
# built at test time: its symlinks loop, as sysfs's do, which tools walking a checkout trip over).
set -e
R=${1:?usage: make-sysfs-mdev.sh DIR}
rm -rf "$R"; mkdir -p "$R"; cd "$R"
P=devices/pci0000:00/0000:00:02.0
mkdir -p $P bus/pci/devices bus/pci/drivers/i915 bus/mdev/devices bus/mdev/drivers/vfio_mdev kernel/iommu_groups/0/devices kernel/iommu_groups/12/devices class/mdev_bus
printf '0x8086\n' > $P/vendor; printf '0x3e92\n' > $P/device; printf '0x030000\n' > $P/class
printf -- '-1\n' > $P/numa_node
ln -s ../../../bus/pci/drivers/i915 $P/driver
ln -s ../../../kernel/iommu_groups/0 $P/iommu_group
ln -s ../../../../devices/pci0000:00/0000:00:02.0 kernel/iommu_groups/0/devices/0000:00:02.0
ln -s ../../../devices/pci0000:00/0000:00:02.0 bus/pci/devices/0000:00:02.0
ln -s ../../devices/pci0000:00/0000:00:02.0 class/mdev_bus/0000:00:02.0
for t in 1:GVTg_V5_1:1 2:GVTg_V5_2:1 4:GVTg_V5_4:2 8:GVTg_V5_8:3; do
  n=${t%%:*}; rest=${t#*:}; name=${rest%%:*}; avail=${rest#*:}
  d=$P/mdev_supported_types/i915-GVTg_V5_$n
  mkdir -p $d/devices
  printf '%s\n' $name > $d/name; printf 'vfio-pci\n' > $d/device_api; printf '%s\n' $avail > $d/available_instances
  printf 'low_gm_size: %sMB\nhigh_gm_size: %sMB\nfence: 4\nresolution: 1920x1200\nweight: %s\n' $((512/n)) $((2048/n)) $((16/n)) > $d/description
  : > $d/create
done
U=4b20d080-1b54-4048-85b3-a6a62d165c01
mkdir -p $P/$U
ln -s ../mdev_supported_types/i915-GVTg_V5_8 $P/$U/mdev_type
ln -s ../../../../kernel/iommu_groups/12 $P/$U/iommu_group
ln -s ../../../../bus/mdev/drivers/vfio_mdev $P/$U/driver
: > $P/$U/remove
printf 'MDEV_TYPE=i915-GVTg_V5_8\n' > $P/$U/uevent
ln -s ../../../../$P/$U $P/mdev_supported_types/i915-GVTg_V5_8/devices/$U
ln -s ../../../devices/pci0000:00/0000:00:02.0/$U bus/mdev/devices/$U
ln -s ../../../../devices/pci0000:00/0000:00:02.0/$U kernel/iommu_groups/12/devices/$U
