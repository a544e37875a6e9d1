// Starting and waiting for a child program (the notify command) without forking Swift code.
#ifndef BITS_CSPAWN_H
#define BITS_CSPAWN_H
#include <sys/types.h>

/// Starts `path` with `argv` and exactly the environment `envp` (both NULL-terminated) in a
/// child that inherits nothing of the caller: fd 0 reads /dev/null, fds 1 and 2 write to
/// /dev/null, every other descriptor is closed; the working directory is `/`; the signal mask
/// is empty and every signal has its default disposition; the child leads a new process group
/// (its pgid is its pid), so `kill(-pid, …)` reaches it and everything it starts there.
/// Returns the child's pid, or -1 with errno set (also when the program could not be executed).
pid_t bits_spawn_isolated(const char *path, char *const argv[], char *const envp[]);

/// How a child waited for by bits_child_wait ended.
typedef struct {
    /// The exit status (0–255), or -1 if a signal ended it.
    int exit_status;
    /// The signal that ended it, or 0.
    int signal;
    /// 1 if it was still running after the time limit and its process group was killed.
    int timed_out;
} bits_child_end;

/// Waits for the child `pid` (that child only; other children are left alone) and reaps it.
/// If it is still running after `time_limit_ms`, its process group gets SIGTERM, and SIGKILL
/// `grace_ms` later (also if the child itself ended in between: its group may live on). The
/// child is reaped only after the last signal, so its pid, and the group id, cannot have
/// been reused when they are sent. Blocks the calling thread; returns 0, or -1 with errno.
int bits_child_wait(pid_t pid, int time_limit_ms, int grace_ms, bits_child_end *end);

#endif
