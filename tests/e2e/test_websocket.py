"""WebSocket through the real binary: Debian's python3-websockets (client and echo server) and raw
frame peers that check the exact bytes on each side (MITMC_BIN=/usr/bin/mitmdump runs them against
mitmproxy 8.1.1: they pass there too, except the mitmc-only ones). ws:// through a CONNECT tunnel and in
absolute form, wss:// with the proxy's CA trusted, text / binary / 1 MiB / fragmented messages,
permessage-deflate, the -w file read back by `dump -r`, a Lua websocket_message hook, a 101 that
is not WebSocket (relayed as raw TCP), and protocol errors closing with 1002."""
import asyncio
import base64
import hashlib
import os
import re
import socket
import ssl
import struct
import subprocess
import threading

import pytest

import e2e_util as u
from conftest import proxy_env
from tls_util import Pki, TlsUpstream, ca_cert  # noqa: F401  (TlsUpstream: the PKI's user)

websockets = pytest.importorskip("websockets")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MIB = 1 << 20


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki-ws"))


# --------------------------------------------------------------------------- raw frames

def frame(opcode, payload, fin=True, mask=None, rsv=0):
    """One RFC 6455 frame (§5.2), masked with the 4-byte key mask if given."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def read_frame(rd, keys=None):
    """(fin, rsv, opcode, masked, payload unmasked) of the next frame from a u.Reader; the
    masking key is appended to keys if given."""
    b0, b1 = rd.exactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", rd.exactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", rd.exactly(8))[0]
    key = rd.exactly(4) if b1 & 0x80 else None
    if keys is not None and key:
        keys.append(key)
    data = rd.exactly(n)
    if key:
        data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
    return bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, key is not None, data


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def upgrade_request(target, host, key=b"dGhlIHNhbXBsZSBub25jZQ==", extra=b""):
    return (b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (target, host, key, extra))


class RawWsServer:
    """A WebSocket server speaking raw frames: answers the handshake (101, with `ext` as its
    Sec-WebSocket-Extensions if given), records every frame it receives in .frames (fin, rsv,
    opcode, masked, payload) and behaves per `behave(conn, frame)` (default: echo data messages
    whole in one unmasked frame, answer a Close with the same Close, then close)."""

    def __init__(self, raw_upstream, ext=None, behave=None, after_101=b""):
        self.frames = []
        self.keys = []
        self.requests = []
        self.done = threading.Event()
        self.ext = ext
        self.behave = behave or self.echo
        self.after_101 = after_101
        self.up = raw_upstream(handler=self.serve)
        self.port = self.up.port

    def echo(self, conn, f, msg):
        fin, rsv, op, masked, data = f
        if op == 8:
            conn.sock.sendall(frame(8, data))
            return False
        if op == 9:
            conn.sock.sendall(frame(10, data))
        elif fin and op in (0, 1, 2):
            conn.sock.sendall(frame(msg[0], msg[1]))
        return True

    def serve(self, conn):
        try:
            head = conn.reader.until(b"\r\n\r\n")
            self.requests.append(head)
            key = re.search(rb"(?i)\r\nsec-websocket-key: *([^\r]*)", head).group(1)
            resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: %s\r\n" % accept_key(key))
            if self.ext:
                resp += b"Sec-WebSocket-Extensions: %s\r\n" % self.ext
            conn.sock.sendall(resp + b"\r\n" + self.after_101)
            msg = [None, b""]
            while True:
                f = read_frame(conn.reader, self.keys)
                self.frames.append(f)
                fin, rsv, op, masked, data = f
                if op in (1, 2):
                    msg = [op, data]
                elif op == 0:
                    msg[1] += data
                if not self.behave(conn, f, msg):
                    return
        except (u.Closed, OSError, ValueError, AttributeError):
            pass
        finally:
            self.done.set()


def raw_ws_client(proxy_port, server_port, path=b"/chat", extra=b""):
    """Absolute-form upgrade straight to the proxy; returns (socket, reader) after the 101."""
    s = u.connect(proxy_port)
    s.sendall(upgrade_request(b"http://127.0.0.1:%d%s" % (server_port, path), b"127.0.0.1:%d" % server_port,
                              extra=extra))
    rd = u.Reader(s)
    head = rd.until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s, rd


MASK = b"\x01\x02\x03\x04"


# --------------------------------------------------------------------------- websockets peers

class EchoServer:
    """python3-websockets echo server on 127.0.0.1:0 in an asyncio loop of its own thread;
    .extensions holds the extensions each connection negotiated, .received the messages."""

    def __init__(self, ssl_ctx=None):
        self.extensions = []
        self.received = []
        self.request_headers = []
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def handler(ws, path=None):
            self.extensions.append([e.name for e in ws.extensions])
            self.request_headers.append(ws.request_headers)
            async for m in ws:
                self.received.append(m)
                await ws.send(m)

        async def main():
            self.server = await websockets.serve(handler, "127.0.0.1", 0, ssl=ssl_ctx, max_size=None,
                                                 compression="deflate")
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        self.thread = threading.Thread(target=self._run, args=(main,), daemon=True)
        self.thread.start()
        assert started.wait(10), "echo server did not start"

    def _run(self, main):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(main())
        self.loop.run_forever()

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def echo_server():
    servers = []

    def start(**kw):
        s = EchoServer(**kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def connect_tunnel(proxy_port, host, port):
    s = u.connect(proxy_port)
    s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        assert c, head
        head += c
    assert head.startswith(b"HTTP/1.1 200"), head
    s.settimeout(None)
    s.setblocking(True)
    return s


def run_client(uri, sock, messages, ssl_ctx=None, server_hostname=None, compression="deflate"):
    """Connect with python3-websockets over sock, send each message and collect the replies."""

    async def main():
        kw = {"sock": sock, "max_size": None, "compression": compression, "open_timeout": 10}
        if ssl_ctx:
            kw["ssl"] = ssl_ctx
            kw["server_hostname"] = server_hostname
        async with websockets.connect(uri, **kw) as ws:
            got = []
            for m in messages:
                await ws.send(m)
                got.append(await asyncio.wait_for(ws.recv(), 10))
            return got, [e.name for e in ws.extensions]

    return asyncio.run(main())


# --------------------------------------------------------------------------- tests

def test_connect_tunnel_text_binary_large(mitmc, echo_server):
    proxy = mitmc()
    srv = echo_server()
    sock = connect_tunnel(proxy.port, "127.0.0.1", srv.port)
    big = os.urandom(MIB)
    msgs = ["hello", b"\x00\x01binary\xff", big, "second message"]
    got, ext = run_client("ws://127.0.0.1:%d/echo" % srv.port, sock, msgs)
    assert got == msgs
    assert srv.received == msgs
    assert proxy.wait_stdout(r"WebSocket connection closed by client: 1000")
    out = proxy.stdout
    assert re.search(r"127\.0\.0\.1:\d+: GET http://127\.0\.0\.1:%d/echo" % srv.port, out), out
    assert "<< 101 Switching Protocols" in out, out
    assert len(re.findall(r"-> WebSocket text message -> 127\.0\.0\.1:%d/echo" % srv.port, out)) == 2, out
    assert len(re.findall(r"<- WebSocket binary message <- 127\.0\.0\.1:%d/echo" % srv.port, out)) == 2, out


def test_absolute_form_exact_bytes(mitmc, raw_upstream):
    proxy = mitmc()
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"hi there", mask=MASK))
    assert rd.exactly(10) == frame(1, b"hi there"), "unmasked toward the client, same bytes"
    s.sendall(frame(2, b"\x00" * 200, mask=MASK))
    assert read_frame(rd) == (True, 0, 2, False, b"\x00" * 200)
    s.sendall(frame(9, b"ping!", mask=MASK))
    assert read_frame(rd) == (True, 0, 10, False, b"ping!"), "the server's pong, relayed"
    s.sendall(frame(8, struct.pack("!H", 1000) + b"bye", mask=MASK))
    assert read_frame(rd) == (True, 0, 8, False, struct.pack("!H", 1000) + b"bye")
    assert rd.at_eof()
    s.close()
    assert srv.done.wait(10)
    # the server saw every frame masked, with the client's payloads
    assert [(f[2], f[3], f[4]) for f in srv.frames[:3]] == [
        (1, True, b"hi there"), (2, True, b"\x00" * 200), (9, True, b"ping!")]
    assert srv.frames[3][2] == 8 and srv.frames[3][4] == struct.pack("!H", 1000) + b"bye"
    assert len(set(srv.keys)) == len(srv.keys) == 4, "a fresh masking key per frame: %r" % srv.keys
    assert srv.requests[0].startswith(b"GET /chat HTTP/1.1\r\n"), srv.requests[0]
    assert proxy.wait_stdout(r"Received WebSocket ping from client \(payload: b'ping!'\)")
    assert proxy.wait_stdout(r"WebSocket connection closed by client: 1000 bye")


def test_fragments_keep_frame_boundaries(mitmc, raw_upstream):
    proxy = mitmc()
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    parts = [b"one ", b"two ", b"three ", b"four ", b"five"]
    for i, p in enumerate(parts):
        s.sendall(frame(1 if i == 0 else 0, p, fin=i == len(parts) - 1, mask=MASK))
    assert read_frame(rd) == (True, 0, 1, False, b"".join(parts))
    frames = srv.frames[:5]
    assert [f[4] for f in frames] == parts, "five frames of the same lengths at the server"
    assert [f[2] for f in frames] == [1, 0, 0, 0, 0]
    assert [f[0] for f in frames] == [False, False, False, False, True]
    assert all(f[3] for f in frames), "masked toward the server"
    s.close()


def test_bytes_after_101_in_the_same_read(mitmc, raw_upstream):
    proxy = mitmc()
    srv = RawWsServer(raw_upstream, after_101=frame(1, b"welcome"))
    s = u.connect(proxy.port)
    # the client's first frame right behind its request, in one write
    s.sendall(upgrade_request(b"http://127.0.0.1:%d/" % srv.port, b"127.0.0.1:%d" % srv.port) +
              frame(1, b"early", mask=MASK))
    rd = u.Reader(s)
    head = rd.until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    got = [read_frame(rd), read_frame(rd)]
    assert (True, 0, 1, False, b"welcome") in got
    assert (True, 0, 1, False, b"early") in got, "the echo of the early frame"
    s.close()


def test_unmasked_client_frame_closes_1002(mitmc, raw_upstream):
    proxy = mitmc()
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"not masked"))
    fin, rsv, op, masked, data = read_frame(rd)
    assert (op, masked) == (8, False)
    assert struct.unpack("!H", data[:2])[0] == 1002
    assert rd.at_eof()
    s.close()
    assert srv.done.wait(10)
    assert srv.frames and srv.frames[-1][2] == 8 and srv.frames[-1][3]
    assert struct.unpack("!H", srv.frames[-1][4][:2])[0] == 1002
    assert proxy.wait_stdout(r"Error in WebSocket connection to 127\.0\.0\.1:%d: WebSocket Error: PROTOCOL_ERROR"
                             % srv.port)
    if not u.IS_MITMDUMP:  # mitmproxy logs nothing more; mitmc names the peer
        assert proxy.wait_stdout(r"WebSocket protocol error from client 127\.0\.0\.1:\d+: .*mask")
    # the proxy goes on serving
    srv2 = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv2.port)
    s.sendall(frame(1, b"fine", mask=MASK))
    assert read_frame(rd) == (True, 0, 1, False, b"fine")
    s.close()


def test_masked_server_frame_closes_1002(mitmc, raw_upstream):
    proxy = mitmc()

    def behave(conn, f, msg):
        conn.sock.sendall(frame(1, b"masked by the server", mask=MASK))
        return True

    srv = RawWsServer(raw_upstream, behave=behave)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"go", mask=MASK))
    fin, rsv, op, masked, data = read_frame(rd)
    assert (op, masked) == (8, False)
    assert struct.unpack("!H", data[:2])[0] == 1002
    assert rd.at_eof()
    s.close()
    assert proxy.wait_stdout(r"Error in WebSocket connection to 127\.0\.0\.1:%d: WebSocket Error: PROTOCOL_ERROR"
                             % srv.port)
    if not u.IS_MITMDUMP:
        assert proxy.wait_stdout(r"WebSocket protocol error from server 127\.0\.0\.1:%d: " % srv.port)


def test_non_websocket_101_is_raw_tcp(mitmc, raw_upstream):
    proxy = mitmc()

    def handler(conn):
        head = conn.reader.until(b"\r\n\r\n")
        assert b"Upgrade: foo" in head
        conn.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nbanner")
        while True:
            data = conn.sock.recv(65536)
            if not data:
                return
            conn.sock.sendall(data.upper())

    up = raw_upstream(handler=handler)
    s = u.connect(proxy.port)
    s.sendall(b"GET http://127.0.0.1:%d/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: foo\r\n"
              b"Connection: Upgrade\r\n\r\nearly " % (up.port, up.port))
    rd = u.Reader(s)
    head = rd.until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert rd.exactly(6) == b"banner"
    assert rd.exactly(6) == b"EARLY "
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert rd.exactly(18) == b"GET / HTTP/1.1\r\n\r\n".upper(), "bytes, not parsed as HTTP"
    s.close()
    assert proxy.wait_stdout(r"-> tcp -> 127\.0\.0\.1:%d" % up.port)


def test_permessage_deflate(mitmc, echo_server):
    proxy = mitmc()
    srv = echo_server()
    sock = connect_tunnel(proxy.port, "127.0.0.1", srv.port)
    text = "compress me " * 5000
    msgs = [text, b"\x00" * 100000, "short"]
    got, ext = run_client("ws://127.0.0.1:%d/z" % srv.port, sock, msgs)
    assert got == msgs
    assert ext == ["permessage-deflate"], "the client negotiated it through the proxy"
    assert srv.extensions == [["permessage-deflate"]], "the server saw the offer and agreed"
    assert srv.received == msgs


def test_permessage_deflate_on_the_wire(mitmc, raw_upstream):
    """Compressed frames from the server (RSV1) are inflated for the flow and compressed again
    toward the client, with the same frame boundaries."""
    import zlib

    def deflate(data):
        c = zlib.compressobj(wbits=-15)
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def behave(conn, f, msg):
        if f[2] == 8:
            conn.sock.sendall(frame(8, f[4]))
            return False
        conn.sock.sendall(frame(1, deflate(b"inflated " * 50), rsv=0x40))
        return True

    proxy = mitmc("--flow-detail", "3")
    srv = RawWsServer(raw_upstream, ext=b"permessage-deflate", behave=behave)
    s, rd = raw_ws_client(proxy.port, srv.port, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    s.sendall(frame(1, deflate(b"hello hello hello"), rsv=0x40, mask=MASK))
    fin, rsv, op, masked, data = read_frame(rd)
    assert (fin, rsv, op, masked) == (True, 0x40, 1, False)
    assert zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff") == b"inflated " * 50
    f = srv.frames[0]
    assert (f[0], f[1], f[2], f[3]) == (True, 0x40, 1, True)
    assert zlib.decompressobj(wbits=-15).decompress(f[4] + b"\x00\x00\xff\xff") == b"hello hello hello"
    s.sendall(frame(8, struct.pack("!H", 1000), mask=MASK))
    read_frame(rd)
    s.close()
    assert proxy.wait_stdout(r"hello hello hello"), "the flow holds the inflated message"
    assert proxy.wait_stdout(r"inflated inflated")


def test_wss_through_connect(mitmc, pki, tmp_path):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(pki.good[0], pki.good[1])
    srv = EchoServer(ssl_ctx=sctx)
    try:
        proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
        sock = connect_tunnel(proxy.port, "127.0.0.1", srv.port)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(ca_cert(proxy))
        got, ext = run_client("wss://127.0.0.1:%d/secure" % srv.port, sock, ["over tls", b"\x01\x02"],
                              ssl_ctx=cctx, server_hostname="127.0.0.1")
        assert got == ["over tls", b"\x01\x02"]
        assert srv.received == ["over tls", b"\x01\x02"]
        assert proxy.wait_stdout(r"-> WebSocket text message -> 127\.0\.0\.1:%d/secure" % srv.port)
        assert proxy.wait_stdout(r"WebSocket connection closed by client: 1000")
    finally:
        srv.stop()


def test_save_and_read_back(mitmc, echo_server, binary, tmp_path):
    path = tmp_path / "ws.flows"
    proxy = mitmc("-w", str(path))
    srv = echo_server()
    sock = connect_tunnel(proxy.port, "127.0.0.1", srv.port)
    got, _ = run_client("ws://127.0.0.1:%d/saved" % srv.port, sock, ["first", b"\x02second"])
    assert got == ["first", b"\x02second"]
    assert proxy.wait_stdout(r"WebSocket connection closed by client: 1000")
    proxy.stop()
    argv = [binary] if u.IS_MITMDUMP else [binary, "dump"]
    r = subprocess.run(argv + ["-n", "-r", str(path), "--flow-detail", "3", "--set", "confdir=%s" % (tmp_path / "cd")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=proxy_env(), timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "<< 101 Switching Protocols" in out, out
    lines = [ln for ln in out.splitlines() if re.search(r" WebSocket \w+ message ", ln)]
    assert len(lines) == 4, out
    assert re.search(r"-> WebSocket text message -> 127\.0\.0\.1:%d/saved" % srv.port, lines[0]), lines
    assert re.search(r"<- WebSocket text message <- 127\.0\.0\.1:%d/saved" % srv.port, lines[1]), lines
    assert re.search(r"-> WebSocket binary message ->", lines[2]) and re.search(r"<- WebSocket binary", lines[3])
    assert "first" in out and "second" in out
    assert "WebSocket connection closed by client: 1000" in out


@u.mitmc_only
def test_lua_websocket_message_rewrites(mitmc, raw_upstream, tmp_path):
    script = tmp_path / "ws.lua"
    script.write_text(
        "function websocket_start(flow)\n"
        "  flow.comment = 'ws started'\n"
        "end\n"
        "function websocket_message(flow)\n"
        "  local msgs = flow.websocket.messages\n"
        "  local m = msgs[#msgs]\n"
        "  if m.from_client and m.content == 'drop me' then m:drop() return end\n"
        "  if m.from_client then m.content = string.upper(m.content) .. ' #' .. #msgs end\n"
        "end\n"
        "function websocket_end(flow)\n"
        "  mitm.log.info('ws end ' .. tostring(flow.websocket.close_code) .. ' ' .. #flow.websocket.messages)\n"
        "end\n")
    proxy = mitmc("-s", str(script))
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"drop me", mask=MASK))
    s.sendall(frame(1, b"hello", mask=MASK))
    assert read_frame(rd) == (True, 0, 1, False, b"HELLO #2"), "the edited message, re-fragmented"
    # a longer message whose length the script changes goes out in 4000-byte frames
    s.sendall(frame(2, b"a" * 6000, fin=False, mask=MASK) + frame(0, b"b" * 4000, mask=MASK))
    assert read_frame(rd) == (True, 0, 2, False, (b"a" * 6000 + b"b" * 4000).upper() + b" #4")
    s.sendall(frame(8, struct.pack("!H", 1000), mask=MASK))
    read_frame(rd)
    s.close()
    assert srv.done.wait(10)
    assert [f[4] for f in srv.frames if f[2] == 1] == [b"HELLO #2"], "the dropped message never reached it"
    big = [f for f in srv.frames if f[2] in (0, 2)]
    assert [len(f[4]) for f in big] == [4000, 4000, 2003], "mitmproxy's Fragmentizer sizes"
    assert [f[2] for f in big] == [2, 0, 0] and [f[0] for f in big] == [False, False, True]
    assert proxy.wait_stdout(r"ws end 1000 5")


@u.mitmc_only
def test_example_websocket_simple(mitmc, raw_upstream):
    proxy = mitmc("-s", os.path.join(u.ROOT, "examples", "websocket-simple.lua"))
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"a FOOBAR message", mask=MASK))
    s.sendall(frame(1, b"Hello world", mask=MASK))
    assert read_frame(rd) == (True, 0, 1, False, b"HAPPY world"), "the echo of the rewritten message"
    s.sendall(frame(8, struct.pack("!H", 1000), mask=MASK))
    read_frame(rd)
    s.close()
    assert srv.done.wait(10)
    assert [f[4] for f in srv.frames if f[2] == 1] == [b"HAPPY world"], "FOOBAR was dropped"
    assert proxy.wait_stdout(r'websocket-simple.lua: Client sent a message: "Hello world"')
    assert proxy.wait_stdout(r'websocket-simple.lua: Server sent a message: "HAPPY world"')


def test_websocket_option_off_relays_raw_tcp(mitmc, raw_upstream):
    proxy = mitmc("--set", "websocket=false")
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"as bytes", mask=MASK))
    assert rd.exactly(len(frame(1, b"as bytes"))) == frame(1, b"as bytes")
    s.close()
    assert srv.frames[0] == (True, 0, 1, True, b"as bytes")
    assert srv.keys == [MASK], "relayed untouched: the client's own key"
    assert proxy.wait_stdout(r"-> tcp -> 127\.0\.0\.1:%d" % srv.port)


def test_server_close_reaches_the_client(mitmc, raw_upstream):
    proxy = mitmc()

    def behave(conn, f, msg):
        conn.sock.sendall(frame(8, struct.pack("!H", 1001) + b"going away"))
        return False

    srv = RawWsServer(raw_upstream, behave=behave)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"bye?", mask=MASK))
    assert read_frame(rd) == (True, 0, 8, False, struct.pack("!H", 1001) + b"going away")
    assert rd.at_eof()
    s.close()
    assert proxy.wait_stdout(r"WebSocket connection closed by server: 1001 going away")
    assert srv.frames[0] == (True, 0, 1, True, b"bye?")


def test_upgrade_after_a_plain_request_on_the_same_connection(mitmc, raw_upstream):
    proxy = mitmc()

    def handler(conn):
        head = conn.reader.until(b"\r\n\r\n")
        assert head.startswith(b"GET /plain ")
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        head = conn.reader.until(b"\r\n\r\n")
        key = re.search(rb"(?i)\r\nsec-websocket-key: *([^\r]*)", head).group(1)
        conn.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key))
        f = read_frame(conn.reader)
        conn.sock.sendall(frame(1, f[4][::-1]))
        closes.append(read_frame(conn.reader))
        done.set()

    closes = []
    done = threading.Event()
    up = raw_upstream(handler=handler)
    s = u.connect(proxy.port)
    rd = u.Reader(s)
    s.sendall(b"GET http://127.0.0.1:%d/plain HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (up.port, up.port))
    r = u.read_response(rd)
    assert r.body == b"ok"
    s.sendall(upgrade_request(b"http://127.0.0.1:%d/ws" % up.port, b"127.0.0.1:%d" % up.port))
    assert rd.until(b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    s.sendall(frame(1, b"abc", mask=MASK))
    assert read_frame(rd) == (True, 0, 1, False, b"cba")
    s.close()
    assert done.wait(10) and closes[0][2] == 8
    assert len(up.conns) == 1, "the server connection of the first exchange carried the upgrade"


def test_connection_lost_is_abnormal_closure(mitmc, raw_upstream, tmp_path):
    path = tmp_path / "lost.flows"
    proxy = mitmc("-w", str(path))
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(1, b"then gone", mask=MASK))
    assert read_frame(rd) == (True, 0, 1, False, b"then gone")
    s.close()  # no Close frame
    assert proxy.wait_stdout(r"Error in WebSocket connection to 127\.0\.0\.1:%d: WebSocket Error: ABNORMAL_CLOSURE"
                             % srv.port)
    assert srv.done.wait(10)
    # the server got a Close (1006 is local only: wsproto sends 1000) before the connection ended
    assert srv.frames[-1][2] == 8 and struct.unpack("!H", srv.frames[-1][4][:2])[0] == 1000
    proxy.stop()
    assert path.stat().st_size > 0, "the flow was written at websocket_end"


@u.mitmc_only
def test_message_over_the_cap_closes_1009(mitmc, raw_upstream):
    proxy = mitmc("--set", "websocket_max_message_size=1k")
    srv = RawWsServer(raw_upstream)
    s, rd = raw_ws_client(proxy.port, srv.port)
    s.sendall(frame(2, b"x" * 1024, mask=MASK))
    assert read_frame(rd) == (True, 0, 2, False, b"x" * 1024), "at the cap: fine"
    s.sendall(frame(2, b"x" * 1025, mask=MASK))
    fin, rsv, op, masked, data = read_frame(rd)
    assert op == 8 and struct.unpack("!H", data[:2])[0] == 1009
    assert rd.at_eof()
    s.close()
    assert proxy.wait_stdout(r"WebSocket protocol error from client 127\.0\.0\.1:\d+: .*\(closing with 1009\)")


@u.mitmc_only
def test_killed_upgrade_closes_the_client(mitmc, raw_upstream, tmp_path):
    script = tmp_path / "kill.lua"
    script.write_text("function response(flow)\n"
                      "  if flow.response.status_code == 101 and flow.websocket then flow:kill() end\n"
                      "end\n")
    proxy = mitmc("-s", str(script))
    srv = RawWsServer(raw_upstream)
    # mitmproxy checks a kill after the response hook: not even the 101 reaches the client
    s = u.connect(proxy.port)
    s.sendall(upgrade_request(b"http://127.0.0.1:%d/chat" % srv.port, b"127.0.0.1:%d" % srv.port))
    assert u.Reader(s).at_eof(), "a killed 101 sends the client nothing and ends its connection"
    s.close()
    assert srv.done.wait(10) and srv.frames == [], "the server connection ends too"
