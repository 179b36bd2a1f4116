"""HTTP/2 keep-alive PINGs (option http2_ping_keepalive, mitmproxy's Http2Client): an HTTP/2
server connection idle for that many seconds gets a PING with eight ASCII zeros; nothing
waits for the ACK. The upstream is python3-h2 (h2_util.H2Upstream) and counts the PING frames
it receives in its raw bytes; the client is python3-h2 through a CONNECT tunnel, which keeps
the client connection (and so the server connection) open while idle."""
import time

import pytest

import e2e_util as u
from h2_util import PING, H2Client, H2Upstream, frames, tunnel
from tls_util import Pki, ca_cert

pytestmark = u.mitmc_only

# RFC 9113 §6.7: length 8, type PING, no flags, stream 0, then mitmproxy's payload
PING_FRAME = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"00000000"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def upstream(pki):
    servers = []

    def start(**kw):
        s = H2Upstream(pki.good, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def client(proxy, up):
    return H2Client(tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)), "127.0.0.1:%d" % up.port)


def get(c, path):
    sid = c.request("GET", path)
    c.pump(lambda: sid in c.ended or sid in c.reset or c.terminated)
    assert sid in c.ended and c.status(sid) == b"200", (c.reset, c.terminated, bytes(c.bodies.get(sid, b"")))
    return sid


def idle(c, up, pings, timeout=15):
    """Keep the client connection open (reading) until the upstream saw `pings` PINGs."""
    c.pump(lambda: len(up.pings) >= pings, timeout=timeout)
    assert len(up.pings) >= pings and not c.terminated


def ping_frames(raw):
    return [(t, f, sid, p) for t, f, sid, p in frames(bytes(raw[24:])) if t == PING]


def start(mitmc, pki, *args):
    return mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], "--set", "termlog_verbosity=debug", *args)


@pytest.mark.parametrize("ack", [True, False], ids=["acked", "never-acked"])
def test_idle_h2_server_connection_gets_pings(mitmc, pki, upstream, ack):
    up = upstream(ack_pings=ack)
    proxy = start(mitmc, pki, "--set", "http2_ping_keepalive=1")
    c = client(proxy, up)
    get(c, "/first")
    t0 = time.monotonic()
    idle(c, up, 3)
    # exact bytes on the server's side: PING frames as mitmproxy sends them, on stream 0
    assert ping_frames(up.raw[0])[:3] == [(PING, 0, 0, b"00000000")] * 3
    assert bytes(up.raw[0]).count(PING_FRAME) == len(up.pings)
    # a timer, not a busy loop: about one a second (slower on a loaded machine, never faster)
    times = [t for t, _ in up.pings]
    assert all(b - a > 0.5 for a, b in zip(times, times[1:])), times
    assert times[0] - t0 > 0.5
    # the client never gets one from the proxy (mitmproxy pings servers only)
    assert not ping_frames(b"\0" * 24 + bytes(c.raw))
    # with or without ACKs the connection stays in use: the next request goes over it
    get(c, "/second")
    assert up.connections == 1 and [r["path"] for r in up.requests] == ["/first", "/second"]
    assert proxy.wait_stdout(r"Send HTTP/2 keep-alive PING to 127\.0\.0\.1:%d$" % up.port)
    c.s.close()


@pytest.mark.parametrize("args", [("--set", "http2_ping_keepalive=0"), ()], ids=["off", "default-58s"])
def test_no_ping_when_off_or_not_idle_long_enough(mitmc, pki, upstream, args):
    up = upstream()
    proxy = start(mitmc, pki, *args)
    c = client(proxy, up)
    get(c, "/a")
    deadline = time.monotonic() + 2.5
    c.pump(lambda: time.monotonic() > deadline, timeout=10)
    get(c, "/b")
    assert up.pings == [] and not ping_frames(up.raw[0])
    assert "keep-alive PING" not in proxy.stdout
    c.s.close()


def test_pings_stop_when_the_server_closes(mitmc, pki, upstream):
    up = upstream(close_after=1)
    proxy = start(mitmc, pki, "--set", "http2_ping_keepalive=1")
    c = client(proxy, up)
    get(c, "/only")
    # the server sent GOAWAY and closed; the PING timer fires over a dead connection
    deadline = time.monotonic() + 2.5
    c.pump(lambda: time.monotonic() > deadline, timeout=10)
    assert up.pings == []
    # a new request opens a new upstream connection
    get(c, "/again")
    assert up.connections == 2
    c.s.close()
