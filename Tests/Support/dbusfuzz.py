#!/usr/bin/python3
"""D-Bus fuzzer for bitsd (org.example.Bits), run as an unprivileged user.

Usage::

    /usr/bin/python3 Tests/Support/dbusfuzz.py --address ADDR --home DIR
        [--seconds 60] [--seed N] [--workers 2] [--timeout 30]
        [--foreign-job PATH ...] [--foreign-file PATH ...] [--target PATH ...]
        [--http-url http://127.0.0.1:PORT] [--fifos] [--interface-dir DIR]
        [--log FILE] [--summary-file FILE] [--max-jobs 40]

It reads the interface XML (``dbus/org.example.Bits.{Manager,Job,File}.xml``,
or --interface-dir) to enumerate every method with its in-signature and every
property with its type and access, and for ``--seconds`` seconds calls them on
the bus at ``--address`` as the user it runs as, from ``--workers`` threads (one
bus connection each; every connection is replaced now and then).  Each
iteration picks

* an object: the manager; one of its own jobs (it creates download, upload and
  upload-reply jobs and adds files to them); one of its own files; a job or
  file of another user (``--foreign-job`` / ``--foreign-file``); a finished
  job; a well-formed but nonexistent job or file; an odd path;
* an action: a method with arguments generated from its signature with hostile
  values (empty / 64 KiB / odd-unicode strings, paths to ``/etc/shadow``,
  ``/dev/zero``, ``/proc/self/mem``, ``..`` and relative paths, symlinks and
  (with ``--fifos``) FIFOs in ``--home``, ``--target`` paths; file://, gopher://,
  huge-port and userinfo URLs; 0 / 2^31-1 / 2^32-1 / 2^63 / 2^64-2 / 2^64-1;
  thousands of ranges or files; enum values in the wrong case), the same with
  a WRONG signature (missing, extra, retyped, wrapped arguments), or
  Properties.Get / GetAll / Set of every property (Set with the right type and
  hostile values, and with wrong variant types); Introspect, Peer.Ping,
  Peer.GetMachineId, ObjectManager.GetManagedObjects; calls that allow
  interactive authorization; calls that expect no reply; "hit and run" calls
  on a connection closed at once; plain job work (add a file, Resume,
  Suspend, Complete, Cancel) so that real transfers run, from the
  ``--http-url`` server and from a hostile loopback HTTP server of its own
  (huge Last-Modified years, absurd Content-Length / Content-Range, redirects
  to file:// URLs, 200 KB of headers, broken chunking, hostile BITS upload
  acknowledgements); and filesystem mischief in ``--home`` (symlinks to the
  targets in place of directories, temporary or local files; with
  ``--fifos`` FIFOs there too).

A first sweep calls every method and reads every property of each job type and
sets every writable one, so each member is covered however short the run.

Every ``--check-interval`` seconds the main thread checks that the service
answers ``org.freedesktop.DBus.Peer.Ping`` within 5 s and a real call
(``Properties.Get Version``) within the call timeout, and that
``GetConnectionUnixProcessID(org.example.Bits)`` is still the first pid.

Counted: calls, replies, errors by D-Bus error name; stalls (a call not
answered within ``--timeout``); crashes (the service left the bus, or a call
answered "recipient disconnected"); a pid change; unnamed refusals (an error
not named ``org.example.Bits.Error.*`` / ``org.freedesktop.DBus.Error.*``, and
``org.freedesktop.DBus.Error.Failed`` except on Job.Complete where the XML
documents it); undocumented ``org.example.Bits.Error.*`` names; errors with an
empty message; successful calls on the other user's objects other than Ping,
GetMachineId and an Introspect identical to a nonexistent job's (foreign
access); the other user's paths in ListJobs / GetManagedObjects replies
(foreign leaks); the credential canary (a password given to SetCredentials) in
any reply; files in ``--home`` not owned by the fuzzing user.

The last stdout line is a JSON summary; a readable report goes to stderr.
Exit status: 0 when there was no stall, crash, pid change, unnamed refusal,
foreign access or leak, canary leak or foreign-owned file; 1 otherwise; 2 on
a usage or set-up error.  The seed is printed first (stderr) and in the
summary; ``--seed`` repeats the same choices (timing-dependent replies aside).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import random
import re
import socket
import socketserver
import stat
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET

import dbus
import dbus.lowlevel

SERVICE = "org.example.Bits"
MANAGER_PATH = "/org/example/Bits"
JOBS_ROOT = "/org/example/Bits/jobs"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
BUS_NAME = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"
BITS_ERROR_PREFIX = "org.example.Bits.Error."
DBUS_ERROR_PREFIX = "org.freedesktop.DBus.Error."
FAILED = "org.freedesktop.DBus.Error.Failed"
NO_REPLY = "org.freedesktop.DBus.Error.NoReply"
TIMEOUT_NAMES = {NO_REPLY, "org.freedesktop.DBus.Error.Timeout", "org.freedesktop.DBus.Error.TimedOut"}
GONE_NAMES = {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"}
DISCONNECTED = "org.freedesktop.DBus.Error.Disconnected"
# Answers that say "no such object (for you)".
INVISIBLE = {"org.example.Bits.Error.NotFound", "org.freedesktop.DBus.Error.AccessDenied",
             "org.freedesktop.DBus.Error.UnknownObject"}
# Members whose success on another user's object leaks nothing.
HARMLESS_FOREIGN = {(PEER, "Ping"), (PEER, "GetMachineId")}

# Standard interfaces every object answers (not in the repo's XML).
STANDARD_METHODS = [
    (PROPERTIES, "Get", [("interface_name", "s"), ("property_name", "s")]),
    (PROPERTIES, "GetAll", [("interface_name", "s")]),
    (PROPERTIES, "Set", [("interface_name", "s"), ("property_name", "s"), ("value", "v")]),
    (INTROSPECTABLE, "Introspect", []),
    (PEER, "Ping", []),
    (PEER, "GetMachineId", []),
    (OBJECT_MANAGER, "GetManagedObjects", []),
]

# Enumerations of the contract (api.md): the XML documents them in prose only.
ENUMS = {
    "type": ["download", "upload", "upload-reply"],
    "target": ["server", "proxy"],
    "scheme": ["basic", "digest", "ntlm", "negotiate"],
    "priority": ["foreground", "high", "normal", "low"],
    "proxyusage": ["preconfig", "no-proxy", "override", "autodetect"],
    "redirectpolicy": ["allow", "allow-report", "deny"],
    "transferpolicy": ["always", "unmetered", "not-on-battery"],
    "validationstate": ["unknown", "valid", "invalid"],
    "httpmethod": ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "BITS_POST"],
}

U32 = [0, 1, 2, 3, 4, 5, 0x10, 0x1F, 0x20, 0xFF, 500, 600, 86400, 1209600, 7776000,
       2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1]
U64 = [0, 1, 4096, 2**31 - 1, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
ODD_UNICODE = [
    "e\u0301\u0302\u0303\u0304", "\u202eevil.exe\u202c", "\uffff", "\ufffe", "\U0010ffff", "\ufeff",
    "\u200b\u200c\u200d", "\U0001F4A9", "Z\u0351\u0352\u0353\u0354" * 60, "\u2028\u2029", "\x7f",
    "\x01\x1b[31m\x1b]0;title\x07", "A\u030a", "\u0130\u0131", "\ufdd0", "\u0600\u06dd", "\ud7ff",
    "\t\n\r\x0b\x0c", "\u00ff\u0100", "\u4e2d\u6587", "\u05d0\u05d1\u05d2", "\U000e0001",
]
TRICKY_TEXT = [
    "", " ", "a", "%s%s%n%x%p", "$(id)", "`reboot`", "'; DROP TABLE jobs; --", "\" OR 1=1 --",
    "\\", "../../../../etc/shadow", "\r\nX-Injected: 1", "\n", "null", "-1", "0x7fffffff",
    "{00000000-0000-0000-0000-000000000000}", "NaN", "\u0000".replace("\u0000", "NUL"),
]
LAST_MODIFIED = [
    # Years whose seconds times 10^6 overflow 64 bits, then other absurd or odd dates.
    "Sat, 01 Jan 999999 00:00:00 GMT", "Tue, 31 Dec 2147483647 23:59:59 GMT", "Fri, 01 Jan 600000 00:00:00 GMT",
    "Sat, 01 Jan 99999 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Sat, 01 Jan 10000 00:00:00 GMT",
    "Sun, 01 Jan 292277026596 00:00:00 GMT", "Mon, 01 Jan 18446744073709551616 00:00:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT", "Wed, 31 Dec 1969 23:59:59 GMT", "Mon, 01 Jan 0000 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
    "garbage", "", "99999999999999999999", "Sun, 06 Nov 1994 25:61:61 GMT", "Sun, 32 Foo 1994 08:49:37 GMT",
    "Tue, 19 Jan 2038 03:14:08 GMT", "Sun, 07 Feb 2106 06:28:16 GMT",
]
CONTENT_LENGTHS = ["18446744073709551615", "18446744073709551616", "-1", "99999999999999999999999",
                   "10, 20", "abc", "", "9223372036854775807", "0x10"]
CONTENT_RANGES = ["bytes 0-0/18446744073709551615", "bytes 5-1/10", "bytes */*", "bytes 0-99/50",
                  "bytes 18446744073709551614-18446744073709551615/18446744073709551615", "bytes -5-10/20",
                  "bytes 0-9/*", "garbage", "bytes 0-18446744073709551616/18446744073709551617"]
ODD_STATUS = [100, 101, 199, 204, 206, 299, 300, 304, 399, 401, 407, 416, 418, 499, 503, 599, 600, 999]

# ---------------------------------------------------------------------------
# Signatures and the interface model
# ---------------------------------------------------------------------------


def split_signature(sig: str) -> list[str]:
    """Split a signature into complete types."""
    out, i = [], 0
    while i < len(sig):
        j = _complete_type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _complete_type_end(sig: str, i: int) -> int:
    c = sig[i]
    if c == "a":
        return _complete_type_end(sig, i + 1)
    if c in "({":
        depth, j = 0, i
        while j < len(sig):
            if sig[j] in "({":
                depth += 1
            elif sig[j] in ")}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise ValueError("unbalanced signature " + sig)
    return i + 1


class Method:
    def __init__(self, interface: str, name: str, args: list[tuple[str, str]], standard: bool = False):
        self.interface, self.name, self.args, self.standard = interface, name, args, standard

    @property
    def signature(self) -> str:
        return "".join(t for _, t in self.args)

    @property
    def key(self) -> str:
        return f"{self.interface}.{self.name}"


class Prop:
    def __init__(self, interface: str, name: str, type_: str, access: str):
        self.interface, self.name, self.type, self.access = interface, name, type_, access

    @property
    def writable(self) -> bool:
        return "write" in self.access

    @property
    def key(self) -> str:
        return f"{self.interface}.{self.name}"


class Interfaces:
    """Methods and properties of org.example.Bits.* from the interface XML."""

    def __init__(self, directory: str):
        self.methods: dict[str, list[Method]] = {}
        self.properties: dict[str, list[Prop]] = {}
        self.documented_errors: set[str] = set()
        files = sorted(glob.glob(os.path.join(directory, "org.example.Bits.*.xml")))
        if not files:
            raise SystemExit(f"dbusfuzz: no org.example.Bits.*.xml in {directory}")
        for path in files:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.documented_errors.update(re.findall(r"org\.example\.Bits\.Error\.[A-Za-z]+", text))
            root = ET.fromstring(text)
            for iface in root.iter("interface"):
                name = iface.get("name")
                self.methods.setdefault(name, [])
                self.properties.setdefault(name, [])
                for m in iface.findall("method"):
                    args = [(a.get("name") or f"arg{i}", a.get("type"))
                            for i, a in enumerate(m.findall("arg")) if (a.get("direction") or "in") == "in"]
                    self.methods[name].append(Method(name, m.get("name"), args))
                for p in iface.findall("property"):
                    self.properties[name].append(Prop(name, p.get("name"), p.get("type"), p.get("access")))
        self.names = sorted(self.methods)
        self.standard = [Method(i, n, a, standard=True) for i, n, a in STANDARD_METHODS]

    def interface(self, suffix: str) -> str:
        for n in self.names:
            if n.endswith("." + suffix):
                return n
        raise SystemExit(f"dbusfuzz: no interface *.{suffix} in the XML")

    def all_methods(self) -> list[Method]:
        return [m for n in self.names for m in self.methods[n]]

    def all_properties(self) -> list[Prop]:
        return [p for n in self.names for p in self.properties[n]]

    def method(self, interface: str, name: str) -> Method | None:
        for m in self.methods.get(interface, []) + self.standard:
            if m.interface == interface and m.name == name:
                return m
        return None

    def prop(self, interface: str, name: str) -> Prop | None:
        for p in self.properties.get(interface, []):
            if p.name == name:
                return p
        return None


# ---------------------------------------------------------------------------
# Shared run state
# ---------------------------------------------------------------------------


def short(v, limit: int = 160) -> str:
    """A compact, bounded description of an argument value."""
    if isinstance(v, (list, tuple)) and not isinstance(v, (str, bytes)):
        parts = [short(x, 60) for x in list(v)[:4]]
        more = f", ...(+{len(v) - 4})" if len(v) > 4 else ""
        open_, close = ("(", ")") if isinstance(v, (tuple, dbus.Struct)) else ("[", "]")
        text = open_ + ", ".join(parts) + more + close
    elif isinstance(v, dict):
        items = list(v.items())[:3]
        text = "{" + ", ".join(f"{short(k, 40)}: {short(x, 60)}" for k, x in items) + \
            (f", ...(+{len(v) - 3})" if len(v) > 3 else "") + "}"
    elif isinstance(v, str):
        text = repr(str(v)) if len(v) <= 80 else f"<str len={len(v)} {str(v)[:48]!r}...>"
    elif isinstance(v, dbus.Boolean):
        text = str(bool(v))
    else:
        text = repr(v) if not isinstance(v, int) else str(int(v))
    if getattr(v, "variant_level", 0):
        text = f"<v{v.variant_level}:{text}>"
    return text if len(text) <= limit else text[:limit] + "..."


class Stats:
    def __init__(self, max_examples: int = 12):
        self.lock = threading.Lock()
        self.calls = 0
        self.ok = 0
        self.errors: collections.Counter = collections.Counter()
        self.stalls: list[dict] = []
        self.stall_count = 0
        self.disconnects: list[dict] = []
        self.crashes: list[dict] = []
        self.unnamed: list[dict] = []
        self.unnamed_count = 0
        self.undocumented: list[dict] = []
        self.undocumented_count = 0
        self.empty_messages: list[dict] = []
        self.empty_message_count = 0
        self.foreign_access: list[dict] = []
        self.foreign_leaks: list[dict] = []
        self.canary_leaks: list[dict] = []
        self.unsendable = 0
        self.no_reply_sent = 0
        self.hit_and_run = 0
        self.fs_actions = 0
        self.jobs_created = 0
        self.files_added = 0
        self.completed = 0
        self.cancelled = 0
        self.reconnects = 0
        self.coverage: collections.Counter = collections.Counter()
        self.wrong_signature_calls = 0
        self.max_examples = max_examples
        self.example_keys: collections.Counter = collections.Counter()
        self.recent_resumes: collections.deque = collections.deque(maxlen=12)
        self.home_growth: list[dict] = []
        self.non_regular: list[dict] = []
        # Files with a special source completed after the fuzzer pointed them elsewhere.
        self.special_sources_repointed = 0
        self.slow: list[dict] = []
        self.slow_count = 0
        self.non_regular_codes: collections.Counter = collections.Counter()
        self.distinguishable: list[dict] = []
        self.distinguishable_count = 0
        self.distinguishable_by: collections.Counter = collections.Counter()

    def example(self, bucket: list, key: str, item: dict) -> None:
        """Keeps at most 3 examples per key and max_examples per bucket (caller holds lock)."""
        if len(bucket) < self.max_examples and self.example_keys[(id(bucket), key)] < 3:
            self.example_keys[(id(bucket), key)] += 1
            bucket.append(item)


class Run:
    """Configuration and state shared by the workers and the monitor."""

    def __init__(self, opts, model: Interfaces):
        self.opts = opts
        self.model = model
        self.stats = Stats()
        self.stop = threading.Event()
        self.stop_reason = ""
        self.broken = False
        self.start = time.monotonic()
        self.deadline = self.start + opts.seconds
        self.uid = os.getuid()
        self.home = os.path.abspath(opts.home)
        self.manager_iface = model.interface("Manager")
        self.job_iface = model.interface("Job")
        self.file_iface = model.interface("File")
        self.foreign_jobs = list(opts.foreign_job)
        self.foreign_files = list(opts.foreign_file)
        self.foreign_paths = self.foreign_jobs + self.foreign_files
        self.foreign_prefixes = [p.rstrip("/") for p in self.foreign_jobs]
        self.targets = list(opts.target)
        self.http = (opts.http_url or "").rstrip("/")
        self.hostile = ""  # set once the hostile server listens
        # Passwords given to SetCredentials contain this; it must never come back in a reply.
        self.canary = f"FuzzCredCanary{opts.seed:x}"
        # Passwords in URL userinfo (readable back through RemoteName, which is allowed).
        self.url_secret = f"FuzzUrlPw{opts.seed:x}"
        self.log_lock = threading.Lock()
        self.log = open(opts.log, "a", encoding="utf-8", buffering=1) if opts.log else None
        self.registry_lock = threading.Lock()
        self.tracked_jobs: set[str] = set()
        self.cancel_all = threading.Event()
        self.ghost_introspection: dict[str, str] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def halt(self, reason: str, broken: bool = False) -> None:
        """Stops the workers; `broken` = the service died or stalled, so no more calls at all."""
        if broken:
            self.broken = True
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def write_log(self, entry: dict) -> None:
        if self.log:
            with self.log_lock:
                self.log.write(json.dumps(entry, sort_keys=True) + "\n")

    def is_foreign(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.foreign_prefixes) or path in self.foreign_files


# ---------------------------------------------------------------------------
# A hostile loopback HTTP server (runs as the fuzzing user)
# ---------------------------------------------------------------------------


class HostileHandler(socketserver.BaseRequestHandler):
    """Answers every request with something a client must survive; see the module doc."""

    def handle(self) -> None:
        sock = self.request
        sock.settimeout(30)
        try:
            while True:
                head = self._read_head(sock)
                if head is None:
                    return
                method, path, headers = head
                body_len = int(headers.get("content-length", "0") or 0) if headers.get("content-length", "0").isdigit() else 0
                self._discard(sock, min(body_len, 64 << 20))
                if not self._answer(sock, method, path, headers):
                    return
        except (OSError, ValueError):
            return

    def _read_head(self, sock):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
            if len(data) > 1 << 20:
                return None
        head, _, rest = data.partition(b"\r\n\r\n")
        self.leftover = rest
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) < 2:
            return None
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return parts[0], parts[1], headers

    def _discard(self, sock, n: int) -> None:
        n -= len(self.leftover)
        while n > 0:
            chunk = sock.recv(min(n, 65536))
            if not chunk:
                return
            n -= len(chunk)

    def _send(self, sock, status: str, headers: list[tuple[str, str]], body: bytes = b"", raw_head: bytes | None = None) -> None:
        head = raw_head if raw_head is not None else (
            f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")
        sock.sendall(head + body)

    def _answer(self, sock, method: str, path: str, headers: dict) -> bool:
        rng = self.server.rng
        with self.server.rng_lock:
            pick = rng.random()
            pick2 = rng.randrange(1 << 30)
        parts = path.split("?")[0].strip("/").split("/")
        kind = parts[0] if parts else ""
        arg = parts[1] if len(parts) > 1 else "0"
        num = int(arg) if arg.isdigit() else 0
        close = [("Connection", "close")]
        if method == "BITS_POST":
            return self._bits(sock, headers, pick, pick2)
        if kind == "ok" or kind == "reply":
            size = min(num, 8 << 20)
            start = 0
            rng_hdr = headers.get("range", "")
            m = re.match(r"bytes=(\d+)-$", rng_hdr)
            if kind == "ok" and m and int(m.group(1)) < size:
                start = int(m.group(1))
                self._send(sock, "206 Partial Content", [("Content-Length", str(size - start)),
                           ("Content-Range", f"bytes {start}-{size - 1}/{size}"), ("ETag", '"ok"'),
                           ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")] + close, b"F" * (size - start))
            else:
                self._send(sock, "200 OK", [("Content-Length", str(size)), ("ETag", '"ok"'), ("Accept-Ranges", "bytes"),
                           ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")] + close, b"F" * size)
            return False
        if kind == "lm":
            lm = LAST_MODIFIED[num % len(LAST_MODIFIED)]
            if any(x in lm for x in self.server.exclude):
                lm = "Sun, 06 Nov 1994 08:49:37 GMT"
            self._send(sock, "200 OK", [("Content-Length", "4096"), ("Last-Modified", lm), ("ETag", '"lm"'),
                       ("Accept-Ranges", "bytes")] + close, b"L" * 4096)
            return False
        if kind == "hdrs":
            variant = num % 5
            if variant == 0:
                hdrs = [(f"X-Junk-{i}", "v" * 90) for i in range(2000)]
                self._send(sock, "200 OK", hdrs + [("Content-Length", "10")] + close, b"H" * 10)
            elif variant == 1:
                self._send(sock, "200 OK", [("X-Long", "y" * 100_000), ("Content-Length", "10")] + close, b"H" * 10)
            elif variant == 2:
                self._send(sock, "", [], b"H" * 10,
                           raw_head=b"HTTP/1.1 200 OK\r\nno colon here\r\n: empty name\r\nContent-Length: 10\r\n\r\n")
            elif variant == 3:
                self._send(sock, "", [], b"H" * 10,
                           raw_head=b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nX-Bin: \xff\xfe\x80\r\nContent-Length: 10\r\n\r\n")
            else:
                self._send(sock, "", [], b"H" * 10, raw_head=b"HTTP/1.1 2OO OK\r\nContent-Length: 10\r\n\r\n")
            return False
        if kind == "redir":
            targets = ["file:///etc/shadow", "file:///dev/zero", "gopher://127.0.0.1/x", "http://127.0.0.1:1/x",
                       f"http://127.0.0.1:{self.server.server_address[1]}/redir/{num}", "",
                       f"http://user:{self.server.canary_url}@127.0.0.1:{self.server.server_address[1]}/ok/10",
                       "//127.0.0.1:1/x", "http://[::1]:99999/x", "ftp://127.0.0.1/x", "data:text/plain,hello",
                       "file:///proc/self/mem", "/etc/shadow", "http://\u00e9xample.invalid/"]
            loc = targets[num % len(targets)]
            self._send(sock, "302 Found", [("Location", loc.encode("utf-8").decode("latin-1")),
                       ("Content-Length", "0")] + close)
            return False
        if kind == "len":
            cl = CONTENT_LENGTHS[num % len(CONTENT_LENGTHS)]
            self._send(sock, "200 OK", [("Content-Length", cl), ("Accept-Ranges", "bytes")] + close, b"C" * 10)
            return False
        if kind == "cr":
            cr = CONTENT_RANGES[num % len(CONTENT_RANGES)]
            self._send(sock, "206 Partial Content", [("Content-Range", cr), ("Content-Length", "10"), ("ETag", '"cr"')]
                       + close, b"R" * 10)
            return False
        if kind == "slow":
            self._send(sock, "200 OK", [("Content-Length", "60"), ("Accept-Ranges", "bytes")] + close)
            for _ in range(60):
                time.sleep(0.5)
                sock.sendall(b"S")
            return False
        if kind == "status":
            code = ODD_STATUS[num % len(ODD_STATUS)]
            self._send(sock, f"{code} Odd", [("Content-Length", "2"), ("Retry-After", "99999999999")] + close, b"no")
            return False
        if kind == "chunk":
            bodies = [b"fffffffffffffffffff\r\nabc\r\n0\r\n\r\n", b"zz\r\nabc\r\n", b"5\r\nabc", b"-1\r\n\r\n",
                      b"0\r\nX-Trailer: " + b"t" * 70000 + b"\r\n\r\n"]
            self._send(sock, "200 OK", [("Transfer-Encoding", "chunked")] + close, bodies[num % len(bodies)])
            return False
        self._send(sock, "404 Not Found", [("Content-Length", "0")] + close)
        return False

    def _bits(self, sock, headers: dict, pick: float, pick2: int) -> bool:
        """Hostile BITS upload protocol answers."""
        packet = headers.get("bits-packet-type", "").lower()
        port = self.server.server_address[1]
        ack = [("BITS-Packet-Type", "Ack"), ("Content-Length", "0")]
        if packet == "create-session":
            sessions = ["{11111111-2222-3333-4444-555555555555}", "s" * 10000, "", "../../etc/passwd",
                        "{" + "\u00e9".encode().decode("latin-1") + "}"]
            extra = [("BITS-Protocol", "{7df0354d-249b-430f-820d-3d2a9bef4931}"),
                     ("BITS-Session-Id", sessions[pick2 % len(sessions)])]
            if pick < 0.3:
                hosts = ["127.0.0.1:1", "file:///etc", "x" * 5000, f"127.0.0.1:{port}"]
                extra += [("BITS-Host-Id", hosts[pick2 % len(hosts)]),
                          ("BITS-Host-Id-Fallback-Timeout", str([0, 1, 4294967295, 4294967296][pick2 % 4]))]
            if pick > 0.9:
                extra[0] = ("BITS-Protocol", "{00000000-0000-0000-0000-000000000000}")
            self._send(sock, "200 OK", ack + extra + [("Connection", "close")])
            return False
        if packet == "fragment":
            m = re.match(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
            end = int(m.group(2)) + 1 if m else 0
            total = int(m.group(3)) if m else 0
            ranges = [str(end), str(end), "0", "18446744073709551615", "junk", str(total + 1000), str(max(end - 1, 0))]
            extra = [("BITS-Received-Content-Range", ranges[pick2 % len(ranges)])]
            if end >= total:
                replies = [f"http://127.0.0.1:{port}/reply/2097152", f"http://127.0.0.1:{port}/reply/10",
                           "file:///etc/shadow", "gopher://127.0.0.1/x", "/reply/5", f"http://127.0.0.1:{port}/lm/0",
                           f"http://127.0.0.1:{port}/slow"]
                extra.append(("BITS-Reply-URL", replies[pick2 % len(replies)]))
            if pick < 0.1:
                self._send(sock, "500 Internal Server Error", [("BITS-Packet-Type", "Ack"), ("BITS-Error-Code", "0xZZ"),
                           ("BITS-Error-Context", "0x5"), ("Content-Length", "0"), ("Connection", "close")])
                return False
            self._send(sock, "200 OK", ack + extra + [("Connection", "close")])
            return False
        # Ping, Close-Session, Cancel-Session and anything else.
        self._send(sock, "200 OK", ack + [("Connection", "close")])
        return False


class HostileServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, seed: int, canary_url: str, exclude: list[str]):
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.exclude = exclude
        self.rng = random.Random(f"{seed}:http")
        self.rng_lock = threading.Lock()
        self.canary_url = canary_url


# ---------------------------------------------------------------------------
# Value generation
# ---------------------------------------------------------------------------


def as_variant(v, level: int = 1):
    """The same value marked as a variant (level 2 = a variant in a variant)."""
    if isinstance(v, dbus.Array):
        return dbus.Array(v, signature=v.signature, variant_level=level)
    if isinstance(v, dbus.Struct):
        return dbus.Struct(v, signature=v.signature, variant_level=level)
    if isinstance(v, dbus.Dictionary):
        return dbus.Dictionary(v, signature=v.signature, variant_level=level)
    if isinstance(v, dbus.types.UnixFd):
        return v
    if isinstance(v, dbus.ByteArray):
        return dbus.ByteArray(bytes(v), variant_level=level)
    return type(v)(v, variant_level=level)


def kind_of(hint: str) -> str:
    h = hint.lower().replace("_", "")
    if "url" in h or "prefix" in h or h == "remotename":
        return "url"
    if h in ("localpath", "certificatefile", "privatekeyfile", "replyfilename", "localname", "temporaryname"):
        return "path"
    if h == "id":
        return "guid"
    if h in ENUMS or h == "type":
        return "enum:" + h
    if h == "password":
        return "secret"
    if h == "customheaders":
        return "header"
    if h == "notifycommandline":
        return "argv"
    if h == "proxylist":
        return "proxy"
    if h == "interfacename":
        return "iface"
    if h == "propertyname":
        return "prop"
    if h in ("displayname", "description"):
        return "name"
    return "text"


class Generator:
    """Hostile (and now and then valid) values for a worker; all randomness from its Random."""

    def __init__(self, run: Run, rng: random.Random, worker):
        self.run, self.rng, self.w = run, rng, worker
        self.counter = 0
        self.depth = 0

    def tag(self) -> str:
        self.counter += 1
        return f"fz{self.w.index}x{self.counter}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # --- strings -----------------------------------------------------------

    def junk(self) -> str:
        r = self.rng
        k = r.randrange(9)
        if k == 0:
            return "".join(chr(r.randrange(32, 127)) for _ in range(r.randrange(0, 300)))
        if k == 1:
            return "".join(r.choice(ODD_UNICODE) for _ in range(r.randrange(1, 8)))
        if k == 2:  # NUL-free binary junk (every code point 1..255)
            return bytes(r.randrange(1, 256) for _ in range(r.randrange(1, 400))).decode("latin-1")
        if k == 3:
            return "A" * 65536
        if k == 4:
            return r.choice(ODD_UNICODE) * (65536 // 8)
        if k == 5:
            return r.choice(TRICKY_TEXT)
        if k == 6:
            return "x" * r.choice([255, 256, 257, 1023, 1024, 1025, 2200, 2201, 4095, 4096, 4097])
        if k == 7:
            return "e\u0301" * r.choice([128, 256, 257, 1024])  # 256 characters that are 512 scalars
        return "".join(chr(r.choice([r.randrange(1, 0xD800), r.randrange(0xE000, 0x110000)]))
                       for _ in range(r.randrange(1, 64)))

    def string(self, hint: str) -> str:
        for _ in range(10):
            s = self._string(hint)
            if not any(x in s for x in self.run.opts.exclude):
                return s
        return "excluded"

    def _string(self, hint: str) -> str:
        kind = kind_of(hint)
        p = self.rng.random()
        if p < 0.08:
            return self.junk()
        if kind == "url":
            return self.url(valid=p < 0.4)
        if kind == "path":
            return self.path(valid=p < 0.35, for_upload=hint.lower() in ("certificate_file", "private_key_file"))
        if kind == "guid":
            return self.guid(valid=p < 0.4)
        if kind.startswith("enum:"):
            return self.enum(kind[5:], valid=p < 0.45)
        if kind == "secret":
            return self.run.canary + ("" if p < 0.7 else self.junk())
        if kind == "header":
            return self.header()
        if kind == "argv":
            return self.rng.choice(self.argv0_pool())
        if kind == "proxy":
            return self.rng.choice(["127.0.0.1:1", f"http://user:pw@127.0.0.1:1", "socks5://127.0.0.1:1", "",
                                    "127.0.0.1:99999999", ";;;", "http://[::1", self.run.http or "http://127.0.0.1:1",
                                    "127.0.0.1:1 127.0.0.2:2", self.junk()])
        if kind == "iface":
            names = self.run.model.names + [PROPERTIES, INTROSPECTABLE]
            return self.rng.choice(names + ["", "org.example.Bits", "org.example.bits.job", "org.example.Bits.Job.",
                                            "x" * 300, self.junk()])
        if kind == "prop":
            props = self.run.model.all_properties()
            name = self.rng.choice(props).name
            return self.rng.choice([name, name, name.lower(), name.upper(), "", "Nope", name + "\u200b", self.junk()])
        if kind == "name":
            return self.rng.choice(["fuzz", "x" * 256, "x" * 257, "d" * 1024, "d" * 1025, "e\u0301" * 256,
                                    self.rng.choice(ODD_UNICODE), "", self.junk()])
        return self.rng.choice(TRICKY_TEXT + ODD_UNICODE + [self.junk()])

    def enum(self, name: str, valid: bool) -> str:
        values = ENUMS.get(name, ["x"])
        v = self.rng.choice(values)
        if valid:
            return v
        return self.rng.choice([v.upper(), v.capitalize(), v.swapcase(), " " + v, v + " ", v + "\n",
                                v.replace("-", "_"), v[:-1], v + v, "\u200b" + v, "", "*", v + "\u0301",
                                v.replace("o", "\u043e"), "x" * 300])

    def guid(self, valid: bool) -> str:
        r = self.rng
        pool = [j.path for j in self.w.jobs] + self.run.foreign_jobs
        if valid and pool:
            hexid = r.choice(pool).rsplit("/", 1)[-1]
        else:
            hexid = "%032x" % r.getrandbits(128)
        g = f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:32]}"
        if valid:
            return r.choice([g, g, g.upper(), "{" + g + "}", "{" + g.upper() + "}"])
        return r.choice([g, hexid, "{" + g, g + "}", g + " ", "not-a-guid", "", "{}", g.replace("-", "_"),
                         "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
                         g[:-1] + "g", g * 10, "../" + g, self.junk()])

    def argv0_pool(self) -> list[str]:
        home = self.run.home
        return ["/bin/true", "/usr/bin/touch", f"{home}/notify-ran", "relative-program", "", "/nonexistent/prog",
                "/bin/sh", "-c", "id -u > /tmp/x", "/usr/bin/sleep", "1", "/etc/shadow", "/dev/zero",
                "x" * 5000, "\u202e", "--help"]

    def header(self) -> str:
        return self.rng.choice(["X-Fuzz: 1", "X: a\r\nX-Injected: b", ":", "no colon", "Host: evil.example",
                                "Content-Length: 0", "Range: bytes=0-0", "Authorization: Basic Zm9vOmJhcg==",
                                "X-Long: " + "v" * 70000, "X-Nl: a\nb", "  : spaces", "X-Unicode: \u00e9\u202e",
                                "Transfer-Encoding: chunked", "X-Empty:", self.junk()])

    def http_url(self) -> str:
        """A plausible source of a download: the harness's server or the hostile one."""
        r = self.rng
        t = self.tag()
        choices = []
        if self.run.http:
            f = self.run.http
            size = r.choice([0, 1, 1000, 65536, 300000, 2000000])
            choices += [f"{f}/_gen/{size}?tag={t}"] * 4 + [
                f"{f}/_gen/200000?fault=drop&after=1000&tag={t}",
                f"{f}/_gen/2000?fault=status&code=404&tag={t}",
                f"{f}/_gen/2000?fault=status&code=503&tag={t}",
                f"{f}/_gen/2000?fault=stall&after=10&seconds=4&tag={t}",
                f"{f}/_gen/70000?fault=norange&tag={t}",
                f"{f}/_gen/7000?fault=nolength&tag={t}",
                f"{f}/_gen/9000?redirect=file:///etc/shadow&tag={t}",
                f"{f}/_gen/9000?auth=basic&tag={t}",
                f"{f}/_gen/100000?rate=50000&tag={t}",
                f"{f}/_gen/5000?lastmod=4102444800&tag={t}",
            ]
        if self.run.hostile:
            h = self.run.hostile
            choices += [f"{h}/ok/{r.choice([0, 10, 5000, 200000])}", f"{h}/lm/{r.randrange(len(LAST_MODIFIED))}",
                        f"{h}/lm/{r.randrange(5)}", f"{h}/hdrs/{r.randrange(5)}", f"{h}/redir/{r.randrange(14)}",
                        f"{h}/len/{r.randrange(len(CONTENT_LENGTHS))}", f"{h}/cr/{r.randrange(len(CONTENT_RANGES))}",
                        f"{h}/slow", f"{h}/status/{r.randrange(len(ODD_STATUS))}", f"{h}/chunk/{r.randrange(5)}"]
        return r.choice(choices) if choices else "http://127.0.0.1:1/x"

    def url(self, valid: bool) -> str:
        r = self.rng
        if valid:
            return self.http_url()
        home = self.run.home
        port = self.run.http.rsplit(":", 1)[-1] if self.run.http else "1"
        pool = [
            "", "file:///dev/zero", "file:///etc/shadow", "file:///proc/self/mem", "file:///root/.ssh/authorized_keys",
            "file:///", "file://", "file:relative", "file://localhost/etc/shadow", "file://otherhost/etc/passwd",
            "file:///etc/../etc/shadow", "file:///dev/urandom", "file:///proc/1/environ", f"file://{home}/up/src-0.bin",
            f"file://{home}/links/l-{r.randrange(8)}", f"file://{home}/d0", "file:///sys/kernel/mm/transparent_hugepage/enabled",
            "http://", "http:///x", "http://127.0.0.1:99999999/x", "http://127.0.0.1:0/x", "http://127.0.0.1:65536/x",
            "http://127.0.0.1:-1/x", f"http://user:{self.run.url_secret}@127.0.0.1:{port}/_gen/10",
            f"http://user:pass@127.0.0.1:{port}/_gen/10", f"http://[::1]:{port}/_gen/10", "http://[::1",
            "http://[fe80::1%25lo]:1/x", "gopher://127.0.0.1/x", "ftp://127.0.0.1/x", "ftps://127.0.0.1/x",
            "dict://127.0.0.1:1/x", "ldap://127.0.0.1/x", "scp://127.0.0.1/x", "telnet://127.0.0.1:1",
            "javascript:alert(1)", "data:text/plain,hello", "HTTP://127.0.0.1:1/x", "hTtP://127.0.0.1:1/x",
            f"https://127.0.0.1:{port}/_gen/10", "http://127.0.0.1/" + "a" * 70000, "http://127.0.0.1/" + "a" * 2180,
            "http://127.0.0.1:1/x\r\nHost: evil", "http://127.0.0.1:1/a b", "http://127.0.0.1:1/%00",
            "http://ex\u0301ample.invalid/", f"http://127.0.0.1:{port}/../../etc/passwd",
            f"http://127.0.0.1:{port}/..%2f..%2fetc/passwd", "\u202ehttp://127.0.0.1:1/", " http://127.0.0.1:1/",
            "http://127.0.0.1:1/x#frag", "http://@127.0.0.1:1/", "http://a:b:c@127.0.0.1:1/", "//127.0.0.1:1/x",
            "/etc/shadow", "relative/x", "file:" + "/" * 5000, "http://" + "a." * 120 + "invalid/",
        ]
        if self.run.opts.fifos:
            pool += [f"file://{home}/fifosrc/s-{r.randrange(4)}"]
        pool += [f"file://{t}" for t in self.run.targets]
        return r.choice(pool)

    def own_dest(self) -> str:
        r = self.rng
        return f"{self.run.home}/d{r.randrange(6)}/f-{self.tag()}.bin"

    def path(self, valid: bool, for_upload: bool = False) -> str:
        r = self.rng
        home = self.run.home
        if valid:
            if for_upload:
                return r.choice([f"{home}/up/src-{r.randrange(3)}.bin", f"{home}/certs/cert.pem", f"{home}/certs/key.pem"])
            return self.own_dest()
        pool = [
            "/", "", "/etc/shadow", "/etc/passwd", "/root/.ssh/authorized_keys", "/root/x.bin", "/dev/zero",
            "/dev/null", "/dev/full", "/dev/stdout", "/proc/self/mem", "/proc/1/mem", "/proc/self/fd/0",
            "/sys/kernel/notes", "relative/x.bin", "x.bin", "./x", "../../etc/shadow", f"{home}/../../../../etc/shadow",
            f"{home}/d0/../../../../../root/x", f"{home}/", home, "/tmp", "/tmp/", f"{home}/" + "n" * 300,
            f"{home}/" + "d/" * 2100 + "x", "/" + "p" * 4097, f"{home}//d0//x.bin", "/etc/shadow/.",
            f"{home}/d0/new\nline.bin", f"{home}/d0/\u202eevil", f"{home}/d0/.", f"{home}/d0/..",
            f"{home}/links/l-{r.randrange(8)}", f"{home}/links/dir-{r.randrange(3)}/x.bin", f"{home}/up/src-0.bin",
            f"{home}/ro/x.bin", f"{home}/d{r.randrange(6)}", "/var/lib/bits/queue.sqlite", "/run/dbus/system_bus_socket",
            f"{home}/d0/" + "\u00e9" * 200, "/etc/bits/bitsd.conf", "/usr/bin/x", "//etc//shadow", "/./etc/shadow",
        ]
        if self.run.opts.fifos:
            pool += [f"{home}/fifos/f-{r.randrange(4)}"] * 3
        for t in self.run.targets:
            pool += [t, t.rstrip("/") + "/new-file.bin"]
        return r.choice(pool)

    def objpath(self) -> str:
        return self.w.pick_object()[0]

    # --- typed values ------------------------------------------------------

    def value(self, t: str, hint: str = ""):
        """A value of type `t`; containers inside containers stay small (no combinatorial blow-up)."""
        self.depth += 1
        try:
            return self._value(t, hint)
        finally:
            self.depth -= 1

    def n_items(self, big: list[int]) -> int:
        return self.rng.choice(big) if self.depth <= 1 else self.rng.choice([0, 1, 2])

    def _value(self, t: str, hint: str):
        r = self.rng
        c = t[0]
        if c == "s":
            return dbus.String(self.string(hint))
        if c == "o":
            return dbus.ObjectPath(self.objpath())
        if c == "g":
            return dbus.Signature(r.choice(["", "s", "a{sv}", "((((((((((((((((((((s))))))))))))))))))))",
                                            "v" * 200, "a" * 32 + "s", "(tt)", "h"]))
        if c == "b":
            return dbus.Boolean(r.random() < 0.5)
        if c == "y":
            return dbus.Byte(r.choice([0, 1, 127, 255, r.randrange(256)]))
        if c == "n":
            return dbus.Int16(r.choice([0, -1, 32767, -32768]))
        if c == "q":
            return dbus.UInt16(r.choice([0, 1, 65535]))
        if c == "i":
            return dbus.Int32(r.choice([0, -1, 1, 2**31 - 1, -2**31]))
        if c == "u":
            return dbus.UInt32(r.choice(U32) if r.random() < 0.85 else r.getrandbits(32))
        if c == "x":
            return dbus.Int64(r.choice([0, -1, 2**63 - 1, -2**63, 5]))
        if c == "t":
            return dbus.UInt64(r.choice(U64) if r.random() < 0.85 else r.getrandbits(64))
        if c == "d":
            return dbus.Double(r.choice([0.0, -0.0, 1e308, -1e308, float("inf"), float("nan"), 5e-324]))
        if c == "h":
            fd = os.open("/dev/null", os.O_RDONLY)
            try:
                return dbus.types.UnixFd(fd)
            finally:
                os.close(fd)
        if c == "v":
            return self.variant(hint)
        if t == "a(tt)":
            return self.ranges()
        if t in ("a(ss)", "a(sss)"):
            return self.file_list(len(split_signature(t[2:-1])))
        if t == "as":
            return self.string_list(hint)
        if t == "ay":
            return dbus.ByteArray(r.randbytes(r.choice([0, 1, 100, 70000])))
        if c == "a" and t[1] == "{":
            kt, vt = split_signature(t[2:-1])
            n = self.n_items([0, 1, 3, 500])
            d = {}
            for _ in range(n):
                d[self.value(kt, "text")] = self.value(vt, "text")
            return dbus.Dictionary(d, signature=kt + vt)
        if c == "a":
            inner = t[1:]
            n = self.n_items([0, 1, 2, 3, 1000] if inner != "v" else [0, 1, 3])
            return dbus.Array([self.value(inner, hint) for _ in range(n)], signature=inner)
        if c == "(":
            members = split_signature(t[1:-1])
            return dbus.Struct([self.value(m, hint) for m in members], signature=t[1:-1])
        raise ValueError("cannot generate " + t)

    def variant(self, hint: str, want: str | None = None):
        r = self.rng
        t = want or r.choice(["s", "u", "t", "b", "i", "x", "d", "o", "g", "y", "n", "q", "as", "ay", "a{sv}",
                              "(ss)", "(tt)", "a(tt)", "ai", "aas", "a{ss}", "v"])
        if t == "v":
            inner = self.variant(hint)
            return as_variant(inner, getattr(inner, "variant_level", 1) + 1)
        return as_variant(self.value(t, hint), 1)

    def ranges(self):
        r = self.rng
        M = 2**64 - 1
        k = r.randrange(12)
        if k == 0:
            pairs = []
        elif k == 1:
            pairs = [(0, M)]
        elif k == 2:
            pairs = [(M, M), (M - 1, 2), (2**63, 2**63)]
        elif k == 3:
            pairs = [(0, 0)]
        elif k == 4:
            pairs = [(0, 10), (5, 10), (3, 1)]
        elif k == 5:
            pairs = [(i * 10, 10) for i in range(r.choice([499, 500, 501]))]
        elif k == 6:
            pairs = [(i, 1) for i in range(self.n_items([2000, 5000, 20000]))]
        elif k == 7:
            pairs = [(100, 10), (0, 10)]
        elif k == 8:
            pairs = [(0, 1000), (1000, M)]
        elif k == 9:
            pairs = [(r.getrandbits(64), r.getrandbits(64)) for _ in range(r.randrange(1, 20))]
        else:
            pairs = [(r.randrange(0, 50000), r.randrange(1, 5000)) for _ in range(r.randrange(1, 6))]
        return dbus.Array([dbus.Struct((dbus.UInt64(a), dbus.UInt64(b)), signature="tt") for a, b in pairs],
                          signature="(tt)")

    def file_list(self, width: int):
        r = self.rng
        n = self.n_items([0, 1, 1, 2, 3, 10, 199, 200, 201, 1000])
        good = r.random() < 0.5
        items = []
        for i in range(n):
            if good and not (i == n - 1 and r.random() < 0.3):
                entry = [self.http_url(), self.own_dest()]
            else:
                entry = [self.string("remote_url"), self.string("local_path")]
            if width == 3:
                entry.append(r.choice(["", "sha256:" + "0" * 64, "sha512:" + "f" * 128, "md5:abc", "sha256:xyz",
                                       "sha256:" + "0" * 63, self.junk()]))
            items.append(dbus.Struct([dbus.String(x) for x in entry], signature="s" * width))
        return dbus.Array(items, signature="(" + "s" * width + ")")

    def string_list(self, hint: str):
        r = self.rng
        kind = kind_of(hint)
        if kind == "argv":
            home = self.run.home
            choices = [[], ["/bin/true"], ["/usr/bin/touch", f"{home}/notify-ran"], ["relative"], [""],
                       ["/nonexistent"], ["/bin/sh", "-c", "id -u > \"$HOME/notify-sh\""], ["/usr/bin/sleep", "1"],
                       ["/bin/true"] * 10000, ["/bin/true", "x" * 70000], ["/etc/shadow"], ["/dev/zero"],
                       [f"{home}/links/l-0"], ["/bin/true", "\u202e", "\n"]]
            return dbus.Array(r.choice(choices), signature="s")
        if kind == "header":
            n = self.n_items([0, 1, 2, 5, 1000])
            return dbus.Array([self.header() for _ in range(n)], signature="s")
        n = self.n_items([0, 1, 2, 3, 1000])
        return dbus.Array([self.string(hint) for _ in range(n)], signature="s")

    def right_value(self, prop: Prop):
        """A value of the property's own type (hostile or valid)."""
        return as_variant(self.value(prop.type, prop.name), 1)

    def wrong_value(self, prop: Prop):
        for _ in range(20):
            v = self.variant(prop.name)
            if v.variant_level > 1 or dbus_signature_of(v) != prop.type:
                return v
        return as_variant(dbus.Int32(5), 1)

    # --- wrong signatures ----------------------------------------------------

    RANDOM_TYPES = ["y", "b", "n", "q", "i", "u", "x", "t", "d", "s", "o", "g", "v", "as", "ay", "a{sv}", "(ss)",
                    "a(ss)", "a(tt)", "a(ttt)", "aas", "(su)", "a{ss}", "h"]

    def mutate_signature(self, sig: str) -> str:
        r = self.rng
        types = split_signature(sig)
        for _ in range(20):
            t = list(types)
            op = r.choice(["drop", "extra", "retype", "swap", "empty", "random", "wrap", "arrayify", "extra"])
            if op == "drop" and t:
                del t[r.randrange(len(t))]
            elif op == "extra":
                t.insert(r.randrange(len(t) + 1), r.choice(self.RANDOM_TYPES))
            elif op == "retype" and t:
                t[r.randrange(len(t))] = r.choice(self.RANDOM_TYPES)
            elif op == "swap" and len(t) >= 2:
                i, j = r.sample(range(len(t)), 2)
                t[i], t[j] = t[j], t[i]
            elif op == "empty":
                t = []
            elif op == "random":
                t = [r.choice(self.RANDOM_TYPES) for _ in range(r.randrange(1, 5))]
            elif op == "wrap" and t:
                t = ["(" + "".join(t) + ")"]
            elif op == "arrayify" and t:
                i = r.randrange(len(t))
                t[i] = "a" + t[i]
            new = "".join(t)
            if new != sig and len(new) <= 255:
                return new
        return sig + "s"


