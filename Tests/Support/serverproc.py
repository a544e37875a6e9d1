"""Starting and stopping a loopback test server as a subprocess, for the servers' own
unittest suites (test_faultserver.py, test_bitsuploadserver.py)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys


def start_server(script: str, root: str, workdir: str, *options: str) -> tuple[subprocess.Popen, int, str]:
    """Starts ``script --root ROOT --port 0 --port-file WORKDIR/port OPTIONS``; returns
    (process, port, port file) once it says it is listening. stderr goes to
    WORKDIR/stderr.log and is quoted if the server does not start."""
    port_file = os.path.join(workdir, "port")
    stderr_path = os.path.join(workdir, "stderr.log")
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, script, "--root", root, "--port", "0", "--port-file", port_file, *options],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = proc.stdout.readline()  # printed once listening
    m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
    if not m:
        proc.kill()
        proc.wait()
        with open(stderr_path) as f:
            raise RuntimeError(f"server did not start: {line!r} {f.read()}")
    return proc, int(m[1]), port_file


def stop_server(proc: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL after 5 s; returns the exit status."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
