"""HTTP/2 end to end (docs/internals/http2.md): curl, openssl s_client and python3-h2 clients
through CONNECT, to an h2-only upstream (python3-h2) and an HTTP/1.1-only one, bodies checked
by sha256 on both sides."""
import hashlib
import json
import os
import subprocess

import pytest

import e2e_util as u
import tnetstring_util as tn
from h2_util import H1Upstream, H2Client, H2Upstream, body, tunnel
from tls_util import OPENSSL, Pki, ca_cert

pytestmark = u.mitmc_only


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def upstreams(pki):
    servers = []

    def start(kind):
        s = (H2Upstream if kind == "h2" else H1Upstream)(pki.good)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def curl_h(curl, proxy, url, *args):
    return curl(proxy.port, url, "--cacert", ca_cert(proxy), "-w", "\n%{http_version}", *args, timeout=20)


def split_version(out):
    b, _, v = out.rpartition(b"\n")
    return b, v.decode()


def start_proxy(mitmc, pki, *args):
    return mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], *args)


def test_curl_h2_both_legs_1mib_intact(mitmc, pki, upstreams, curl, tmp_path, binary):
    up = upstreams("h2")
    flows = tmp_path / "flows"
    proxy = start_proxy(mitmc, pki, "-w", str(flows))
    r = curl_h(curl, proxy, "https://127.0.0.1:%d/size/1048576" % up.port, "--http2")
    assert r.returncode == 0, r.stderr
    b, v = split_version(r.stdout)
    assert v == "2"
    assert sha(b) == sha(body(1 << 20))
    assert up.alpn == ["h2"] and [q["path"] for q in up.requests] == ["/size/1048576"]
    # mitmdump's lines for an h2 <-> h2 flow: the version shown, the reason from the table
    assert proxy.wait_stdout(r"127\.0\.0\.1:\d+: GET https://127\.0\.0\.1:%d/size/1048576 HTTP/2\.0$" % up.port)
    assert proxy.wait_stdout(r"^ +<< HTTP/2\.0 200 OK 1\.0m$")
    proxy.stop()
    recs = tn.read_records(str(flows))
    assert len(recs) == 1
    assert recs[0]["request"]["http_version"] == b"HTTP/2.0"
    assert recs[0]["response"]["http_version"] == b"HTTP/2.0"
    assert recs[0]["response"]["status_code"] == 200
    # read back (-r) with a filter, and as HAR: version-neutral
    har = tmp_path / "out.har"
    p = subprocess.run([binary, "dump", "-n", "-r", str(flows), "--set", "confdir=%s" % tmp_path, "--set",
                        "hardump=%s" % har, "~u /size/ & ~s"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0, p.stderr
    assert b"/size/1048576 HTTP/2.0" in p.stdout and b"<< HTTP/2.0 200 OK 1.0m" in p.stdout, p.stdout
    entry = json.loads(har.read_text())["log"]["entries"][0]
    assert entry["request"]["httpVersion"] == "HTTP/2.0" and entry["response"]["httpVersion"] == "HTTP/2.0"
    assert entry["response"]["content"]["size"] == 1 << 20


def test_openssl_s_client_sees_h2_selected(mitmc, pki, upstreams):
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki)
    p = subprocess.run([OPENSSL, "s_client", "-proxy", "127.0.0.1:%d" % proxy.port, "-connect",
                        "127.0.0.1:%d" % up.port, "-alpn", "h2,http/1.1", "-CAfile", ca_cert(proxy)],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert b"ALPN protocol: h2" in p.stdout, p.stdout


def test_http2_off_keeps_both_legs_http1(mitmc, pki, upstreams, curl):
    up = upstreams("h1")
    proxy = start_proxy(mitmc, pki, "--set", "http2=false", "--set", "connection_strategy=lazy")
    r = curl_h(curl, proxy, "https://127.0.0.1:%d/size/1000" % up.port, "--http2")
    assert r.returncode == 0, r.stderr
    b, v = split_version(r.stdout)
    assert v == "1.1" and b == body(1000)


def test_20_parallel_streams_on_one_client_connection(mitmc, pki, upstreams):
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki)
    with tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)) as s:
        assert s.selected_alpn_protocol() == "h2"
        c = H2Client(s, "127.0.0.1:%d" % up.port)
        sizes = {}
        for i in range(20):
            n = 1000 * i + 17 * i * i
            sizes[c.request("GET", "/size/%d" % n)] = n
        c.pump(lambda: set(sizes) <= c.ended)
        for sid, n in sizes.items():
            assert c.status(sid) == b"200"
            assert bytes(c.bodies[sid]) == body(n), sid
    assert sorted(q["path"] for q in up.requests) == sorted("/size/%d" % n for n in sizes.values())
    # the upstream side multiplexes: one h2 connection carried all 20
    assert up.connections == 1


