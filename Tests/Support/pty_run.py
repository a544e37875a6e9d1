#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal and prints everything it wrote there (stdout and
stderr both go to the terminal), so tests can see what a person at a terminal sees.

usage: pty_run.py [--interrupt-after REGEX] [--timeout SECONDS] -- COMMAND [ARGS...]

--interrupt-after types Ctrl-C (the terminal's INTR character, so the kernel sends SIGINT
to the command's process group) once REGEX matches the output so far. Exit status: the
command's, or 128+N when a signal N ended it, or 124 on timeout (the command is killed).
"""
import argparse
import os
import pty
import re
import select
import signal
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--interrupt-after")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    pattern = re.compile(args.interrupt_after) if args.interrupt_after else None
    output = b""
    interrupted = False
    deadline = time.monotonic() + args.timeout
    status = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sys.stdout.buffer.write(output)
            return 124
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            output += chunk
            if pattern and not interrupted and pattern.search(output.decode("utf-8", "replace")):
                os.write(fd, b"\x03")
                interrupted = True
        else:
            done, finished_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = finished_status
                break
    if status is None:
        _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
