/* Linux namespace, mount, hostname and capability calls for virt.util._linux (cffi cdef: plain declarations only).
 *
 * Every call returns 0 (or a non-negative result) on success and -errno on failure, so the Python layer
 * raises the same error whichever implementation ran.
 */
int virt_linux_unshare(int flags);
int virt_linux_setns(int fd, int nstype);
long virt_linux_clone_fork(unsigned long flags);
int virt_linux_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                     const char *data);
int virt_linux_umount2(const char *target, int flags);
int virt_linux_pivot_root(const char *new_root, const char *put_old);
int virt_linux_sethostname(const char *name, size_t len);
int virt_linux_cap_bound_read(int cap);
int virt_linux_cap_bound_drop(int cap);
int virt_linux_capget(uint32_t out[6]);
int virt_linux_capset(const uint32_t in[6]);
int virt_linux_set_pdeathsig(int sig);
