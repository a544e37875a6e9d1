"""Tests for bitsuploadserver.py (stdlib only).

Every test talks raw HTTP (http.client) to the server started as a subprocess
on port 0.  Run from the repository root:
    /usr/bin/python3 -m unittest discover -s Tests/Support -p 'test_*.py' -v
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serverproc  # noqa: E402
from serverproc import stop_server  # noqa: E402
SERVER = os.path.join(HERE, "bitsuploadserver.py")
CURL = "/usr/bin/curl"

# Values from [MC-BUP] 1.7.1 / 2.2.1.2 / 3.2.5.2.x, spelled out independently of
# the server module on purpose.
PROTOCOL = "{7df0354d-249b-430f-820d-3d2a9bef4931}"
OTHER_GUID = "{00000000-1111-2222-3333-444444444444}"
E_INVALIDARG = "0x80070057"
E_ACCESSDENIED = "0x80070005"
E_FAIL = "0x80004005"
BG_E_SESSION_NOT_FOUND = "0x8020001F"
BG_E_TOO_LARGE = "0x80200020"
SESSION_ID_RE = r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def pattern(size: int, seed: int = 1) -> bytes:
    return bytes(((i * 31 + seed * 7) ^ (i >> 5)) & 0xFF for i in range(size))


def start_server(workdir: str, root: str, *options: str) -> tuple[subprocess.Popen, int, str]:
    """Start bitsuploadserver on port 0; return (process, port, port file)."""
    return serverproc.start_server(SERVER, root, workdir, *options)


class BitsServerCase(unittest.TestCase):
    """Starts one server per test class with OPTIONS; helpers for BITS packets."""

    OPTIONS: tuple[str, ...] = ()

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="bitsupload-test-")
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(cls.root)
        cls.prepare(cls.tmp)
        cls.proc, cls.port, cls.port_file = start_server(cls.tmp, cls.root, *cls.options())

    @classmethod
    def prepare(cls, tmp: str) -> None:
        """Hook: create files before the server starts."""

    @classmethod
    def options(cls) -> tuple[str, ...]:
        return cls.OPTIONS

    @classmethod
    def tearDownClass(cls) -> None:
        rc = stop_server(cls.proc)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError(f"server exited with {rc}")

    def setUp(self) -> None:
        self.control({})  # no fault left over from another test

    # ---- plumbing ----------------------------------------------------------

    def connect(self, timeout: float = 20) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def request(self, method: str, target: str, body: bytes | None = b"", headers=None,
                conn=None) -> tuple[http.client.HTTPResponse, bytes]:
        conn = conn or self.connect()
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()

    def bits(self, packet: str, path: str, sid: str | None = None, body: bytes | None = b"",
             headers=None, conn=None) -> http.client.HTTPResponse:
        """Send one BITS_POST packet; ``body=b""`` still sends Content-Length: 0."""
        hdrs = {"BITS-Packet-Type": packet}
        if sid is not None:
            hdrs["BITS-Session-Id"] = sid
        hdrs.update(headers or {})
        resp, data = self.request("BITS_POST", path, body, hdrs, conn)
        self.assertEqual(data, b"", "Acks have no body")
        self.assertEqual(resp.getheader("Content-Length"), "0")
        self.assertEqual(resp.getheader("BITS-Packet-Type"), "Ack")
        return resp

    def create(self, path: str, conn=None) -> str:
        resp = self.bits("Create-Session", path, conn=conn,
                         headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertOk(resp)
        return resp.getheader("BITS-Session-Id")

    def fragment(self, path: str, sid: str, data: bytes, first: int, total: int,
                 conn=None, headers=None) -> http.client.HTTPResponse:
        last = first + len(data) - 1
        crange = f"bytes {first}-{last}/{total}" if data else f"bytes */{total}"
        return self.bits("Fragment", path, sid, data, conn=conn,
                         headers={"Content-Range": crange, **(headers or {})})

    def upload(self, path: str, data: bytes, pieces: int = 3, conn=None) -> str:
        """Create-Session + ``pieces`` fragments; returns the session id."""
        conn = conn or self.connect()
        sid = self.create(path, conn)
        step = max(1, -(-len(data) // pieces))
        for first in range(0, len(data), step):
            resp = self.fragment(path, sid, data[first:first + step], first, len(data), conn,
                                 {"Content-Name": "local.bin"} if first == 0 else None)
            self.assertOk(resp)
            self.assertEqual(resp.getheader("BITS-Received-Content-Range"),
                             str(min(first + step, len(data))))
        return sid

    def control(self, spec: dict) -> dict | None:
        resp, body = self.request("POST", "/_control", json.dumps(spec).encode(),
                                  {"Content-Type": "application/json"})
        self.assertEqual(resp.status, 200, body)
        return json.loads(body)

    def state(self) -> dict:
        resp, body = self.request("GET", "/_state", None)
        self.assertEqual(resp.status, 200)
        return json.loads(body)

    def session_state(self, sid: str) -> dict:
        matches = [s for s in self.state()["sessions"] if s["id"] == sid]
        self.assertEqual(len(matches), 1, sid)
        return matches[0]

    def get(self, path: str, headers=None) -> tuple[http.client.HTTPResponse, bytes]:
        return self.request("GET", path, None, headers)

    def read_root(self, rel: str) -> bytes:
        with open(os.path.join(self.root, rel), "rb") as f:
            return f.read()

    # ---- assertions --------------------------------------------------------

    def assertOk(self, resp: http.client.HTTPResponse) -> None:
        self.assertEqual(resp.status, 200, resp.headers)
        self.assertIsNone(resp.getheader("BITS-Error-Code"))
        self.assertIsNone(resp.getheader("BITS-Error-Context"))

    def assertBitsError(self, resp: http.client.HTTPResponse, status: int, code: str,
                        context: str = "0x5") -> None:
        self.assertEqual(resp.status, status, resp.headers)
        self.assertEqual(resp.getheader("BITS-Error-Code"), code)
        self.assertEqual(resp.getheader("BITS-Error-Context"), context)


class DefaultServerTest(BitsServerCase):
    """Default options: overwrite allowed, no limits, simple upload mode."""

    # ---- Ping / Create-Session ---------------------------------------------

    def test_ping(self):
        resp = self.bits("Ping", "/ping.bin")
        self.assertOk(resp)
        self.assertIsNone(resp.getheader("BITS-Session-Id"))
        self.assertEqual(self.state()["packets"][-1]["packet"], "Ping")

    def test_packet_type_is_case_insensitive(self):
        self.assertOk(self.bits("PING", "/ping.bin"))
        resp = self.bits("create-session", "/case.bin",
                         headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertOk(resp)

    def test_create_session_negotiates_protocol(self):
        offered = f"{OTHER_GUID} {PROTOCOL.upper()}"
        resp = self.bits("Create-Session", "/neg/a.bin",
                         headers={"BITS-Supported-Protocols": offered, "Content-Name": "a.bin"})
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Protocol"), PROTOCOL)
        sid = resp.getheader("BITS-Session-Id")
        self.assertRegex(sid, f"^{SESSION_ID_RE}$")
        self.assertEqual(resp.getheader("Accept-Encoding"), "identity")
        self.assertIsNone(resp.getheader("BITS-Host-Id"))
        self.assertIsNone(resp.getheader("BITS-Host-Id-Fallback-Timeout"))
        st = self.state()
        session = [s for s in st["sessions"] if s["id"] == sid][0]
        self.assertEqual((session["path"], session["protocol"], session["content_name"]),
                         ("/neg/a.bin", PROTOCOL, "a.bin"))
        self.assertTrue(os.path.exists(session["temp_path"]))
        self.assertEqual(os.path.dirname(session["temp_path"]), os.path.join(self.root, "neg"))
        packet = st["packets"][-1]
        self.assertEqual(packet["supported_protocols"], offered)
        self.assertEqual(packet["status"], 200)
        # comma-delimited lists are allowed too ([MC-BUP] 2.2.2.2)
        resp = self.bits("Create-Session", "/neg/b.bin",
                         headers={"BITS-Supported-Protocols": f"{PROTOCOL},{OTHER_GUID}"})
        self.assertOk(resp)
        self.assertNotEqual(resp.getheader("BITS-Session-Id"), sid)

    def test_create_session_without_common_protocol(self):
        resp = self.bits("Create-Session", "/neg/none.bin",
                         headers={"BITS-Supported-Protocols": OTHER_GUID})
        self.assertBitsError(resp, 400, E_INVALIDARG)
        self.assertIsNone(resp.getheader("BITS-Protocol"))
        self.assertIsNone(resp.getheader("BITS-Session-Id"))
        resp = self.bits("Create-Session", "/neg/none.bin")  # header missing
        self.assertBitsError(resp, 400, E_INVALIDARG)
        self.assertFalse(any(s["path"] == "/neg/none.bin" for s in self.state()["sessions"]))

    def test_malformed_packets(self):
        conn = self.connect()
        resp = self.bits("Ping", "/x.bin", body=None, conn=conn)  # no Content-Length
        self.assertBitsError(resp, 411, E_INVALIDARG)
        resp = self.bits("Get-Lost", "/x.bin", conn=conn)
        self.assertBitsError(resp, 400, E_INVALIDARG)
        resp = self.bits("Ping", "/x.bin", body=b"abc", conn=conn)  # Ping has no body
        self.assertBitsError(resp, 400, E_INVALIDARG)
        self.assertOk(self.bits("Ping", "/x.bin", conn=conn))  # connection still usable
        for path in ("/../escape.bin", "/_state", "/_reply/x"):
            resp = self.bits("Create-Session", path,
                             headers={"BITS-Supported-Protocols": PROTOCOL})
            self.assertBitsError(resp, 403, E_ACCESSDENIED)
        os.makedirs(os.path.join(self.root, "adir"), exist_ok=True)
        resp = self.bits("Create-Session", "/adir", headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertBitsError(resp, 400, E_INVALIDARG)

    def test_get_reply_url_needs_reply_mode(self):
        sid = self.upload("/noreply.bin", b"data")
        resp = self.bits("Get-Reply-URL", "/noreply.bin", sid)
        self.assertBitsError(resp, 400, E_INVALIDARG)
        self.assertIsNone(resp.getheader("BITS-Reply-URL"))

    # ---- fragments -----------------------------------------------------------

    def test_upload_in_three_fragments(self):
        data = pattern(1000)
        conn = self.connect()
        sid = self.create("/up/three.bin", conn)
        for first, last in ((0, 332), (333, 665), (666, 999)):
            resp = self.fragment("/up/three.bin", sid, data[first:last + 1], first, 1000, conn,
                                 {"Content-Name": "three.bin"} if first == 0 else None)
            self.assertOk(resp)
            self.assertEqual(resp.getheader("BITS-Received-Content-Range"), str(last + 1))
            self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
            self.assertIsNone(resp.getheader("BITS-Reply-URL"))
            # not visible under its name before the last byte arrived
            self.assertEqual(os.path.exists(os.path.join(self.root, "up/three.bin")), last == 999)
        self.assertEqual(self.read_root("up/three.bin"), data)
        resp, body = self.get("/up/three.bin")
        self.assertEqual((resp.status, body), (200, data))
        st = self.state()
        expected = hashlib.sha256(data).hexdigest()
        self.assertEqual(st["files"]["/up/three.bin"],
                         {"sha256": expected, "size": 1000, "via": "bits", "session_id": sid})
        session = [s for s in st["sessions"] if s["id"] == sid][0]
        self.assertEqual((session["received"], session["total"], session["fragments"]),
                         (1000, 1000, 3))
        self.assertTrue(session["complete"] and session["committed"])
        self.assertEqual(session["sha256"], expected)
        self.assertEqual(session["content_name"], "three.bin")
        self.assertFalse(os.path.exists(session["temp_path"]))
        ranges = [p["content_range"] for p in st["packets"] if p["session_id"] == sid]
        self.assertEqual(ranges, ["bytes 0-332/1000", "bytes 333-665/1000", "bytes 666-999/1000"])
        self.assertEqual(st["packets"][-1]["received_content_range"], 1000)

    def test_overwrite_allowed_by_default(self):
        self.upload("/over.bin", b"first version")
        self.upload("/over.bin", b"second")
        self.assertEqual(self.read_root("over.bin"), b"second")

    def test_empty_file(self):
        conn = self.connect()
        sid = self.create("/empty/zero.bin", conn)
        resp = self.fragment("/empty/zero.bin", sid, b"", 0, 0, conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "0")
        self.assertEqual(self.read_root("empty/zero.bin"), b"")
        self.assertEqual(self.state()["files"]["/empty/zero.bin"]["sha256"], EMPTY_SHA256)
        self.assertOk(self.bits("Close-Session", "/empty/zero.bin", sid, conn=conn))
        self.assertTrue(self.session_state(sid)["closed"])

    def test_overlap_only_appends_new_part(self):
        a, b, c = pattern(100, 1), pattern(100, 2), pattern(50, 3)
        conn = self.connect()
        sid = self.create("/overlap.bin", conn)
        self.assertOk(self.fragment("/overlap.bin", sid, a, 0, 200, conn))
        resp = self.fragment("/overlap.bin", sid, b, 50, 200, conn)  # 50..99 already there
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "150")
        resp = self.fragment("/overlap.bin", sid, a[:50], 0, 200, conn)  # fully duplicate
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "150")
        resp = self.fragment("/overlap.bin", sid, c, 150, 200, conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "200")
        expected = a + b[50:] + c  # existing bytes are never overwritten
        self.assertEqual(self.read_root("overlap.bin"), expected)
        self.assertEqual(self.state()["files"]["/overlap.bin"]["sha256"],
                         hashlib.sha256(expected).hexdigest())

    def test_hole_refused(self):
        conn = self.connect()
        sid = self.create("/hole.bin", conn)
        self.assertOk(self.fragment("/hole.bin", sid, pattern(100), 0, 300, conn))
        resp = self.fragment("/hole.bin", sid, pattern(100), 200, 300, conn)
        self.assertBitsError(resp, 416, "0x00000000")
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "100")
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        self.assertEqual(self.session_state(sid)["received"], 100)
        # the same connection carries on from the offset the server gave
        data = pattern(300)
        self.assertOk(self.fragment("/hole.bin", sid, data[100:], 100, 300, conn))
        self.assertEqual(self.read_root("hole.bin"), pattern(100) + data[100:])

    def test_bad_content_range(self):
        conn = self.connect()
        sid = self.create("/badrange.bin", conn)
        cases = [
            {"Content-Range": "bytes 0-9/10"},       # 5 bytes sent, range says 10
            {"Content-Range": "bytes 0-4/*"},        # unknown total
            {"Content-Range": "bytes 4-0/10"},       # end before start
            {"Content-Range": "bytes 0-4/4"},        # end beyond total
            {"Content-Range": "items 0-4/10"},
            {"Content-Range": "bytes */10"},         # */T only for an empty file
            {"Content-Range": "bytes 0-4/10", "Content-Encoding": "gzip"},
        ]
        for headers in cases:
            resp = self.bits("Fragment", "/badrange.bin", sid, b"12345", headers, conn)
            self.assertBitsError(resp, 400, E_INVALIDARG)
            self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "0", headers)
        resp = self.bits("Fragment", "/badrange.bin", sid, b"12345", conn=conn)  # no range
        self.assertBitsError(resp, 400, E_INVALIDARG)
        self.assertOk(self.fragment("/badrange.bin", sid, b"12345", 0, 10, conn))
        resp = self.fragment("/badrange.bin", sid, b"67890", 5, 11, conn)  # total changed
        self.assertBitsError(resp, 400, E_INVALIDARG)
        self.assertEqual(self.session_state(sid)["received"], 5)
        # a session is bound to its URL path
        resp = self.fragment("/other.bin", sid, b"67890", 5, 10, conn)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)

    def test_large_sparse_upload(self):
        size, step = 64 << 20, 8 << 20
        marks = [(off, pattern(4096, off >> 20)) for off in range(0, size, step)]
        digest = hashlib.sha256()
        conn = self.connect(timeout=30)
        started = time.monotonic()
        sid = self.create("/big/sparse.bin", conn)
        for off, mark in marks:
            body = mark + bytes(step - len(mark))
            digest.update(body)
            resp = self.fragment("/big/sparse.bin", sid, body, off, size, conn)
            self.assertOk(resp)
            self.assertEqual(resp.getheader("BITS-Received-Content-Range"), str(off + step))
        self.assertOk(self.bits("Close-Session", "/big/sparse.bin", sid, conn=conn))
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 15.0)
        path = os.path.join(self.root, "big/sparse.bin")
        st = os.stat(path)
        self.assertEqual(st.st_size, size)
        self.assertEqual(self.state()["files"]["/big/sparse.bin"]["sha256"], digest.hexdigest())
        with open(path, "rb") as f:
            for off, mark in marks:
                f.seek(off)
                self.assertEqual(f.read(len(mark)), mark)
        probe = os.path.join(self.root, "big/probe")
        with open(probe, "wb") as f:
            f.truncate(1 << 20)
        if os.stat(probe).st_blocks == 0:  # file system keeps holes: zeros were skipped
            self.assertLess(st.st_blocks * 512, size // 4)

    # ---- sessions ------------------------------------------------------------

    def test_close_session_recorded(self):
        data = pattern(500)
        conn = self.connect()
        sid = self.upload("/closed.bin", data, conn=conn)
        self.assertFalse(self.session_state(sid)["closed"])
        resp = self.bits("Close-Session", "/closed.bin", sid, conn=conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        session = self.session_state(sid)
        self.assertTrue(session["closed"])
        self.assertFalse(session["closed_incomplete"] or session["cancelled"])
        self.assertEqual(self.read_root("closed.bin"), data)
        resp = self.bits("Close-Session", "/closed.bin", sid, conn=conn)  # session is gone
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        packets = [p["packet"] for p in self.state()["packets"] if p["session_id"] == sid]
        self.assertEqual(packets, ["Fragment"] * 3 + ["Close-Session"] * 2)

    def test_close_before_complete_discards_partial_data(self):
        conn = self.connect()
        sid = self.create("/early-close.bin", conn)
        self.assertOk(self.fragment("/early-close.bin", sid, pattern(10), 0, 20, conn))
        temp = self.session_state(sid)["temp_path"]
        self.assertTrue(os.path.exists(temp))
        self.assertOk(self.bits("Close-Session", "/early-close.bin", sid, conn=conn))
        session = self.session_state(sid)
        self.assertTrue(session["closed"] and session["closed_incomplete"])
        self.assertFalse(os.path.exists(temp))
        self.assertFalse(os.path.exists(os.path.join(self.root, "early-close.bin")))

    def test_cancel_session_removes_partial_data(self):
        conn = self.connect()
        sid = self.create("/cancel/c.bin", conn)
        self.assertOk(self.fragment("/cancel/c.bin", sid, pattern(300), 0, 1000, conn))
        temp = self.session_state(sid)["temp_path"]
        with open(temp, "rb") as f:
            self.assertEqual(f.read(), pattern(300))
        resp = self.bits("Cancel-Session", "/cancel/c.bin", sid, conn=conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        self.assertFalse(os.path.exists(temp))
        self.assertFalse(os.path.exists(os.path.join(self.root, "cancel/c.bin")))
        session = self.session_state(sid)
        self.assertTrue(session["cancelled"])
        self.assertFalse(session["closed"])
        resp = self.fragment("/cancel/c.bin", sid, pattern(10), 300, 1000, conn)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)
        resp = self.bits("Cancel-Session", "/cancel/c.bin", sid, conn=conn)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)

    def test_cancel_after_commit_keeps_file(self):
        sid = self.upload("/cancel/kept.bin", b"kept")
        self.assertOk(self.bits("Cancel-Session", "/cancel/kept.bin", sid))
        self.assertEqual(self.read_root("cancel/kept.bin"), b"kept")

    def test_session_id_echoed_as_sent(self):
        conn = self.connect()
        sid = self.create("/sidcase.bin", conn)
        lower = sid.lower()
        resp = self.fragment("/sidcase.bin", lower, b"abc", 0, 3, conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Session-Id"), lower)
        resp = self.bits("Close-Session", "/sidcase.bin", lower, conn=conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Session-Id"), lower)
        self.assertTrue(self.session_state(sid)["closed"])

    def test_unknown_session(self):
        resp = self.fragment("/nobody.bin", "{00000000-0000-0000-0000-000000000000}",
                             b"x", 0, 1)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)
        self.assertIsNone(resp.getheader("BITS-Received-Content-Range"))

    # ---- faults ----------------------------------------------------------------

    def test_control_endpoint(self):
        resp, body = self.request("POST", "/_control", b"{not json")
        self.assertEqual(resp.status, 400)
        resp, body = self.request("POST", "/_control", json.dumps({"fault": "melt"}).encode())
        self.assertEqual(resp.status, 400)
        resp, body = self.request("POST", "/_control", json.dumps({"colour": 1}).encode())
        self.assertEqual(resp.status, 400)
        current = self.control({"fault": "5xx", "count": 3, "status": 500})
        self.assertEqual((current["fault"], current["count"], current["status"]),
                         ("5xx", 3, 500))
        resp, body = self.get("/_control")
        self.assertEqual(json.loads(body)["fault"], "5xx")
        self.assertEqual(self.state()["fault"]["count"], 3)
        self.assertIsNone(self.control({"fault": None}))
        self.assertIsNone(self.state()["fault"])
        self.assertOk(self.bits("Ping", "/p.bin"))

    def test_drop_mid_fragment_then_resume(self):
        data = pattern(1000)
        sid = self.create("/drop/a.bin")
        self.control({"fault": "drop", "after_bytes": 300})
        self.assertOk(self.bits("Ping", "/drop/a.bin"))  # drop applies to Fragments only
        conn = self.connect()
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.fragment("/drop/a.bin", sid, data, 0, 1000, conn)
        st = self.state()
        self.assertIsNone(st["fault"])
        packet = [p for p in st["packets"] if p["session_id"] == sid][-1]
        self.assertEqual((packet["fault"], packet["dropped"], packet["body_bytes"],
                          packet["status"]), ("drop", True, 300, None))
        self.assertEqual(self.session_state(sid)["received"], 300)
        # the client only knows the last acknowledged offset (0) and re-sends
        resp = self.fragment("/drop/a.bin", sid, data, 0, 1000)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "1000")
        self.assertEqual(self.read_root("drop/a.bin"), data)

    def test_drop_then_fragment_beyond_received(self):
        data = pattern(1000, 5)
        sid = self.create("/drop/b.bin")
        self.control({"fault": "drop", "after_bytes": 300})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.fragment("/drop/b.bin", sid, data[:600], 0, 1000)
        resp = self.fragment("/drop/b.bin", sid, data[600:], 600, 1000)
        self.assertBitsError(resp, 416, "0x00000000")
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "300")
        resp = self.fragment("/drop/b.bin", sid, data[300:], 300, 1000)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "1000")
        self.assertEqual(self.read_root("drop/b.bin"), data)

    def test_drop_without_keeping_partial_data(self):
        sid = self.create("/drop/c.bin")
        self.control({"fault": "drop", "after_bytes": 50, "keep_partial": False})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.fragment("/drop/c.bin", sid, pattern(100), 0, 100)
        self.assertEqual(self.session_state(sid)["received"], 0)
        self.assertOk(self.fragment("/drop/c.bin", sid, pattern(100), 0, 100))

    def test_drop_loses_the_ack(self):
        data = pattern(100, 9)
        sid = self.create("/drop/d.bin")
        self.control({"fault": "drop", "after_bytes": 1 << 20})  # more than the body
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.fragment("/drop/d.bin", sid, data, 0, 100)
        self.assertEqual(self.session_state(sid)["received"], 100)
        self.assertEqual(self.read_root("drop/d.bin"), data)  # processed, Ack lost
        resp = self.fragment("/drop/d.bin", sid, data, 0, 100)  # retransmission
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "100")
        # the same for Close-Session: closed on the server, Ack lost
        self.control({"fault": "drop", "types": ["Close-Session"]})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.bits("Close-Session", "/drop/d.bin", sid)
        self.assertTrue(self.session_state(sid)["closed"])
        resp = self.bits("Close-Session", "/drop/d.bin", sid)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)

    def test_session_loss(self):
        conn = self.connect()
        sid = self.create("/lost.bin", conn)
        self.assertOk(self.fragment("/lost.bin", sid, pattern(100), 0, 200, conn))
        temp = self.session_state(sid)["temp_path"]
        self.control({"fault": "session-loss"})
        resp = self.fragment("/lost.bin", sid, pattern(200)[100:], 100, 200, conn)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)
        session = self.session_state(sid)
        self.assertTrue(session["lost"])
        self.assertFalse(os.path.exists(temp))
        self.assertIsNone(self.state()["fault"])
        # the client starts over with a new session ([MC-BUP] 3.1.5.1.7)
        sid2 = self.upload("/lost.bin", pattern(200), conn=conn)
        self.assertNotEqual(sid2, sid)
        self.assertEqual(self.read_root("lost.bin"), pattern(200))

    def test_5xx_fault(self):
        conn = self.connect()
        sid = self.create("/fault5.bin", conn)
        self.control({"fault": "5xx", "count": 2})
        resp = self.fragment("/fault5.bin", sid, pattern(100), 0, 100, conn)
        self.assertBitsError(resp, 503, "0x801901F7")
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        self.assertEqual(self.session_state(sid)["received"], 0)  # not processed
        resp = self.bits("Ping", "/fault5.bin", conn=conn)
        self.assertBitsError(resp, 503, "0x801901F7")
        self.assertOk(self.fragment("/fault5.bin", sid, pattern(100), 0, 100, conn))
        self.control({"fault": "5xx", "status": 501, "types": ["Close-Session"]})
        self.assertOk(self.bits("Ping", "/fault5.bin", conn=conn))  # not a Close-Session
        resp = self.bits("Close-Session", "/fault5.bin", sid, conn=conn)
        self.assertBitsError(resp, 501, "0x801901F5")
        self.assertOk(self.bits("Close-Session", "/fault5.bin", sid, conn=conn))
        faults = [p["fault"] for p in self.state()["packets"] if p["path"] == "/fault5.bin"]
        self.assertEqual(faults.count("5xx"), 3)

    def test_403_fault(self):
        self.control({"fault": "403"})
        resp = self.bits("Create-Session", "/fault403.bin",
                         headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertBitsError(resp, 403, E_ACCESSDENIED)
        self.assertIsNone(resp.getheader("BITS-Session-Id"))
        self.assertFalse(any(s["path"] == "/fault403.bin" for s in self.state()["sessions"]))
        self.create("/fault403.bin")

    # ---- plain HTTP --------------------------------------------------------------

    def test_plain_put_and_get(self):
        data = pattern(70000)
        resp, body = self.request("PUT", "/put/p.bin", data)
        self.assertEqual(resp.status, 201)
        self.assertEqual(resp.getheader("Content-Length"), "0")
        self.assertEqual(self.read_root("put/p.bin"), data)
        self.assertEqual(self.state()["files"]["/put/p.bin"],
                         {"sha256": hashlib.sha256(data).hexdigest(), "size": 70000,
                          "via": "put", "session_id": None})
        resp, body = self.get("/put/p.bin", {"Range": "bytes=10-19"})
        self.assertEqual((resp.status, body), (206, data[10:20]))
        self.assertEqual(resp.getheader("Content-Range"), "bytes 10-19/70000")
        resp, body = self.get("/put/p.bin", {"Range": "bytes=80000-"})
        self.assertEqual(resp.status, 416)
        resp, body = self.get("/put/missing.bin")
        self.assertEqual(resp.status, 404)
        resp, body = self.request("PUT", "/_state", b"x")
        self.assertEqual(resp.status, 403)
        if os.access(CURL, os.X_OK):
            src = os.path.join(self.tmp, "curl-src.bin")
            with open(src, "wb") as f:
                f.write(data)
            out = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", src,
                                  f"http://127.0.0.1:{self.port}/put/curl.bin"],
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(out.stdout, "201")
            self.assertEqual(self.read_root("put/curl.bin"), data)

    def test_port_file(self):
        with open(self.port_file) as f:
            self.assertEqual(f.read(), f"{self.port}\n")
        resp, body = self.get("/_health")
        self.assertEqual((resp.status, body), (200, b"ok"))


class LimitsServerTest(BitsServerCase):
    """--no-overwrite, --max-size, --max-fragment, two --protocol GUIDs."""

    OPTIONS = ("--no-overwrite", "--max-size", "1000", "--max-fragment", "512",
               "--protocol", PROTOCOL, "--protocol", OTHER_GUID.upper())

    @classmethod
    def prepare(cls, tmp: str) -> None:
        with open(os.path.join(tmp, "root", "exists.bin"), "wb") as f:
            f.write(b"original")

    def test_protocol_follows_client_preference(self):
        resp = self.bits("Create-Session", "/proto.bin",
                         headers={"BITS-Supported-Protocols": f"{OTHER_GUID} {PROTOCOL}"})
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Protocol"), OTHER_GUID.upper())
        resp = self.bits("Create-Session", "/proto.bin",
                         headers={"BITS-Supported-Protocols": f"{PROTOCOL} {OTHER_GUID}"})
        self.assertEqual(resp.getheader("BITS-Protocol"), PROTOCOL)

    def test_no_overwrite(self):
        resp = self.bits("Create-Session", "/exists.bin",
                         headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertBitsError(resp, 403, E_ACCESSDENIED)
        self.assertIsNone(resp.getheader("BITS-Session-Id"))
        self.assertEqual(self.read_root("exists.bin"), b"original")
        # the target appearing during the upload is caught at the commit
        sid = self.create("/race.bin")
        with open(os.path.join(self.root, "race.bin"), "wb") as f:
            f.write(b"someone else")
        resp = self.fragment("/race.bin", sid, b"mine", 0, 4)
        self.assertBitsError(resp, 403, E_ACCESSDENIED)
        self.assertEqual(self.read_root("race.bin"), b"someone else")
        self.assertFalse(self.session_state(sid)["committed"])
        resp, _ = self.request("PUT", "/exists.bin", b"x")
        self.assertEqual(resp.status, 403)
        self.upload("/fresh.bin", b"fresh")
        self.assertEqual(self.read_root("fresh.bin"), b"fresh")

    def test_max_size(self):
        conn = self.connect()
        sid = self.create("/size/big.bin", conn)
        resp = self.fragment("/size/big.bin", sid, pattern(100), 0, 1001, conn)
        self.assertBitsError(resp, 500, BG_E_TOO_LARGE)
        self.assertEqual(self.session_state(sid)["received"], 0)
        self.assertOk(self.bits("Ping", "/size/big.bin", conn=conn))  # body was drained
        self.upload("/size/ok.bin", pattern(1000), pieces=2, conn=conn)
        self.assertEqual(self.read_root("size/ok.bin"), pattern(1000))
        resp, _ = self.request("PUT", "/size/put.bin", pattern(1001))
        self.assertEqual(resp.status, 413)
        self.assertFalse(os.path.exists(os.path.join(self.root, "size/put.bin")))

    def test_max_fragment(self):
        conn = self.connect()
        sid = self.create("/frag/f.bin", conn)
        resp = self.fragment("/frag/f.bin", sid, pattern(600), 0, 600, conn)
        self.assertBitsError(resp, 413, BG_E_TOO_LARGE)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "0")
        # smaller fragments go through ([MC-BUP] 3.1.5.2.4)
        self.assertOk(self.fragment("/frag/f.bin", sid, pattern(600)[:300], 0, 600, conn))
        self.assertOk(self.fragment("/frag/f.bin", sid, pattern(600)[300:], 300, 600, conn))
        self.assertEqual(self.read_root("frag/f.bin"), pattern(600))


class ReplyEchoServerTest(BitsServerCase):
    """--reply-echo with BITS-Host-Id."""

    OPTIONS = ("--reply-echo", "--host-id", "farm-node-7", "--host-id-fallback-timeout", "110")

    def test_host_id_headers(self):
        resp = self.bits("Create-Session", "/hid.bin",
                         headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Host-Id"), "farm-node-7")
        self.assertEqual(resp.getheader("BITS-Host-Id-Fallback-Timeout"), "110")

    def test_reply_url_on_final_fragment(self):
        data = pattern(3000)
        conn = self.connect()
        sid = self.create("/reply/echo.bin", conn)
        resp = self.fragment("/reply/echo.bin", sid, data[:2000], 0, 3000, conn)
        self.assertOk(resp)
        self.assertIsNone(resp.getheader("BITS-Reply-URL"))
        resp = self.fragment("/reply/echo.bin", sid, data[2000:], 2000, 3000, conn)
        self.assertOk(resp)
        url = resp.getheader("BITS-Reply-URL")
        self.assertRegex(url, rf"^http://127\.0\.0\.1:{self.port}/_reply/[0-9a-f]+$")
        path = url[len(f"http://127.0.0.1:{self.port}"):]
        expected = hashlib.sha256(data).hexdigest().encode()
        reply_resp, body = self.get(path)
        self.assertEqual((reply_resp.status, body), (200, expected))
        reply_resp, body = self.get(path, {"Range": "bytes=0-9"})
        self.assertEqual((reply_resp.status, body), (206, expected[:10]))
        # the upload itself is stored too
        self.assertEqual(self.read_root("reply/echo.bin"), data)
        # Get-Reply-URL (extension) and a retransmitted final fragment repeat it
        resp = self.bits("Get-Reply-URL", "/reply/echo.bin", sid, conn=conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Reply-URL"), url)
        resp = self.fragment("/reply/echo.bin", sid, data[2000:], 2000, 3000, conn)
        self.assertEqual(resp.getheader("BITS-Reply-URL"), url)
        session = self.session_state(sid)
        self.assertTrue(session["reply_ready"])
        self.assertEqual(session["reply_url"], path)
        # the reply is gone once the session is closed (W:close-session)
        self.assertOk(self.bits("Close-Session", "/reply/echo.bin", sid, conn=conn))
        reply_resp, _ = self.get(path)
        self.assertEqual(reply_resp.status, 404)

    def test_get_reply_url_before_completion(self):
        conn = self.connect()
        sid = self.create("/reply/early.bin", conn)
        self.assertOk(self.fragment("/reply/early.bin", sid, b"abc", 0, 6, conn))
        resp = self.bits("Get-Reply-URL", "/reply/early.bin", sid, conn=conn)
        self.assertBitsError(resp, 400, E_INVALIDARG)
        resp = self.fragment("/reply/early.bin", sid, b"def", 3, 6, conn)
        self.assertOk(resp)
        _, body = self.get(resp.getheader("BITS-Reply-URL").split(str(self.port), 1)[1])
        self.assertEqual(body, hashlib.sha256(b"abcdef").hexdigest().encode())

    def test_empty_upload_reply(self):
        conn = self.connect()
        sid = self.create("/reply/empty.bin", conn)
        resp = self.fragment("/reply/empty.bin", sid, b"", 0, 0, conn)
        self.assertOk(resp)
        _, body = self.get(resp.getheader("BITS-Reply-URL").split(str(self.port), 1)[1])
        self.assertEqual(body, EMPTY_SHA256.encode())


HANDLER = r"""
import os, sys
data_path = sys.argv[-1]
if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fail-marker")):
    sys.exit(3)
