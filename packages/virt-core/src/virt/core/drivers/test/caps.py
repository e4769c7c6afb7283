"""The mock host's capabilities document, built from its HostInfo as libvirt's test driver builds it."""

from __future__ import annotations

from virt.core.drivers.test.state import HostInfo

ARCH = "i686"
EMULATOR = "/usr/bin/test-hv"
#: Page sizes (KiB) the mock host offers; a cell's first pages are 4 KiB, or 8 KiB for cell 1.
PAGE_SIZES = (4, 8, 2048, 1024 * 1024)
GUEST_OS_TYPES = ("hvm", "xen")
HOST_FEATURES = ("pae", "nonpae")


def capabilities_xml(host: HostInfo) -> str:
    from virt.conf.capabilities import (
        Capabilities,
        Cell,
        CellCPU,
        CellCPUs,
        CellMemory,
        CellPages,
        Cells,
        FlagList,
        Guest,
        GuestArch,
        GuestDomain,
        GuestFeature,
        GuestFeatures,
        Host,
        HostCPU,
        HostTopology,
        Iommu,
        PageSize,
        SecModel,
    )

    topology = None
    if host.cells:
        cells = []
        first = 0
        for i, cell in enumerate(host.cells):
            small = PAGE_SIZES[1] if i == 1 else PAGE_SIZES[0]
            pages = [CellPages(unit="KiB", size=small, count=cell.memory // small)]
            pages += [CellPages(unit="KiB", size=s, count=0) for s in PAGE_SIZES[2:]]
            cpus = [CellCPU(id=first + j, socket_id=i, die_id=0, core_id=j, siblings=str(first + j))
                    for j in range(cell.cpus)]
            first += cell.cpus
            cells.append(Cell(id=i, memory=CellMemory(unit="KiB", value=cell.memory), pages=pages,
                              cpus=CellCPUs(cpus=cpus)))
        topology = HostTopology(cells=Cells(cells=cells))

    def features() -> GuestFeatures:
        feats = []
        for name in HOST_FEATURES:
            f = GuestFeature()
            f.name = name
            feats.append(f)
        return GuestFeatures(features=feats)

    caps = Capabilities(
        host=Host(
            cpu=HostCPU(arch=ARCH, flags=FlagList(list(HOST_FEATURES)),
                        pages=[PageSize(unit="KiB", size=s) for s in PAGE_SIZES]),
            power_management=FlagList(), iommu=Iommu(support=False), topology=topology,
            secmodels=[SecModel(model="testSecurity", doi="")],
        ),
        guests=[Guest(os_type=os_type, arch=GuestArch(name=ARCH, wordsize=32, emulator=EMULATOR,
                                                       domains=[GuestDomain(type="test")]),
                      features=features())
                for os_type in GUEST_OS_TYPES],
    )
    return str(caps.format())
