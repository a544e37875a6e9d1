#!/usr/bin/python3
"""Loopback HTTP forward proxy for tests (stdlib only).

Usage::

    /usr/bin/python3 Tests/Support/proxyserver.py [--port 0] [--port-file FILE]
        [--auth USER:PASS] [--log FILE]

Listens on 127.0.0.1 only.  With ``--port 0`` the kernel picks a free port; once
listening, the port number (digits + newline) is written atomically to
``--port-file``.  SIGTERM/SIGINT exit with status 0.

Requests must use the absolute form (``GET http://127.0.0.1:PORT/path HTTP/1.1``)
and may only target 127.0.0.1 or localhost (403 otherwise); CONNECT is not
supported (501).  The method, headers (minus hop-by-hop and Proxy-* ones) and
body are forwarded over a new connection; the response is streamed back.

``--auth USER:PASS`` requires ``Proxy-Authorization: Basic ...`` (407 with
``Proxy-Authenticate: Basic realm="bitsd-proxy"`` otherwise).

Log: every forwarded URL is kept in order; ``--log FILE`` appends one URL per
line, and ``GET http://proxy.control/_log`` answers the list as JSON (never
forwarded, never logged, no authentication needed).
"""

from __future__ import annotations

from serverlife import serve_until_signal

import argparse
import base64
import hmac
import http.client
import json
import os
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-authenticate",
              "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, auth: str | None, log_file: str | None):
        self.auth = auth
        self.log_file = log_file
        self.lock = threading.Lock()
        self.forwarded: list[str] = []
        super().__init__((LOOPBACK, port), ProxyHandler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def record(self, url: str) -> None:
        with self.lock:
            self.forwarded.append(url)
            if self.log_file:
                with open(self.log_file, "a") as f:
                    f.write(url + "\n")

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "proxyserver/1.0"
    sys_version = ""
    server: ProxyServer

    def log_message(self, format: str, *args) -> None:
        pass

    def _send(self, code: int, text: str, headers=()) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _authorized(self) -> bool:
        if not self.server.auth:
            return True
        scheme, _, token = self.headers.get("Proxy-Authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(decoded, self.server.auth)

    def do_CONNECT(self) -> None:
        self._send(501, "CONNECT is not supported\n")
        self.close_connection = True

    def do_GET(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self._send(400, "absolute http:// URL required\n")
            return
        if url.hostname == "proxy.control":
            if url.path == "/_log":
                with self.server.lock:
                    text = json.dumps(self.server.forwarded)
                self._send(200, text, [("Content-Type", "application/json")])
            else:
                self._send(404, "unknown control endpoint\n")
            return
        if not self._authorized():
            self._send(407, "proxy authentication required\n",
                       [("Proxy-Authenticate", 'Basic realm="bitsd-proxy"')])
            return
        if url.hostname not in ("127.0.0.1", "localhost"):
            self._send(403, "only loopback targets are forwarded\n")
            return
        self.server.record(self.path)
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP}
        headers["Connection"] = "close"
        upstream = http.client.HTTPConnection(LOOPBACK, url.port or 80, timeout=60)
        try:
            upstream.request(self.command, target, body=body or None, headers=headers)
            response = upstream.getresponse()
        except OSError as exc:
            self._send(502, f"upstream failed: {exc}\n")
            upstream.close()
            return
        try:
            self.send_response(response.status, response.reason)
            length = response.getheader("Content-Length")
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            if length is not None:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                while data := response.read(CHUNK):
                    self.wfile.write(data)
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # upstream broke mid-body: so does the client's
        finally:
            upstream.close()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback HTTP forward proxy for tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--auth", help="require Proxy-Authorization Basic USER:PASS")
    parser.add_argument("--log", help="append each forwarded URL to FILE")
    args = parser.parse_args(argv)
    server = ProxyServer(args.port, args.auth, args.log)
    return serve_until_signal(server, args.port_file)

if __name__ == "__main__":
    sys.exit(main())
