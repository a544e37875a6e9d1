"""Start-up and shutdown shared by the loopback test servers (faultserver, tlsserver,
proxyserver): the atomic port file, and serving until SIGTERM or SIGINT (exit status 0)."""
from __future__ import annotations

import os
import signal
import socket
import tempfile


class _Terminate(BaseException):
    """Raised from the SIGTERM/SIGINT handler to leave serve_forever()."""


def _on_signal(signum, frame) -> None:
    raise _Terminate()


LOOPBACK = "127.0.0.1"


def add_listen_arguments(parser, root_help: str) -> None:
    """The options every loopback test server takes: --root, --port, --port-file, --bind
    (checked by the caller: only 127.0.0.1), --verbose."""
    parser.add_argument("--root", required=True, help=root_help)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = pick a free one)")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument("--bind", default=LOOPBACK, help="bind address; only 127.0.0.1 is accepted")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")


def write_port_file(path: str, port: int) -> None:
    """Write ``PORT\\n`` to ``path`` atomically (temp file + rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(f"{port}\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def serve_until_signal(server, port_file: str | None = None, announce: str | None = None) -> int:
    """Writes the port file, prints ``announce`` (``{port}`` is replaced), serves until
    SIGTERM/SIGINT, closes the server and returns 0."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        port = server.server_address[1]
        if port_file:
            write_port_file(port_file, port)
        if announce:
            print(announce.format(port=port), flush=True)
        server.serve_forever(poll_interval=0.5)
    except _Terminate:
        pass
    finally:
        server.server_close()
    return 0


class LoopbackConnection:
    """Mixin for the servers' request handlers (before BaseHTTPRequestHandler): numbers each
    connection, turns Nagle off, and treats a vanished client as the end of the connection."""

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.next_connection_id()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError as exc:  # client went away / we aborted the socket
            if self.server.verbose:
                self.log_message("connection error: %r", exc)