# A call answered later than this (but within its timeout) is reported as slow.
SLOW_CALL = 5.0

# file:// sources that are not regular files (api.md: ErrorCode not-a-regular-file).
NON_REGULAR_SOURCES = ("file:///dev/",)

# The system bus drops connections that send messages over its limit (32 MiB by default).
MAX_MESSAGE = 16 << 20


def approx_size(v) -> int:
    """About how many bytes `v` marshals to."""
    if isinstance(v, (str, bytes)):
        return len(v) * (4 if isinstance(v, str) and not v.isascii() else 1) + 8
    if isinstance(v, dict):
        return sum(approx_size(k) + approx_size(x) for k, x in v.items()) + 8
    if isinstance(v, (list, tuple)):
        return sum(approx_size(x) for x in v) + 8
    return 8


def dbus_signature_of(v) -> str:
    """The D-Bus type of a generated value."""
    if isinstance(v, dbus.Array):
        return "a" + v.signature
    if isinstance(v, dbus.ByteArray):
        return "ay"
    if isinstance(v, dbus.Dictionary):
        return "a{" + v.signature + "}"
    if isinstance(v, dbus.Struct):
        return "(" + v.signature + ")"
    table = [(dbus.Boolean, "b"), (dbus.Byte, "y"), (dbus.Int16, "n"), (dbus.UInt16, "q"), (dbus.Int32, "i"),
             (dbus.UInt32, "u"), (dbus.Int64, "x"), (dbus.UInt64, "t"), (dbus.Double, "d"), (dbus.ObjectPath, "o"),
             (dbus.Signature, "g"), (dbus.String, "s")]
    for cls, s in table:
        if isinstance(v, cls):
            return s
    return "?"


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------


