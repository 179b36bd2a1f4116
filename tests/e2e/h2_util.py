"""HTTP/2 helpers for the end-to-end tests: an h2-only TLS upstream (python3-h2), an
HTTP/1.1-only TLS upstream with the same routes, and an h2 client through a CONNECT tunnel.

Routes of both upstreams:
  GET  /size/N     N bytes of a fixed pattern (body(N)), with Content-Length
  POST /echo       "LEN SHA256" of the request body
  GET  /trailers   "ok" with a trailer x-checksum: done
  anything else    "hello PATH"
Each upstream records the requests it got (.requests: dicts of method, path, headers as a
list of (name, value) byte pairs, body length) so a test can check what arrived."""
import hashlib
import select
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

import e2e_util as u


def body(n):
    """n bytes of a pattern that catches reordering and loss."""
    pat = bytes(range(251))
    return (pat * (n // 251 + 1))[:n]


def route(method, path, data):
    """(status, headers, body, trailers) for a request."""
    if path.startswith("/size/"):
        b = body(int(path[6:]))
    elif path == "/echo":
        b = ("%d %s" % (len(data), hashlib.sha256(data).hexdigest())).encode()
    elif path == "/trailers":
        return 200, [], b"ok", [(b"x-checksum", b"done")]
    else:
        b = ("hello " + path).encode()
    return 200, [(b"content-type", b"application/octet-stream")], b, None


def _tls_context(cert, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    ctx.set_alpn_protocols(alpn)
    return ctx


class _Server:
    """Accepts on 127.0.0.1:0, one thread per connection; stop() closes everything."""

    def __init__(self, cert, alpn):
        self.ctx = _tls_context(cert, alpn)
        self.requests = []
        self.connections = 0
        self.errors = []  # why a connection ended abnormally
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.threads = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self._run, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, c):
        try:
            c.settimeout(10)
            s = self.ctx.wrap_socket(c, server_side=True)
            self.serve(s)
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError) as e:
            self.errors.append(repr(e))
        finally:
            c.close()

    def record(self, method, path, headers, n):
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "len": n})

    def stop(self):
        self.stopping = True
        self.accepter.join(5)
        self.sock.close()
        for t in self.threads:
            t.join(5)


def frames(data):
    """Split raw HTTP/2 bytes (after any preface) into (type, flags, stream id, payload)."""
    out, i = [], 0
    while i + 9 <= len(data):
        n = int.from_bytes(data[i:i + 3], "big")
        out.append((data[i + 3], data[i + 4], int.from_bytes(data[i + 5:i + 9], "big") & 0x7FFFFFFF,
                    data[i + 9:i + 9 + n]))
        i += 9 + n
    return out


PING = 6


def strip_ping_acks(data):
    """data without its PING ACK frames (a peer that never answers a PING)."""
    return b"".join(bytes([len(p) >> 16, (len(p) >> 8) & 255, len(p) & 255, t, f]) + sid.to_bytes(4, "big") + p
                    for t, f, sid, p in frames(data) if not (t == PING and f & 1))


