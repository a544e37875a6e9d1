#!/usr/bin/python3
"""Loopback BITS Upload Protocol ([MC-BUP]) test server with run-time fault switches
(stdlib only).

Usage::

    /usr/bin/python3 Tests/Support/bitsuploadserver.py --root DIR [--port 0]
        [--port-file FILE] [--bind 127.0.0.1] [--verbose]
        [--overwrite | --no-overwrite] [--max-size BYTES] [--max-fragment BYTES]
        [--reply-echo | --reply-handler CMD] [--reply-timeout SECS]
        [--reply-url-form absolute|path] [--keep-replies]
        [--host-id NAME [--host-id-fallback-timeout SECS]]
        [--protocol GUID ...] [--commit-on fragment|close] [--persist-sessions]

Start-up follows faultserver.py: the server listens on 127.0.0.1 only; with
``--port 0`` the kernel picks a free port; once listening the port number
(digits + newline) is written atomically (temp file + rename) to
``--port-file`` and ``listening on 127.0.0.1:PORT`` is printed on stdout.
SIGTERM/SIGINT exit with status 0 (partial uploads and stored replies are then
deleted, except with --persist-sessions).  A fixed ``--port N`` can be bound
again right after a restart (SO_REUSEADDR).  Request logging goes to stderr
only with ``--verbose``.  HTTP/1.1 keep-alive; every response carries
Content-Length.  BYTES values accept a K/M/G suffix (KiB/MiB/GiB).

Options
    --overwrite / --no-overwrite   an upload may replace an existing file
                                   (default: overwrite).  With --no-overwrite
                                   Create-Session (and the commit) answer 403
                                   E_ACCESSDENIED when the target exists.
    --max-size BYTES               largest upload (Content-Range TOTAL) accepted;
                                   larger -> 500 BG_E_TOO_LARGE.
    --max-fragment BYTES           largest fragment body accepted; larger -> 413
                                   BG_E_TOO_LARGE (the client should retry with
                                   smaller fragments, [MC-BUP] 3.1.5.1.7).
    --reply-echo                   upload-reply mode; the reply is the 64
                                   lowercase hex digits of the upload's SHA-256
                                   (no newline).
    --reply-handler CMD            upload-reply mode; run ``shlex.split(CMD) +
                                   [DATA_FILE]`` when the upload is complete; its
                                   stdout is the reply.  Environment extras:
                                   BITS_SESSION_ID, BITS_URL_PATH, BITS_CONTENT_NAME.
                                   Exit status != 0 or timeout -> the final
                                   Fragment Ack is 500 E_FAIL with context 0x7;
                                   the handler runs again when the client re-sends
                                   a fragment.
    --reply-timeout SECS           handler time limit (default 60).
    --reply-url-form absolute|path BITS-Reply-URL as ``http://HOST/_reply/ID``
                                   (HOST = the request's Host header) or as the
                                   relative reference ``/_reply/ID`` (default
                                   absolute).
    --keep-replies                 keep replies after Close-/Cancel-Session
                                   (by default they are deleted, as the spec says
                                   the reply is lost once the session is closed).
    --host-id NAME, --host-id-fallback-timeout SECS
                                   send BITS-Host-Id (and the fallback timeout) in
                                   the Create-Session Ack.
    --protocol GUID                protocol GUIDs the server supports (repeatable;
                                   default {7df0354d-249b-430f-820d-3d2a9bef4931},
                                   "BITS 1.5 Upload Protocol").
    --commit-on fragment|close     when the complete upload is moved to its path:
                                   on the final Fragment (default; what IIS does,
                                   W:cancel-session) or on Close-Session
                                   ([MC-BUP] 3.2.5.2.7).
    --persist-sessions             upload sessions survive a restart of the server
                                   (as IIS keeps them on disk).  Each active session
                                   (not closed, cancelled or lost) is kept in
                                   ``<root>/.bits-sessions/<id>.json`` (id lower
                                   case without braces; id, url_path, target,
                                   temp_path, protocol, content_name, total,
                                   received, fragments, created, complete,
                                   committed, sha256, reply_id, reply_error),
                                   rewritten atomically (temp + rename) when the
                                   session is created, after each fragment's data
                                   is written (before its Ack) and on completion,
                                   and deleted on Close-/Cancel-Session (and
                                   session-loss).  Replies are stored in
                                   ``<root>/.bits-sessions/replies/``.  At exit the
                                   partial uploads, session files and replies of
                                   active sessions are kept.  At start-up every
                                   session file is loaded: the temp file is cut to
                                   ``received`` bytes (a shorter temp file lowers
                                   ``received`` to its length), the SHA-256 of the
                                   data so far is recomputed from it, and
                                   Fragment/Close-/Cancel-Session/Get-Reply-URL
                                   with the old session id go on as before
                                   (BITS-Received-Content-Range = the restored
                                   ``received``).  A committed but not yet closed
                                   session is restored with its /_state "files"
                                   entry; a missing reply is produced again on
                                   demand under the same URL.  Session files that
                                   cannot be restored (bad JSON, temp file gone)
                                   are reported on stderr and deleted.  URL paths
                                   under /.bits-sessions are refused (403).  The
                                   files are not fsync'ed: they survive the
                                   server's death (SIGKILL), not a power loss.
                                   Without the option no session outlives the
                                   process.

BITS packets ([MC-BUP] 2.2; W: = learn.microsoft.com/windows/win32/bits/)
    Every BITS packet is a ``BITS_POST`` to the upload URL; the URL path names
    the target file under --root (``..`` escapes, paths starting with ``/_`` ->
    403).  ``BITS-Packet-Type`` is matched case-insensitively.  Every request
    must carry Content-Length (else 411 E_INVALIDARG, 3.2.5.2.3); packets other
    than Fragment must have an empty body (else 400).  Every response is an Ack:
    ``BITS-Packet-Type: Ack`` and ``Content-Length: 0``; 200 on success.
    ``BITS-Session-Id`` is echoed, exactly as sent, on every response to a packet
    that carried one (ids are matched case-insensitively, braces optional).

    Ping            200.
    Create-Session  BITS-Supported-Protocols (space- or comma-separated GUIDs,
                    client preference order) -> 200 with BITS-Protocol (the first
                    client GUID the server supports, in the server's spelling),
                    BITS-Session-Id ``{GUID}`` (upper case), Accept-Encoding:
                    identity, BITS-Host-Id / BITS-Host-Id-Fallback-Timeout when
                    configured.  A temp file ``.bits-*.part`` is created next to
                    the target (parent directories are created).
    Fragment        BITS-Session-Id, Content-Range ``bytes A-B/TOTAL`` (or
                    ``bytes */0`` for an empty file), Content-Length = B-A+1,
                    optional Content-Name.  200 with BITS-Received-Content-Range =
                    next byte expected.  A > received -> 416 (no holes) with the
                    received offset; overlap with received data -> only the new
                    tail is written; TOTAL changing within a session -> 400.  The
                    body is streamed to disk (all-zero 64 KiB blocks are not
                    written, leaving holes, so huge sparse uploads are cheap).  When all
                    TOTAL bytes are in, the temp file is renamed onto the target
                    (see --commit-on) and, in reply mode, the reply is produced
                    and this Ack carries BITS-Reply-URL (as does any later
                    Fragment Ack of the session).
    Close-Session   200; the session is recorded as closed and forgotten.  Before
                    the upload is complete the partial data is deleted
                    (W:close-session: no partial files).
    Cancel-Session  200; partial data (and the reply) deleted, session recorded as
                    cancelled.  After the commit the file stays.
    Get-Reply-URL   (extension, not in [MC-BUP]) 200 with BITS-Reply-URL once the
                    reply exists; 400 E_INVALIDARG when not in reply mode or the
                    upload is not complete.
    Other types     400 E_INVALIDARG.

Error Acks carry ``BITS-Error-Code: 0x%08X`` and ``BITS-Error-Context`` (0x5 =
BG_ERROR_CONTEXT_REMOTE_FILE, errors of the BITS server; 0x7 =
REMOTE_APPLICATION, errors of the reply handler); [MC-BUP] 2.2.1.2 calls the
first header "BITS-Error", the Windows docs (W:ack-for-fragment) and clients use
"BITS-Error-Code".  Values ([MC-BUP] 2.2.1.2 table and 3.2.5.2.x):
    500 0x8020001F BG_E_SESSION_NOT_FOUND  unknown/lost session id (or the
                                           session belongs to another URL path)
    403 0x80070005 E_ACCESSDENIED          path escape, target exists with
                                           --no-overwrite, fault "403"
    400 0x80070057 E_INVALIDARG            no common protocol, bad/missing headers,
                                           bad Content-Range, TOTAL changed,
                                           target is a directory, unknown packet
    411 0x80070057 E_INVALIDARG            no Content-Length
    416 0x00000000                         fragment leaves a hole
    500 0x80200020 BG_E_TOO_LARGE          TOTAL > --max-size
    413 0x80200020 BG_E_TOO_LARGE          fragment > --max-fragment
    500 0x80070112 (ERROR_DISK_FULL, spec)  writing the upload failed
    500 0x80004005 E_FAIL, context 0x7     reply handler failed
    503 0x801901F7 BG_E_HTTP_ERROR_503     fault "5xx" (0x80190000 + status)

Other requests
    GET/HEAD /PATH          the file under --root (single byte range supported,
                            206/416), for reading back uploads.
    PUT /PATH               stream the body (Content-Length or chunked) to the
                            file, atomically (temp + rename) -> 201; honours
                            --no-overwrite (403) and --max-size (413).  For
                            benchmarks against ``curl -T``.
    GET/HEAD /_reply/ID     a stored reply (single byte range supported).
    GET /_state             JSON, see below.
    GET /_control           the current fault as JSON (null when none).
    POST /_control          JSON body, sets the fault for the next BITS packets:
        {"fault": "drop"|"5xx"|"403"|"session-loss"|null,
         "count": N            packets the fault applies to (default 1),
         "after_bytes": K      drop: body bytes read before closing (default 0),
         "types": [...]        packet types it applies to (default: drop ->
                               ["Fragment"], others -> every BITS packet),
         "status": S           5xx: HTTP status 500..599 (default 503),
         "error_code": "0x.."  5xx/403: BITS-Error-Code override,
         "keep_partial": bool  drop: keep the bytes read before the drop
                               (default true),
         "reset_log": true}    also clear the packet/request logs
        Faults:
          drop          read at most K bytes of the request body; when the body
                        is longer, the connection is closed there (the bytes read
                        are stored, so the next Ack reports them); otherwise the
                        packet is processed and the connection is closed instead
                        of sending the Ack (Ack lost).  No response either way.
          5xx           drain the body, answer S with BITS-Error-Code
                        0x80190000+S; the packet is not processed.
          403           drain the body, answer 403 E_ACCESSDENIED; not processed.
          session-loss  forget every active session (deleting partial data), then
                        process the packet (-> BG_E_SESSION_NOT_FOUND).
        Answers 200 with the current fault; malformed JSON -> 400.
    GET /_health            200 "ok".

State JSON (GET /_state)
    {"config":   {...the options...},
     "fault":    current fault or null,
     "sessions": [{"id", "path", "target", "temp_path", "protocol",
                   "content_name", "total", "received", "fragments",
                   "complete", "committed", "closed", "closed_incomplete",
                   "cancelled", "lost", "sha256" (once complete),
                   "reply_url" (path form), "reply_ready", "reply_error",
                   "created", "restored" (loaded from --persist-sessions
                   files at start-up)}, ...]   every session ever created (by
                                               this process, or restored), in order
     "packets":  [{"seq", "time", "method", "path", "type" (as sent), "packet"
                   (canonical name or null), "session_id", "content_range",
                   "content_length", "content_name", "supported_protocols",
                   "content_encoding", "headers" (all request headers),
                   "status", "error_code", "received_content_range",
                   "reply_url", "fault", "dropped", "body_bytes",
                   "connection_id"}, ...]      every BITS packet, in order
     "requests": [{"seq", "method", "path", "status", "body_bytes"}, ...]
                                                non-BITS requests
                                                (control endpoints not logged)
     "files":    {"/url/path": {"sha256", "size", "via": "bits"|"put",
                                "session_id"}}  every committed upload}
"""