def test_200k_upload_and_trailers(mitmc, pki, upstreams):
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki)
    data = os.urandom(200 * 1024)
    with tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)) as s:
        c = H2Client(s, "127.0.0.1:%d" % up.port)
        a = c.request("POST", "/echo", data, [(b"content-type", b"application/octet-stream")])
        t = c.request("GET", "/trailers")
        c.pump(lambda: {a, t} <= c.ended)
        assert bytes(c.bodies[a]) == ("%d %s" % (len(data), sha(data))).encode()
        assert bytes(c.bodies[t]) == b"ok"
        assert dict(c.trailers[t]) == {b"x-checksum": b"done"}
    assert [q["len"] for q in up.requests if q["path"] == "/echo"] == [len(data)]


def test_rst_stream_mid_download_leaves_siblings_intact(mitmc, pki, upstreams):
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki)
    big = 4 << 20
    with tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)) as s:
        c = H2Client(s, "127.0.0.1:%d" % up.port)
        a = c.request("GET", "/size/%d" % big)
        b = c.request("GET", "/size/%d" % big)
        d = c.request("GET", "/size/300000")

        def cancel_a(sid):
            if sid == a and a not in c.reset and len(c.bodies[a]) > 0:
                c.c.reset_stream(a)
                c.reset[a] = "ours"
                c.flush()

        c.pump(lambda: {b, d} <= c.ended, on_data=cancel_a)
        assert c.reset.get(a) == "ours" and a not in c.ended
        assert bytes(c.bodies[b]) == body(big)
        assert bytes(c.bodies[d]) == body(300000)
        # the connection still serves new streams
        e = c.request("GET", "/after")
        c.pump(lambda: e in c.ended)
        assert bytes(c.bodies[e]) == b"hello /after"
        assert c.terminated is None


def test_h2_client_to_http11_only_upstream(mitmc, pki, upstreams, curl, tmp_path):
    up = upstreams("h1")
    # lazy: the client's ALPN is chosen before the upstream's is known, so it gets h2
    proxy = start_proxy(mitmc, pki, "--set", "connection_strategy=lazy")
    up_file = tmp_path / "up.bin"
    data = os.urandom(300 * 1024)
    up_file.write_bytes(data)
    r = curl_h(curl, proxy, "https://127.0.0.1:%d/echo" % up.port, "--http2", "--data-binary", "@%s" % up_file,
               "-H", "Cookie: a=1", "-H", "Cookie: b=2")
    assert r.returncode == 0, r.stderr
    b, v = split_version(r.stdout)
    assert v == "2"
    assert b == ("%d %s" % (len(data), sha(data))).encode()
    r = curl_h(curl, proxy, "https://127.0.0.1:%d/size/1048576" % up.port, "--http2")
    b, v = split_version(r.stdout)
    assert v == "2" and sha(b) == sha(body(1 << 20))
    q = up.requests[0]
    names = [k.lower() for k, _ in q["headers"]]
    # RFC 9113 §8.3.1: Host from :authority, first; cookie crumbs joined (§8.2.3)
    assert names[0] == b"host" and q["headers"][0][1] == b"127.0.0.1:%d" % up.port
    assert [v for k, v in q["headers"] if k.lower() == b"cookie"] == [b"a=1; b=2"]
    assert b"transfer-encoding" not in names or b"content-length" not in names


