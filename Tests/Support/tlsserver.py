#!/usr/bin/python3
"""Loopback HTTPS/1.1 test server (stdlib only: ssl + http.server).

Usage::

    /usr/bin/python3 Tests/Support/tlsserver.py --root DIR --cert FILE --key FILE
        [--client-ca FILE] [--port 0] [--port-file FILE]

Listens on 127.0.0.1 only.  With ``--port 0`` the kernel picks a free port; once
listening, the port number (digits + newline) is written atomically to
``--port-file``.  SIGTERM/SIGINT exit with status 0.

``--cert``/``--key`` are the server's PEM certificate (chain) and key.  With
``--client-ca FILE`` every connection must present a client certificate
signed by a CA in FILE (the TLS handshake fails otherwise).

Requests (HTTP/1.1 keep-alive, every response has a Content-Length):
    GET/HEAD /PATH            the regular file PATH under --root (404 if none)
    GET /redirect?to=URL[&code=302]
                              redirect to URL
    POST /ANYTHING            200 with the body ``METHOD PATH BODY_LENGTH range=R\\n``
                              (R = the Range header or ``-``; the request body is
                              read and dropped)
    other methods             the same echo as POST
"""

from __future__ import annotations

from serverlife import serve_until_signal

import argparse
import os
import socket
import socketserver
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, root: str, context: ssl.SSLContext):
        self.root = os.path.realpath(root)
        self.context = context
        super().__init__((LOOPBACK, port), Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address) -> None:
        # The handshake runs on the connection's own thread, not in accept().
        try:
            request.settimeout(30)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # failed handshake (e.g. no client certificate): the client sees the alert
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tlsserver/1.0"
    sys_version = ""
    server: TLSServer

    def log_message(self, format: str, *args) -> None:
        pass

    def _send(self, code: int, body: bytes, headers=()) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drain(self) -> int:
        length = int(self.headers.get("Content-Length") or 0)
        left = length
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
        return length

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        self._drain()
        if path == "/redirect":
            q = dict(parse_qsl(url.query))
            target = q.get("to", "")
            code = int(q.get("code", "302"))
            self._send(code, f"redirect to {target}\n".encode(), [("Location", target)])
            return
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            self._send(403, b"forbidden\n")
            return
        full = os.path.join(self.server.root, *parts)
        if not os.path.isfile(full):
            self._send(404, b"not found\n")
            return
        size = os.path.getsize(full)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(full, "rb") as f:
            while data := f.read(CHUNK):
                self.wfile.write(data)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        length = self._drain()
        path = unquote(urlsplit(self.path).path)
        range_header = self.headers.get("Range") or "-"
        self._send(200, f"{self.command} {path} {length} range={range_header}\n".encode(),
                   [("Content-Type", "text/plain")])

    do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_POST


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback HTTPS test server.")
    parser.add_argument("--root", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", help="require a client certificate signed by a CA in FILE")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args(argv)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=args.client_ca)

    server = TLSServer(args.port, args.root, context)
    return serve_until_signal(server, args.port_file)

if __name__ == "__main__":
    sys.exit(main())
