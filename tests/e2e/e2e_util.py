"""Helpers for the end-to-end tests: processes, upstream servers and raw HTTP/1 framing.

Everything here binds 127.0.0.1 port 0 and reads the port back; every wait has a timeout
and every loop a bound. conftest.py turns these into fixtures.
"""
import gzip
import hashlib
import http.server
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("MITMC_BIN") or os.path.join(ROOT, "build", "mitmc"))
IS_MITMDUMP = os.path.basename(BIN) == "mitmdump"
mitmc_only = pytest.mark.skipif(IS_MITMDUMP, reason="mitmc-only option or behaviour (mitmdump differs)")


def mitmdump_differs(reason):
    """Where mitmc is deliberately stricter than mitmdump 8.1.1: an expected failure in the
    reference run (strict, so the list stays accurate), a normal test for mitmc."""
    return pytest.mark.xfail(IS_MITMDUMP, reason="mitmdump 8.1.1: " + reason, strict=True)

IO_TIMEOUT = 10.0  # seconds for any single socket read/wait in the helpers (a liveness bound)
MAX_HEAD = 1 << 20  # a head larger than this is a harness error, not a proxy behaviour


# --------------------------------------------------------------------------- raw HTTP/1 framing

class Closed(Exception):
    """The peer closed the connection before a complete message arrived."""


class Reader:
    """Buffered reads from a socket, with a per-call timeout."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.buf = bytearray()
        self.sock.settimeout(timeout)
        self.raw = bytearray()  # every byte received, for exact-byte assertions

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed(bytes(self.buf))
        self.buf += data
        self.raw += data

    def until(self, delim, limit=MAX_HEAD):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (delim, limit))
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def to_eof(self, limit=64 << 20):
        try:
            while len(self.buf) <= limit:
                self._fill()
        except Closed:
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def at_eof(self, timeout=IO_TIMEOUT):
        """True if the peer closes (or resets) with no further bytes within timeout."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def parse_head(head):
    """b"LINE\\r\\nName: v\\r\\n...\\r\\n\\r\\n" -> (first line str, [(name, value) str])."""
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
    return lines[0], headers