with open(data_path, "rb") as f:
    data = f.read()
sys.stdout.write(f"{sys.argv[1]} {len(data)} {os.environ['BITS_SESSION_ID']} "
                 f"{os.environ['BITS_URL_PATH']} {data[::-1].decode()}")
"""


class ReplyHandlerServerTest(BitsServerCase):
    """--reply-handler CMD with path-form reply URLs and --keep-replies."""

    @classmethod
    def prepare(cls, tmp: str) -> None:
        with open(os.path.join(tmp, "handler.py"), "w") as f:
            f.write(HANDLER)

    @classmethod
    def options(cls) -> tuple[str, ...]:
        cmd = f"{shlex.quote(sys.executable)} {shlex.quote(os.path.join(cls.tmp, 'handler.py'))}"
        return ("--reply-handler", f"{cmd} --tag=T1", "--reply-url-form", "path",
                "--keep-replies")

    def test_reply_handler_output(self):
        conn = self.connect()
        sid = self.upload("/h/in.txt", b"hello world", pieces=2, conn=conn)
        resp = self.bits("Get-Reply-URL", "/h/in.txt", sid, conn=conn)
        self.assertOk(resp)
        url = resp.getheader("BITS-Reply-URL")
        self.assertRegex(url, r"^/_reply/[0-9a-f]+$")  # relative reference
        reply, body = self.get(url)
        self.assertEqual(reply.status, 200)
        self.assertEqual(body.decode(), f"--tag=T1 11 {sid} /h/in.txt dlrow olleh")
        self.assertOk(self.bits("Close-Session", "/h/in.txt", sid, conn=conn))
        reply, again = self.get(url)  # --keep-replies: still there after the close
        self.assertEqual((reply.status, again), (200, body))

    def test_reply_handler_failure_and_retry(self):
        marker = os.path.join(self.tmp, "fail-marker")
        open(marker, "w").close()
        self.addCleanup(lambda: os.path.exists(marker) and os.unlink(marker))
        conn = self.connect()
        sid = self.create("/h/fail.txt", conn)
        resp = self.fragment("/h/fail.txt", sid, b"abc", 0, 3, conn)
        self.assertBitsError(resp, 500, E_FAIL, context="0x7")
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), "3")
        self.assertIsNone(resp.getheader("BITS-Reply-URL"))
        self.assertEqual(self.session_state(sid)["reply_error"], "exit status 3")
        os.unlink(marker)
        resp = self.fragment("/h/fail.txt", sid, b"abc", 0, 3, conn)  # client re-sends
        self.assertOk(resp)
        _, body = self.get(resp.getheader("BITS-Reply-URL"))
        self.assertEqual(body.decode(), f"--tag=T1 3 {sid} /h/fail.txt cba")


class CommitOnCloseServerTest(BitsServerCase):
    """--commit-on close: the file appears under its name at Close-Session."""

    OPTIONS = ("--commit-on", "close")

    def test_commit_on_close(self):
        conn = self.connect()
        sid = self.upload("/late.bin", pattern(100), conn=conn)
        target = os.path.join(self.root, "late.bin")
        self.assertFalse(os.path.exists(target))
        self.assertTrue(self.session_state(sid)["complete"])
        self.assertOk(self.bits("Close-Session", "/late.bin", sid, conn=conn))
        self.assertEqual(self.read_root("late.bin"), pattern(100))
        self.assertTrue(self.session_state(sid)["committed"])


class LifecycleTest(unittest.TestCase):
    def test_sigterm_exits_zero_and_cleans_up(self):
        tmp = tempfile.mkdtemp(prefix="bitsupload-life-")
        self.addCleanup(shutil.rmtree, tmp, True)
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        proc, port, port_file = start_server(tmp, root)
        try:
            with open(port_file) as f:
                self.assertEqual(f.read(), f"{port}\n")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("BITS_POST", "/partial.bin", body=b"",
                         headers={"BITS-Packet-Type": "Create-Session",
                                  "BITS-Supported-Protocols": PROTOCOL})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            self.assertEqual(resp.status, 200)
            self.assertEqual(len([n for n in os.listdir(root) if n.endswith(".part")]), 1)
        finally:
            rc = stop_server(proc)
        self.assertEqual(rc, 0)
        self.assertEqual(os.listdir(root), [])  # partial upload removed at exit

    def test_bad_options(self):
        out = subprocess.run([sys.executable, SERVER, "--root", "/nonexistent-dir-xyz"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 2)
        out = subprocess.run([sys.executable, SERVER, "--root", HERE,
                              "--host-id-fallback-timeout", "5"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--host-id", out.stderr)



def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PersistSessionsTest(BitsServerCase):
    """--persist-sessions: sessions survive a restart (SIGTERM or SIGKILL) of the
    server on the same --root and fixed --port.  Each test runs its own servers."""

    PATH = "/persist/up.bin"

    @classmethod
    def setUpClass(cls) -> None:
        pass  # no class-wide server

    @classmethod
    def tearDownClass(cls) -> None:
        pass

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="bitsupload-persist-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        self.proc = None
        self.addCleanup(self.stop, False)
        self.fixed_port = free_port()
        # Holes: an all-zero run longer than two 64 KiB blocks in the middle.
        self.data = pattern(100_000, 3) + bytes(200_000) + pattern(100_000, 4)

    # ---- helpers -------------------------------------------------------------

    def start(self, *options: str) -> None:
        self.assertIsNone(self.proc)
        self.proc, self.port, _ = start_server(self.tmp, self.root,
                                               "--port", str(self.fixed_port), *options)
        self.assertEqual(self.port, self.fixed_port)

    def stop(self, kill: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
            rc = proc.wait(timeout=10)
            proc.stdout.close()
            self.assertEqual(rc, -signal.SIGKILL)
        else:
            self.assertEqual(stop_server(proc), 0)

    def session_file(self, sid: str) -> str:
        return os.path.join(self.root, ".bits-sessions",
                            sid.strip().strip("{}").lower() + ".json")

    def saved(self, sid: str) -> dict:
        with open(self.session_file(sid)) as f:
            return json.load(f)

    def part_files(self) -> list[str]:
        directory = os.path.join(self.root, "persist")
        return [os.path.join(directory, n) for n in os.listdir(directory)
                if n.endswith(".part")]

    def begin(self) -> str:
        """Create-Session and two fragments (260000 of 400000 bytes)."""
        conn = self.connect()
        sid = self.create(self.PATH, conn)
        saved = self.saved(sid)
        self.assertEqual((saved["id"], saved["url_path"], saved["received"], saved["total"]),
                         (sid, self.PATH, 0, None))
        for first, last in ((0, 150_000), (150_000, 260_000)):
            resp = self.fragment(self.PATH, sid, self.data[first:last], first, len(self.data),
                                 conn, {"Content-Name": "local.bin"} if first == 0 else None)
            self.assertOk(resp)
            self.assertEqual(resp.getheader("BITS-Received-Content-Range"), str(last))
            # Saved before the Ack was sent.
            self.assertEqual(self.saved(sid)["received"], last)
        saved = self.saved(sid)
        self.assertEqual((saved["total"], saved["fragments"], saved["content_name"],
                          saved["complete"], saved["committed"]),
                         (len(self.data), 2, "local.bin", False, False))
        self.assertEqual(saved["temp_path"], self.session_state(sid)["temp_path"])
        conn.close()
        return sid

    def resume_and_finish(self, sid: str, restored_received: int) -> None:
        """After the restart: an overlapping fragment from 0 gets the restored
        offset; the rest completes the upload; Close-Session forgets the session."""
        state = self.session_state(sid)
        self.assertTrue(state["restored"])
        self.assertEqual((state["received"], state["total"], state["complete"]),
                         (restored_received, len(self.data), False))
        conn = self.connect()
        resp = self.fragment(self.PATH, sid, self.data[:100_000], 0, len(self.data), conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), str(restored_received))
        first = restored_received - 1000  # overlaps the restored data
        resp = self.fragment(self.PATH, sid, self.data[first:], first, len(self.data), conn)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), str(len(self.data)))
        digest = hashlib.sha256(self.data).hexdigest()
        self.assertEqual(self.read_root("persist/up.bin"), self.data)
        self.assertEqual(self.state()["files"][self.PATH],
                         {"sha256": digest, "size": len(self.data), "via": "bits",
                          "session_id": sid})
        state = self.session_state(sid)
        self.assertEqual((state["sha256"], state["committed"]), (digest, True))
        self.assertTrue(self.saved(sid)["committed"])  # committed, not closed yet
        self.assertOk(self.bits("Close-Session", self.PATH, sid, conn=conn))
        self.assertFalse(os.path.exists(self.session_file(sid)))
        self.assertEqual(self.part_files(), [])
        resp = self.fragment(self.PATH, sid, self.data[:10], 0, len(self.data), conn)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)

    # ---- tests -----------------------------------------------------------------

    def test_session_survives_sigterm(self):
        self.start("--persist-sessions")
        sid = self.begin()
        self.stop()
        self.assertEqual(len(self.part_files()), 1)  # kept at exit
        self.assertTrue(os.path.exists(self.session_file(sid)))
        self.start("--persist-sessions")
        self.resume_and_finish(sid, 260_000)

    def test_session_survives_sigkill(self):
        self.start("--persist-sessions")
        sid = self.begin()
        self.stop(kill=True)
        # Data written after the last saved state (a fragment cut short by the kill)
        # is cut off at the restart.
        [part] = self.part_files()
        with open(part, "ab") as f:
            f.write(b"not acknowledged")
        self.start("--persist-sessions")
        self.assertEqual(os.path.getsize(part), 260_000)
        self.resume_and_finish(sid, 260_000)

    def test_shorter_temp_file_lowers_received(self):
        self.start("--persist-sessions")
        sid = self.begin()
        self.stop(kill=True)
        [part] = self.part_files()
        os.truncate(part, 120_000)
        self.start("--persist-sessions")
        # Where the client left off before the restart: beyond the restored data.
        resp = self.fragment(self.PATH, sid, self.data[260_000:300_000], 260_000,
                             len(self.data))
        self.assertBitsError(resp, 416, "0x00000000")
        self.assertEqual(resp.getheader("BITS-Received-Content-Range"), str(120_000))
        self.resume_and_finish(sid, 120_000)

    def test_cancel_after_restart(self):
        self.start("--persist-sessions")
        sid = self.begin()
        self.stop()
        self.start("--persist-sessions")
        self.assertOk(self.bits("Cancel-Session", self.PATH, sid))
        self.assertFalse(os.path.exists(self.session_file(sid)))
        self.assertEqual(self.part_files(), [])
        self.assertTrue(self.session_state(sid)["cancelled"])
        self.stop()
        self.start("--persist-sessions")
        resp = self.bits("Close-Session", self.PATH, sid)
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)
        self.assertEqual(self.state()["sessions"], [])

    def test_restart_without_option_forgets_sessions(self):
        self.start("--persist-sessions")
        sid = self.begin()
        self.stop()
        self.start()
        self.assertEqual(self.state()["sessions"], [])
        resp = self.fragment(self.PATH, sid, self.data[:100_000], 0, len(self.data))
        self.assertBitsError(resp, 500, BG_E_SESSION_NOT_FOUND)
        self.assertEqual(resp.getheader("BITS-Session-Id"), sid)
        self.assertBitsError(self.bits("Close-Session", self.PATH, sid), 500,
                             BG_E_SESSION_NOT_FOUND)
        self.stop()
        # The server without the option left the session files alone.
        self.start("--persist-sessions")
        self.resume_and_finish(sid, 260_000)

    def test_session_files_are_not_served(self):
        self.start("--persist-sessions")
        sid = self.begin()
        name = os.path.basename(self.session_file(sid))
        resp, _ = self.get(f"/.bits-sessions/{name}")
        self.assertEqual(resp.status, 403)
        resp = self.bits("Create-Session", f"/.bits-sessions/{name}",
                         headers={"BITS-Supported-Protocols": PROTOCOL})
        self.assertBitsError(resp, 403, E_ACCESSDENIED)
        self.assertEqual(self.saved(sid)["received"], 260_000)

    def test_bad_session_files_are_dropped(self):
        sessions = os.path.join(self.root, ".bits-sessions")
        os.makedirs(sessions)
        garbage = os.path.join(sessions, "01234567-89ab-cdef-0123-456789abcdef.json")
        with open(garbage, "w") as f:
            f.write("{not json")
        self.start("--persist-sessions")
        sid = self.begin()
        self.stop(kill=True)
        [part] = self.part_files()
        os.unlink(part)  # the data is gone: the session cannot be restored
        self.start("--persist-sessions")
        self.assertFalse(os.path.exists(garbage))
        self.assertFalse(os.path.exists(self.session_file(sid)))
        self.assertEqual(self.state()["sessions"], [])
        self.assertBitsError(self.fragment(self.PATH, sid, self.data[:10], 0, len(self.data)),
                             500, BG_E_SESSION_NOT_FOUND)

    def test_committed_session_and_reply_survive(self):
        self.start("--persist-sessions", "--reply-echo", "--reply-url-form", "path")
        conn = self.connect()
        sid = self.create(self.PATH, conn)
        resp = self.fragment(self.PATH, sid, self.data, 0, len(self.data), conn)
        self.assertOk(resp)
        reply_url = resp.getheader("BITS-Reply-URL")
        digest = hashlib.sha256(self.data).hexdigest()
        saved = self.saved(sid)
        self.assertEqual((saved["complete"], saved["committed"], saved["sha256"]),
                         (True, True, digest))
        self.assertEqual(reply_url, f"/_reply/{saved['reply_id']}")
        conn.close()
        self.stop(kill=True)
        self.start("--persist-sessions", "--reply-echo", "--reply-url-form", "path")
        self.assertEqual(self.state()["files"][self.PATH]["sha256"], digest)
        resp = self.bits("Get-Reply-URL", self.PATH, sid)
        self.assertOk(resp)
        self.assertEqual(resp.getheader("BITS-Reply-URL"), reply_url)
        resp, body = self.get(reply_url)
        self.assertEqual((resp.status, body), (200, digest.encode()))
        self.assertOk(self.bits("Close-Session", self.PATH, sid))
        self.assertFalse(os.path.exists(self.session_file(sid)))
        self.assertEqual(os.listdir(os.path.join(self.root, ".bits-sessions", "replies")), [])
        self.assertEqual(self.read_root("persist/up.bin"), self.data)


if __name__ == "__main__":
    unittest.main()
