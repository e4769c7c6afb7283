"""virt's storage driver: pools (dir, fs, logical) and their volumes, created and changed with qemu-img."""