from __future__ import annotations

import serverlife
from serverlife import serve_until_signal
from faultserver import iter_chunked_body, parse_gen_size, parse_range

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import unquote, urlsplit

LOOPBACK = serverlife.LOOPBACK
CHUNK = 1 << 20
ZERO_CHUNK = bytes(CHUNK)
HOLE_BLOCK = 64 * 1024  # all-zero blocks of this size are not written (holes)
CONTROL_BODY_LIMIT = 64 * 1024
DRAIN_LIMIT = 64 << 20  # unwanted request bodies up to this size are read, not cut off

PROTOCOL_BITS_1_5 = "{7df0354d-249b-430f-820d-3d2a9bef4931}"
SESSIONS_DIR = ".bits-sessions"   # under --root, with --persist-sessions
SESSION_FILE_RE = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.json")

CONTEXT_REMOTE_FILE = 0x5         # BG_ERROR_CONTEXT_REMOTE_FILE ("CONTEXT_SERVER")
CONTEXT_REMOTE_APPLICATION = 0x7  # BG_ERROR_CONTEXT_REMOTE_APPLICATION

HR_NONE = 0x00000000                 # with 416, [MC-BUP] 2.2.1.2
E_ACCESSDENIED = 0x80070005
E_INVALIDARG = 0x80070057
E_FAIL = 0x80004005
ERROR_DISK_FULL_HR = 0x80070112      # as printed in [MC-BUP] 2.2.1.2
BG_E_SESSION_NOT_FOUND = 0x8020001F
BG_E_TOO_LARGE = 0x80200020
BG_E_HTTP_ERROR_BASE = 0x80190000    # + HTTP status

PACKET_TYPES = {name.lower(): name for name in (
    "Ping", "Create-Session", "Fragment", "Close-Session", "Cancel-Session",
    "Get-Reply-URL")}
FAULTS = ("drop", "5xx", "403", "session-loss")
FAULT_KEYS = {"fault", "count", "after_bytes", "types", "status", "error_code",
              "keep_partial", "reset_log"}


def hresult(code: int) -> str:
    return f"0x{code:08X}"


