#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>

int bits_thread_set_fs_identity(uid_t uid, gid_t gid, const gid_t *groups, size_t group_count) {
    if (syscall(SYS_setgroups, group_count, groups) != 0) return -1;
    setfsgid(gid);
    if ((gid_t)setfsgid((gid_t)-1) != gid) { errno = EPERM; return -1; }
    setfsuid(uid);
    if ((uid_t)setfsuid((uid_t)-1) != uid) { errno = EPERM; return -1; }
    return 0;
}

int bits_thread_reset_fs_identity(void) {
    setfsuid(0);
    setfsgid(0);
    if (syscall(SYS_setgroups, 0, NULL) != 0) return -1;
    if (setfsuid((uid_t)-1) != 0 || setfsgid((gid_t)-1) != 0) { errno = EPERM; return -1; }
    return 0;
}

int bits_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int bits_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int bits_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }
int bits_openat(int dirfd, const char *path, int flags, unsigned int mode) { return openat(dirfd, path, flags, mode); }
int bits_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

int bits_start_writeback(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int bits_thread_unshare_fs(void) { return unshare(CLONE_FS); }

unsigned int bits_thread_umask(unsigned int mask) { return (unsigned int)umask((mode_t)mask); }

/// The calling thread's capabilities as read once (threads that write data keep them).
static __thread int capabilities_known;
static __thread struct __user_cap_data_struct capabilities[2];

/// Set once the calling thread gave up root's file-system privileges for good.
static __thread int write_privileges_dropped;

int bits_thread_drop_write_privileges(void) {
    if (write_privileges_dropped) return 0;
    if (geteuid() != 0) { write_privileges_dropped = 1; return 0; }
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct lowered[2];
    if (syscall(SYS_capget, &header, lowered) != 0) return -1;
    lowered[CAP_SYS_RESOURCE / 32].effective &= ~(1u << (CAP_SYS_RESOURCE % 32));
    header.pid = 0;
    if (syscall(SYS_capset, &header, lowered) != 0) return -1;
    setfsgid(65534);
    setfsuid(65534);
    if ((uid_t)setfsuid((uid_t)-1) != 65534 || (gid_t)setfsgid((gid_t)-1) != 65534) return -1;
    write_privileges_dropped = 1;
    return 0;
}

ssize_t bits_pwrite_unprivileged(int fd, const void *buffer, size_t count, int64_t offset) {
    if (write_privileges_dropped || geteuid() != 0) return pwrite(fd, buffer, count, (off_t)offset);
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    if (!capabilities_known) {
        if (syscall(SYS_capget, &header, capabilities) != 0) return -1;
        capabilities_known = 1;
    }
    // Not root for the file system while writing: the reserved-blocks check of ext4 (and the
    // like) passes for fsuid 0 or CAP_SYS_RESOURCE, so both go for the write and come back.
    struct __user_cap_data_struct lowered[2] = { capabilities[0], capabilities[1] };
    lowered[CAP_SYS_RESOURCE / 32].effective &= ~(1u << (CAP_SYS_RESOURCE % 32));
    if (syscall(SYS_capset, &header, lowered) != 0) return -1;
    setfsgid(65534);
    setfsuid(65534);
    ssize_t written = -1;
    int saved = EPERM;
    if ((uid_t)setfsuid((uid_t)-1) == 65534) {
        written = pwrite(fd, buffer, count, (off_t)offset);
        saved = errno;
    }
    setfsuid(0);
    setfsgid(0);
    header.pid = 0;
    if (syscall(SYS_capset, &header, capabilities) != 0 || setfsuid((uid_t)-1) != 0) abort();
    errno = saved;
    return written;
}