def test_http11_client_to_h2_only_upstream(mitmc, pki, upstreams, curl_bin, tmp_path):
    up = upstreams("h2")
    # reverse mode: the proxy opens the upstream itself and offers h2 first
    proxy = start_proxy(mitmc, pki, "--mode", "reverse:https://127.0.0.1:%d" % up.port)
    data = os.urandom(250 * 1024)
    (tmp_path / "up.bin").write_bytes(data)

    def get(path, *args):
        p = subprocess.run([curl_bin, "-q", "-sS", "--max-time", "20", "--http1.1", "-w", "\n%{http_version}",
                            *args, "http://127.0.0.1:%d%s" % (proxy.port, path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 0, p.stderr
        return split_version(p.stdout)

    b, v = get("/echo", "--data-binary", "@%s" % (tmp_path / "up.bin"), "-H", "Cookie: a=1; b=2")
    assert v == "1.1"
    assert b == ("%d %s" % (len(data), sha(data))).encode(), up.errors
    b, v = get("/size/1048576")
    assert v == "1.1" and sha(b) == sha(body(1 << 20))
    b, v = get("/trailers", "-H", "TE: trailers")
    assert b == b"ok"
    assert up.alpn and set(up.alpn) == {"h2"}
    h = up.requests[0]["headers"]
    names = [k for k, _ in h]
    # pseudo-headers first, no connection-specific fields (RFC 9113 §8.2.2), Host gone
    assert names[:4] == [b":method", b":scheme", b":authority", b":path"]
    assert dict(h)[b":authority"] == b"127.0.0.1:%d" % up.port
    assert not {b"connection", b"host", b"keep-alive", b"transfer-encoding", b"expect"} & set(names)
    # split into crumbs on the wire (RFC 9113 §8.2.3); python3-h2 joins them again on receipt
    assert [v for k, v in h if k == b"cookie"] == [b"a=1; b=2"]


def test_rapid_reset_is_survived(mitmc, pki, upstreams, curl):
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki)
    with tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)) as s:
        c = H2Client(s, "127.0.0.1:%d" % up.port)
        # the CVE-2023-44487 pattern: HEADERS then RST_STREAM, over and over, in one burst
        for _ in range(1000):
            sid = c.c.get_next_available_stream_id()
            c.c.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", c.authority),
                                   (b":path", b"/r")], end_stream=True)
            c.c.reset_stream(sid)
        s.settimeout(30)
        try:
            c.flush()
        except (BrokenPipeError, ConnectionResetError):
            c.terminated = "closed"
        c.pump(lambda: c.terminated is not None, timeout=30)
        assert c.terminated in (11, "closed")  # ENHANCE_YOUR_CALM
    assert proxy.wait_stdout(r"HTTP/2 peer 127\.0\.0\.1:\d+ reset too many streams \(rapid reset")
    # a new client is served
    r = curl_h(curl, proxy, "https://127.0.0.1:%d/size/5000" % up.port, "--http2")
    b, v = split_version(r.stdout)
    assert r.returncode == 0 and v == "2" and b == body(5000)


def test_early_error_response_stops_the_upload_only(mitmc, pki, upstreams):
    """413 before the request body ended: the client gets the response, then RST_STREAM
    (NO_ERROR) so it stops sending (RFC 9113 §8.1); the connection goes on."""
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki, "--set", "body_size_limit=10k")
    with tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)) as s:
        c = H2Client(s, "127.0.0.1:%d" % up.port)
        a = c.request("POST", "/echo", body(3 << 20))  # no content-length: found out while reading
        c.pump(lambda: a in c.ended and a in c.reset)
        assert c.status(a) == b"413"
        assert b"Request body exceeds body_size_limit" in bytes(c.bodies[a])
        assert c.reset[a] == 0  # NO_ERROR
        e = c.request("GET", "/after")
        c.pump(lambda: e in c.ended)
        assert bytes(c.bodies[e]) == b"hello /after"
    assert [q["path"] for q in up.requests] == ["/after"]


def test_settings_limits_are_options(mitmc, pki, upstreams):
    up = upstreams("h2")
    proxy = start_proxy(mitmc, pki, "--set", "http2_max_concurrent_streams=7", "--set",
                        "http2_max_header_list_size=8k", "--set", "http2_max_frame_size=99999999")
    with tunnel(proxy.port, "127.0.0.1", up.port, ca_cert(proxy)) as s:
        c = H2Client(s, "127.0.0.1:%d" % up.port)
        a = c.request("GET", "/size/70000")
        c.pump(lambda: a in c.ended)
        rs = c.c.remote_settings
        assert rs.max_concurrent_streams == 7
        assert rs.max_header_list_size == 8192
        assert rs.max_frame_size == (1 << 24) - 1  # clamped to RFC 9113 §6.5.2's maximum
        assert bytes(c.bodies[a]) == body(70000)
        # a header list over the advertised size resets that stream only
        big = c.request("GET", "/size/10", headers=[(b"x-big-%d" % i, b"v" * 1000) for i in range(12)])
        c.pump(lambda: big in c.reset or big in c.ended)
        assert big in c.reset and big not in c.headers, "a header list over 8k was not refused"
        ok = c.request("GET", "/size/10")
        c.pump(lambda: ok in c.ended)
        assert c.status(ok) == b"200" and bytes(c.bodies[ok]) == body(10)