def normalize_guid(token: str) -> str:
    """Lower-case GUID without braces, for comparisons."""
    return token.strip().strip("{}").lower()


def parse_content_range(value: str) -> tuple[int | None, int | None, int]:
    """``bytes A-B/TOTAL`` -> (A, B, TOTAL); ``bytes */TOTAL`` -> (None, None, TOTAL).

    Raises ValueError when malformed (units other than bytes, unknown total,
    B < A, B >= TOTAL)."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d{1,19})-(\d{1,19})|\*)\s*/\s*(\d{1,19})\s*",
                     value, re.IGNORECASE)
    if not m:
        raise ValueError(f"bad Content-Range {value!r}")
    total = int(m[3])
    if m[1] is None:
        return None, None, total
    first, last = int(m[1]), int(m[2])
    if last < first or last >= total:
        raise ValueError(f"bad Content-Range {value!r}")
    return first, last, total


def _unlink(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class Session:
    id: str
    url_path: str
    target: str
    temp_path: str
    protocol: str
    content_name: str | None
    created: float = dataclasses.field(default_factory=time.time)
    total: int | None = None
    received: int = 0
    fragments: int = 0
    complete: bool = False
    committed: bool = False
    closed: bool = False
    closed_incomplete: bool = False
    cancelled: bool = False
    lost: bool = False
    sha256: str | None = None
    reply_id: str | None = None
    reply_path: str | None = None
    reply_error: str | None = None
    restored: bool = False
    hasher: object = dataclasses.field(default_factory=hashlib.sha256, repr=False)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> str:
        return normalize_guid(self.id)

    def to_json(self) -> dict:
        return {
            "id": self.id, "path": self.url_path, "target": self.target,
            "temp_path": self.temp_path, "protocol": self.protocol,
            "content_name": self.content_name, "total": self.total,
            "received": self.received, "fragments": self.fragments,
            "complete": self.complete, "committed": self.committed,
            "closed": self.closed, "closed_incomplete": self.closed_incomplete,
            "cancelled": self.cancelled, "lost": self.lost, "sha256": self.sha256,
            "reply_url": f"/_reply/{self.reply_id}" if self.reply_id else None,
            "reply_ready": self.reply_path is not None,
            "reply_error": self.reply_error, "created": self.created,
            "restored": self.restored,
        }

    def persist_json(self) -> dict:
        """What --persist-sessions keeps of an active session."""
        return {
            "id": self.id, "url_path": self.url_path, "target": self.target,
            "temp_path": self.temp_path, "protocol": self.protocol,
            "content_name": self.content_name, "total": self.total,
            "received": self.received, "fragments": self.fragments,
            "created": self.created, "complete": self.complete,
            "committed": self.committed, "sha256": self.sha256,
            "reply_id": self.reply_id, "reply_error": self.reply_error,
        }


@dataclasses.dataclass
class Fault:
    kind: str
    remaining: int = 1
    after_bytes: int = 0
    types: frozenset[str] | None = None   # canonical packet names (lower case)
    status: int = 503
    error_code: int | None = None
    keep_partial: bool = True

    def applies_to(self, packet: str | None) -> bool:
        return self.types is None or (packet or "").lower() in self.types

    def to_json(self) -> dict:
        return {"fault": self.kind, "count": self.remaining,
                "after_bytes": self.after_bytes,
                "types": sorted(self.types) if self.types is not None else None,
                "status": self.status,
                "error_code": hresult(self.error_code) if self.error_code is not None else None,
                "keep_partial": self.keep_partial}

    @classmethod
    def from_json(cls, spec: dict) -> "Fault | None":
        """Validate a POST /_control body; None clears the fault."""
        if not isinstance(spec, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(spec) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        kind = spec.get("fault")
        if kind in (None, "none", ""):
            return None
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")

        def integer(name, default, lo, hi=None):
            value = spec.get(name, default)
            if (not isinstance(value, int) or isinstance(value, bool) or value < lo
                    or (hi is not None and value > hi)):
                raise ValueError(f"bad {name}: {value!r}")
            return value

        types = spec.get("types")
        if types is None and kind == "drop":
            types = ["Fragment"]
        if types is not None:
            if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                raise ValueError("types must be a list of packet type names")
            types = frozenset(t.lower() for t in types)
        error_code = spec.get("error_code")
        if error_code is not None:
            try:
                error_code = int(error_code, 16) if isinstance(error_code, str) else int(error_code)
            except ValueError:
                raise ValueError(f"bad error_code: {error_code!r}") from None
            if not 0 <= error_code <= 0xFFFFFFFF:
                raise ValueError(f"bad error_code: {error_code!r}")
        keep_partial = spec.get("keep_partial", True)
        if not isinstance(keep_partial, bool):
            raise ValueError("keep_partial must be true or false")
        return cls(kind=kind, remaining=integer("count", 1, 1),
                   after_bytes=integer("after_bytes", 0, 0),
                   types=types, status=integer("status", 503, 500, 599),
                   error_code=error_code, keep_partial=keep_partial)


class BitsError(Exception):
    """An error Ack: HTTP status, BITS-Error-Code, BITS-Error-Context."""

    def __init__(self, status: int, code: int, message: str,
                 context: int = CONTEXT_REMOTE_FILE, headers=()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.context = context
        self.headers = list(headers)


class _Drop(Exception):
    """Raised to close the connection without a response (fault "drop")."""


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------

class BitsUploadServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, args: argparse.Namespace):
        self.root = os.path.realpath(args.root)
        self.verbose = args.verbose
        self.overwrite = args.overwrite
        self.max_size = args.max_size
        self.max_fragment = args.max_fragment
        self.reply_mode = "echo" if args.reply_echo else ("handler" if args.reply_handler else None)
        self.reply_handler = shlex.split(args.reply_handler) if args.reply_handler else None
        self.reply_timeout = args.reply_timeout
        self.reply_url_form = args.reply_url_form
        self.keep_replies = args.keep_replies
        self.host_id = args.host_id
        self.host_id_fallback_timeout = args.host_id_fallback_timeout
        self.protocols = args.protocol or [PROTOCOL_BITS_1_5]
        self.commit_on = args.commit_on
        self.persist_sessions = args.persist_sessions
        self.sessions_dir = (os.path.join(self.root, SESSIONS_DIR)
                             if self.persist_sessions else None)
        if self.sessions_dir:
            self.reply_dir = os.path.join(self.sessions_dir, "replies")
            os.makedirs(self.reply_dir, exist_ok=True)
        else:
            self.reply_dir = tempfile.mkdtemp(prefix="bitsupload-replies-")
        self.lock = threading.Lock()
        self.persist_lock = threading.Lock()  # session files: writes and deletions
        self.active: dict[str, Session] = {}
        self.history: list[Session] = []
        self.packets: list[dict] = []
        self.requests: list[dict] = []
        self.files: dict[str, dict] = {}
        self.replies: dict[str, str] = {}
        self.fault: Fault | None = None
        self._seq = itertools.count(1)
        self._conn_ids = itertools.count(1)
        if self.sessions_dir:
            self.load_sessions()
        super().__init__((LOOPBACK, args.port), BitsHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup; skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, serverlife._Terminate):
            # SIGTERM arrived while the main thread was in process_request();
            # socketserver catches Exception there, so pass it on to
            # serve_until_signal() instead of serving on.
            raise exc
        if self.verbose or not isinstance(exc, OSError):
            super().handle_error(request, client_address)

    def config(self) -> dict:
        return {"root": self.root, "overwrite": self.overwrite, "max_size": self.max_size,
                "max_fragment": self.max_fragment, "reply_mode": self.reply_mode,
                "reply_handler": self.reply_handler, "reply_url_form": self.reply_url_form,
                "keep_replies": self.keep_replies, "host_id": self.host_id,
                "host_id_fallback_timeout": self.host_id_fallback_timeout,
                "protocols": self.protocols, "commit_on": self.commit_on,
                "persist_sessions": self.persist_sessions}

    def next_id(self) -> int:
        with self.lock:
            return next(self._seq)

    def next_connection_id(self) -> int:
        with self.lock:
            return next(self._conn_ids)

    # ---- paths ---------------------------------------------------------------

    def resolve(self, path: str) -> str | None:
        """Map an upload URL path into --root; None if refused."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or ".." in parts or "\x00" in path or parts[0].startswith("_"):
            return None
        if self.sessions_dir and parts[0] == SESSIONS_DIR:
            return None
        root = self.root
        full = os.path.realpath(os.path.join(root, *parts))
        if not full.startswith(root + os.sep):
            return None
        return full

    # ---- sessions ----------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self.save_session(session)  # before the session is visible (and acknowledged)
        with self.lock:
            self.active[session.key] = session
            self.history.append(session)

    def find_session(self, session_id: str) -> Session | None:
        with self.lock:
            return self.active.get(normalize_guid(session_id))

    def end_session(self, session: Session) -> None:
        with self.lock:
            self.active.pop(session.key, None)
        self.delete_session_file(session)

    def forget_sessions(self) -> None:
        """Fault "session-loss": drop every active session and its partial data."""
        with self.lock:
            lost = list(self.active.values())
            self.active.clear()
        for session in lost:
            session.lost = True
            self.delete_session_file(session)
            if not session.committed:
                _unlink(session.temp_path)
            self.drop_reply(session, force=True)

    # ---- --persist-sessions ----------------------------------------------------

    def session_file(self, key: str) -> str:
        return os.path.join(self.sessions_dir, f"{key}.json")

    def save_session(self, session: Session, ack_headers=()) -> None:
        """Write the session's file atomically (temp + rename); no-op without
        --persist-sessions or once the session has ended."""
        if not self.sessions_dir:
            return
        with self.persist_lock:
            if session.closed or session.cancelled or session.lost:
                return
            data = session.persist_json()
            temp = None
            try:
                fd, temp = tempfile.mkstemp(prefix=f".{session.key}.", suffix=".tmp",
                                            dir=self.sessions_dir)
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f, indent=1)
                    f.write("\n")
                os.replace(temp, self.session_file(session.key))
                temp = None
            except OSError as exc:
                raise BitsError(500, ERROR_DISK_FULL_HR, f"cannot save session: {exc}",
                                headers=ack_headers) from None
            finally:
                _unlink(temp)

    def delete_session_file(self, session: Session) -> None:
        if not self.sessions_dir:
            return
        with self.persist_lock:
            _unlink(self.session_file(session.key))

    def load_sessions(self) -> None:
        """Start-up with --persist-sessions: restore the sessions kept on disk."""
        restored = []
        for name in sorted(os.listdir(self.sessions_dir)):
            path = os.path.join(self.sessions_dir, name)
            if name.startswith(".") and name.endswith(".tmp"):
                _unlink(path)  # an interrupted save
                continue
            m = SESSION_FILE_RE.fullmatch(name)
            if not m:
                continue
            try:
                session = self._restore_session(path, m[1])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                print(f"bitsuploadserver: dropping session file {path}: {exc}",
                      file=sys.stderr, flush=True)
                _unlink(path)
                continue
            restored.append(session)
        restored.sort(key=lambda s: s.created)
        for session in restored:
            self.active[session.key] = session
            self.history.append(session)
            if session.reply_path:
                self.replies[session.reply_id] = session.reply_path
            if session.committed:
                self.files[session.url_path] = {"sha256": session.sha256,
                                                "size": session.total, "via": "bits",
                                                "session_id": session.id}
        wanted = {s.reply_id for s in restored if s.reply_path}
        for name in os.listdir(self.reply_dir):
            if name not in wanted:
                _unlink(os.path.join(self.reply_dir, name))
        print(f"bitsuploadserver: restored {len(restored)} upload session(s) from "
              f"{self.sessions_dir}", file=sys.stderr, flush=True)

    def _restore_session(self, path: str, key: str) -> Session:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")

        def field(name, types, optional=False):
            value = data[name]
            if value is None and optional:
                return None
            types = types if isinstance(types, tuple) else (types,)
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise ValueError(f"bad {name}: {value!r}")
            return value

        sid = field("id", str)
        if normalize_guid(sid) != key:
            raise ValueError(f"id {sid!r} does not match the file name")
        url_path = field("url_path", str)
        target = field("target", str)
        temp_path = field("temp_path", str)
        if self.resolve(url_path) != target:
            raise ValueError(f"target {target!r} is not {url_path!r} under {self.root}")
        if (os.path.dirname(temp_path) != os.path.dirname(target)
                or not re.fullmatch(r"\.bits-[^/]*\.part", os.path.basename(temp_path))):
            raise ValueError(f"bad temp_path {temp_path!r}")
        total = field("total", int, optional=True)
        received = field("received", int)
        fragments = field("fragments", int)
        created = field("created", (int, float))
        complete = field("complete", bool)
        committed = field("committed", bool)
        sha256 = field("sha256", str, optional=True)
        reply_id = field("reply_id", str, optional=True)
        if reply_id is not None and not re.fullmatch(r"[0-9a-f]{32}", reply_id):
            raise ValueError(f"bad reply_id {reply_id!r}")
        if received < 0 or fragments < 0 or (total is not None and not 0 <= received <= total):
            raise ValueError(f"bad received {received} of {total}")
        hasher = hashlib.sha256()
        if committed:
            # The data is at the target; the hasher is not used once complete.
            if not complete or total is None or sha256 is None or received != total:
                raise ValueError("committed but not complete")
        else:
            fd = os.open(temp_path, os.O_RDWR)  # FileNotFoundError: the data is gone
            try:
                size = os.fstat(fd).st_size
                if size > received:
                    os.ftruncate(fd, received)  # written after the last saved state
                received = min(received, size)
                offset = 0
                while offset < received:
                    block = os.pread(fd, min(CHUNK, received - offset), offset)
                    if not block:
                        raise ValueError(f"{temp_path} shrank while reading")
                    hasher.update(block)
                    offset += len(block)
            finally:
                os.close(fd)
            complete = complete and received == total
            if not complete:
                sha256 = None
            elif sha256 != hasher.hexdigest():
                raise ValueError(f"{temp_path}: SHA-256 differs from the saved one")
        reply_path = None
        if reply_id is not None and complete:
            candidate = os.path.join(self.reply_dir, reply_id)
            if os.path.isfile(candidate):
                reply_path = candidate
        return Session(id=sid, url_path=url_path, target=target, temp_path=temp_path,
                       protocol=field("protocol", str),
                       content_name=field("content_name", str, optional=True),
                       created=created, total=total, received=received, fragments=fragments,
                       complete=complete, committed=committed, sha256=sha256,
                       reply_id=reply_id if complete else None, reply_path=reply_path,
                       reply_error=field("reply_error", str, optional=True) if complete else None,
                       restored=True, hasher=hasher)

    def store_reply(self, session: Session, path: str) -> None:
        with self.lock:
            self.replies[session.reply_id] = path
        session.reply_path = path

    def drop_reply(self, session: Session, force: bool = False) -> None:
        if session.reply_id is None or (self.keep_replies and not force):
            return
        with self.lock:
            path = self.replies.pop(session.reply_id, None)
        _unlink(path)

    def reply_file(self, reply_id: str) -> str | None:
        with self.lock:
            return self.replies.get(reply_id)

    def record_file(self, url_path: str, sha256: str, size: int, via: str,
                    session_id: str | None) -> None:
        with self.lock:
            self.files[url_path] = {"sha256": sha256, "size": size, "via": via,
                                    "session_id": session_id}

    # ---- faults and logs -----------------------------------------------------

    def set_fault(self, fault: Fault | None, reset_log: bool) -> None:
        with self.lock:
            self.fault = fault
            if reset_log:
                self.packets.clear()
                self.requests.clear()

    def take_fault(self, packet: str | None) -> Fault | None:
        """Consume one use of the current fault if it applies to ``packet``."""
        with self.lock:
            fault = self.fault
            if fault is None or not fault.applies_to(packet):
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.fault = None
            return dataclasses.replace(fault)

    def fault_json(self):
        with self.lock:
            return self.fault.to_json() if self.fault else None

    def log_packet(self, record: dict) -> None:
        with self.lock:
            self.packets.append(record)

    def log_request(self, record: dict) -> None:
        with self.lock:
            self.requests.append(record)

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "config": self.config(),
                "fault": self.fault.to_json() if self.fault else None,
                "sessions": [s.to_json() for s in self.history],
                "packets": [dict(p, headers=dict(p["headers"])) for p in self.packets],
                "requests": [dict(r) for r in self.requests],
                "files": {k: dict(v) for k, v in self.files.items()},
            }

    def cleanup(self) -> None:
        if self.sessions_dir:
            # --persist-sessions: active sessions (temp files, session files,
            # replies) stay for the next start; only replies kept after
            # Close-/Cancel-Session (--keep-replies) go.
            with self.lock:
                keep = {s.reply_id for s in self.active.values()}
                stale = [path for rid, path in self.replies.items() if rid not in keep]
            for path in stale:
                _unlink(path)
            return
        with self.lock:
            sessions = list(self.active.values())
            self.active.clear()
        for session in sessions:
            if not session.committed:
                _unlink(session.temp_path)
        shutil.rmtree(self.reply_dir, ignore_errors=True)


