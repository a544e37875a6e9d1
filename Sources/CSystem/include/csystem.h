// Raw Linux system calls the daemon needs without glibc's process-wide semantics.
#ifndef BITS_CSYSTEM_H
#define BITS_CSYSTEM_H
#include <sys/types.h>
#include <stdint.h>

/// Switches the calling thread's filesystem identity: supplementary groups (raw syscall, so
/// only this thread changes — glibc's setgroups() would change every thread), fsgid, fsuid.
/// Returns 0 on success, -1 with errno set if any step did not take effect.
int bits_thread_set_fs_identity(uid_t uid, gid_t gid, const gid_t *groups, size_t group_count);

/// Restores the calling thread's filesystem identity to root (uid 0, gid 0, no groups).
int bits_thread_reset_fs_identity(void);

/// renameat2(2) with flags (RENAME_NOREPLACE = 1). Returns 0 or -1 with errno.
int bits_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// openat2(2) with RESOLVE_* flags. Returns an fd or -1 with errno (ENOSYS on old kernels).
int bits_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// open(2) with a mode (the variadic libc open does not import).
int bits_open(const char *path, int flags, unsigned int mode);
/// openat(2) with a mode.
int bits_openat(int dirfd, const char *path, int flags, unsigned int mode);
/// fcntl(fd, F_SETFL/F_GETFL…) with an int argument.
int bits_fcntl_int(int fd, int cmd, int arg);
/// Starts writing back a written range of a file without waiting for it
/// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE), so a later fsync has little left to do.
/// Returns 0 or -1 with errno.
int bits_start_writeback(int fd, int64_t offset, int64_t length);

/// unshare(CLONE_FS) for the calling thread: its umask (and cwd) become its own, so a file
/// worker can create a user's files under that user's umask without touching other threads.
int bits_thread_unshare_fs(void);
/// umask(2); after bits_thread_unshare_fs() it affects the calling thread alone.
unsigned int bits_thread_umask(unsigned int mask);
/// pwrite(2) without root's file-system privileges: when running as root, the calling thread's
/// fsuid/fsgid are 65534 and CAP_SYS_RESOURCE is not effective for the write alone, so no
/// user's download can fill the blocks a file system reserves for root (the descriptor was
/// opened as the job's owner; the write itself needs no rights). Returns what pwrite returns.
ssize_t bits_pwrite_unprivileged(int fd, const void *buffer, size_t count, int64_t offset);

/// Makes the calling thread give up root's file-system privileges for the rest of its life:
/// fsuid/fsgid 65534 and CAP_SYS_RESOURCE not effective. Afterwards
/// `bits_pwrite_unprivileged` on this thread is a plain pwrite (no switch per write). For
/// threads that only read and write descriptors opened elsewhere (the transfer engine, local
/// copies). 0, or -1 when a step failed (the thread then keeps switching per write).
int bits_thread_drop_write_privileges(void);

#endif
