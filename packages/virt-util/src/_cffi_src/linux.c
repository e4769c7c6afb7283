/* Linux namespace, mount, hostname and capability calls for virt.util._linux; see linux.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "linux.h"

/* The call's result, or -errno; a function so the call is evaluated once. */
static inline int result(long rc)
{
    return rc < 0 ? -errno : (int)rc;
}

int virt_linux_unshare(int flags)
{
    return result(unshare(flags));
}

int virt_linux_setns(int fd, int nstype)
{
    return result(setns(fd, nstype));
}

/* fork(2) with clone flags: the child starts in the new namespaces (as pid 1 of a new pid namespace).
 * cffi released the GIL around this call; take it back so the interpreter's fork hooks run exactly as
 * os.fork runs them (locks reset and at-fork callbacks in the child). glibc's own at-fork handlers do
 * not run: the caller is expected to be single-threaded, as libvirt_lxc is when it clones. */
long virt_linux_clone_fork(unsigned long flags)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    long pid;
    int saved;

    PyOS_BeforeFork();
    pid = syscall(SYS_clone, flags | SIGCHLD, 0L, 0L, 0L, 0L);
    saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    return pid < 0 ? -saved : pid;
}

int virt_linux_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                     const char *data)
{
    return result(mount(source, target, fstype, flags, data));
}

int virt_linux_umount2(const char *target, int flags)
{
    return result(umount2(target, flags));
}

int virt_linux_pivot_root(const char *new_root, const char *put_old)
{
    return result(syscall(SYS_pivot_root, new_root, put_old));
}

int virt_linux_sethostname(const char *name, size_t len)
{
    return result(sethostname(name, len));
}

int virt_linux_cap_bound_read(int cap)
{
    return result(prctl(PR_CAPBSET_READ, (unsigned long)cap, 0UL, 0UL, 0UL));
}

int virt_linux_cap_bound_drop(int cap)
{
    return result(prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0UL, 0UL, 0UL));
}

/* out/in: effective, permitted, inheritable, each as (low 32 bits, high 32 bits). */
int virt_linux_capget(uint32_t out[6])
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    int i;

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &header, data) < 0)
        return -errno;
    for (i = 0; i < 2; i++) {
        out[0 + i] = data[i].effective;
        out[2 + i] = data[i].permitted;
        out[4 + i] = data[i].inheritable;
    }
    return 0;
}

int virt_linux_capset(const uint32_t in[6])
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    int i;

    for (i = 0; i < 2; i++) {
        data[i].effective = in[0 + i];
        data[i].permitted = in[2 + i];
        data[i].inheritable = in[4 + i];
    }
    return result(syscall(SYS_capset, &header, data));
}

int virt_linux_set_pdeathsig(int sig)
{
    return result(prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL));
}
