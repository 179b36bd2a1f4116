"""Cleartext HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3) from the client: option
http2_prior_knowledge (mitmc's; off by default, as mitmproxy 12 kills such connections). A
connection whose first bytes are the preface is served by the HTTP/2 codec on the plain
proxy port (requests go to :scheme://:authority), in reverse mode (to the target) and inside
a CONNECT tunnel (to the tunnel's server); the upstream side is the usual one (HTTP/1.1 in
cleartext, h2 by ALPN over TLS). Clients: python3-h2 on a plain socket (exact frames) and
nghttp (which speaks h2c with prior knowledge for http:// URIs)."""
import hashlib
import shutil
import socket
import subprocess
import time

import pytest

import e2e_util as u
import tnetstring_util as tn
from h2_util import H2Client, H2Upstream, body, frames
from tls_util import Pki

pytestmark = u.mitmc_only

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ON = ("--set", "http2_prior_knowledge=true")
SETTINGS = 4


def reply(data=b"hello h2c"):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Up: one\r\n\r\n%s" % (len(data), data)


def nghttp(*args, timeout=20):
    path = shutil.which("nghttp")
    if not path:
        pytest.skip("nghttp (nghttp2-client) is not installed")
    return subprocess.run([path, "--timeout=%d" % timeout, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout + 10)


def h2c_client(port, authority):
    return H2Client(u.connect(port), authority, scheme="http")


def get(c, path, headers=()):
    sid = c.request("GET", path, headers=list(headers))
    c.pump(lambda: sid in c.ended or sid in c.reset or c.terminated)
    assert sid in c.ended, (c.reset, c.terminated)
    return sid


def test_regular_mode_h2c_requests_go_to_their_authority_as_http11(mitmc, raw_upstream, tmp_path):
    up = raw_upstream(reply=lambda req: reply(b"hello h2c"))
    flows = tmp_path / "flows"
    proxy = mitmc(*ON, "-w", str(flows))
    auth = "127.0.0.1:%d" % up.port
    c = h2c_client(proxy.port, auth)
    sid = get(c, "/a?b=1", [(b"x-one", b"1"), (b"cookie", b"a=1"), (b"cookie", b"b=2")])
    # the proxy answers in HTTP/2: its SETTINGS first, then the translated response
    assert frames(bytes(c.raw))[0][0] == SETTINGS
    assert c.status(sid) == b"200"
    assert bytes(c.bodies[sid]) == b"hello h2c"
    assert [(k, v) for k, v in c.headers[sid] if k != b":status"] == [(b"content-length", b"9"), (b"x-up", b"one")]
    # a body, on the same client connection
    data = bytes(range(256)) * 40
    sid = c.request("POST", "/up", data=data, headers=[(b"content-length", b"%d" % len(data))])
    c.pump(lambda: sid in c.ended)
    assert c.status(sid) == b"200"
    c.s.close()
    # what the upstream got, byte for byte: HTTP/1.1 in origin form, Host from :authority,
    # the cookie crumbs joined (RFC 9113 §8.2.3)
    want = (b"GET /a?b=1 HTTP/1.1\r\nHost: %s\r\nx-one: 1\r\ncookie: a=1; b=2\r\n\r\n" % auth.encode() +
            b"POST /up HTTP/1.1\r\nHost: %s\r\ncontent-length: %d\r\n\r\n" % (auth.encode(), len(data)) + data)
    for _ in range(100):
        if len(up.received()) >= len(want):
            break
        time.sleep(0.05)
    assert up.received() == want
    assert proxy.wait_stdout(r"127\.0\.0\.1:\d+: GET http://%s/a\?b=1 HTTP/2\.0$" % auth)
    proxy.stop()
    recs = tn.read_records(str(flows))
    assert [r["request"]["path"] for r in recs] == [b"/a?b=1", b"/up"]
    r = recs[0]
    assert r["request"]["http_version"] == b"HTTP/2.0" and r["request"]["scheme"] == b"http"
    assert r["request"]["authority"] == auth.encode() and r["request"]["port"] == up.port
    assert r["client_conn"]["alpn"] == b"h2c" and not r["client_conn"]["tls"]


def test_nghttp_prior_knowledge_through_the_plain_proxy_port(mitmc, raw_upstream):
    up = raw_upstream(reply=lambda req: reply(b"from upstream\n"))
    proxy = mitmc(*ON)
    auth = "127.0.0.1:%d" % up.port
    p = nghttp("-v", "-H", ":authority: %s" % auth, "http://127.0.0.1:%d/n" % proxy.port)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "recv SETTINGS frame" in out and "(stream_id=13) :status: 200" in out
    assert out.count("from upstream\n") == 1
    req = up.received()
    assert req.startswith(b"GET /n HTTP/1.1\r\nHost: %s\r\n" % auth.encode()), req
    assert b"user-agent: nghttp2/" in req and req.endswith(b"\r\n\r\n")


def test_upstream_mode_h2c_request_goes_to_the_parent_in_absolute_form(mitmc, raw_upstream):
    parent = raw_upstream(reply=lambda req: reply(b"via parent"))
    proxy = mitmc(*ON, "--mode", "upstream:http://127.0.0.1:%d" % parent.port)
    c = h2c_client(proxy.port, "origin.test:8080")
    sid = get(c, "/p?q")
    assert bytes(c.bodies[sid]) == b"via parent"
    assert parent.received() == b"GET http://origin.test:8080/p?q HTTP/1.1\r\nHost: origin.test:8080\r\n\r\n"


def test_reverse_mode_h2c_parallel_streams_to_an_http11_target(mitmc, raw_upstream, tmp_path, curl_bin):
    up = raw_upstream(reply=lambda req: reply(req.split(b" ")[1] + b"!"))
    flows = tmp_path / "flows"
    proxy = mitmc(*ON, "--mode", "reverse:http://127.0.0.1:%d" % up.port, "-w", str(flows))
    base = "http://127.0.0.1:%d" % proxy.port
    # nghttp sends the three requests at once on one connection
    p = nghttp("-v", base + "/one", base + "/two", base + "/three")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert out.count(":status: 200") == 3
    for path in ("/one", "/two", "/three"):
        assert out.count(path + "!") == 1  # each response body once
    reqs = sorted(up.received().split(b"GET ")[1:])
    assert len(reqs) == 3
    target = b"127.0.0.1:%d" % up.port
    assert [r.split(b" ")[0] for r in reqs] == [b"/one", b"/three", b"/two"]
    for r in reqs:
        # the target's authority stands in the Host header (keep_host_header is off)
        assert r.split(b"\r\n")[1] == b"Host: " + target, r
    # curl's prior knowledge, the same way
    r = subprocess.run([curl_bin, "-q", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", "\n%{http_version}",
                        base + "/curl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"/curl!\n2"
    proxy.stop()
    recs = tn.read_records(str(flows))[:3]
    assert len(recs) == 3
    for r in recs:
        assert r["request"]["http_version"] == b"HTTP/2.0"
        assert r["request"]["authority"] == target and r["request"]["host"] == "127.0.0.1"
        assert r["client_conn"]["alpn"] == b"h2c"
        # mitmproxy's host_header setter: HTTP/2 carries it as :authority, no Host added
        assert not [k for k, _ in r["request"]["headers"] if k.lower() == b"host"]


def test_h2c_preface_in_pieces_and_a_connect_tunnel(mitmc, raw_upstream):
    up = raw_upstream(reply=lambda req: reply(b"tunnelled"))
    proxy = mitmc(*ON)
    s = u.connect(proxy.port)
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (up.port, up.port))
    assert u.Reader(s).until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    # the preface 5 bytes at a time: the next-layer step waits for all 24
    c = H2Client(s, "127.0.0.1:%d" % up.port, scheme="http", trickle=5)
    sid = get(c, "/t")
    assert bytes(c.bodies[sid]) == b"tunnelled"
    assert up.received().startswith(b"GET /t HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % up.port)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("mode", ["regular", "reverse"])
def test_h2c_client_to_an_h2_upstream_over_tls(mitmc, pki, mode):
    up = H2Upstream(pki.good)
    try:
        auth = "127.0.0.1:%d" % up.port
        args = ["--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], *ON]
        if mode == "reverse":
            args += ["--mode", "reverse:https://" + auth]
        proxy = mitmc(*args)
        c = H2Client(u.connect(proxy.port), auth, scheme="https" if mode == "regular" else "http")
        sid = get(c, "/size/1048576")
        assert c.status(sid) == b"200"
        assert hashlib.sha256(bytes(c.bodies[sid])).digest() == hashlib.sha256(body(1 << 20)).digest()
        data = bytes(range(200)) * 1000
        sid = c.request("POST", "/echo", data=data)
        c.pump(lambda: sid in c.ended)
        assert bytes(c.bodies[sid]) == b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())
        c.s.close()
        assert up.alpn == ["h2"], "one upstream connection, h2 chosen by ALPN"
        h = up.requests[0]["headers"]
        assert h[:4] == [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", auth.encode()),
                         (b":path", b"/size/1048576")]
    finally:
        up.stop()


@pytest.mark.parametrize("args", [(), ("--set", "http2_prior_knowledge=true", "--set", "http2=false")],
                         ids=["default", "http2-off"])
def test_without_the_option_a_preface_is_refused_as_before(mitmc, raw_upstream, args):
    up = raw_upstream(reply=lambda req: reply())
    proxy = mitmc(*args)
    s = u.connect(proxy.port)
    s.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    rd = u.Reader(s)
    # the HTTP/1 parser's answer to a version it does not speak, then the close
    r = u.read_response(rd)
    assert r.status_line.startswith("HTTP/1.1 505 ") and r.header("connection") == "close", r
    assert rd.at_eof()
    assert proxy.wait_stdout(r"HTTP/1 protocol error: HTTP version not supported")
    assert up.received() == b""


def test_with_the_option_a_server_that_speaks_first_in_a_tunnel_is_still_raw_tcp(mitmc, tcp_server):
    srv = tcp_server(banner=b"220 mail.test ESMTP\r\n", echo=True)
    proxy = mitmc(*ON)
    s = u.connect(proxy.port)
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (srv.port, srv.port))
    rd = u.Reader(s)
    assert rd.until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    assert rd.until(b"\r\n") == b"220 mail.test ESMTP\r\n"
    s.sendall(b"PRI * HTTP/2.0\r\n")  # the banner decided: raw TCP, whatever follows
    assert rd.exactly(16) == b"PRI * HTTP/2.0\r\n"
    s.close()