class H2Upstream(_Server):
    """An HTTP/2-only TLS server (ALPN h2). .pings: (monotonic time, raw 17-byte frame) of
    every PING frame received (found in the raw bytes of each connection, .raw); with
    ack_pings=False it never answers them. close_after=n: GOAWAY and close a connection once
    it has answered n requests."""

    def __init__(self, cert, ack_pings=True, close_after=0):
        super().__init__(cert, ["h2"])
        self.alpn = []
        self.ack_pings = ack_pings
        self.close_after = close_after
        self.pings = []
        self.raw = []  # bytearray per connection: everything it received

    def _out(self, s, conn):
        d = conn.data_to_send()
        if d and not self.ack_pings:
            d = strip_ping_acks(d)
        if d:
            s.sendall(d)

    def serve(self, s):
        self.alpn.append(s.selected_alpn_protocol())
        raw = bytearray()
        with self.lock:
            self.raw.append(raw)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        conn.initiate_connection()
        self._out(s, conn)
        streams = {}  # id -> [headers, bytearray]
        pending = {}  # id -> [bytes left, trailers]
        deadline = time.monotonic() + 60
        answered = 0
        while not self.stopping and time.monotonic() < deadline:
            self._send_pending(conn, pending)
            self._out(s, conn)
            if self.close_after and answered >= self.close_after and not pending:
                conn.close_connection()
                self._out(s, conn)
                # read until the peer closes too: closing with its bytes unread would send a
                # RST that can destroy the response still in its receive queue
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    r, _, _ = select.select([s], [], [], 0.2)
                    if (r or s.pending()) and not s.recv(65536):
                        break
                return
            r, _, _ = select.select([s], [], [], 0.2)
            if not r and not s.pending():
                continue
            data = s.recv(65536)
            if not data:
                return
            raw += data
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.PingReceived):
                    with self.lock:
                        self.pings.append((time.monotonic(), ev.ping_data))
                if isinstance(ev, h2.events.RequestReceived):
                    streams[ev.stream_id] = [ev.headers, bytearray()]
                elif isinstance(ev, h2.events.DataReceived):
                    if ev.stream_id in streams:
                        streams[ev.stream_id][1] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in streams:
                    self._respond(conn, ev.stream_id, streams.pop(ev.stream_id), pending)
                    answered += 1
                elif isinstance(ev, h2.events.StreamReset):
                    streams.pop(ev.stream_id, None)
                    pending.pop(ev.stream_id, None)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self._out(s, conn)
                    return

    def _respond(self, conn, sid, req, pending):
        headers, data = req
        h = dict(headers)
        method, path = h[b":method"].decode(), h[b":path"].decode()
        self.record(method, path, headers, len(data))
        status, rh, b, trailers = route(method, path, bytes(data))
        out = [(b":status", str(status).encode())] + rh
        if trailers is None:
            out.append((b"content-length", str(len(b)).encode()))
        conn.send_headers(sid, out)
        pending[sid] = [b, trailers]

    @staticmethod
    def _send_pending(conn, pending):
        for sid in list(pending):
            b, trailers = pending[sid]
            try:
                while b:
                    n = min(len(b), conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                    if n <= 0:
                        break
                    conn.send_data(sid, b[:n])
                    b = b[n:]
                if not b:
                    if trailers:
                        conn.send_headers(sid, trailers, end_stream=True)
                    else:
                        conn.end_stream(sid)
                    del pending[sid]
                else:
                    pending[sid][0] = b
            except h2.exceptions.StreamClosedError:
                del pending[sid]


class H1Upstream(_Server):
    """An HTTP/1.1-only TLS server (ALPN http/1.1) with the same routes."""

    def __init__(self, cert):
        super().__init__(cert, ["http/1.1"])

    def serve(self, s):
        r = u.Reader(s)
        for _ in range(100):
            try:
                head = r.until(b"\r\n\r\n")
            except Exception:
                return
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = [tuple(x.split(b": ", 1)) for x in lines[1:] if x]
            h = {k.lower(): v for k, v in headers}
            if b"content-length" in h:
                data = r.exactly(int(h[b"content-length"]))
            elif h.get(b"transfer-encoding", b"").lower() == b"chunked":
                data, _ = u.read_chunked(r)
            else:
                data = b""
            self.record(method.decode(), path.decode(), headers, len(data))
            _, rh, b, trailers = route(method.decode(), path.decode(), data)
            out = b"HTTP/1.1 200 OK\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in rh)
            if trailers:
                out += b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n" % (len(b), b)
                out += b"".join(k + b": " + v + b"\r\n" for k, v in trailers) + b"\r\n"
            else:
                out += b"content-length: %d\r\n\r\n" % len(b) + b
            s.sendall(out)


def tunnel(proxy_port, host, port, cafile, alpn=("h2", "http/1.1")):
    """CONNECT through the proxy, then TLS trusting cafile; returns the SSLSocket."""
    s = u.connect(proxy_port)
    s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
    head = u.Reader(s).until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.check_hostname = False
    ctx.set_alpn_protocols(list(alpn))
    return ctx.wrap_socket(s, server_hostname=host)


class H2Client:
    """A python3-h2 client on a socket (TLS with h2 negotiated, or plain: h2c with prior
    knowledge, scheme "http"). .raw: every byte received."""

    def __init__(self, sock, authority, scheme="https", trickle=None):
        self.s = sock
        self.authority = authority.encode()
        self.scheme = scheme.encode()
        self.raw = bytearray()
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.c.initiate_connection()
        self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.c.increment_flow_control_window(16 << 20)
        self.flush(trickle)
        self.bodies = {}
        self.headers = {}
        self.trailers = {}
        self.ended = set()
        self.reset = {}
        self.terminated = None
        self.upload = {}

    def flush(self, trickle=None):
        """Send what h2 has queued (trickle=n: n bytes per write, 20 ms apart)."""
        d = self.c.data_to_send()
        for i in range(0, len(d), trickle or len(d) or 1):
            self.s.sendall(d[i:i + (trickle or len(d))])
            if trickle:
                time.sleep(0.02)

    def request(self, method, path, data=None, headers=()):
        sid = self.c.get_next_available_stream_id()
        h = [(b":method", method.encode()), (b":scheme", self.scheme), (b":authority", self.authority),
             (b":path", path.encode())] + list(headers)
        self.c.send_headers(sid, h, end_stream=data is None)
        self.bodies[sid] = bytearray()
        if data is not None:
            self.upload[sid] = data
        self._push_uploads()
        self.flush()
        return sid

    def _push_uploads(self):
        for sid in list(self.upload):
            b = self.upload[sid]
            if sid in self.reset:  # the server ended the stream (an early response)
                del self.upload[sid]
                continue
            while b:
                n = min(len(b), self.c.local_flow_control_window(sid), self.c.max_outbound_frame_size)
                if n <= 0:
                    break
                self.c.send_data(sid, b[:n])
                b = b[n:]
            if b:
                self.upload[sid] = b
            else:
                self.c.end_stream(sid)
                del self.upload[sid]

    def pump(self, until, timeout=30, on_data=None):
        """Read and handle events until until() is true; bounded by timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "HTTP/2 client timed out"
            r, _, _ = select.select([self.s], [], [], 0.2)
            if not r and not (hasattr(self.s, "pending") and self.s.pending()):
                continue
            data = self.s.recv(65536)
            if not data:
                self.terminated = self.terminated or "closed"
                return
            self.raw += data
            for ev in self.c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.headers[ev.stream_id] = ev.headers
                elif isinstance(ev, h2.events.DataReceived):
                    self.bodies.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    if on_data:
                        on_data(ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    self.trailers[ev.stream_id] = ev.headers
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset[ev.stream_id] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.terminated = ev.error_code
            self._push_uploads()
            self.flush()

    def status(self, sid):
        return dict(self.headers.get(sid, []))[b":status"]