class BitsHandler(serverlife.LoopbackConnection, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bitsuploadserver/1.0"
    sys_version = ""
    server: BitsUploadServer

    # Per-request state.
    _body_left = 0         # request body bytes not read yet (Content-Length bodies)
    _body_unknown = False  # chunked body not read: the connection must close
    _body_read = 0
    _drop_limit: int | None = None
    _drop_pending = False
    _record: dict | None = None

    # ---- connection lifecycle --------------------------------------------

    def handle_one_request(self) -> None:
        self._body_left = 0
        self._body_unknown = False
        self._body_read = 0
        self._drop_limit = None
        self._drop_pending = False
        self._record = None
        super().handle_one_request()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # ---- request bodies ------------------------------------------------------

    def _content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        if not value.strip().isdigit():
            raise BitsError(400, E_INVALIDARG, "bad Content-Length")
        return int(value)

    def _init_body(self) -> int | None:
        """Set up body accounting; returns Content-Length (None if absent)."""
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        self._body_unknown = chunked
        try:
            length = self._content_length()
        except BitsError:
            self._body_unknown = True
            raise
        if not chunked:
            self._body_left = length or 0
        return None if chunked else length

    def _body(self) -> Iterator[bytes]:
        """Yield the rest of a Content-Length body; honours the drop limit."""
        while self._body_left > 0:
            want = min(CHUNK, self._body_left)
            if self._drop_limit is not None:
                room = self._drop_limit - self._body_read
                if room <= 0:
                    raise _Drop()
                want = min(want, room)
            data = self.rfile.read(want)
            if not data:
                self.close_connection = True
                raise ConnectionAbortedError("request body truncated")
            self._body_left -= len(data)
            self._body_read += len(data)
            if self._record is not None:
                self._record["body_bytes"] = self._body_read
            yield data

    def _drain(self) -> None:
        saved, self._drop_limit = self._drop_limit, None
        try:
            for _ in self._body():
                pass
        finally:
            self._drop_limit = saved

    def _iter_chunked(self) -> Iterator[bytes]:
        yield from iter_chunked_body(self.rfile, lambda: BitsError(400, E_INVALIDARG, "bad chunk size"), CHUNK)
        self._body_unknown = False

    # ---- responses -------------------------------------------------------------

    def _finish_headers(self, length: int) -> None:
        """Drain what is left of the request body, then Content-Length and end."""
        if self._body_left and not self._drop_pending:
            self._drain()
        self.send_header("Content-Length", str(length))
        if self._body_unknown:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _send_ack(self, status: int, headers=()) -> None:
        if self._drop_pending:
            raise _Drop()
        if self._body_left:
            self._drain()
        rec = self._record
        if rec is not None:  # before the Ack leaves: the client may query /_state next
            rec["status"] = status
            for name, value in headers:
                if name == "BITS-Error-Code":
                    rec["error_code"] = value
                elif name == "BITS-Received-Content-Range":
                    rec["received_content_range"] = int(value)
                elif name == "BITS-Reply-URL":
                    rec["reply_url"] = value
        self.send_response(status)
        self.send_header("BITS-Packet-Type", "Ack")
        for name, value in headers:
            self.send_header(name, value)
        self._finish_headers(0)

    def _send_error_ack(self, err: BitsError) -> None:
        headers = list(err.headers)
        sid = self.headers.get("BITS-Session-Id")
        if sid and not any(n == "BITS-Session-Id" for n, _ in headers):
            headers.insert(0, ("BITS-Session-Id", sid.strip()))
        headers += [("BITS-Error-Code", hresult(err.code)),
                    ("BITS-Error-Context", f"0x{err.context:X}")]
        if self.server.verbose:
            self.log_message("error ack %d %s: %s", err.status, hresult(err.code), err)
        self._send_ack(err.status, headers)

    def _send_plain(self, status: int, body: bytes = b"", headers=(),
                    ctype: str = "text/plain; charset=utf-8") -> None:
        if self._record is not None:
            self._record["status"] = status
        self.send_response(status)
        if body:
            self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self._finish_headers(len(body))
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _abort(self) -> None:
        """Close the TCP connection now, without a response."""
        sock = self.connection
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        sock.close()
        self.rfile.close()

    # ---- paths -----------------------------------------------------------------

    def _url_path(self) -> str:
        return unquote(urlsplit(self.path).path)

    def _resolve(self, path: str) -> str | None:
        """Map an upload URL path into --root; None if refused."""
        return self.server.resolve(path)

    # ---- dispatch ----------------------------------------------------------------

    def do_BITS_POST(self) -> None:
        path = self._url_path()
        raw_type = (self.headers.get("BITS-Packet-Type") or "").strip()
        packet = PACKET_TYPES.get(raw_type.lower())
        self._record = rec = {
            "seq": self.server.next_id(), "time": time.time(), "method": self.command,
            "path": path, "type": raw_type or None, "packet": packet,
            "session_id": self.headers.get("BITS-Session-Id"),
            "content_range": self.headers.get("Content-Range"),
            "content_length": self.headers.get("Content-Length"),
            "content_name": self.headers.get("Content-Name"),
            "supported_protocols": self.headers.get("BITS-Supported-Protocols"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "headers": self._header_dict(), "status": None, "error_code": None,
            "received_content_range": None, "reply_url": None, "fault": None,
            "dropped": False, "body_bytes": 0, "connection_id": self.connection_id,
        }
        self.server.log_packet(rec)
        try:
            try:
                length = self._init_body()
                fault = self.server.take_fault(packet or raw_type)
                if fault is not None:
                    rec["fault"] = fault.kind
                    if self._apply_fault(fault):
                        return
                if length is None:
                    raise BitsError(411, E_INVALIDARG, "Content-Length required")
                if packet is None:
                    raise BitsError(400, E_INVALIDARG, f"unknown BITS-Packet-Type {raw_type!r}")
                if packet != "Fragment" and length:
                    raise BitsError(400, E_INVALIDARG, f"{packet} must not have a body")
                handler = {
                    "Ping": self._ping, "Create-Session": self._create_session,
                    "Fragment": self._fragment, "Close-Session": self._close_session,
                    "Cancel-Session": self._cancel_session,
                    "Get-Reply-URL": self._get_reply_url,
                }[packet]
                handler(path)
            except BitsError as err:
                self._send_error_ack(err)
        except _Drop:
            rec["dropped"] = True
            self._abort()

    def _header_dict(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the request has been answered (or dropped)."""
        if fault.kind == "session-loss":
            self.server.forget_sessions()
            return False
        if fault.kind == "drop":
            self._drop_limit = fault.after_bytes
            self._drop_pending = True
            if not fault.keep_partial:
                for _ in self._body():
                    pass
                raise _Drop()  # read up to the limit, stored nothing
            return False
        if fault.kind == "403":
            raise BitsError(403, E_ACCESSDENIED if fault.error_code is None else fault.error_code,
                            "fault 403")
        code = BG_E_HTTP_ERROR_BASE + fault.status
        raise BitsError(fault.status, code if fault.error_code is None else fault.error_code,
                        f"fault {fault.status}")

    def _sid_echo(self) -> list[tuple[str, str]]:
        """BITS-Session-Id exactly as the client sent it ([MC-BUP] 2.2.1.2)."""
        return [("BITS-Session-Id", self.headers.get("BITS-Session-Id", "").strip())]

    def _session(self, path: str) -> Session:
        sid = self.headers.get("BITS-Session-Id")
        if not sid or not sid.strip():
            raise BitsError(400, E_INVALIDARG, "BITS-Session-Id required")
        session = self.server.find_session(sid)
        if session is None or session.url_path != path:
            raise BitsError(500, BG_E_SESSION_NOT_FOUND, f"no session {sid.strip()} for {path}")
        return session

    # ---- packets -----------------------------------------------------------------

    def _ping(self, path: str) -> None:
        self._send_ack(200)

    def _create_session(self, path: str) -> None:
        offered = self.headers.get("BITS-Supported-Protocols")
        if not offered or not offered.strip():
            raise BitsError(400, E_INVALIDARG, "BITS-Supported-Protocols required")
        ours = {normalize_guid(p): p for p in self.server.protocols}
        chosen = next((ours[g] for g in map(normalize_guid, re.split(r"[\s,]+", offered.strip()))
                       if g in ours), None)
        if chosen is None:
            raise BitsError(400, E_INVALIDARG, f"no common protocol in {offered!r}")
        target = self._resolve(path)
        if target is None:
            raise BitsError(403, E_ACCESSDENIED, f"refused path {path!r}")
        if os.path.isdir(target):
            raise BitsError(400, E_INVALIDARG, f"{path} is a directory")
        if not self.server.overwrite and os.path.lexists(target):
            raise BitsError(403, E_ACCESSDENIED, f"{path} exists, no overwrite")
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".bits-", suffix=".part",
                                        dir=os.path.dirname(target))
            os.close(fd)
        except OSError as exc:
            raise BitsError(403, E_ACCESSDENIED, f"cannot create upload: {exc}") from None
        session = Session(id="{" + str(uuid.uuid4()).upper() + "}", url_path=path,
                          target=target, temp_path=temp, protocol=chosen,
                          content_name=self.headers.get("Content-Name"))
        try:
            self.server.add_session(session)
        except BitsError:
            _unlink(temp)
            raise
        headers = [("BITS-Protocol", chosen), ("BITS-Session-Id", session.id),
                   ("Accept-Encoding", "identity")]
        if self.server.host_id:
            headers.append(("BITS-Host-Id", self.server.host_id))
            if self.server.host_id_fallback_timeout is not None:
                headers.append(("BITS-Host-Id-Fallback-Timeout",
                                str(self.server.host_id_fallback_timeout)))
        self._send_ack(200, headers)

    def _fragment(self, path: str) -> None:
        session = self._session(path)
        with session.lock:
            self._fragment_locked(session)

    def _fragment_locked(self, session: Session) -> None:
        srv = self.server
        ack = self._sid_echo()

        def received() -> list[tuple[str, str]]:
            return ack + [("BITS-Received-Content-Range", str(session.received))]

        encoding = self.headers.get("Content-Encoding")
        if encoding and encoding.strip().lower() != "identity":
            raise BitsError(400, E_INVALIDARG, f"unsupported Content-Encoding {encoding!r}",
                            headers=received())
        header = self.headers.get("Content-Range")
        if header is None:
            raise BitsError(400, E_INVALIDARG, "Content-Range required", headers=received())
        try:
            first, last, total = parse_content_range(header)
        except ValueError as exc:
            raise BitsError(400, E_INVALIDARG, str(exc), headers=received()) from None
        length = self._body_left
        if first is None:
            if total != 0 or length != 0:
                raise BitsError(400, E_INVALIDARG, f"{header!r} only allowed for an empty file",
                                headers=received())
            first = 0
        elif last - first + 1 != length:
            raise BitsError(400, E_INVALIDARG,
                            f"Content-Length {length} does not match {header!r}",
                            headers=received())
        if session.total is not None and total != session.total:
            raise BitsError(400, E_INVALIDARG,
                            f"total changed from {session.total} to {total}", headers=received())
        if srv.max_size is not None and total > srv.max_size:
            raise BitsError(500, BG_E_TOO_LARGE, f"upload of {total} > max size {srv.max_size}",
                            headers=received())
        if srv.max_fragment is not None and length > srv.max_fragment:
            raise BitsError(413, BG_E_TOO_LARGE,
                            f"fragment of {length} > max fragment {srv.max_fragment}",
                            headers=received())
        if first > session.received:
            raise BitsError(416, HR_NONE, f"fragment at {first} leaves a hole after "
                            f"{session.received}", headers=received())
        name = self.headers.get("Content-Name")
        extra = []
        try:
            if name and not session.content_name:
                session.content_name = name
            session.total = total
            self._store_body(session, session.received - first)
            session.fragments += 1
            if session.received == total:
                if not session.complete:
                    session.complete = True
                    session.sha256 = session.hasher.hexdigest()
                if srv.commit_on == "fragment" and not session.committed:
                    self._commit(session, received())
                if srv.reply_mode:
                    self._make_reply(session, received())
                    extra.append(("BITS-Reply-URL", self._reply_url(session)))
        finally:
            # --persist-sessions: the data is on disk; save the state that
            # claims it before the Ack (also after a drop or a failed commit).
            srv.save_session(session, received())
        self._send_ack(200, received() + extra)

    def _store_body(self, session: Session, skip: int) -> None:
        """Write the body after its first ``skip`` bytes (already received) at
        ``session.received``; all-zero blocks become holes."""
        if skip >= self._body_left:  # nothing new (e.g. a re-sent final fragment)
            for _ in self._body():
                pass
            return
        try:
            fd = os.open(session.temp_path, os.O_WRONLY)
        except OSError as exc:
            raise BitsError(500, ERROR_DISK_FULL_HR, f"cannot open temp file: {exc}") from None
        try:
            for chunk in self._body():
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                data = chunk[skip:] if skip else chunk
                skip = 0
                if data != ZERO_CHUNK[:len(data)]:
                    self._write_nonzero(fd, data, session.received)
                session.hasher.update(data)
                session.received += len(data)
        except OSError as exc:
            if isinstance(exc, ConnectionError):
                raise
            raise BitsError(500, ERROR_DISK_FULL_HR, f"write failed: {exc}") from None
        finally:
            try:
                if os.fstat(fd).st_size < session.received:
                    os.ftruncate(fd, session.received)
            finally:
                os.close(fd)

    @staticmethod
    def _write_nonzero(fd: int, data: bytes, offset: int) -> None:
        """pwrite ``data`` at ``offset``, skipping all-zero HOLE_BLOCK blocks."""
        for start in range(0, len(data), HOLE_BLOCK):
            block = data[start:start + HOLE_BLOCK]
            if block == ZERO_CHUNK[:len(block)]:
                continue
            view, at = memoryview(block), offset + start
            while view:
                written = os.pwrite(fd, view, at)
                view, at = view[written:], at + written

    def _commit(self, session: Session, ack_headers) -> None:
        if not self.server.overwrite and os.path.lexists(session.target):
            raise BitsError(403, E_ACCESSDENIED, f"{session.url_path} exists, no overwrite",
                            headers=ack_headers)
        try:
            os.chmod(session.temp_path, 0o644)
            os.replace(session.temp_path, session.target)
        except IsADirectoryError:
            raise BitsError(400, E_INVALIDARG, f"{session.url_path} is a directory",
                            headers=ack_headers) from None
        except OSError as exc:
            raise BitsError(500, ERROR_DISK_FULL_HR, f"commit failed: {exc}",
                            headers=ack_headers) from None
        session.committed = True
        self.server.record_file(session.url_path, session.sha256, session.total, "bits",
                                session.id)

    def _data_path(self, session: Session) -> str:
        return session.target if session.committed else session.temp_path

    def _make_reply(self, session: Session, ack_headers) -> None:
        """Produce the reply once (again after a failure); raises on failure."""
        if session.reply_path is not None:
            return
        srv = self.server
        if session.reply_id is None:
            session.reply_id = uuid.uuid4().hex
        path = os.path.join(srv.reply_dir, session.reply_id)
        if srv.reply_mode == "echo":
            with open(path, "w") as f:
                f.write(session.sha256)
        else:
            env = dict(os.environ, BITS_SESSION_ID=session.id, BITS_URL_PATH=session.url_path,
                       BITS_CONTENT_NAME=session.content_name or "")
            argv = srv.reply_handler + [self._data_path(session)]
            try:
                with open(path, "wb") as out:
                    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          env=env, timeout=srv.reply_timeout)
                failure = None if proc.returncode == 0 else f"exit status {proc.returncode}"
            except subprocess.TimeoutExpired:
                failure = f"timed out after {srv.reply_timeout} s"
            except OSError as exc:
                failure = f"cannot run handler: {exc}"
            if failure is not None:
                _unlink(path)
                session.reply_error = failure
                raise BitsError(500, E_FAIL, f"reply handler failed: {failure}",
                                context=CONTEXT_REMOTE_APPLICATION, headers=ack_headers)
        session.reply_error = None
        srv.store_reply(session, path)

    def _reply_url(self, session: Session) -> str:
        rel = f"/_reply/{session.reply_id}"
        if self.server.reply_url_form == "path":
            return rel
        host = (self.headers.get("Host") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?", host):
            host = f"{LOOPBACK}:{self.server.server_port}"
        return f"http://{host}{rel}"

    def _close_session(self, path: str) -> None:
        session = self._session(path)
        with session.lock:
            ack = self._sid_echo()
            if (self.server.commit_on == "close" and session.complete
                    and not session.committed):
                try:
                    self._commit(session, ack)
                except BitsError:
                    self._end(session, closed=True)
                    raise
            self._end(session, closed=True)
            self._send_ack(200, ack)

    def _cancel_session(self, path: str) -> None:
        session = self._session(path)
        with session.lock:
            self._end(session, closed=False)
            self._send_ack(200, self._sid_echo())

    def _end(self, session: Session, closed: bool) -> None:
        """Close or cancel: forget the session, delete partial data and reply."""
        if not session.committed:
            _unlink(session.temp_path)
            if closed:
                session.closed_incomplete = not session.complete
        if closed:
            session.closed = True
        else:
            session.cancelled = True
        self.server.drop_reply(session)
        self.server.end_session(session)

    def _get_reply_url(self, path: str) -> None:
        session = self._session(path)
        with session.lock:
            ack = self._sid_echo()
            if not self.server.reply_mode:
                raise BitsError(400, E_INVALIDARG, "not an upload-reply server", headers=ack)
            if not session.complete:
                raise BitsError(400, E_INVALIDARG, "upload not complete", headers=ack)
            self._make_reply(session, ack)
            self._send_ack(200, ack + [("BITS-Reply-URL", self._reply_url(session))])

    # ---- plain HTTP ----------------------------------------------------------------

    def _new_request_record(self, path: str) -> None:
        self._record = {"seq": self.server.next_id(), "method": self.command,
                        "path": path, "status": None, "body_bytes": 0}
        self.server.log_request(self._record)

    def do_GET(self) -> None:
        try:
            self._init_body()
        except BitsError:
            self._send_plain(400, b"bad Content-Length\n")
            return
        path = self._url_path()
        if path == "/_state" and self.command == "GET":
            body = json.dumps(self.server.snapshot(), indent=1).encode()
            self._send_plain(200, body, ctype="application/json")
        elif path == "/_control" and self.command == "GET":
            body = json.dumps(self.server.fault_json()).encode()
            self._send_plain(200, body, ctype="application/json")
        elif path == "/_health":
            self._send_plain(200, b"ok")
        elif path.startswith("/_reply/"):
            self._new_request_record(path)
            reply = self.server.reply_file(path[len("/_reply/"):])
            self._serve_file(reply)
        elif path.startswith("/_"):
            self._send_plain(404, b"unknown control endpoint\n")
        else:
            self._new_request_record(path)
            target = self._resolve(path)
            if target is None:
                self._send_plain(403, b"forbidden\n")
            else:
                self._serve_file(target)

    do_HEAD = do_GET

    def _serve_file(self, path: str | None) -> None:
        try:
            f = open(path, "rb") if path else None
        except OSError:
            f = None
        if f is None or not os.path.isfile(path):
            if f:
                f.close()
            self._send_plain(404, b"not found\n")
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            status, first, length = 200, 0, size
            headers = [("Accept-Ranges", "bytes")]
            header = self.headers.get("Range")
            ranges = parse_range(header, size) if header else None
            if ranges == []:
                self._send_plain(416, b"range not satisfiable\n",
                                 [("Content-Range", f"bytes */{size}")])
                return
            if ranges and len(ranges) == 1:
                first, last = ranges[0]
                status, length = 206, last - first + 1
                headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            self._record["status"] = status
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            for name, value in headers:
                self.send_header(name, value)
            self._finish_headers(length)
            if self.command == "HEAD":
                return
            f.seek(first)
            while length > 0:
                block = f.read(min(CHUNK, length))
                if not block:
                    raise ConnectionAbortedError("file shrank while serving")
                self.wfile.write(block)
                length -= len(block)

    def do_PUT(self) -> None:
        path = self._url_path()
        self._new_request_record(path)
        try:
            length = self._init_body()
        except BitsError:
            self._send_plain(400, b"bad Content-Length\n")
            return
        srv = self.server
        target = self._resolve(path)
        if target is None:
            self._send_plain(403, b"forbidden\n")
            return
        if os.path.isdir(target):
            self._send_plain(409, b"is a directory\n")
            return
        if length is None and not self._body_unknown:
            self._send_plain(411, b"length required\n")
            return
        if not srv.overwrite and os.path.lexists(target):
            self._send_plain(403, b"exists, no overwrite\n")
            return
        if srv.max_size is not None and length is not None and length > srv.max_size:
            if length > DRAIN_LIMIT:  # not worth reading: answer and close
                self._body_unknown = True
                self._body_left = 0
            self._send_plain(413, b"too large\n")
            return
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".put-", dir=os.path.dirname(target))
        except OSError as exc:
            self._send_plain(409, f"cannot create: {exc.strerror}\n".encode())
            return
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                chunks = self._iter_chunked() if self._body_unknown else self._body()
                for chunk in chunks:
                    if srv.max_size is not None and size + len(chunk) > srv.max_size:
                        self._body_unknown = True
                        self._send_plain(413, b"too large\n")
                        return
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            os.chmod(temp, 0o644)
            os.replace(temp, target)
            temp = None
        except BitsError:
            self._send_plain(400, b"bad chunked body\n")
            return
        finally:
            _unlink(temp)
        srv.record_file(path, digest.hexdigest(), size, "put", None)
        self._send_plain(201, b"", [("Location", path)])

    def do_POST(self) -> None:
        try:
            length = self._init_body()
        except BitsError:
            self._send_plain(400, b"bad Content-Length\n")
            return
        path = self._url_path()
        if path != "/_control":
            self._send_plain(405, b"use BITS_POST\n", [("Allow", "GET, HEAD, PUT, BITS_POST")])
            return
        if length is None or length > CONTROL_BODY_LIMIT:
            self._body_unknown = self._body_unknown or bool(length)
            self._body_left = 0
            self._send_plain(411 if length is None else 413, b"bad control body length\n")
            return
        raw = b"".join(self._body())
        try:
            spec = json.loads(raw or b"{}")
            fault = Fault.from_json(spec)
        except ValueError as exc:  # includes json.JSONDecodeError
            self._send_plain(400, f"bad control request: {exc}\n".encode())
            return
        self.server.set_fault(fault, bool(spec.get("reset_log")))
        body = json.dumps(fault.to_json() if fault else None).encode()
        self._send_plain(200, body, ctype="application/json")


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

def _size(text: str) -> int:
    value = parse_gen_size(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (digits, optional K/M/G)")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Loopback BITS upload ([MC-BUP]) test server.")
    serverlife.add_listen_arguments(parser, root_help="directory uploads are stored in")
    parser.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=True,
                        help="allow replacing existing files (default: yes)")
    parser.add_argument("--max-size", type=_size, help="largest upload accepted (bytes)")
    parser.add_argument("--max-fragment", type=_size, help="largest fragment body accepted")
    reply = parser.add_mutually_exclusive_group()
    reply.add_argument("--reply-echo", action="store_true",
                       help="upload-reply mode; reply = sha256 hex of the upload")
    reply.add_argument("--reply-handler", metavar="CMD",
                       help="upload-reply mode; reply = stdout of CMD FILE")
    parser.add_argument("--reply-timeout", type=float, default=60.0,
                        help="reply handler time limit in seconds (default 60)")
    parser.add_argument("--reply-url-form", choices=("absolute", "path"), default="absolute",
                        help="BITS-Reply-URL as an absolute URL or a path (default absolute)")
    parser.add_argument("--keep-replies", action="store_true",
                        help="keep replies after Close-/Cancel-Session")
    parser.add_argument("--host-id", help="BITS-Host-Id sent on Create-Session")
    parser.add_argument("--host-id-fallback-timeout", type=int, metavar="SECS",
                        help="BITS-Host-Id-Fallback-Timeout (needs --host-id)")
    parser.add_argument("--protocol", action="append", metavar="GUID",
                        help=f"supported protocol GUID, repeatable (default {PROTOCOL_BITS_1_5})")
    parser.add_argument("--commit-on", choices=("fragment", "close"), default="fragment",
                        help="move the upload to its path on the final fragment (default) "
                             "or on Close-Session")
    parser.add_argument("--persist-sessions", action="store_true",
                        help=f"keep active upload sessions in ROOT/{SESSIONS_DIR} so that "
                             "they survive a restart")
    args = parser.parse_args(argv)
    if args.bind != LOOPBACK:
        parser.error("--bind: only 127.0.0.1 is allowed")
    if not os.path.isdir(args.root):
        parser.error(f"--root: not a directory: {args.root}")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if args.host_id_fallback_timeout is not None and not args.host_id:
        parser.error("--host-id-fallback-timeout needs --host-id")
    if args.host_id_fallback_timeout is not None and args.host_id_fallback_timeout < 0:
        parser.error("--host-id-fallback-timeout must be >= 0")
    if args.host_id and not re.fullmatch(r"[\x21-\x7e]+", args.host_id):
        parser.error("--host-id: must be a host name or address")
    for guid in args.protocol or ():
        if not re.fullmatch(r"\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}", guid):
            parser.error(f"--protocol: not a {{GUID}}: {guid!r}")
    if args.reply_handler is not None and not shlex.split(args.reply_handler):
        parser.error("--reply-handler: empty command")
    if args.reply_timeout <= 0:
        parser.error("--reply-timeout must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = BitsUploadServer(args)
    try:
        return serve_until_signal(server, args.port_file, f"listening on {LOOPBACK}:{{port}}")
    finally:
        server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