class OwnJob:
    def __init__(self, path: str, type_: str):
        self.path, self.type = path, type_
        self.files: list[str] = []
        self.urls: list[str] = []
        self.locals: list[str] = []
        self.special: list[tuple[str, str]] = []  # (file path, char-device / FIFO source URL)


class Outcome:
    def __init__(self, ok: bool, name: str = "", message: str = "", reply=None, elapsed: float = 0.0):
        self.ok, self.name, self.message, self.reply, self.elapsed = ok, name, message, reply, elapsed


class Worker:
    RECONNECT_EVERY = 1500

    def __init__(self, run: Run, index: int):
        self.run, self.index = run, index
        self.thread = threading.Thread(target=self.main, name=f"fuzz-{index}", daemon=True)
        self.rng = random.Random(f"{run.opts.seed}:{index}")
        self.gen = Generator(run, self.rng, self)
        self.conn = None
        self.jobs: list[OwnJob] = []
        self.finals: collections.deque = collections.deque(maxlen=20)
        self.seq = 0
        self.since_reconnect = 0
        self.recent: collections.deque = collections.deque(maxlen=8)
        self.inflight: tuple[float, str] | None = None
        self.cap = max(4, run.opts.max_jobs // max(1, run.opts.workers))
        self.error: str | None = None
        self.ghost_hex = "%032x" % self.rng.getrandbits(128)

    # --- connection and calls ----------------------------------------------

    def connect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
            with self.run.stats.lock:
                self.run.stats.reconnects += 1
        self.conn = dbus.bus.BusConnection(self.run.opts.address)
        self.since_reconnect = 0

    def call(self, path: str, interface: str | None, member: str, signature: str = "", args=(),
             *, interactive: bool = False, wrong_signature: bool = False, count: bool = True,
             timeout: float | None = None) -> Outcome:
        run, stats = self.run, self.run.stats
        timeout = timeout or run.opts.timeout
        if run.broken or (count and run.stop.is_set()):
            return Outcome(False, "fuzz.Stopped", "the run is over")
        msg = dbus.lowlevel.MethodCallMessage(SERVICE, path, interface, member)
        if interactive:
            msg.set_allow_interactive_authorization(True)
        try:
            if approx_size(args) > MAX_MESSAGE:
                raise ValueError(f"message of about {approx_size(args)} bytes")
            if args:
                msg.append(*args, signature=signature)
        except Exception as e:  # noqa: BLE001 - a value libdbus refuses to marshal (or too big): not sent
            with stats.lock:
                stats.unsendable += 1
            return Outcome(False, "fuzz.Unsendable", str(e))
        self.seq += 1
        self.since_reconnect += 1
        desc = {"worker": self.index, "seq": self.seq, "path": path, "interface": interface, "member": member,
                "signature": signature, "args": short(list(args), 400), "interactive": interactive}
        self.recent.append(desc)
        t0 = time.monotonic()
        self.inflight = (t0, f"{interface}.{member} on {path}")
        try:
            reply = self.conn.send_message_with_reply_and_block(msg, timeout)
            elapsed = time.monotonic() - t0
            try:
                values = reply.get_args_list()
            except Exception as e:  # noqa: BLE001
                values = [f"<undecodable reply: {e}>"]
            out = Outcome(True, reply=values, elapsed=elapsed)
        except dbus.exceptions.DBusException as e:
            elapsed = time.monotonic() - t0
            out = Outcome(False, e.get_dbus_name() or "", e.get_dbus_message() or "", elapsed=elapsed)
        finally:
            self.inflight = None
        run.write_log({"t": round(run.elapsed(), 3), **desc, "ms": round(out.elapsed * 1000, 1),
                       "result": "ok" if out.ok else out.name, "message": (out.message or "")[:200]})
        if count:
            self.account(desc, out, timeout, wrong_signature)
            if run.is_foreign(path) and (interface, member) not in HARMLESS_FOREIGN and not run.broken:
                self.compare_with_ghost(desc, path, interface, member, signature, args, interactive, out)
        if self.since_reconnect >= self.RECONNECT_EVERY and not run.stop.is_set():
            self.connect()
        return out

    def compare_with_ghost(self, desc, path, interface, member, signature, args, interactive, out) -> None:
        """The same call on a job (file) that does not exist must get the same kind of answer:
        another user's objects are invisible, not merely locked."""
        rest = path[len(JOBS_ROOT) + 1:].split("/", 1)
        ghost = f"{JOBS_ROOT}/{self.ghost_hex}" + ("/" + rest[1] if len(rest) > 1 else "")
        msg = dbus.lowlevel.MethodCallMessage(SERVICE, ghost, interface, member)
        if interactive:
            msg.set_allow_interactive_authorization(True)
        try:
            if args:
                msg.append(*args, signature=signature)
            reply = self.conn.send_message_with_reply_and_block(msg, self.run.opts.timeout)
            twin = Outcome(True, reply=reply.get_args_list())
        except dbus.exceptions.DBusException as e:
            twin = Outcome(False, e.get_dbus_name() or "", e.get_dbus_message() or "")
        except Exception:  # noqa: BLE001
            return
        if out.ok and twin.ok:
            return  # Introspect: compared in check_reply
        a = "ok" if out.ok else out.name
        b = "ok" if twin.ok else twin.name
        if a == b or (a in INVISIBLE and b in INVISIBLE):
            return
        stats = self.run.stats
        kind = "file" if "/files/" in path else "job"
        with stats.lock:
            stats.distinguishable_count += 1
            stats.distinguishable_by[f"{kind} {interface}.{member}: {a} (foreign) / {b} (nonexistent)"] += 1
            stats.example(stats.distinguishable, f"{interface}.{member}:{a}:{b}",
                          {**desc, "foreign": a, "foreign_message": (out.message or "")[:200], "nonexistent": b,
                           "nonexistent_message": (twin.message or "")[:200]})

    def account(self, desc: dict, out: Outcome, timeout: float, wrong_signature: bool) -> None:
        run, stats = self.run, self.run.stats
        member = f"{desc['interface']}.{desc['member']}"
        foreign = run.is_foreign(desc["path"])
        with stats.lock:
            stats.calls += 1
            if wrong_signature:
                stats.wrong_signature_calls += 1
            if out.ok:
                stats.ok += 1
            else:
                stats.errors[out.name] += 1
        item = {**desc, "error": out.name, "message": (out.message or "")[:300], "seconds": round(out.elapsed, 2)}
        if SLOW_CALL <= out.elapsed < timeout * 0.9:
            with stats.lock:
                stats.slow_count += 1
                stats.example(stats.slow, member, {**item, "error": out.name or "ok"})
        if out.ok:
            self.check_reply(desc, out, foreign)
            return
        name = out.name
        if name in TIMEOUT_NAMES and out.elapsed >= timeout * 0.9:
            with stats.lock:
                stats.stall_count += 1
                if len(stats.stalls) < 20:
                    stats.stalls.append(item)
            self.note(f"STALL: {member} on {desc['path']} unanswered after {out.elapsed:.1f} s")
            return
        if name == DISCONNECTED:
            # Our own connection is gone (the bus dropped it): say so, reconnect, go on.
            with stats.lock:
                stats.example(stats.disconnects, member, item)
            self.note(f"connection lost during {member} on {desc['path']}: {out.message}")
            self.connect()
            return
        if name in GONE_NAMES or (name in TIMEOUT_NAMES and out.elapsed < timeout * 0.9):
            with stats.lock:
                if len(stats.crashes) < 10:
                    stats.crashes.append({**item, "recent_calls": list(self.recent),
                                          "recent_resumes": list(stats.recent_resumes)})
            self.note(f"CRASH? {member} on {desc['path']}: {name}: {out.message}")
            run.halt(f"the service stopped answering ({name}) during {member}", broken=True)
            return
        documented_failed = name == FAILED and desc["member"] == "Complete" and "internal" not in out.message.lower()
        if not (name.startswith(BITS_ERROR_PREFIX) or name.startswith(DBUS_ERROR_PREFIX)) or \
                (name == FAILED and not documented_failed):
            with stats.lock:
                stats.unnamed_count += 1
                stats.example(stats.unnamed, f"{member}:{name}", item)
        elif name.startswith(BITS_ERROR_PREFIX) and name not in run.model.documented_errors:
            with stats.lock:
                stats.undocumented_count += 1
                stats.example(stats.undocumented, name, item)
        if not (out.message or "").strip() and (name.startswith(BITS_ERROR_PREFIX) or name in (
                "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.DBus.Error.AccessDenied")):
            with stats.lock:
                stats.empty_message_count += 1
                stats.example(stats.empty_messages, f"{member}:{name}", item)

    def check_reply(self, desc: dict, out: Outcome, foreign: bool) -> None:
        run, stats = self.run, self.run.stats
        member = desc["member"]
        text = repr(out.reply)
        if run.canary in text:
            with stats.lock:
                stats.example(stats.canary_leaks, member, {**desc, "reply": text[:300]})
        if foreign and (desc["interface"], member) not in HARMLESS_FOREIGN:
            if (desc["interface"], member) == (INTROSPECTABLE, "Introspect"):
                if self.introspection_differs(desc["path"], out.reply):
                    with stats.lock:
                        stats.example(stats.foreign_access, "Introspect",
                                      {**desc, "reply": text[:400], "why": "differs from a nonexistent object's"})
            else:
                with stats.lock:
                    stats.example(stats.foreign_access, member, {**desc, "reply": text[:300]})
        if member in ("ListJobs", "GetManagedObjects") or desc["interface"] == OBJECT_MANAGER:
            for p in run.foreign_paths:
                if p in text:
                    with stats.lock:
                        stats.example(stats.foreign_leaks, member, {**desc, "leaked": p})

    def introspection_differs(self, path: str, reply) -> bool:
        xml = str(reply[0]) if reply else ""
        kind = "file" if "/files/" in path else "job"
        ghost = self.run.ghost_introspection.get(kind)
        if ghost is None:
            return False
        return re.sub(r"<!--.*?-->", "", xml.replace(path, "PATH"), flags=re.S) != ghost

    def note(self, text: str) -> None:
        sys.stderr.write(f"dbusfuzz[{self.index}] {self.run.elapsed():7.1f}s {text}\n")
        sys.stderr.flush()

    # --- objects ------------------------------------------------------------

    def track(self, path: str, type_: str | None) -> OwnJob | None:
        if not isinstance(path, str) or not path.startswith(JOBS_ROOT + "/"):
            return None
        for j in self.jobs:
            if j.path == path:
                return j
        if type_ not in ENUMS["type"]:
            out = self.call(path, PROPERTIES, "Get", "ss", [self.run.job_iface, "Type"])
            type_ = str(out.reply[0]) if out.ok and out.reply else "download"
        job = OwnJob(str(path), type_)
        self.jobs.append(job)
        with self.run.registry_lock:
            self.run.tracked_jobs.add(job.path)
        with self.run.stats.lock:
            self.run.stats.jobs_created += 1
        return job

    def forget(self, job: OwnJob, final: bool = True) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
            if final:
                self.finals.append(job)
            with self.run.registry_lock:
                self.run.tracked_jobs.discard(job.path)

    def job_for(self, path: str) -> OwnJob | None:
        for j in self.jobs:
            if path == j.path:
                return j
        return None

    def pick_object(self) -> tuple[str, str]:
        """(path, kind) with kind one of manager, job, file, foreign-job, foreign-file, final, ghost, odd."""
        r = self.rng
        run = self.run
        weights = [("manager", 14), ("job", 30), ("file", 12), ("foreign-job", 12 if run.foreign_jobs else 0),
                   ("foreign-file", 6 if run.foreign_files else 0), ("final", 4 if self.finals else 0),
                   ("ghost", 8), ("odd", 5)]
        kind = r.choices([k for k, _ in weights], [w for _, w in weights])[0]
        if kind == "job" and not self.jobs:
            kind = "manager"
        files = [f for j in self.jobs for f in j.files]
        if kind == "file" and not files:
            kind = "job" if self.jobs else "ghost"
        if kind == "manager":
            return MANAGER_PATH, kind
        if kind == "job":
            return r.choice(self.jobs).path, kind
        if kind == "file":
            return r.choice(files), kind
        if kind == "foreign-job":
            return r.choice(run.foreign_jobs), kind
        if kind == "foreign-file":
            return r.choice(run.foreign_files), kind
        if kind == "final":
            return r.choice(list(self.finals)).path, "job"
        hexid = "%032x" % r.getrandbits(128)
        if kind == "ghost":
            base = r.choice(self.jobs).path if self.jobs and r.random() < 0.5 else f"{JOBS_ROOT}/{hexid}"
            return r.choice([f"{JOBS_ROOT}/{hexid}", f"{base}/files/{r.choice([0, 1, 199, 200, 2**31, 2**63 - 1])}"]), \
                "ghost"
        own = r.choice(self.jobs).path if self.jobs else f"{JOBS_ROOT}/{hexid}"
        foreign = r.choice(run.foreign_jobs) if run.foreign_jobs else own
        odd = ["/", JOBS_ROOT, f"{JOBS_ROOT}/{hexid.upper()}", f"{JOBS_ROOT}/{hexid[:31]}", f"{JOBS_ROOT}/{hexid}0",
               f"{own}/files/99999999999999999999", f"{own}/files/0/x", f"{own}/files", f"{own}/files/00",
               f"{own}/files/01", f"{own}/x", f"{JOBS_ROOT}/_", "/org/example", "/org/example/Bits/jobs/" + "a" * 300,
               "/" + "/".join(["x"] * 200), f"{foreign}/files", f"{foreign}/files/0/x", f"{foreign.upper()}",
               f"{JOBS_ROOT}/{hexid[:8]}_{hexid[8:12]}_{hexid[12:16]}_{hexid[16:20]}_{hexid[20:]}", "/org/freedesktop/DBus"]
        return r.choice(odd), "odd"

    def interface_for(self, kind: str, path: str) -> str:
        r = self.rng
        run = self.run
        if r.random() < 0.12:
            return r.choice(run.model.names)
        if kind == "manager":
            return run.manager_iface
        if kind in ("file", "foreign-file") or "/files/" in path:
            return run.file_iface
        return run.job_iface

    # --- actions ------------------------------------------------------------

    def record_reply(self, path: str, method: Method, args, out: Outcome) -> None:
        """Keeps track of jobs and files this worker created (or finished)."""
        if not out.ok:
            if out.name == BITS_ERROR_PREFIX + "TooManyJobsPerUser":
                self.prune(all_untracked=True)
            job = self.job_for(path)
            if job and out.name == BITS_ERROR_PREFIX + "NotFound" and method.interface == self.run.job_iface:
                self.forget(job)
            return
        name = method.name
        stats = self.run.stats
        if name == "CreateJob" and out.reply:
            type_ = str(args[1]) if len(args) > 1 else None
            self.track(str(out.reply[0]), type_)
        elif name in ("AddFile", "AddFileWithRanges", "AddFiles", "AddFilesWithHashes") and out.reply:
            job = self.job_for(path)
            paths = out.reply[0] if name.startswith("AddFiles") else [out.reply[0]]
            if job:
                job.files.extend(str(p) for p in paths)
                pairs = [(str(a[0]), str(a[1])) for a in args[0]] if name.startswith("AddFiles") \
                    else [(str(args[0]), str(args[1]))]
                job.urls.extend(u for u, _ in pairs)
                job.locals.extend(p for _, p in pairs)
            with stats.lock:
                stats.files_added += len(paths)
        elif name in ("Cancel", "Complete"):
            job = self.job_for(path)
            if job:
                self.forget(job)
                if name == "Complete" and job.type == "download":
                    self.remove_outputs(job)
            with stats.lock:
                if name == "Cancel":
                    stats.cancelled += 1
                else:
                    stats.completed += 1
        elif name == "Resume":
            job = self.job_for(path)
            if job:
                with stats.lock:
                    stats.recent_resumes.append({"t": round(self.run.elapsed(), 1), "job": path, "urls": job.urls[-4:]})

    def do_method(self, wrong: bool = False) -> None:
        r = self.rng
        run = self.run
        path, kind = self.pick_object()
        if r.random() < 0.08:
            method = r.choice(run.model.standard)
        else:
            iface = self.interface_for(kind, path)
            methods = run.model.methods.get(iface) or run.model.methods[run.job_iface]
            method = r.choice(methods)
        sig = method.signature
        hints = [n for n, _ in method.args]
        if wrong:
            sig = self.gen.mutate_signature(sig)
        types = split_signature(sig)
        args = [self.gen.value(t, hints[i] if i < len(hints) else "text") for i, t in enumerate(types)]
        if method.key == f"{PROPERTIES}.Set" and not wrong:
            args = self.set_args(path, kind)
        out = self.call(path, method.interface, method.name, sig, args, interactive=r.random() < 0.1,
                        wrong_signature=wrong)
        with run.stats.lock:
            run.stats.coverage[("wrong:" if wrong else "") + method.key] += 1
        if not wrong:
            self.record_reply(path, method, args, out)

    def set_args(self, path: str, kind: str):
        r = self.rng
        run = self.run
        iface = self.interface_for(kind, path)
        props = run.model.properties.get(iface) or run.model.all_properties()
        writable = [p for p in props if p.writable]
        prop = r.choice(writable if writable and r.random() < 0.75 else props)
        k = r.random()
        value = self.gen.right_value(prop) if k < 0.62 else self.gen.wrong_value(prop)
        name = prop.name
        if r.random() < 0.06:
            name = r.choice([name.lower(), "", "NoSuchProperty", name + " ", self.gen.junk()])
        if r.random() < 0.06:
            iface = self.gen.string("interface_name")
        with run.stats.lock:
            run.stats.coverage["set:" + prop.key] += 1
        return [dbus.String(iface), dbus.String(name), value]

    def do_property(self, op: str) -> None:
        r = self.rng
        run = self.run
        path, kind = self.pick_object()
        iface = self.interface_for(kind, path)
        if op == "set":
            args = self.set_args(path, kind)
            self.call(path, PROPERTIES, "Set", "ssv", args, interactive=r.random() < 0.1)
            return
        if r.random() < 0.06:
            iface = self.gen.string("interface_name")
        if op == "getall":
            self.call(path, PROPERTIES, "GetAll", "s", [dbus.String(iface)])
            with run.stats.lock:
                run.stats.coverage[f"getall:{iface}"] += 1
            return
        props = run.model.properties.get(iface) or run.model.all_properties()
        prop = r.choice(props)
        name = prop.name if r.random() < 0.9 else self.gen.string("property_name")
        self.call(path, PROPERTIES, "Get", "ss", [dbus.String(iface), dbus.String(name)])
        with run.stats.lock:
            run.stats.coverage["get:" + prop.key] += 1

    def do_standard(self) -> None:
        r = self.rng
        path, kind = self.pick_object()
        iface, member = r.choice([(INTROSPECTABLE, "Introspect"), (PEER, "Ping"), (PEER, "GetMachineId"),
                                  (OBJECT_MANAGER, "GetManagedObjects"), (OBJECT_MANAGER, "GetManagedObjects")])
        if member == "GetManagedObjects" and r.random() < 0.6:
            path = MANAGER_PATH
        self.call(path, iface, member)
        with self.run.stats.lock:
            self.run.stats.coverage[f"{iface}.{member}"] += 1

    def special_sources(self) -> list[str]:
        run = self.run
        h = run.hostile
        pool = ["file:///dev/zero", "file:///dev/urandom", "file:///proc/self/mem", "file:///proc/self/status",
                "file:///etc/shadow", f"file://{run.home}/links/l-{self.rng.randrange(8)}"]
        if h:
            pool += [f"{h}/lm/{i}" for i in range(3)] + [f"{h}/len/0", f"{h}/cr/0", f"{h}/redir/0", f"{h}/redir/1"]
        if run.opts.fifos:
            # Sources are FIFOs of their own directory, which no job writes to: a destination
            # FIFO (fifos/) can be replaced by a finished download's regular file.
            pool += [f"file://{run.home}/fifosrc/s-{self.rng.randrange(4)}"] * 2
        return pool

    def special(self) -> None:
        """Adds a source no download may treat as an ordinary file to a real job, and resumes it."""
        r = self.rng
        run = self.run
        downloads = [j for j in self.jobs if j.type == "download"]
        if not downloads:
            return
        job = r.choice(downloads)
        url = r.choice([u for u in self.special_sources() if not any(x in u for x in run.opts.exclude)] or [""])
        method = run.model.method(run.job_iface, "AddFile")
        dest = self.gen.own_dest()
        fifo_dest = run.opts.fifos and r.random() < 0.25
        if fifo_dest:  # a FIFO as the destination, written in place by a high-performance job
            url, dest = self.gen.http_url(), f"{run.home}/fifos/f-{r.randrange(4)}"
            self.call(job.path, PROPERTIES, "Set", "ssv",
                      [dbus.String(run.job_iface), dbus.String("HighPerformance"), as_variant(dbus.Boolean(True))])
        args = [dbus.String(url), dbus.String(dest)]
        out = self.call(job.path, method.interface, method.name, method.signature, args)
        self.record_reply(job.path, method, args, out)
        if out.ok:
            if (any(url.startswith(p) for p in NON_REGULAR_SOURCES) or "/fifosrc/" in url) and out.reply:
                job.special.append((str(out.reply[0]), url))
            self.simple(job, "Resume")

    def check_special(self, job: OwnJob | None = None) -> None:
        """A file with a char-device or FIFO source must never be Completed (transferred)."""
        jobs = [job] if job else [j for j in self.jobs if j.special]
        if not jobs or not jobs[0].special:
            return
        job = self.rng.choice(jobs)
        for file_path, url in list(job.special):
            out = self.call(file_path, PROPERTIES, "Get", "ss", [dbus.String(self.run.file_iface), dbus.String("Completed")])
            if out.ok and out.reply and bool(out.reply[0]):
                # The fuzzer's own property calls may have pointed the file elsewhere since
                # (Set RemoteName, ReplaceRemotePrefix with generated URLs): then it is no
                # longer a file with a special source.
                now = self.call(file_path, PROPERTIES, "Get", "ss", [dbus.String(self.run.file_iface), dbus.String("RemoteName")])
                if not (now.ok and now.reply) or str(now.reply[0]) != url:
                    job.special.remove((file_path, url))
                    with self.run.stats.lock:
                        self.run.stats.special_sources_repointed += 1
                    continue
                stats = self.run.stats
                with stats.lock:
                    stats.example(stats.non_regular, url, {"job": job.path, "file": file_path, "source": url,
                                                          "t": round(self.run.elapsed(), 1)})
                job.special.remove((file_path, url))
                continue
        out = self.call(job.path, PROPERTIES, "GetAll", "s", [dbus.String(self.run.job_iface)])
        if out.ok and out.reply:
            props = out.reply[0]
            failed = str(props.get("ErrorFile", "/"))
            for file_path, url in job.special:
                if failed == file_path:
                    kind = re.sub(r"/fifosrc/s-\d+$", "/fifosrc/*", url.replace(self.run.home, "$HOME"))
                    with self.run.stats.lock:
                        self.run.stats.non_regular_codes[f"{kind}: {props.get('ErrorCode', '')}"] += 1

    def lifecycle(self) -> None:
        """Ordinary job work, so that transfers really run (with mostly valid values)."""
        r = self.rng
        run = self.run
        m = run.model
        x = r.random()
        if self.jobs and x > 0.9:
            if r.random() < 0.5:
                self.special()
            else:
                self.check_special()
            return
        x /= 0.9
        if not self.jobs or x < 0.14:
            if len(self.jobs) >= self.cap:
                self.prune()
            type_ = r.choices(ENUMS["type"], [6, 2, 2])[0]
            method = m.method(run.manager_iface, "CreateJob")
            args = [dbus.String(f"fuzz {self.gen.tag()}"), dbus.String(type_)]
            out = self.call(MANAGER_PATH, method.interface, method.name, method.signature, args)
            self.record_reply(MANAGER_PATH, method, args, out)
            return
        job = r.choice(self.jobs)
        if x < 0.45:
            if job.type == "download":
                if r.random() < 0.25:
                    method = m.method(run.job_iface, "AddFileWithRanges")
                    ranges = dbus.Array([dbus.Struct((dbus.UInt64(a), dbus.UInt64(b)), signature="tt")
                                         for a, b in r.choice([[(0, 100)], [(10, 20), (5000, 2**64 - 1)], [(0, 1)]])],
                                        signature="(tt)")
                    args = [dbus.String(self.gen.http_url()), dbus.String(self.gen.own_dest()), ranges]
                else:
                    method = m.method(run.job_iface, "AddFile")
                    url = self.gen.http_url() if r.random() < 0.85 else self.gen.url(valid=False)
                    local = self.gen.own_dest() if r.random() < 0.85 else self.gen.path(valid=False)
                    args = [dbus.String(url), dbus.String(local)]
            else:
                method = m.method(run.job_iface, "AddFile")
                base = run.hostile or run.http or "http://127.0.0.1:1"
                src = f"{run.home}/up/src-{r.randrange(3)}.bin" if r.random() < 0.85 else self.gen.path(valid=False)
                args = [dbus.String(f"{base}/up/{self.gen.tag()}"), dbus.String(src)]
            if method is None:
                return
            out = self.call(job.path, method.interface, method.name, method.signature, args)
            self.record_reply(job.path, method, args, out)
            if out.ok and r.random() < 0.7:
                self.simple(job, "Resume")
            return
        if x < 0.62:
            self.simple(job, "Resume")
        elif x < 0.72:
            self.simple(job, "Complete")
        elif x < 0.78:
            self.simple(job, "Suspend")
        elif x < 0.85:
            self.simple(job, "Cancel")
        elif x < 0.92:
            out = self.call(job.path, PROPERTIES, "GetAll", "s", [dbus.String(run.job_iface)])
            if out.ok and r.random() < 0.5 and job.type != "download":
                self.simple(job, "GetReplyData")
        else:
            prop, value = r.choice([
                ("HighPerformance", dbus.Boolean(True)), ("NotifyCommandLine",
                                                         dbus.Array(["/usr/bin/touch", f"{run.home}/notify-ran"], signature="s")),
                ("NotifyFlags", dbus.UInt32(0x1F)), ("Priority", dbus.String("foreground")),
                ("MinimumRetryDelay", dbus.UInt32(5)), ("NoProgressTimeout", dbus.UInt32(0)),
                ("DynamicContent", dbus.Boolean(True)), ("RedirectPolicy", dbus.String("allow-report")),
                ("MaximumDownloadSize", dbus.UInt64(100000)), ("CustomHeaders", dbus.Array(["X-Fuzz: 1"], signature="s")),
                ("ReplyFileName", dbus.String(f"{run.home}/d1/reply-{self.gen.tag()}.bin")),
            ])
            self.call(job.path, PROPERTIES, "Set", "ssv", [dbus.String(run.job_iface), dbus.String(prop), as_variant(value)])

    def remove_outputs(self, job: OwnJob) -> None:
        """Deletes the finished downloads of a completed job (inside the home only), to bound disk use."""
        for p in job.locals:
            if p.startswith(self.run.home + "/") and ".." not in p:
                try:
                    if os.path.isfile(p) and not os.path.islink(p):
                        os.unlink(p)
                except OSError:
                    pass

    def simple(self, job: OwnJob, name: str) -> Outcome:
        if name in ("Complete", "Cancel") and job.special:
            self.check_special(job)
        method = self.run.model.method(self.run.job_iface, name)
        out = self.call(job.path, self.run.job_iface, name)
        if method:
            self.record_reply(job.path, method, [], out)
        return out

    def prune(self, all_untracked: bool = False) -> None:
        """Cancels about half of this worker's jobs (and, after TooManyJobsPerUser, jobs nobody tracks)."""
        r = self.rng
        for job in list(self.jobs):
            if r.random() < 0.5 or len(self.jobs) > self.cap:
                self.simple(job, "Cancel")
        if all_untracked:
            out = self.call(MANAGER_PATH, self.run.manager_iface, "ListJobs", "b", [dbus.Boolean(False)])
            if out.ok and out.reply:
                with self.run.registry_lock:
                    tracked = set(self.run.tracked_jobs)
                for p in out.reply[0]:
                    if str(p) not in tracked:
                        self.call(str(p), self.run.job_iface, "Cancel")

    def fs_action(self) -> None:
        """Mischief in the fuzzer's own home: symlinks, swapped directories, FIFOs, replaced temp files."""
        r = self.rng
        run = self.run
        home = run.home
        with run.stats.lock:
            run.stats.fs_actions += 1
        targets = run.targets + ["/etc/shadow", "/root", "/dev/zero", "/proc/self/mem", "/etc", "/"]
        op = r.choice(["symlink", "symlink", "dirlink", "swap_dir", "restore_dir", "temp", "temp", "local",
                       "chmod", "fifo"])

        def log(what: str, path: str) -> None:
            run.write_log({"t": round(run.elapsed(), 3), "worker": self.index, "fs": what, "path": path,
                           "result": "done", "ms": 0})

        def link(path: str, target: str) -> None:
            _replace(path, lambda: os.symlink(target, path))
            log(f"symlink -> {target}", path)

        def fifo(path: str) -> None:
            _replace(path, lambda: os.mkfifo(path, 0o600))
            log("mkfifo", path)

        try:
            if op == "symlink":
                link(f"{home}/links/l-{r.randrange(8)}", r.choice(targets))
            elif op == "dirlink":
                dirs = [t for t in run.targets if os.path.isdir(t)] + ["/etc", "/root", "/"]
                link(f"{home}/links/dir-{r.randrange(3)}", r.choice(dirs))
            elif op == "swap_dir":
                d = f"{home}/d{r.randrange(6)}"
                dirs = [t for t in run.targets if os.path.isdir(t)] + ["/etc", "/root"]
                if os.path.isdir(d) and not os.path.islink(d):
                    os.rename(d, f"{d}.old-{self.gen.tag()}")
                link(d, r.choice(dirs))
            elif op == "restore_dir":
                d = f"{home}/d{r.randrange(6)}"
                if os.path.islink(d):
                    os.unlink(d)
                os.makedirs(d, exist_ok=True)
                os.chmod(d, 0o755)
                log("restore directory", d)
            elif op == "chmod":
                d = f"{home}/d{r.randrange(6)}"
                if os.path.isdir(d) and not os.path.islink(d):
                    mode = r.choice([0o500, 0o000, 0o755, 0o777])
                    os.chmod(d, mode)
                    log(f"chmod {mode:o}", d)
            elif op == "fifo":
                if run.opts.fifos:
                    fifo(r.choice([f"{home}/fifos/f-{r.randrange(4)}", f"{home}/fifosrc/s-{r.randrange(4)}"]))
            elif op in ("temp", "local"):
                files = [f for j in self.jobs for f in j.files]
                if not files:
                    return
                fpath = r.choice(files)
                name = "TemporaryName" if op == "temp" else "LocalName"
                out = self.call(fpath, PROPERTIES, "Get", "ss", [dbus.String(run.file_iface), dbus.String(name)])
                if not out.ok or not out.reply:
                    return
                victim = str(out.reply[0])
                if not victim.startswith(home + "/"):
                    return
                choice = r.random()
                if choice < 0.4 and run.opts.fifos:
                    fifo(victim)
                elif choice < 0.8:
                    link(victim, r.choice(targets))
                elif os.path.isfile(victim) and not os.path.islink(victim):
                    size = r.choice([0, 1, 10**9])
                    with open(victim, "r+b") as f:
                        f.truncate(size)
                    log(f"truncate {size}", victim)
                if r.random() < 0.6:
                    job = next((j for j in self.jobs if fpath.startswith(j.path + "/")), None)
                    if job:
                        self.simple(job, r.choice(["Resume", "Resume", "Complete"]))
        except OSError:
            pass

    def hit_and_run(self) -> None:
        """A call on a fresh connection that closes before the answer."""
        r = self.rng
        run = self.run
        with run.stats.lock:
            run.stats.hit_and_run += 1
        try:
            conn = dbus.bus.BusConnection(run.opts.address)
            path = self.rng.choice([MANAGER_PATH] + [j.path for j in self.jobs] + run.foreign_jobs)
            if path == MANAGER_PATH and r.random() < 0.5:
                msg = dbus.lowlevel.MethodCallMessage(SERVICE, path, run.manager_iface, "ListJobs")
                msg.append(dbus.Boolean(r.random() < 0.5), signature="b")
            elif path == MANAGER_PATH:
                msg = dbus.lowlevel.MethodCallMessage(SERVICE, path, run.manager_iface, "GetJob")
                msg.append(dbus.String(self.gen.guid(True)), signature="s")
            else:
                msg = dbus.lowlevel.MethodCallMessage(SERVICE, path, run.job_iface, r.choice(["Suspend", "Resume"]))
            if r.random() < 0.5:
                msg.set_allow_interactive_authorization(True)
            conn.send_message(msg)
            if r.random() < 0.5:
                conn.flush()
            conn.close()
            run.write_log({"t": round(run.elapsed(), 3), "worker": self.index, "path": msg.get_path(),
                           "interface": msg.get_interface(), "member": msg.get_member(), "hit_and_run": True,
                           "result": "sent", "ms": 0})
        except dbus.exceptions.DBusException:
            pass

    def no_reply_call(self) -> None:
        """A call flagged NO_REPLY_EXPECTED."""
        run = self.run
        path, kind = self.pick_object()
        iface = self.interface_for(kind, path)
        methods = run.model.methods.get(iface) or run.model.methods[run.job_iface]
        method = self.rng.choice(methods)
        args = [self.gen.value(t, n) for n, t in method.args]
        msg = dbus.lowlevel.MethodCallMessage(SERVICE, path, method.interface, method.name)
        try:
            if args:
                msg.append(*args, signature=method.signature)
            msg.set_no_reply(True)
            self.conn.send_message(msg)
            run.write_log({"t": round(run.elapsed(), 3), "worker": self.index, "path": path,
                           "interface": method.interface, "member": method.name, "no_reply": True,
                           "args": short(args, 400), "result": "sent", "ms": 0})
        except Exception:  # noqa: BLE001
            return
        with run.stats.lock:
            run.stats.no_reply_sent += 1

    # --- the sweep and the loop -----------------------------------------------

    def sweep(self) -> None:
        """Covers every member once: each method of each interface, every property Get and Set."""
        run = self.run
        m = run.model
        for type_ in ENUMS["type"]:
            method = m.method(run.manager_iface, "CreateJob")
            args = [dbus.String(f"sweep {type_}"), dbus.String(type_)]
            out = self.call(MANAGER_PATH, method.interface, method.name, method.signature, args)
            self.record_reply(MANAGER_PATH, method, args, out)
        jobs = list(self.jobs)
        for job in jobs:
            if job.type == "download":
                url = f"{run.http}/_gen/1000?tag=sweep" if run.http else f"{run.hostile}/ok/1000"
                args = [dbus.String(url), dbus.String(f"{run.home}/d0/sweep-{self.gen.tag()}.bin")]
            else:
                args = [dbus.String(f"{run.hostile or run.http}/up/sweep"), dbus.String(f"{run.home}/up/src-1.bin")]
            out = self.call(job.path, run.job_iface, "AddFile", "ss", args)
            self.record_reply(job.path, m.method(run.job_iface, "AddFile"), args, out)
        targets = {run.manager_iface: [MANAGER_PATH]}
        targets[run.job_iface] = [j.path for j in jobs] + run.foreign_jobs[:1]
        targets[run.file_iface] = [f for j in jobs for f in j.files[:1]] + run.foreign_files[:1]
        for iface in m.names:
            for path in targets.get(iface, [MANAGER_PATH]):
                for prop in m.properties[iface]:
                    self.call(path, PROPERTIES, "Get", "ss", [dbus.String(iface), dbus.String(prop.name)])
                    with run.stats.lock:
                        run.stats.coverage["get:" + prop.key] += 1
                    if prop.writable:
                        self.call(path, PROPERTIES, "Set", "ssv",
                                  [dbus.String(iface), dbus.String(prop.name), self.gen.right_value(prop)])
                        with run.stats.lock:
                            run.stats.coverage["set:" + prop.key] += 1
                self.call(path, PROPERTIES, "GetAll", "s", [dbus.String(iface)])
                for method in m.methods[iface]:
                    if method.name in ("Cancel", "Complete"):
                        continue  # last, below
                    args = [self.gen.value(t, n) for n, t in method.args]
                    out = self.call(path, method.interface, method.name, method.signature, args)
                    self.record_reply(path, method, args, out)
                    with run.stats.lock:
                        run.stats.coverage[method.key] += 1
        for method in m.standard:
            if method.interface != PROPERTIES:
                self.call(MANAGER_PATH, method.interface, method.name)
                with run.stats.lock:
                    run.stats.coverage[method.key] += 1
        for job in list(self.jobs):
            for name in ("Complete", "Cancel"):
                method = m.method(run.job_iface, name)
                if method:
                    out = self.call(job.path, run.job_iface, name)
                    self.record_reply(job.path, method, [], out)
                    with run.stats.lock:
                        run.stats.coverage[method.key] += 1

    def main(self) -> None:
        run = self.run
        try:
            self.connect()
            if self.index == 0:
                self.sweep()
            actions = [("method", 40), ("wrong", 12), ("get", 9), ("getall", 3), ("set", 14), ("std", 5),
                       ("life", 12), ("fs", 3), ("hit", 1), ("noreply", 1)]
            names = [a for a, _ in actions]
            weights = [w for _, w in actions]
            iteration = 0
            while not run.stop.is_set() and time.monotonic() < run.deadline:
                iteration += 1
                if run.cancel_all.is_set():
                    for job in list(self.jobs):
                        self.simple(job, "Cancel")
                if len(self.jobs) > self.cap or iteration % 400 == 0:
                    self.prune()
                action = self.rng.choices(names, weights)[0]
                if action == "method":
                    self.do_method()
                elif action == "wrong":
                    self.do_method(wrong=True)
                elif action in ("get", "getall", "set"):
                    self.do_property(action)
                elif action == "std":
                    self.do_standard()
                elif action == "life":
                    self.lifecycle()
                elif action == "fs":
                    self.fs_action()
                elif action == "hit":
                    self.hit_and_run()
                else:
                    self.no_reply_call()
        except Exception:  # noqa: BLE001 - a bug of the fuzzer itself: report it, do not hide it
            self.error = traceback.format_exc()
            self.note("fuzzer error:\n" + self.error)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Cancels this worker's jobs (not counted) so the user is not left at its job limit."""
        if self.run.broken:
            return
        try:
            if self.conn is None:
                return
            for job in list(self.jobs):
                self.call(job.path, self.run.job_iface, "Cancel", count=False, timeout=10)
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass


def _replace(path: str, make) -> None:
    """Removes whatever is at `path` (file, link, FIFO; an empty directory) and makes the new entry."""
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        return
    make()


# ---------------------------------------------------------------------------
# Liveness monitor, setup, summary
# ---------------------------------------------------------------------------


class Monitor:
    def __init__(self, run: Run):
        self.run = run
        self.conn = dbus.bus.BusConnection(run.opts.address)
        self.pid = None
        self.checks = 0
        self.ping_failures: list[dict] = []
        self.probe_failures: list[dict] = []
        self.slow_probes: list[dict] = []
        self.max_ping = 0.0
        self.max_probe = 0.0
        self.pid_changes: list[dict] = []
        self.crashes: list[dict] = []
        self.home_bytes = 0

    def _call(self, dest, path, iface, member, sig="", args=(), timeout=5.0):
        msg = dbus.lowlevel.MethodCallMessage(dest, path, iface, member)
        if args:
            msg.append(*args, signature=sig)
        t0 = time.monotonic()
        try:
            reply = self.conn.send_message_with_reply_and_block(msg, timeout)
            return True, reply.get_args_list(), time.monotonic() - t0, ""
        except dbus.exceptions.DBusException as e:
            return False, e.get_dbus_name(), time.monotonic() - t0, e.get_dbus_message() or ""

    def service_pid(self):
        ok, v, _, msg = self._call(BUS_NAME, BUS_PATH, BUS_NAME, "GetConnectionUnixProcessID", "s", [SERVICE])
        return int(v[0]) if ok else None

    def start(self) -> None:
        self.pid = self.service_pid()
        if self.pid is None:
            raise SystemExit(f"dbusfuzz: {SERVICE} has no owner on {self.run.opts.address}")
        # What Introspect says about a job and a file that do not exist (to compare foreign ones with).
        ghost = f"{JOBS_ROOT}/{'0' * 31}1"
        for kind, path in (("job", ghost), ("file", ghost + "/files/0")):
            ok, v, _, _ = self._call(SERVICE, path, INTROSPECTABLE, "Introspect", timeout=self.run.opts.timeout)
            self.run.ghost_introspection[kind] = \
                re.sub(r"<!--.*?-->", "", str(v[0]).replace(path, "PATH"), flags=re.S) if ok else f"ERROR:{v}"

    def check(self) -> None:
        run = self.run
        self.checks += 1
        t = round(run.elapsed(), 1)
        ok, v, dt, msg = self._call(SERVICE, MANAGER_PATH, PEER, "Ping", timeout=5.0)
        self.max_ping = max(self.max_ping, dt)
        if not ok:
            self.ping_failures.append({"t": t, "error": v, "message": msg[:200], "seconds": round(dt, 2)})
            if v in GONE_NAMES or (v in TIMEOUT_NAMES and dt < 4.5):
                run.halt(f"Peer.Ping: {v}", broken=True)
        pid = self.service_pid()
        if pid is None:
            self.crashes.append({"t": t, "what": f"{SERVICE} has no owner any more (pid {self.pid} gone)"})
            run.halt(f"the service stopped: {SERVICE} has no owner", broken=True)
            return
        if pid != self.pid:
            self.pid_changes.append({"t": t, "before": self.pid, "after": pid})
            run.halt(f"the service's pid changed from {self.pid} to {pid}", broken=True)
            return
        ok, v, dt, msg = self._call(SERVICE, MANAGER_PATH, PROPERTIES, "Get", "ss",
                                    [run.manager_iface, "Version"], timeout=run.opts.timeout)
        self.max_probe = max(self.max_probe, dt)
        if not ok:
            self.probe_failures.append({"t": t, "error": v, "message": msg[:200], "seconds": round(dt, 2)})
            if v in TIMEOUT_NAMES and dt >= run.opts.timeout * 0.9:
                run.halt(f"the service does not answer Properties.Get(Version) within {run.opts.timeout:.0f} s "
                         "(stalled)", broken=True)
        elif dt > 5.0:
            self.slow_probes.append({"t": t, "seconds": round(dt, 2)})
        for w in workers_of(run):
            inflight = w.inflight
            if inflight and time.monotonic() - inflight[0] > run.opts.timeout + 10:
                run.halt(f"worker {w.index} stuck in {inflight[1]}")
        self.home_guard()

    def home_guard(self) -> None:
        run = self.run
        total, biggest = 0, []
        for dirpath, dirnames, filenames in os.walk(run.home):
            for n in filenames:
                p = os.path.join(dirpath, n)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    total += st.st_blocks * 512
                    biggest.append((st.st_blocks * 512, p))
        self.home_bytes = total
        if total > run.opts.max_home_bytes and not run.cancel_all.is_set():
            biggest.sort(reverse=True)
            with run.stats.lock:
                run.stats.home_growth.append({"t": round(run.elapsed(), 1), "bytes": total,
                                              "largest": [{"path": p, "bytes": b} for b, p in biggest[:3]],
                                              "recent_resumes": list(run.stats.recent_resumes)})
            run.cancel_all.set()
            sys.stderr.write(f"dbusfuzz: {run.home} holds {total} bytes; cancelling every job\n")
        elif total < run.opts.max_home_bytes // 2:
            run.cancel_all.clear()


_WORKERS: list[Worker] = []


def workers_of(run: Run) -> list[Worker]:
    return _WORKERS


def prepare_home(run: Run) -> None:
    home = run.home
    os.makedirs(home, exist_ok=True)
    for d in [f"d{i}" for i in range(6)] + ["up", "certs", "links", "fifos", "fifosrc", "ro"]:
        p = os.path.join(home, d)
        if os.path.islink(p):
            os.unlink(p)
        os.makedirs(p, exist_ok=True)
    os.chmod(os.path.join(home, "ro"), 0o555)
    for i, size in enumerate([0, 1, 70000]):
        with open(f"{home}/up/src-{i}.bin", "wb") as f:
            f.write(os.urandom(size))
    with open(f"{home}/certs/cert.pem", "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    with open(f"{home}/certs/key.pem", "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    if run.opts.fifos:
        for p in [f"{home}/fifos/f-{i}" for i in range(4)] + [f"{home}/fifosrc/s-{i}" for i in range(4)]:
            _replace(p, lambda p=p: os.mkfifo(p, 0o666))


def tidy_home(run: Run) -> None:
    """Removes the symlinks the fuzzer planted and makes its directories usable again."""
    for dirpath, dirnames, filenames in os.walk(run.home):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    os.unlink(p)
                elif stat.S_ISDIR(st.st_mode) and st.st_uid == run.uid:
                    os.chmod(p, 0o755)
            except OSError:
                pass


def foreign_owned(run: Run) -> list[dict]:
    """Entries under the fuzzer's home not owned by the fuzzing user."""
    out = []
    for dirpath, dirnames, filenames in os.walk(run.home):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if st.st_uid != run.uid:
                out.append({"path": p, "uid": st.st_uid, "mode": oct(st.st_mode)})
    return out


def summarize(run: Run, monitor: Monitor, final_pid, final_ping, foreign_files, coverage_missing) -> dict:
    s = run.stats
    failures = []
    stalls = s.stall_count + len([f for f in monitor.probe_failures if f["error"] in TIMEOUT_NAMES]) + \
        len([f for f in monitor.ping_failures if f["error"] in TIMEOUT_NAMES and f["seconds"] >= 4.5])
    crashes = len(s.crashes) + len(monitor.crashes)
    if final_pid is None and not monitor.crashes:
        crashes += 1
        monitor.crashes.append({"what": f"{SERVICE} has no owner at the end"})
    pid_changed = bool(monitor.pid_changes) or (final_pid is not None and final_pid != monitor.pid)
    if stalls:
        failures.append(f"{stalls} stall(s)")
    if crashes:
        failures.append(f"{crashes} crash(es)")
    if pid_changed:
        failures.append("the service's pid changed")
    if s.unnamed_count:
        failures.append(f"{s.unnamed_count} unnamed refusal(s)")
    if s.foreign_access:
        failures.append(f"{len(s.foreign_access)} foreign access(es)")
    if s.foreign_leaks:
        failures.append(f"{len(s.foreign_leaks)} foreign leak(s)")
    if s.canary_leaks:
        failures.append("the credential canary appeared in a reply")
    if foreign_files:
        failures.append(f"{len(foreign_files)} file(s) in the home not owned by uid {run.uid}")
    if s.home_growth:
        failures.append("the home grew beyond --max-home-bytes")
    if s.non_regular:
        failures.append(f"{len(s.non_regular)} job(s) transferred a char device or FIFO")
    warnings = []
    if s.distinguishable_count:
        warnings.append(f"{s.distinguishable_count} call(s) on another user's objects answered otherwise than on "
                        "nonexistent ones")
    if s.undocumented_count:
        warnings.append(f"{s.undocumented_count} error(s) with names the interface XML does not document")
    if s.slow_count:
        warnings.append(f"{s.slow_count} call(s) took {SLOW_CALL:g} s or more")
    if s.empty_message_count:
        warnings.append(f"{s.empty_message_count} error(s) without a message")
    errors_by_name = dict(sorted(s.errors.items(), key=lambda kv: -kv[1]))
    return {
        "seed": run.opts.seed,
        "seconds": run.opts.seconds,
        "elapsed": round(run.elapsed(), 1),
        "workers": run.opts.workers,
        "fifos": run.opts.fifos,
        "calls": s.calls,
        "ok": s.ok,
        "errors": sum(s.errors.values()),
        "errors_by_name": errors_by_name,
        "distinct_error_names": len(errors_by_name),
        "wrong_signature_calls": s.wrong_signature_calls,
        "no_reply_calls": s.no_reply_sent,
        "hit_and_run_calls": s.hit_and_run,
        "unsendable": s.unsendable,
        "stalls": stalls,
        "stall_examples": s.stalls[:10],
        "crashes": crashes,
        "crash_examples": (monitor.crashes + s.crashes)[:5],
        "disconnects": s.disconnects,
        "pid": monitor.pid,
        "final_pid": final_pid,
        "pid_changed": pid_changed,
        "liveness_checks": monitor.checks,
        "ping_failures": monitor.ping_failures[:10],
        "probe_failures": monitor.probe_failures[:10],
        "slow_probes": monitor.slow_probes[:10],
        "slow_calls": s.slow_count,
        "slow_call_examples": s.slow,
        "max_ping_seconds": round(monitor.max_ping, 3),
        "max_probe_seconds": round(monitor.max_probe, 3),
        "final_ping": final_ping,
        "unnamed_errors": s.unnamed_count,
        "unnamed_examples": s.unnamed,
        "undocumented_errors": s.undocumented_count,
        "undocumented_examples": s.undocumented,
        "errors_without_message": s.empty_message_count,
        "errors_without_message_examples": s.empty_messages,
        "foreign_access": s.foreign_access,
        "foreign_leaks": s.foreign_leaks,
        "foreign_distinguishable": s.distinguishable_count,
        "foreign_distinguishable_examples": s.distinguishable,
        "foreign_distinguishable_by": dict(s.distinguishable_by.most_common(30)),
        "non_regular_sources_transferred": s.non_regular,
        "special_sources_repointed": s.special_sources_repointed,
        "non_regular_source_error_codes": dict(s.non_regular_codes),
        "canary": run.canary,
        "canary_leaks": s.canary_leaks,
        "foreign_owned_files": foreign_files[:20],
        "home_growth": s.home_growth,
        "jobs_created": s.jobs_created,
        "files_added": s.files_added,
        "jobs_completed": s.completed,
        "jobs_cancelled": s.cancelled,
        "fs_actions": s.fs_actions,
        "reconnects": s.reconnects,
        "members_total": len(run.model.all_methods()) + len(run.model.all_properties()),
        "members_not_covered": coverage_missing,
        "stopped_early": run.stop_reason,
        "fuzzer_errors": [w.error.splitlines()[-1] for w in _WORKERS if w.error],
        "failures": failures,
        "warnings": warnings,
    }


def report(summary: dict) -> None:
    w = sys.stderr.write
    w("\n==== dbusfuzz summary ====\n")
    w(f"seed {summary['seed']}, {summary['elapsed']} s, {summary['workers']} worker(s), fifos={summary['fifos']}\n")
    w(f"calls {summary['calls']} (ok {summary['ok']}, errors {summary['errors']}, wrong signature "
      f"{summary['wrong_signature_calls']}), distinct error names {summary['distinct_error_names']}\n")
    for name, n in summary["errors_by_name"].items():
        w(f"  {n:7d}  {name}\n")
    w(f"stalls {summary['stalls']}, crashes {summary['crashes']}, pid {summary['pid']} -> {summary['final_pid']}, "
      f"unnamed {summary['unnamed_errors']}, undocumented {summary['undocumented_errors']}, "
      f"without message {summary['errors_without_message']}, foreign objects distinguishable from "
      f"nonexistent ones {summary['foreign_distinguishable']}\n")
    w(f"liveness checks {summary['liveness_checks']}, max Ping {summary['max_ping_seconds']} s, "
      f"max probe {summary['max_probe_seconds']} s\n")
    w(f"jobs created {summary['jobs_created']}, files added {summary['files_added']}, completed "
      f"{summary['jobs_completed']}, cancelled {summary['jobs_cancelled']}, fs actions {summary['fs_actions']}\n")
    for key in ("stall_examples", "crash_examples", "disconnects", "unnamed_examples", "undocumented_examples",
                "errors_without_message_examples", "foreign_access", "foreign_leaks", "canary_leaks",
                "foreign_owned_files", "home_growth", "non_regular_sources_transferred",
                "foreign_distinguishable_examples", "probe_failures", "ping_failures", "slow_probes",
                "slow_call_examples"):
        for item in summary[key]:
            w(f"{key}: {json.dumps(item, sort_keys=True)[:1200]}\n")
    for what, n in summary["non_regular_source_error_codes"].items():
        w(f"  non-regular source error {n:4d}  {what}\n")
    for what, n in summary["foreign_distinguishable_by"].items():
        w(f"  distinguishable {n:6d}  {what}\n")
    if summary["members_not_covered"]:
        w(f"members not covered: {', '.join(summary['members_not_covered'])}\n")
    if summary["stopped_early"]:
        w(f"stopped early: {summary['stopped_early']}\n")
    for warning in summary["warnings"]:
        w(f"warning: {warning}\n")
    w("RESULT: " + ("FAIL: " + "; ".join(summary["failures"]) if summary["failures"] else "PASS") + "\n")
    sys.stderr.flush()


def parse_args(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_dir = next((d for d in (os.path.join(here, "..", "..", "dbus"), os.path.join(here, "dbus"),
                                    "/usr/local/share/dbus-1/interfaces", "/usr/share/dbus-1/interfaces")
                        if os.path.exists(os.path.join(d, "org.example.Bits.Manager.xml"))), None)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", required=True, help="D-Bus address of the (system) bus bitsd is on")
    p.add_argument("--home", required=True, help="a directory of the fuzzing user the fuzzer may litter")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=30.0, help="per-call timeout (seconds)")
    p.add_argument("--check-interval", type=float, default=5.0)
    p.add_argument("--foreign-job", action="append", default=[], help="a job path of another user (repeatable)")
    p.add_argument("--foreign-file", action="append", default=[], help="a file path of another user (repeatable)")
    p.add_argument("--target", action="append", default=[],
                   help="a path the user must not touch (root-owned file or directory; repeatable)")
    p.add_argument("--http-url", default="", help="base URL of the test HTTP server (faultserver.py)")
    p.add_argument("--fifos", action="store_true", help="also use FIFOs as paths and in place of temporary files")
    p.add_argument("--no-hostile-server", action="store_true", help="do not run the hostile HTTP server")
    p.add_argument("--interface-dir", default=default_dir)
    p.add_argument("--max-jobs", type=int, default=40, help="jobs kept alive across all workers")
    p.add_argument("--exclude", action="append", default=[], metavar="TEXT",
                   help="never send a string containing TEXT, nor serve a Last-Modified containing it "
                        "(to look past a known bug; repeatable)")
    p.add_argument("--max-home-bytes", type=int, default=1 << 30)
    p.add_argument("--log", default=None, help="append one JSON line per call to FILE")
    p.add_argument("--summary-file", default=None, help="also write the JSON summary to FILE")
    opts = p.parse_args(argv)
    if opts.seed is None:
        opts.seed = int.from_bytes(os.urandom(4), "big")
    if not opts.interface_dir:
        p.error("cannot find the interface XML; give --interface-dir")
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    sys.stderr.write(f"dbusfuzz: seed {opts.seed} (repeat with --seed {opts.seed}), {opts.seconds:g} s, "
                     f"uid {os.getuid()}, interfaces from {os.path.abspath(opts.interface_dir)}\n")
    sys.stderr.flush()
    model = Interfaces(opts.interface_dir)
    run = Run(opts, model)
    prepare_home(run)
    if not opts.no_hostile_server:
        server = HostileServer(opts.seed, run.url_secret, opts.exclude)
        threading.Thread(target=server.serve_forever, name="hostile-http", daemon=True).start()
        run.hostile = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        monitor = Monitor(run)
        monitor.start()
    except dbus.exceptions.DBusException as e:
        sys.stderr.write(f"dbusfuzz: cannot reach the bus: {e}\n")
        return 2
    sys.stderr.write(f"dbusfuzz: {SERVICE} is pid {monitor.pid}; hostile server {run.hostile or '-'}; "
                     f"{len(model.all_methods())} methods, {len(model.all_properties())} properties\n")
    for i in range(max(1, opts.workers)):
        _WORKERS.append(Worker(run, i))
    for w in _WORKERS:
        w.thread.start()
    next_check = time.monotonic() + opts.check_interval
    while any(w.thread.is_alive() for w in _WORKERS):
        if time.monotonic() >= next_check:
            monitor.check()
            next_check = time.monotonic() + opts.check_interval
        time.sleep(0.2)
        if time.monotonic() > run.deadline + opts.timeout + 60:
            run.halt("workers did not finish")
            break
    # Final liveness: the same process still answers.
    final_pid = monitor.service_pid()
    ok, v, dt, msg = monitor._call(SERVICE, MANAGER_PATH, PEER, "Ping", timeout=5.0)
    final_ping = {"ok": ok, "seconds": round(dt, 3), **({} if ok else {"error": v, "message": msg[:200]})}
    if final_pid is not None and final_pid == monitor.pid and not run.broken:
        monitor.check()
    foreign_files = foreign_owned(run)
    tidy_home(run)
    covered = set(run.stats.coverage)
    missing = [m.key for m in model.all_methods() if m.key not in covered] + \
        [f"get:{p.key}" for p in model.all_properties() if f"get:{p.key}" not in covered] + \
        [f"set:{p.key}" for p in model.all_properties() if p.writable and f"set:{p.key}" not in covered]
    summary = summarize(run, monitor, final_pid, final_ping, foreign_files, missing)
    report(summary)
    line = json.dumps(summary, sort_keys=True)
    if opts.summary_file:
        with open(opts.summary_file, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if run.log:
        run.log.close()
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
