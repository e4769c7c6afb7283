"""Autostart: guests marked to start with the host are started once per host boot.

libvirt starts them when its daemon starts. Here the driver lives in whichever process opens the
URI first, so the start is remembered per boot (the kernel's boot id in the state directory):
opening the URI again, in this or a later process, does not restart a guest its user shut down.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from virt.util.errors import VirtError
from virt.util.fileutil import atomic_write

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

log = logging.getLogger(__name__)


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        import time

        return str(int(time.time() - time.monotonic()))


def run_once(host: QemuHost) -> None:
    """Start the autostart guests if this boot has not seen them started yet."""
    from virt.driver.qemu import lifecycle

    with host.lock:
        if host.autostarted:
            return
        host.autostarted = True
    marker = host.settings.state_dir / "autostarted"
    current = boot_id()
    try:
        if marker.read_text() == current:
            return
    except OSError:
        pass
    atomic_write(marker, current, mode=0o644)
    with host.lock:
        objs = [o for o in host.domains.values() if o.autostart and o.config is not None and not o.active]
    from virt.driver.qemu import saveimage

    for obj in sorted(objs, key=lambda o: o.name):
        try:
            with obj.job:
                if obj.active or obj.config is None:
                    continue
                image = host.settings.managed_save_file(obj.name)
                if image.exists():  # as libvirt: an autostart guest comes back from its managed save
                    saveimage.restore(host, obj, image, managed=True)
                else:
                    lifecycle.start(host, obj, obj.config)
        except VirtError as err:
            log.warning("failed to autostart VM '%s': %s", obj.name, err)  # one broken guest must not stop the others
