#define _GNU_SOURCE
#include "cspawn.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t bits_spawn_isolated(const char *path, char *const argv[], char *const envp[]) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) { errno = rc; return -1; }
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); errno = rc; return -1; }

    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    pid_t pid = -1;
    if ((rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)) == 0
        && (rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)) == 0
        && (rc = posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)) == 0
        && (rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0
        && (rc = posix_spawn_file_actions_addchdir_np(&actions, "/")) == 0
        && (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                                 | POSIX_SPAWN_SETSIGDEF)) == 0
        && (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0
        && (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0
        && (rc = posix_spawnattr_setsigdefault(&attr, &all)) == 0) {
        rc = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) { errno = rc; return -1; }
    return pid;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// Whether `pid` has ended (without reaping it). -1 with errno on failure.
static int has_ended(pid_t pid) {
    siginfo_t info;
    info.si_pid = 0;
    for (;;) {
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid == pid;
        if (errno != EINTR) return -1;
    }
}

/// Waits until `pid` has ended (without reaping it) or `timeout_ms` passed (negative: no
/// limit). Returns 1 (ended), 0 (timed out) or -1 with errno.
static int wait_ended(pid_t pid, int pidfd, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
    for (;;) {
        int ended = has_ended(pid);
        if (ended != 0) return ended;
        int remaining = -1;
        if (timeout_ms >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return 0;
            remaining = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        if (pidfd >= 0) {
            // A pidfd polls readable once the process has ended.
            struct pollfd p = { .fd = pidfd, .events = POLLIN };
            if (poll(&p, 1, remaining) < 0 && errno != EINTR) return -1;
        } else {
            // No pidfd_open (kernel before 5.3): look again every 100 ms.
            int step = remaining < 0 || remaining > 100 ? 100 : remaining;
            struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000 };
            nanosleep(&ts, NULL);
        }
    }
}

int bits_child_wait(pid_t pid, int time_limit_ms, int grace_ms, bits_child_end *end) {
    end->exit_status = -1;
    end->signal = 0;
    end->timed_out = 0;
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int pidfd = -1;
#endif
    int ended = wait_ended(pid, pidfd, time_limit_ms);
    if (ended == 0) {
        // Still running: the child is not reaped, so its pid still names its process group.
        end->timed_out = 1;
        kill(-pid, SIGTERM);
        // The whole grace, even when the child ends sooner: the rest of its group may still
        // be cleaning up (and the unreaped child keeps the group id reserved meanwhile).
        int64_t deadline = now_ms() + grace_ms;
        for (int64_t left; (left = deadline - now_ms()) > 0;) {
            struct timespec ts = { .tv_sec = (time_t)(left / 1000), .tv_nsec = (long)(left % 1000) * 1000000 };
            nanosleep(&ts, NULL);
        }
        kill(-pid, SIGKILL);
        ended = wait_ended(pid, pidfd, -1);
    }
    int saved = errno;
    if (pidfd >= 0) close(pidfd);
    if (ended < 0) { errno = saved; return -1; }
    int status = 0;
    pid_t reaped;
    do { reaped = waitpid(pid, &status, 0); } while (reaped < 0 && errno == EINTR);
    if (reaped < 0) return -1;
    if (WIFEXITED(status)) {
        end->exit_status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        end->signal = WTERMSIG(status);
    }
    return 0;
}
