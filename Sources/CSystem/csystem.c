#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

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
