"""Tests for faultserver.py (stdlib only).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s Tests/Support -p 'test_*.py' -v
"""

from __future__ import annotations

import http.client
import json
import os
import re
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
import faultserver  # noqa: E402  (path set up above)
from faultserver import gen_bytes  # noqa: E402
import serverproc  # noqa: E402
from serverproc import stop_server  # noqa: E402

SERVER = os.path.join(HERE, "faultserver.py")
CURL = "/usr/bin/curl"
DATA = bytes(((i * 31 + 7) ^ (i >> 3)) & 0xFF for i in range(1000))


def start_server(root: str, workdir: str) -> tuple[subprocess.Popen, int, str]:
    """Start faultserver on port 0; return (process, port, port file path)."""
    return serverproc.start_server(SERVER, root, workdir)


class FaultServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="faultserver-test-")
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(cls.root)
        with open(os.path.join(cls.root, "data.bin"), "wb") as f:
            f.write(DATA)
        with open(os.path.join(cls.root, "small.txt"), "wb") as f:
            f.write(b"small file\n")
        cls.proc, cls.port, _ = start_server(cls.root, cls.tmp)

    @classmethod
    def tearDownClass(cls) -> None:
        stop_server(cls.proc)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ---------------------------------------------------------

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}{target}"

    def connect(self, timeout: float = 10) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def fetch(self, target: str, method: str = "GET", headers=None, body=None,
              conn=None) -> tuple[http.client.HTTPResponse, bytes]:
        conn = conn or self.connect()
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()

    def raw_request(self, target: str, timeout: float = 5) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        self.addCleanup(sock.close)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        return sock

    @staticmethod
    def recv_until_close(sock: socket.socket) -> bytes:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data

    def curl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CURL, "-s", *args], capture_output=True, timeout=20)

    def control_requests(self) -> list[dict]:
        resp, body = self.fetch("/_control/requests")
        self.assertEqual(resp.status, 200)
        return json.loads(body)

    def control_reset(self) -> None:
        resp, body = self.fetch("/_control/reset", method="POST")
        self.assertEqual((resp.status, body), (200, b"ok"))

    # ---- plain content -----------------------------------------------------

    def test_full_get(self):
        resp, body = self.fetch("/data.bin")
        self.assertEqual(resp.status, 200)
        self.assertEqual(body, DATA)
        st = os.stat(os.path.join(self.root, "data.bin"))
        self.assertEqual(resp.getheader("Content-Length"), "1000")
        self.assertEqual(resp.getheader("Accept-Ranges"), "bytes")
        self.assertEqual(resp.getheader("Content-Type"), "application/octet-stream")
        self.assertEqual(resp.getheader("Last-Modified"), faultserver.http_date(int(st.st_mtime)))
        self.assertEqual(resp.getheader("ETag"), f'"1000-{st.st_mtime_ns:x}"')

    def test_head(self):
        get, _ = self.fetch("/data.bin")
        resp, body = self.fetch("/data.bin", method="HEAD")
        self.assertEqual(resp.status, 200)
        self.assertEqual(body, b"")
        for name in ("Content-Length", "ETag", "Last-Modified", "Accept-Ranges", "Content-Type"):
            self.assertEqual(resp.getheader(name), get.getheader(name), name)

    def test_missing_and_escape(self):
        resp, body = self.fetch("/does-not-exist")
        self.assertEqual(resp.status, 404)
        self.assertTrue(body)
        for target in ("/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/sub/../../x"):
            resp, _ = self.fetch(target)
            self.assertEqual(resp.status, 403, target)

    def test_query_is_not_part_of_path(self):
        resp, body = self.fetch("/small.txt?tag=anything&x=1")
        self.assertEqual((resp.status, body), (200, b"small file\n"))

    def test_bad_switch_is_400(self):
        for query in ("fault=bogus", "after=-1&fault=drop", "rate=0", "auth=ntlm"):
            resp, _ = self.fetch(f"/data.bin?{query}")
            self.assertEqual(resp.status, 400, query)

    # ---- ranges ------------------------------------------------------------

    def test_single_ranges(self):
        cases = {
            "bytes=100-": (100, 999),
            "bytes=100-199": (100, 199),
            "bytes=-50": (950, 999),
            "bytes=990-5000": (990, 999),
            "bytes=0-0": (0, 0),
        }
        conn = self.connect()
        for header, (first, last) in cases.items():
            resp, body = self.fetch("/data.bin", headers={"Range": header}, conn=conn)
            self.assertEqual(resp.status, 206, header)
            self.assertEqual(resp.getheader("Content-Range"), f"bytes {first}-{last}/1000")
            self.assertEqual(body, DATA[first:last + 1], header)

    def test_invalid_range_is_ignored(self):
        resp, body = self.fetch("/data.bin", headers={"Range": "bytes=abc"})
        self.assertEqual((resp.status, body), (200, DATA))

    def test_unsatisfiable_range(self):
        conn = self.connect()
        resp, _ = self.fetch("/data.bin", headers={"Range": "bytes=5000-"}, conn=conn)
        self.assertEqual(resp.status, 416)
        self.assertEqual(resp.getheader("Content-Range"), "bytes */1000")
        # The connection stays usable after a 416.
        resp, body = self.fetch("/data.bin", conn=conn)
        self.assertEqual((resp.status, body), (200, DATA))

    def test_multipart_ranges(self):
        resp, body = self.fetch("/data.bin", headers={"Range": "bytes=0-9,20-29,-5"})
        self.assertEqual(resp.status, 206)
        ctype = resp.getheader("Content-Type")
        m = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", ctype)
        self.assertIsNotNone(m, ctype)
        self.assertEqual(int(resp.getheader("Content-Length")), len(body))
        segments = body.split(b"--" + m[1].encode())
        self.assertEqual(segments[0], b"")
        self.assertEqual(segments[-1], b"--\r\n")
        parts = []
        for seg in segments[1:-1]:
            head, _, data = seg.partition(b"\r\n\r\n")
            self.assertTrue(data.endswith(b"\r\n"))
            crange = re.search(rb"Content-Range: bytes (\d+)-(\d+)/1000", head)
            parts.append((int(crange[1]), int(crange[2]), data[:-2]))
        self.assertEqual([(a, b) for a, b, _ in parts], [(0, 9), (20, 29), (995, 999)])
        for first, last, data in parts:
            self.assertEqual(data, DATA[first:last + 1])

    def test_if_range(self):
        full, _ = self.fetch("/data.bin")
        etag, lastmod = full.getheader("ETag"), full.getheader("Last-Modified")
        cases = [(etag, 206), ('"stale-etag"', 200), ("W/" + etag, 200),
                 (lastmod, 206), ("Mon, 01 Jan 2001 00:00:00 GMT", 200)]
        for value, status in cases:
            resp, body = self.fetch("/data.bin", headers={"Range": "bytes=10-19", "If-Range": value})
            self.assertEqual(resp.status, status, value)
            self.assertEqual(body, DATA[10:20] if status == 206 else DATA, value)

    # ---- faults ------------------------------------------------------------

    def test_drop(self):
        conn = self.connect()
        conn.request("GET", "/data.bin?fault=drop&after=100")
        resp = conn.getresponse()
        self.assertEqual(resp.getheader("Content-Length"), "1000")
        with self.assertRaises(http.client.IncompleteRead) as ctx:
            resp.read()
        self.assertEqual(ctx.exception.partial, DATA[:100])
        # At the socket level the connection ends with a clean FIN.
        raw = self.recv_until_close(self.raw_request("/data.bin?fault=drop&after=100"))
        self.assertTrue(raw.endswith(b"\r\n\r\n" + DATA[:100]))

    def test_reset(self):
        sock = self.raw_request("/data.bin?fault=reset&after=100")
        time.sleep(0.2)
        with self.assertRaises(ConnectionResetError):
            self.recv_until_close(sock)

    def test_stall(self):
        start = time.monotonic()
        sock = self.raw_request("/data.bin?fault=stall&after=100&seconds=1.5", timeout=0.5)
        data = b""
        with self.assertRaises(socket.timeout):
            while chunk := sock.recv(65536):
                data += chunk
        self.assertTrue(data.endswith(b"\r\n\r\n" + DATA[:100]))
        sock.settimeout(5)
        self.assertEqual(sock.recv(65536), b"")  # closed after the stall
        self.assertGreaterEqual(time.monotonic() - start, 1.4)

    def test_status_and_retry_after(self):
        conn = self.connect()
        resp, body = self.fetch("/data.bin?fault=status&code=503&retry-after=7", conn=conn)
        self.assertEqual(resp.status, 503)
        self.assertEqual(resp.getheader("Retry-After"), "7")
        self.assertTrue(body)
        for code in (500, 404, 408, 429, 403):
            resp, _ = self.fetch(f"/data.bin?fault=status&code={code}", conn=conn)
            self.assertEqual(resp.status, code)
            self.assertIsNone(resp.getheader("Retry-After"))
        # Status faults do not need the file to exist.
        resp, _ = self.fetch("/missing?fault=status&code=500", conn=conn)
        self.assertEqual(resp.status, 500)

    def test_norange(self):
        resp, body = self.fetch("/data.bin?fault=norange", headers={"Range": "bytes=0-9"})
        self.assertEqual((resp.status, body), (200, DATA))
        self.assertIsNone(resp.getheader("Accept-Ranges"))
        self.assertIsNone(resp.getheader("Content-Range"))

    def test_nolength(self):
        resp, body = self.fetch("/data.bin?fault=nolength", headers={"Range": "bytes=0-9"})
        self.assertEqual((resp.status, body), (200, DATA))
        self.assertIsNone(resp.getheader("Content-Length"))
        self.assertIsNone(resp.getheader("Accept-Ranges"))
        self.assertEqual(resp.getheader("Connection"), "close")

    def test_rate(self):
        start = time.monotonic()
        resp, body = self.fetch("/_gen/20000?rate=40000")
        elapsed = time.monotonic() - start
        self.assertEqual(body, gen_bytes(0, 20000))
        self.assertGreater(elapsed, 0.4)
        self.assertLess(elapsed, 3.0)

    def test_rate_combines_with_drop(self):
        start = time.monotonic()
        conn = self.connect()
        conn.request("GET", "/_gen/100000?rate=20000&fault=drop&after=10000")
        resp = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead) as ctx:
            resp.read()
        self.assertEqual(len(ctx.exception.partial), 10000)
        self.assertGreater(time.monotonic() - start, 0.4)

    def test_delay(self):
        start = time.monotonic()
        resp, body = self.fetch("/small.txt?delay=0.5")
        self.assertEqual(resp.status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.45)

    def test_times(self):
        target = "/data.bin?fault=status&code=503&times=2&tag=times"
        conn = self.connect()
        statuses = [self.fetch(target, conn=conn)[0].status for _ in range(3)]
        self.assertEqual(statuses, [503, 503, 200])
        # A different query string is a different key.
        resp, _ = self.fetch(target + "2", conn=conn)
        self.assertEqual(resp.status, 503)
        # Reset clears the counters.
        self.control_reset()
        self.assertEqual(self.fetch(target, conn=conn)[0].status, 503)

    def test_times_with_drop_then_resume(self):
        target = "/data.bin?fault=drop&after=300&times=1&tag=resume"
        conn = self.connect()
        conn.request("GET", target)
        with self.assertRaises(http.client.IncompleteRead):
            conn.getresponse().read()
        resp, body = self.fetch(target, headers={"Range": "bytes=300-"})
        self.assertEqual((resp.status, body), (206, DATA[300:]))

    def test_redirect(self):
        resp, _ = self.fetch("/data.bin?redirect=/small.txt")
        self.assertEqual(resp.status, 302)
        self.assertEqual(resp.getheader("Location"), "/small.txt")
        resp, _ = self.fetch("/data.bin?redirect=%2Fsmall.txt&code=307")
        self.assertEqual((resp.status, resp.getheader("Location")), (307, "/small.txt"))
        out = self.curl("-L", self.url("/data.bin?redirect=%2Fsmall.txt&code=301"))
        self.assertEqual(out.stdout, b"small file\n")

    def test_basic_auth(self):
        target = "/small.txt?auth=basic&user=alice&pass=s3cret"
        resp, _ = self.fetch(target)
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.getheader("WWW-Authenticate"), 'Basic realm="bitsd-test"')
        bad = {"Authorization": "Basic YWxpY2U6d3Jvbmc="}  # alice:wrong
        self.assertEqual(self.fetch(target, headers=bad)[0].status, 401)
        good = {"Authorization": "Basic YWxpY2U6czNjcmV0"}  # alice:s3cret
        resp, body = self.fetch(target, headers=good)
        self.assertEqual((resp.status, body), (200, b"small file\n"))

    def test_digest_auth(self):
        target = "/data.bin?auth=digest&user=alice&pass=s3cret"
        resp, _ = self.fetch(target)
        self.assertEqual(resp.status, 401)
        challenge = resp.getheader("WWW-Authenticate")
        self.assertTrue(challenge.startswith("Digest "), challenge)
        self.assertIn('qop="auth"', challenge)
        out = self.curl("--digest", "-u", "alice:s3cret", "-w", "\n%{http_code}", self.url(target))
        self.assertEqual(out.stdout, DATA + b"\n200")
        out = self.curl("--digest", "-u", "alice:wrong", "-o", "/dev/null", "-w", "%{http_code}",
                        self.url(target))
        self.assertEqual(out.stdout, b"401")

    def test_lastmod(self):
        resp, _ = self.fetch("/data.bin?lastmod=1600000000")
        self.assertEqual(resp.getheader("Last-Modified"), "Sun, 13 Sep 2020 12:26:40 GMT")
        self.assertEqual(resp.getheader("ETag"), f'"1000-{1600000000 * 10**9:x}"')
        resp, body = self.fetch("/data.bin?lastmod=1600000000",
                                headers={"Range": "bytes=0-3",
                                         "If-Range": "Sun, 13 Sep 2020 12:26:40 GMT"})
        self.assertEqual((resp.status, body), (206, DATA[:4]))

    def test_lastmod_text(self):
        text = "Sat, 01 Jan 999999 00:00:00 GMT"
        resp, body = self.fetch("/data.bin?lastmod-text=" + text.replace(" ", "%20"))
        self.assertEqual((resp.status, body), (200, DATA))
        self.assertEqual(resp.getheader("Last-Modified"), text)
        resp, _ = self.fetch("/data.bin?lastmod-text=a%0Db")
        self.assertEqual(resp.status, 400)

    def test_headerpad(self):
        for pad in (1, 5000, 200_000):
            sock = self.raw_request(f"/data.bin?headerpad={pad}")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, "connection closed inside the header block")
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            padding = [line for line in lines if line.startswith(b"X-Pad-")]
            self.assertTrue(padding)
            self.assertTrue(all(len(line) + 2 <= 1000 for line in padding))
            self.assertLessEqual(abs(sum(len(line) + 2 for line in padding) - pad), 20)
            # The regular headers come first, then the padding.
            names = [line.split(b":")[0] for line in lines[1:]]
            self.assertLess(names.index(b"Content-Length"), names.index(padding[0].split(b":")[0]))
            while len(rest) < len(DATA):
                chunk = sock.recv(65536)
                self.assertTrue(chunk)
                rest += chunk
            self.assertEqual(rest, DATA)
        self.assertEqual(list(faultserver.pad_header_lines(0)), [])

    # ---- generated content --------------------------------------------------

    def test_corrupt(self):
        resp, body = self.fetch("/data.bin?fault=corrupt&after=10")
        self.assertEqual((resp.status, len(body)), (200, len(DATA)))
        expected = bytearray(DATA)
        expected[10] ^= 0xFF
        self.assertEqual(body, bytes(expected))
        # With times=1, only the first answer is corrupt.
        target = "/data.bin?fault=corrupt&after=999&times=1&tag=corrupt-once"
        first = self.fetch(target)[1]
        second = self.fetch(target)[1]
        self.assertNotEqual(first, DATA)
        self.assertEqual(first[:999], DATA[:999])
        self.assertEqual(second, DATA)

    def test_digest_fields(self):
        import base64
        import hashlib
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()
        resp, body = self.fetch("/data.bin?digest=sha-256")
        self.assertEqual(body, DATA)
        self.assertEqual(resp.getheader("Repr-Digest"), f"sha-256=:{b64(hashlib.sha256(DATA).digest())}:")
        resp, _ = self.fetch("/data.bin?digest=sha-256,sha-512&digest-field=Content-Digest")
        self.assertIsNone(resp.getheader("Repr-Digest"))
        self.assertEqual(resp.getheader("Content-Digest"),
                         f"sha-256=:{b64(hashlib.sha256(DATA).digest())}:, sha-512=:{b64(hashlib.sha512(DATA).digest())}:")
        resp, _ = self.fetch("/data.bin?digest=sha-256&digest-lie=1")
        wrong = bytearray(hashlib.sha256(DATA).digest())
        wrong[0] ^= 1
        self.assertEqual(resp.getheader("Repr-Digest"), f"sha-256=:{b64(bytes(wrong))}:")
        resp, _ = self.fetch("/data.bin?digest-raw=sha-256%3D%3Anot%20base64")
        self.assertEqual(resp.getheader("Repr-Digest"), "sha-256=:not base64")
        # Not on a partial answer.
        resp, body = self.fetch("/data.bin?digest=sha-256", headers={"Range": "bytes=0-9"})
        self.assertEqual((resp.status, resp.getheader("Repr-Digest")), (206, None))
        resp, _ = self.fetch("/data.bin?digest=md5")
        self.assertEqual(resp.status, 400)

    def test_gen_bytes_formula(self):
        for offset in (0, 1, 255, 256, 65535, 65536, 123457, 10**9 + 7, 5 * 2**30 - 3):
            expected = bytes(((i * 7 + (i >> 8)) & 0xFF) for i in range(offset, offset + 300))
            self.assertEqual(gen_bytes(offset, 300), expected, offset)
        self.assertEqual(len(gen_bytes(12345, 200000)), 200000)
        self.assertEqual(gen_bytes(12345, 200000)[65536:65636], gen_bytes(12345 + 65536, 100))

    def test_gen_content(self):
        resp, body = self.fetch("/_gen/1M")
        self.assertEqual(resp.status, 200)
        self.assertEqual(body, gen_bytes(0, 1 << 20))
        self.assertEqual(resp.getheader("ETag"), f'"gen-{1 << 20}"')
        self.assertEqual(resp.getheader("Last-Modified"), "Wed, 01 Jan 2020 00:00:00 GMT")
        resp, body = self.fetch("/_gen/1G", headers={"Range": "bytes=1000000000-1000150000"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(body, gen_bytes(1000000000, 150001))
        resp, _ = self.fetch("/_gen/4G", method="HEAD")
        self.assertEqual(resp.getheader("Content-Length"), str(4 << 30))
        self.assertEqual(self.fetch("/_gen/12X")[0].status, 404)
        self.assertEqual(self.fetch("/_gen/123")[1], gen_bytes(0, 123))

    def test_gen_with_fault(self):
        conn = self.connect()
        conn.request("GET", "/_gen/1M?fault=drop&after=70000")
        with self.assertRaises(http.client.IncompleteRead) as ctx:
            conn.getresponse().read()
        self.assertEqual(ctx.exception.partial, gen_bytes(0, 70000))

    # ---- control endpoints and connection reuse ------------------------------

    def test_control_endpoints(self):
        resp, body = self.fetch("/_control/health")
        self.assertEqual((resp.status, body), (200, b"ok"))
        self.assertEqual(self.fetch("/_control/reset")[0].status, 405)
        self.control_reset()
        conn = self.connect()
        self.fetch("/data.bin?tag=ctl", headers={"Range": "bytes=0-9"}, conn=conn)
        self.fetch("/missing", conn=conn)
        self.fetch("/small.txt", conn=conn)
        self.fetch("/small.txt?fault=status&code=503")  # a second connection
        log = self.control_requests()
        self.assertEqual([r["path"] for r in log],
                         ["/data.bin", "/missing", "/small.txt", "/small.txt"])
        first = log[0]
        self.assertEqual(first["method"], "GET")
        self.assertEqual(first["query"], "tag=ctl")
        self.assertEqual(first["range"], "bytes=0-9")
        self.assertIsNone(first["if_range"])
        self.assertEqual(first["headers"]["Range"], "bytes=0-9")
        self.assertEqual((first["status"], first["body_bytes_sent"]), (206, 10))
        self.assertEqual([r["status"] for r in log], [206, 404, 200, 503])
        ids = [r["connection_id"] for r in log]
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(ids[1], ids[2])
        self.assertNotEqual(ids[2], ids[3])
        self.control_reset()
        self.assertEqual(self.control_requests(), [])

    def test_libcurl_reuses_connection(self):
        out = self.curl("-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n",
                        self.url("/data.bin"), self.url("/missing"))
        self.assertEqual(out.stdout.split(), [b"1", b"0"])

    # ---- PUT ---------------------------------------------------------------

    def test_put(self):
        resp, _ = self.fetch("/up/nested/file.bin", method="PUT", body=b"uploaded")
        self.assertEqual(resp.status, 201)
        with open(os.path.join(self.root, "up/nested/file.bin"), "rb") as f:
            self.assertEqual(f.read(), b"uploaded")
        resp, _ = self.fetch("/../escape.bin", method="PUT", body=b"x")
        self.assertEqual(resp.status, 403)

    def test_put_expect_continue(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(sock.close)
        sock.sendall(b"PUT /up/expect.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        self.assertEqual(sock.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        self.assertTrue(sock.recv(1000).startswith(b"HTTP/1.1 201"))
        with open(os.path.join(self.root, "up/expect.bin"), "rb") as f:
            self.assertEqual(f.read(), b"hello")

    def test_put_with_curl(self):
        src = os.path.join(self.tmp, "upload.bin")
        payload = gen_bytes(3, 300000)
        with open(src, "wb") as f:
            f.write(payload)
        out = self.curl("-T", src, "-H", "Expect: 100-continue", "-w", "%{http_code}",
                        "-o", "/dev/null", self.url("/up/curl.bin"))
        self.assertEqual(out.stdout, b"201")
        # Chunked upload from stdin.
        chunked = subprocess.run([CURL, "-s", "-T", "-", "-o", "/dev/null", "-w", "%{http_code}",
                                  self.url("/up/chunked.bin")],
                                 input=payload, capture_output=True, timeout=20)
        self.assertEqual(chunked.stdout, b"201")
        for name in ("curl.bin", "chunked.bin"):
            with open(os.path.join(self.root, "up", name), "rb") as f:
                self.assertEqual(f.read(), payload, name)

    def test_put_faults(self):
        resp, _ = self.fetch("/up/never.bin?fault=status&code=503", method="PUT", body=b"x" * 10)
        self.assertEqual(resp.status, 503)
        self.assertEqual(resp.getheader("Connection"), "close")
        src = os.path.join(self.tmp, "upload-drop.bin")
        with open(src, "wb") as f:
            f.write(gen_bytes(0, 500000))
        out = self.curl("-T", src, self.url("/up/dropped.bin?fault=drop&after=1000"))
        self.assertNotEqual(out.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.root, "up/never.bin")))
        self.assertFalse(os.path.exists(os.path.join(self.root, "up/dropped.bin")))


class LifecycleTest(unittest.TestCase):
    def test_port_file_and_sigterm(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc, port, port_file = start_server(tmp, tmp)
            with open(port_file) as f:
                self.assertEqual(f.read(), f"{port}\n")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/_control/health")
            self.assertEqual(conn.getresponse().read(), b"ok")
            conn.close()
            self.assertEqual(stop_server(proc), 0)

    def test_rejects_non_loopback_bind(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, SERVER, "--root", tmp, "--bind", "0.0.0.0"],
                                 capture_output=True, timeout=10)
            self.assertEqual(out.returncode, 2)
            self.assertIn(b"127.0.0.1", out.stderr)


if __name__ == "__main__":
    unittest.main()
