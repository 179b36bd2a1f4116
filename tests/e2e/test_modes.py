"""Proxy modes and raw TCP end to end (reverse, upstream, socks5, several at once, TCP flows,
absolute-form https, client replay over TLS, timeouts), with real clients (curl, raw sockets)
through the real binary. Transparent mode, which needs network namespaces, is in
test_transparent.py."""
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

import e2e_util as u
from tls_util import Pki, TlsUpstream, ca_cert

pytestmark = u.mitmc_only  # the modes follow mitmproxy 12 (log lines, replies), not 8.1.1


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki-modes"))


@pytest.fixture
def tls_up(pki):
    servers = []

    def start(kind="good"):
        s = TlsUpstream(getattr(pki, kind))
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def http_up():
    up = u.HttpUpstream()
    yield up
    up.stop()


def curl(*args, timeout=20):
    p = subprocess.run(["curl", "-sS", "--max-time", "10", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def trust(pki):
    return ["--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0]]


# --------------------------------------------------------------------------- reverse

def test_reverse_http_rewrites_host(mitmc, http_up):
    p = mitmc("-m", "reverse:http://127.0.0.1:%d" % http_up.port)
    rc, out, err = curl("http://127.0.0.1:%d/hello?x=1" % p.port, "-H", "X-Test: 1")
    assert rc == 0, err
    req = http_up.requests[-1]
    assert req["path"] == "/hello?x=1"
    assert u.header(req["headers"], "Host") == "127.0.0.1:%d" % http_up.port
    assert u.header(req["headers"], "X-Test") == "1"
    assert p.wait_stdout(r"GET http://127.0.0.1:%d/hello\?x=1" % http_up.port)
    assert "reverse proxy to http://127.0.0.1:%d listening at" % http_up.port in p.stdout


def test_reverse_keep_host_header(mitmc, http_up):
    p = mitmc("-m", "reverse:http://127.0.0.1:%d" % http_up.port, "--set", "keep_host_header=true")
    rc, _, err = curl("http://localhost:%d/" % p.port)
    assert rc == 0, err
    assert u.header(http_up.requests[-1]["headers"], "Host") == "localhost:%d" % p.port


def test_reverse_https_plain_and_tls_clients(mitmc, pki, tls_up):
    up = tls_up()
    p = mitmc("-m", "reverse:https://127.0.0.1:%d" % up.port, *trust(pki))
    rc, out, err = curl("http://127.0.0.1:%d/plain" % p.port)
    assert rc == 0 and out == b"hello /plain", err
    rc, out, err = curl("--cacert", ca_cert(p), "https://127.0.0.1:%d/tls" % p.port)
    assert rc == 0 and out == b"hello /tls", err
    assert up.paths == ["/plain", "/tls"]


def test_reverse_https_refuses_a_target_whose_certificate_fails(mitmc, pki, tls_up):
    up = tls_up("untrusted")
    p = mitmc("-m", "reverse:https://127.0.0.1:%d" % up.port, *trust(pki))
    rc, out, err = curl("http://127.0.0.1:%d/x" % p.port)
    assert rc != 0 and out == b""
    assert p.wait_stdout(r"Certificate verify failed")
    assert up.paths == []


def test_reverse_tcp_and_tls(mitmc, pki, tcp_server):
    echo = tcp_server()
    p = mitmc("-m", "reverse:tcp://127.0.0.1:%d" % echo.port)
    s = u.connect(p.port)
    s.sendall(b"\x00\x01binary\xff")
    assert u.Reader(s).exactly(9) == b"\x00\x01binary\xff"
    s.close()
    assert p.wait_stdout(r"127\.0\.0\.1:\d+ -> tcp -> 127\.0\.0\.1:%d" % echo.port)


def test_reverse_tls_target(mitmc, pki, tcp_server):
    # a TLS echo server: the proxy speaks TLS to it and plain TCP to the client
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pki.good)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)

    def serve():
        c, _ = ls.accept()
        t = ctx.wrap_socket(c, server_side=True)
        t.sendall(t.recv(100).upper())
        t.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    p = mitmc("-m", "reverse:tls://127.0.0.1:%d" % ls.getsockname()[1], *trust(pki))
    s = u.connect(p.port)
    s.sendall(b"shout")
    assert u.Reader(s).exactly(5) == b"SHOUT"
    th.join(5)
    ls.close()


# --------------------------------------------------------------------------- upstream

def test_upstream_chain_http_https_then_parent_gone(mitmc, pki, http_up, tls_up):
    parent = mitmc(*trust(pki))
    child = mitmc("-m", "upstream:http://127.0.0.1:%d" % parent.port,
                  "--set", "ssl_verify_upstream_trusted_ca=%s" % ca_cert(parent))
    rc, out, err = curl("-x", "http://127.0.0.1:%d" % child.port, "http://127.0.0.1:%d/via" % http_up.port)
    assert rc == 0, err
    assert http_up.requests[-1]["path"] == "/via"
    assert parent.wait_stdout(r"GET http://127.0.0.1:%d/via" % http_up.port)
    up = tls_up()
    rc, out, err = curl("--cacert", ca_cert(child), "-x", "http://127.0.0.1:%d" % child.port,
                        "https://127.0.0.1:%d/secret" % up.port)
    assert rc == 0 and out == b"hello /secret", err
    assert parent.wait_stdout(r"GET https://127.0.0.1:%d/secret" % up.port)
    parent.stop()
    rc, out, err = curl("-x", "http://127.0.0.1:%d" % child.port, "-o", "/dev/null", "-w", "%{http_code}",
                        "http://127.0.0.1:%d/after" % http_up.port)
    assert out == b"502", (out, err)


def test_upstream_auth_on_connect(mitmc, tcp_server):
    # the parent is a raw server that records the CONNECT and refuses it
    class Refuser(u.TcpServer):
        def _serve(self, c):
            self.received += c.recv(4096)
            c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            c.close()

    parent = Refuser()
    try:
        child = mitmc("-m", "upstream:http://127.0.0.1:%d" % parent.port, "--set", "upstream_auth=user:pass")
        rc, out, err = curl("-k", "-x", "http://127.0.0.1:%d" % child.port, "https://example.test/")
        assert rc != 0
        assert b"CONNECT example.test:443 HTTP/1.1\r\n" in parent.received
        assert b"Proxy-Authorization: Basic dXNlcjpwYXNz\r\n" in parent.received
        assert child.wait_stdout(r"refused the CONNECT to example\.test:443: 407")
    finally:
        parent.stop()


# --------------------------------------------------------------------------- socks5

def test_socks5_hostname_ip_and_https(mitmc, pki, http_up, tls_up):
    p = mitmc("-m", "socks5", *trust(pki))
    assert "SOCKS v5 proxy listening at" in p.stdout
    rc, out, err = curl("--socks5-hostname", "127.0.0.1:%d" % p.port, "http://localhost:%d/name" % http_up.port)
    assert rc == 0, err
    assert http_up.requests[-1]["path"] == "/name"
    rc, out, err = curl("--socks5", "127.0.0.1:%d" % p.port, "http://127.0.0.1:%d/ip" % http_up.port)
    assert rc == 0, err
    up = tls_up()
    rc, out, err = curl("--cacert", ca_cert(p), "--socks5-hostname", "127.0.0.1:%d" % p.port,
                        "https://127.0.0.1:%d/tls" % up.port)
    assert rc == 0 and out == b"hello /tls", err
    assert p.wait_stdout(r"GET https://127.0.0.1:%d/tls" % up.port)


def test_socks5_garbage_and_refused_commands(mitmc):
    p = mitmc("-m", "socks5")
    s = u.connect(p.port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert u.Reader(s).at_eof()
    assert p.wait_stdout(r"Probably not a SOCKS request but a regular HTTP request")
    s = u.connect(p.port)
    s.sendall(b"\x05\x01\x00")
    assert u.Reader(s).exactly(2) == b"\x05\x00"
    s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")  # BIND
    assert u.Reader(s).exactly(10)[:2] == b"\x05\x07"


def test_socks5_unreachable_destination(mitmc):
    p = mitmc("-m", "socks5")
    port = u.free_port()
    s = u.connect(p.port)
    s.sendall(b"\x05\x01\x00")
    assert u.Reader(s).exactly(2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
    rd = u.Reader(s)
    assert rd.exactly(10)[:2] == b"\x05\x04"
    assert rd.at_eof()


def test_socks5_proxyauth(mitmc, http_up):
    """With --proxyauth, socks5 mode offers only RFC 1929 username/password: a good pair
    lets the connection through, a bad one gets status 1 and no upstream request, and a
    client that offers no authentication gets "no acceptable methods"."""
    p = mitmc("-m", "socks5", "--proxyauth", "user:pass")
    url = "http://127.0.0.1:%d/auth" % http_up.port
    rc, out, err = curl("-x", "socks5h://user:pass@127.0.0.1:%d" % p.port, url)
    assert rc == 0, err
    assert [r["path"] for r in http_up.requests] == ["/auth"]
    rc, out, err = curl("-x", "socks5h://user:wrong@127.0.0.1:%d" % p.port, url + "2")
    assert rc != 0
    s = u.connect(p.port)
    s.sendall(b"\x05\x01\x02")
    rd = u.Reader(s)
    assert rd.exactly(2) == b"\x05\x02"
    s.sendall(b"\x01\x04user\x03bad")
    assert rd.exactly(2) == b"\x01\x01"
    assert rd.at_eof()
    s = u.connect(p.port)
    s.sendall(b"\x05\x01\x00")
    rd = u.Reader(s)
    assert rd.exactly(2) == b"\x05\xff"
    assert rd.at_eof()
    assert [r["path"] for r in http_up.requests] == ["/auth"]
    assert p.wait_stdout(r"authentication failed")


# --------------------------------------------------------------------------- several at once

def test_regular_socks5_and_reverse_in_one_process(mitmc, http_up):
    p0, p1, p2 = u.free_port(), u.free_port(), u.free_port()
    p = mitmc("-m", "regular@127.0.0.1:%d" % p0, "-m", "socks5@127.0.0.1:%d" % p1,
              "-m", "reverse:http://127.0.0.1:%d@127.0.0.1:%d" % (http_up.port, p2))
    for line in ("HTTP(S) proxy listening at 127.0.0.1:%d." % p0, "SOCKS v5 proxy listening at 127.0.0.1:%d." % p1,
                 "reverse proxy to http://127.0.0.1:%d listening at 127.0.0.1:%d." % (http_up.port, p2)):
        assert p.wait_stdout(re.escape(line))
    target = "http://127.0.0.1:%d" % http_up.port
    assert curl("-x", "http://127.0.0.1:%d" % p0, target + "/a")[0] == 0
    assert curl("--socks5", "127.0.0.1:%d" % p1, target + "/b")[0] == 0
    assert curl("http://127.0.0.1:%d/c" % p2)[0] == 0
    assert [r["path"] for r in http_up.requests[-3:]] == ["/a", "/b", "/c"]


# --------------------------------------------------------------------------- raw TCP

def connect_tunnel(port, target):
    """A CONNECT tunnel: the socket and its reader, which may already hold the first bytes
    the server sent after the 200 (a banner arrives in the same read under load)."""
    s = u.connect(port)
    s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()))
    rd = u.Reader(s)
    head = rd.until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return s, rd


def test_client_first_binary_protocol_in_connect(mitmc, tcp_server, tmp_path):
    echo = tcp_server()
    out = tmp_path / "tcp.flows"
    p = mitmc("-w", str(out), "--flow-detail", "3")
    s, rd = connect_tunnel(p.port, "127.0.0.1:%d" % echo.port)
    payload = bytes(range(256)) * 64
    s.sendall(payload)
    assert rd.exactly(len(payload)) == payload
    s.shutdown(socket.SHUT_WR)
    assert rd.at_eof()
    assert p.wait_stdout(r"127\.0\.0\.1:\d+ -> tcp -> 127\.0\.0\.1:%d" % echo.port)
    assert p.wait_stdout(r"127\.0\.0\.1:\d+ <- tcp <- 127\.0\.0\.1:%d" % echo.port)
    p.stop()
    r = subprocess.run([p.argv[0], "dump", "-n", "-r", str(out), "--set", "confdir=%s" % tmp_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    # the file replays every message, each way, as load_flow runs tcp_message per message
    assert re.search(rb"-> tcp -> 127\.0\.0\.1:%d" % echo.port, r.stdout), r.stdout
    assert re.search(rb"<- tcp <- 127\.0\.0\.1:%d" % echo.port, r.stdout), r.stdout


def test_server_first_banner_with_tcp_hosts(mitmc, tcp_server):
    srv = tcp_server(banner=b"220 mail.test ESMTP\r\n", echo=True)
    p = mitmc("--tcp-hosts", "127\\.0\\.0\\.1:%d" % srv.port)
    s, rd = connect_tunnel(p.port, "127.0.0.1:%d" % srv.port)
    assert rd.until(b"\r\n") == b"220 mail.test ESMTP\r\n"
    s.sendall(b"EHLO x\r\n")
    assert rd.until(b"\r\n") == b"EHLO x\r\n"
    assert srv.received == b"EHLO x\r\n"


# --------------------------------------------------------------------------- HTTPS without CONNECT

def test_absolute_form_https_goes_over_tls(mitmc, pki, tls_up):
    up = tls_up()
    p = mitmc(*trust(pki))
    s = u.connect(p.port)
    s.sendall(b"GET https://127.0.0.1:%d/abs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (up.port, up.port))
    r = u.read_response(u.Reader(s))
    assert r.status == 200 and r.body == b"hello /abs"
    assert up.paths == ["/abs"]


def test_client_replay_of_https_flow(mitmc, pki, tls_up, tmp_path):
    up = tls_up()
    rec = tmp_path / "https.flows"
    p = mitmc("-w", str(rec), *trust(pki))
    rc, out, err = curl("--cacert", ca_cert(p), "-x", "http://127.0.0.1:%d" % p.port,
                        "https://127.0.0.1:%d/recorded" % up.port)
    assert rc == 0, err
    p.stop()
    assert up.paths == ["/recorded"]
    r = subprocess.run([p.argv[0], "dump", "-n", "-C", str(rec), "--set", "confdir=%s" % tmp_path, *trust(pki)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert r.returncode == 0, r.stdout
    assert up.paths == ["/recorded", "/recorded"], r.stdout


# --------------------------------------------------------------------------- timeouts

def test_idle_and_slowloris_clients_are_closed(mitmc, http_up):
    p = mitmc("--set", "http_idle_timeout=1", "--set", "http_header_timeout=1")
    idle = u.connect(p.port)
    slow = u.connect(p.port)
    slow.sendall(b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\n" % http_up.port)
    t0 = time.monotonic()
    # a normal client is served meanwhile, several times, on one connection
    ok = u.connect(p.port)
    for i in range(3):
        ok.sendall(b"GET http://127.0.0.1:%d/echo HTTP/1.1\r\nHost: x\r\n\r\n" % http_up.port)
        assert u.read_response(u.Reader(ok)).status == 200
        time.sleep(0.3)
    r = u.read_response(u.Reader(slow, timeout=10))
    assert r.status == 408
    assert u.Reader(idle, timeout=10).at_eof(timeout=10)
    assert time.monotonic() - t0 < 8
    assert p.wait_stdout(r"Request head not complete after 1 s")
    assert p.wait_stdout(r"idle for 1 s: closing")  # the served connection, afterwards
    assert p.wait_stdout(r"No data from the client within 1 s: closing")  # the silent one


def test_idle_tcp_connection_is_closed(mitmc, tcp_server):
    echo = tcp_server()
    p = mitmc("--set", "tcp_timeout=1")
    s, rd = connect_tunnel(p.port, "127.0.0.1:%d" % echo.port)
    s.sendall(b"\x00\x00\x00")  # not HTTP: raw TCP
    assert rd.exactly(3) == b"\x00\x00\x00"
    assert rd.at_eof(timeout=10)
    assert p.wait_stdout(r"TCP connection to 127\.0\.0\.1:%d idle for 1 s" % echo.port)


# --------------------------------------------------------------------------- Alt-Svc, IPv6

def test_reverse_rewrites_alt_svc(mitmc):
    up = u.RawUpstream(reply=b"HTTP/1.1 200 OK\r\nAlt-Svc: h3=\":443\"; ma=60, h2=\"alt.test:8443\"\r\n"
                             b"Content-Length: 0\r\n\r\n")
    try:
        p = mitmc("-m", "reverse:http://127.0.0.1:%d" % up.port)
        r = u.exchange(p.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.header("Alt-Svc") == 'h3=":%d"; ma=60, h2=":%d"' % (p.port, p.port)
        p2 = mitmc("-m", "reverse:http://127.0.0.1:%d" % up.port, "--set", "keep_alt_svc_header=true")
        r = u.exchange(p2.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.header("Alt-Svc") == 'h3=":443"; ma=60, h2="alt.test:8443"'
    finally:
        up.stop()


class V6Upstream:
    """An HTTP server on [::1]:0 answering "v6 <path>"."""

    def __init__(self):
        import http.server

        class S(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                body = ("v6 " + self.path).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = S(("::1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_ipv6_listen_upstream_and_connect(mitmc):
    up = V6Upstream()
    try:
        p = mitmc(listen_host="::1")
        rc, out, err = curl("-g", "-x", "http://[::1]:%d" % p.port, "http://[::1]:%d/abs" % up.port)
        assert rc == 0 and out == b"v6 /abs", err
        rc, out, err = curl("-g", "-p", "-x", "http://[::1]:%d" % p.port, "http://[::1]:%d/tunnel" % up.port)
        assert rc == 0 and out == b"v6 /tunnel", err
        assert p.wait_stdout(r"GET http://\[::1\]:%d/tunnel" % up.port)
    finally:
        up.stop()
