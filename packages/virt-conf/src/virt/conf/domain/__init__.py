"""The domain XML format: typed models of every part of ``<domain>``, libvirt's generic defaults and checks."""

from __future__ import annotations

from virt.conf.domain.address import (
                                      Address,
                                      CCIDAddress,
                                      CCWAddress,
                                      DIMMAddress,
                                      DriveAddress,
                                      ISAAddress,
                                      PCIAddress,
                                      SpaprVioAddress,
                                      USBAddress,
                                      VirtioMMIOAddress,
                                      VirtioSerialAddress,
)
from virt.conf.domain.core import (
                                      Domain,
                                      assign_disk_address,
                                      default_video_type,
                                      register_virt_type,
)
from virt.conf.domain.devices import DEVICE_KINDS, Devices
from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.chardev import (
                                      Channel,
                                      ChrDevice,
                                      Console,
                                      Parallel,
                                      Redirdev,
                                      Serial,
                                      Smartcard,
)
from virt.conf.domain.devices.controller import Controller
from virt.conf.domain.devices.disk import Disk
from virt.conf.domain.devices.graphics import Graphics, Listen
from virt.conf.domain.devices.hostdev import Hostdev
from virt.conf.domain.devices.misc import (
                                      IOMMU,
                                      RNG,
                                      TPM,
                                      Audio,
                                      Crypto,
                                      Filesystem,
                                      Hub,
                                      Input,
                                      Lease,
                                      Memballoon,
                                      MemoryDevice,
                                      NVRAMDevice,
                                      Panic,
                                      Redirfilter,
                                      Shmem,
                                      Sound,
                                      Video,
                                      Vsock,
                                      Watchdog,
)
from virt.conf.domain.devices.net import Interface
from virt.conf.domain.devices.storage import BackingStore, StorageSource

__all__ = [
                                      "DEVICE_KINDS",
                                      "IOMMU",
                                      "RNG",
                                      "TPM",
                                      "Address",
                                      "Audio",
                                      "BackingStore",
                                      "CCIDAddress",
                                      "CCWAddress",
                                      "Channel",
                                      "ChrDevice",
                                      "Console",
                                      "Controller",
                                      "Crypto",
                                      "DIMMAddress",
                                      "Device",
                                      "Devices",
                                      "Disk",
                                      "Domain",
                                      "DriveAddress",
                                      "Filesystem",
                                      "Graphics",
                                      "Hostdev",
                                      "Hub",
                                      "ISAAddress",
                                      "Input",
                                      "Interface",
                                      "Lease",
                                      "Listen",
                                      "Memballoon",
                                      "MemoryDevice",
                                      "NVRAMDevice",
                                      "PCIAddress",
                                      "Panic",
                                      "Parallel",
                                      "Redirdev",
                                      "Redirfilter",
                                      "Serial",
                                      "Shmem",
                                      "Smartcard",
                                      "Sound",
                                      "SpaprVioAddress",
                                      "StorageSource",
                                      "USBAddress",
                                      "Video",
                                      "VirtioMMIOAddress",
                                      "VirtioSerialAddress",
                                      "Vsock",
                                      "Watchdog",
                                      "assign_disk_address",
                                      "default_video_type",
                                      "register_virt_type",
]