def header(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return default


def read_chunked(rd):
    """Decode a chunked body (RFC 9112 §7.1), returning (body, raw bytes including framing)."""
    body, raw = bytearray(), bytearray()
    for _ in range(1 << 20):
        line = rd.until(b"\r\n", 1024)
        raw += line
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            for _ in range(1000):  # trailers
                t = rd.until(b"\r\n")
                raw += t
                if t == b"\r\n":
                    return bytes(body), bytes(raw)
            raise ValueError("too many trailers")
        data = rd.exactly(size + 2)
        raw += data
        body += data[:-2]
    raise ValueError("too many chunks")


class Response:
    def __init__(self, status_line, headers, body, head_raw, body_raw, chunked, interim):
        self.status_line = status_line
        self.status = int(status_line.split(" ")[1])
        self.version = status_line.split(" ")[0]
        self.headers = headers
        self.body = body
        self.head_raw = head_raw
        self.body_raw = body_raw
        self.chunked = chunked
        self.interim = interim  # list of 1xx heads received before this response

    def header(self, name, default=None):
        return header(self.headers, name, default)

    def __repr__(self):
        return "<Response %r %r %r>" % (self.status_line, self.headers, self.body[:200])


def read_response(rd, method="GET"):
    """Read one response from a Reader; 1xx responses are collected in .interim."""
    interim = []
    for _ in range(100):
        head = rd.until(b"\r\n\r\n")
        status_line, headers = parse_head(head)
        status = int(status_line.split(" ")[1])
        if 100 <= status < 200 and status != 101:
            interim.append(head)
            continue
        break
    else:
        raise ValueError("too many 1xx responses")
    te = (header(headers, "transfer-encoding") or "").lower()
    cl = header(headers, "content-length")
    chunked = False
    if method == "HEAD" or status in (204, 304):
        body = body_raw = b""
    elif "chunked" in te:
        chunked = True
        body, body_raw = read_chunked(rd)
    elif cl is not None:
        body = body_raw = rd.exactly(int(cl))
    else:
        body = body_raw = rd.to_eof()
    return Response(status_line, headers, body, head, body_raw, chunked, interim)


def read_request(rd):
    """Read one request (head + body framed by CL or chunked); returns the raw bytes."""
    head = rd.until(b"\r\n\r\n")
    _, headers = parse_head(head)
    te = (header(headers, "transfer-encoding") or "").lower()
    cl = header(headers, "content-length")
    if "chunked" in te:
        return head + read_chunked(rd)[1]
    if cl is not None:
        return head + rd.exactly(int(cl))
    return head


def connect(port, host="127.0.0.1", timeout=IO_TIMEOUT):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(port, data, method="GET", timeout=IO_TIMEOUT):
    """Send raw bytes on a new connection to port and read one response."""
    with connect(port) as s:
        s.sendall(data)
        return read_response(Reader(s, timeout), method)


# --------------------------------------------------------------------------- processes

def stop_process(proc, timeout=10.0):
    """SIGTERM, wait, then SIGKILL: by PID, never by name. Returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
            return None  # did not shut down in time
    return proc.returncode


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Proxy:
    """A running mitmc (or mitmdump) process with its stdout/stderr captured by threads."""

    LISTEN_RE = re.compile(r"listening at (\S+):(\d+)")

    def __init__(self, argv, env, wait_listen=True, timeout=15.0):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.pid = self.proc.pid
        self.out_lines = []
        self.err_lines = []
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.out_lines),
                                         daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err_lines),
                                         daemon=True)]
        for t in self.threads:
            t.start()
        self.port = None
        self.returncode = None
        if wait_listen:
            m = self.wait_stdout(self.LISTEN_RE, timeout)
            if m is None:
                self.stop(check=False)
                raise AssertionError("no 'listening at' line within %.0fs from %r\nstdout: %s\nstderr: %s"
                                     % (timeout, argv, self.stdout, self.stderr))
            self.port = int(m.group(2))
        else:
            self.port = self._wait_proc_listen(timeout)

    def _pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self.cond:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _wait_proc_listen(self, timeout):
        """Find the port our process listens on from /proc (for -q, which prints nothing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            ports = listening_ports(self.pid)
            if ports:
                return ports[0]
            time.sleep(0.05)
        self.stop(check=False)
        raise AssertionError("process %r is not listening after %.0fs\nstderr: %s"
                             % (self.argv, timeout, self.stderr))

    @property
    def stdout(self):
        with self.cond:
            return "\n".join(self.out_lines)

    @property
    def stderr(self):
        with self.cond:
            return "\n".join(self.err_lines)

    def wait_stdout(self, pattern, timeout=IO_TIMEOUT):
        """Wait until a stdout line matches the regex; returns the match or None."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = 0
            while True:
                for line in self.out_lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.out_lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(t.is_alive() for t in self.threads)):
                    return None
                self.cond.wait(min(left, 0.2))

    def stop(self, check=True):
        """Stop by PID; with check, assert a clean exit (status 0) and no sanitizer report."""
        if self.returncode is None:
            self.returncode = stop_process(self.proc)
            for t in self.threads:
                t.join(5)
        if check:
            err = self.stderr
            for marker in SANITIZER_MARKERS:
                assert marker not in err, "sanitizer report from %s:\n%s" % (self.argv[0], err)
            assert self.returncode == 0, "%r exited with %r after SIGTERM\nstderr: %s" % (
                self.argv, self.returncode, err[-4000:])


def listening_ports(pid):
    """TCP ports in LISTEN state owned by pid, read from /proc (no ss/netstat needed)."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    ports = []
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


# --------------------------------------------------------------------------- upstream servers

class RawConn:
    """One accepted upstream connection; .reader.raw holds every byte it received."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = Reader(sock)

    @property
    def data(self):
        return bytes(self.reader.raw)

    def read_request(self):
        """One complete request, or None at EOF."""
        try:
            return read_request(self.reader)
        except (Closed, ConnectionResetError, socket.timeout):
            return None


class RawUpstream:
    """A threaded TCP server on 127.0.0.1:0 that records the exact bytes each connection
    received. Behaviour per connection: handler(conn) if given, else for each complete request
    send `reply` (bytes, or a function of the request bytes) and close if close=True."""

    def __init__(self, reply=None, handler=None, close=False):
        self.reply = reply
        self.handler = handler
        self.close = close
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            conn = RawConn(s)
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.handler:
                self.handler(conn)
                return
            for _ in range(1000):
                req = conn.read_request()
                if req is None:
                    return
                out = self.reply(req) if callable(self.reply) else self.reply
                conn.sock.sendall(out)
                if self.close:
                    return
        except OSError:
            pass
        finally:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()

    def received(self):
        """All bytes received, concatenated in accept order."""
        with self.lock:
            return b"".join(c.data for c in self.conns)

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(5)


def free_port():
    """A TCP port nothing listens on right now (bound and released; the proxy binds it next)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def body_bytes(n):
    """Deterministic, incompressible-looking body of n bytes."""
    out = bytearray()
    block = hashlib.sha256(b"mitmc").digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64  # 2 KiB per round; content need not be random, only varied
    return bytes(out[:n])


GZIP_PLAIN = b"mitmc gzip body " * 200
GZIP_BODY = gzip.compress(GZIP_PLAIN, mtime=0)


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """Endpoints for curl tests (any method):
      /echo          200, body = request body, X-Method = method, X-Body-Sha256
      /sha256        200, body = hex sha256 of the request body
      /size/N        200, N bytes of body_bytes(N) with Content-Length
      /chunked/N     200, the same N bytes in chunked encoding (16 KiB chunks)
      /gzip          200, Content-Encoding: gzip, the fixed GZIP_BODY
    """
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            for _ in range(1 << 20):
                size = int(self.rfile.readline(1024).split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline(16)
            raise ValueError("too many chunks")
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status, body, headers=(), chunked=False):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if chunked:
            for i in range(0, len(body), 16384):
                part = body[i:i + 16384]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)

    def _dispatch(self):
        body = self._read_body()
        path = self.path.split("?")[0]
        if path.startswith("http://"):  # a proxy that forwarded absolute-form
            path = "/" + path.split("/", 3)[3]
        parts = path.strip("/").split("/")
        if parts[0] == "echo":
            self._send(200, body, [("X-Method", self.command),
                                   ("X-Body-Sha256", hashlib.sha256(body).hexdigest())])
        elif parts[0] == "sha256":
            self._send(200, hashlib.sha256(body).hexdigest().encode())
        elif parts[0] in ("size", "chunked") and len(parts) == 2:
            self._send(200, body_bytes(int(parts[1])), chunked=parts[0] == "chunked")
        elif parts[0] == "gzip":
            self._send(200, GZIP_BODY, [("Content-Encoding", "gzip"), ("Content-Type", "text/plain")])
        else:
            self._send(404, b"not found\n")


class HttpUpstream:
    """EchoHandler on 127.0.0.1:0; .requests records each request as it arrived (method,
    path as sent, header list in order, body)."""

    def __init__(self):
        self.requests = []
        outer = self

        class Recording(EchoHandler):
            def _read_body(self):
                body = EchoHandler._read_body(self)
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": list(self.headers.items()), "body": body})
                return body

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class TcpServer:
    """A TCP server on 127.0.0.1:0. echo: sends back what it reads; banner: sends it first.
    .received holds every byte it got."""

    def __init__(self, banner=b"", echo=True):
        self.banner, self.echo = banner, echo
        self.received = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        try:
            if self.banner:
                c.sendall(self.banner)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                self.received += d
                if self.echo:
                    c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
