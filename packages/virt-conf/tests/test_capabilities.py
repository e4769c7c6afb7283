"""Host capabilities: built from Python by drivers, printed as libvirt prints them, read back unchanged."""

from __future__ import annotations

from virt.conf import parse
from virt.conf.capabilities import (
    BaseLabel,
    Capabilities,
    Cell,
    CellCPU,
    CellCPUs,
    CellMemory,
    Cells,
    CPUModelName,
    CPUTopology,
    FlagList,
    Guest,
    GuestArch,
    GuestDomain,
    GuestFeature,
    GuestFeatures,
    GuestMachine,
    Host,
    HostCPU,
    HostTopology,
    Iommu,
    MigrationFeatures,
    PageSize,
    SecModel,
)

EXPECTED = """<capabilities>

  <host>
    <uuid>e9392370-2917-565e-692b-d057f46512d6</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Client-IBRS</model>
      <vendor>Intel</vendor>
      <topology sockets='1' dies='1' cores='4' threads='2'/>
      <pages unit='KiB' size='4'/>
    </cpu>
    <power_management>
      <suspend_mem/>
    </power_management>
    <iommu support='yes'/>
    <migration_features>
      <live/>
    </migration_features>
    <topology>
      <cells num='1'>
        <cell id='0'>
          <memory unit='KiB'>1048576</memory>
          <cpus num='2'>
            <cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0'/>
            <cpu id='1' socket_id='0' die_id='0' core_id='1' siblings='1'/>
          </cpus>
        </cell>
      </cells>
    </topology>
    <secmodel>
      <model>dac</model>
      <doi>0</doi>
      <baselabel type='kvm'>+0:+0</baselabel>
    </secmodel>
  </host>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-8.0</machine>
      <machine canonical='pc-i440fx-8.0' maxCpus='255'>pc</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
    <features>
      <acpi default='on' toggle='yes'/>
      <cpuselection/>
    </features>
  </guest>

</capabilities>
"""


def build() -> Capabilities:
    cells = Cells(cells=[Cell(id=0, memory=CellMemory(unit="KiB", value=1048576),
                              cpus=CellCPUs(cpus=[CellCPU(id=i, socket_id=0, die_id=0, core_id=i, siblings=str(i))
                                                  for i in range(2)]))])
    host = Host(
        uuid="e9392370-2917-565e-692b-d057f46512d6",
        cpu=HostCPU(arch="x86_64", model=CPUModelName(name="Skylake-Client-IBRS"), vendor="Intel",
                    topology=CPUTopology(sockets=1, dies=1, cores=4, threads=2),
                    pages=[PageSize(unit="KiB", size=4)]),
        power_management=FlagList(["suspend_mem"]), iommu=Iommu(support=True),
        migration_features=MigrationFeatures(live=True), topology=HostTopology(cells=cells),
        secmodels=[SecModel(model="dac", doi="0", base_labels=[BaseLabel(type="kvm", label="+0:+0")])],
    )
    arch = GuestArch(name="x86_64", wordsize=64, emulator="/usr/bin/qemu-system-x86_64",
                     machines=[GuestMachine(max_cpus=255, name="pc-i440fx-8.0"),
                               GuestMachine(canonical="pc-i440fx-8.0", max_cpus=255, name="pc")],
                     domains=[GuestDomain(type="qemu"), GuestDomain(type="kvm")])
    acpi = GuestFeature(default="on", toggle=True)
    acpi.name = "acpi"
    cpusel = GuestFeature()
    cpusel.name = "cpuselection"
    guest = Guest(os_type="hvm", arch=arch, features=GuestFeatures([acpi, cpusel]))
    return Capabilities(host=host, guests=[guest])


def test_build_from_python_prints_like_libvirt():
    assert build().format() == EXPECTED


def test_parse_round_trip_and_typed_view():
    caps = parse(EXPECTED)
    assert isinstance(caps, Capabilities)
    assert caps.format() == EXPECTED
    assert caps == build()
    assert caps.host.cpu.topology.threads == 2
    guest = caps.guest("hvm", "x86_64")
    assert guest is not None and [d.type for d in guest.arch.domains] == ["qemu", "kvm"]
    assert [f.name for f in guest.features.features] == ["acpi", "cpuselection"]


def test_empty_host_still_prints_cpu_and_power_management():
    out = Capabilities(host=Host()).format()
    assert "<cpu/>" in out and "<power_management/>" in out
