"""Transparent mode end to end, in two network namespaces (netns.py): the client routes through
the proxy host, whose iptables/ip6tables REDIRECT ports 80 and 443 to `mitmc dump -m
transparent`. Origins listen in the proxy namespace on addresses that exist nowhere else
(203.0.113.9, 2001:db8::9), so only the original destination (SO_ORIGINAL_DST) can lead
there: names the client used (Host, SNI) do not resolve anywhere.
"""
import os
import re
import subprocess
import time

import pytest

import e2e_util as u
import netns as nx
from netns import netns  # noqa: F401  (the fixture)
from tls_util import Pki

pytestmark = u.mitmc_only  # Debian's mitmdump would need the same namespaces; nothing to compare

ORIGIN_V4, ORIGIN_V6 = "203.0.113.9", "2001:db8::9"

# The origins: HTTP on :80 and HTTPS on :443 of both addresses. Each answers
# "peer=<ip> host=<Host> sni=<SNI> path=<path>" so the client sees what the origin saw.
ORIGIN = r"""
import http.server, socketserver, ssl, sys, threading
cert, key, addrs = sys.argv[1], sys.argv[2], sys.argv[3:]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        sni = getattr(self.connection, "sni", "-")
        body = ("peer=%s host=%s sni=%s path=%s" % (self.client_address[0], self.headers.get("Host"), sni,
                                                   self.path)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
class S4(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
class S6(S4):
    import socket
    address_family = socket.AF_INET6
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
def sni_cb(sock, name, c): sock.sni = name or "-"
ctx.sni_callback = sni_cb
servers = []
for a in addrs:
    cls = S6 if ":" in a else S4
    for port, tls in ((80, False), (443, True)):
        s = cls((a, port), H)
        if tls:
            s.socket = ctx.wrap_socket(s.socket, server_side=True)
        servers.append(s)
        threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("pki-transparent"))
    p.origin = p._leaf("origin", p.ca, "nowhere.invalid",
                       "DNS:nowhere.invalid,IP:%s,IP:%s" % (ORIGIN_V4, ORIGIN_V6), 30)
    return p


@pytest.fixture
def setup(netns, pki, binary, tmp_path):  # noqa: F811
    """Origins up, mitmc in transparent mode on a dual-stack port, REDIRECT rules to it."""
    netns.add_address(netns.proxy, ORIGIN_V4 + "/32")
    netns.add_address(netns.proxy, ORIGIN_V6 + "/128")
    addrs = [ORIGIN_V4] + ([ORIGIN_V6] if netns.has_v6_nat else [])
    origin = netns.popen(netns.proxy, ["/usr/bin/python3", "-c", ORIGIN, pki.origin[0], pki.origin[1]] + addrs,
                         stdin=subprocess.PIPE)
    assert origin.stdout.readline().strip() == b"ready", origin.stderr.read()
    conf = tmp_path / "conf"
    flows = tmp_path / "t.flows"
    proxy = netns.popen(netns.proxy, [binary, "dump", "-m", "transparent", "-p", "0", "-w", str(flows),
                                      "--set", "confdir=%s" % conf,
                                      "--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0]])
    line = proxy.stdout.readline().decode()
    m = re.search(r"Transparent Proxy listening at \S+:(\d+)\.", line)
    assert m, line + proxy.stderr.read().decode()
    port = int(m.group(1))
    netns.redirect(port)
    return {"port": port, "proxy": proxy, "ca": str(conf / "mitmproxy-ca-cert.pem"), "flows": flows,
            "conf": conf}


def curl(ns, *args):
    r = ns.run(ns.client, ["curl", "-q", "-sS", "-g", "--max-time", "10", "--noproxy", "*"] + list(args),
               timeout=20)
    assert r.returncode == 0, "curl %s: %s" % (args, r.stderr.decode())
    return dict(kv.split("=", 1) for kv in r.stdout.decode().split())


def recorded(binary, setup, netns):  # noqa: F811
    """The flows mitmc wrote, as `mitmc dump -n -r` prints them (after stopping it: every
    flow is in the file once the process ended)."""
    netns.stop(setup["proxy"])
    r = subprocess.run([binary, "dump", "-n", "-r", str(setup["flows"]), "--set", "confdir=%s" % setup["conf"]],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return r.stdout.decode()


def test_ipv4_http_https_and_bare_ip(netns, setup, binary):  # noqa: F811
    # plain HTTP with a Host that resolves nowhere: the original destination decides
    got = curl(netns, "-H", "Host: nowhere.invalid", "http://%s/plain" % ORIGIN_V4)
    assert got["host"] == "nowhere.invalid" and got["path"] == "/plain"
    assert got["peer"] != nx.CLIENT_V4  # the origin sees the proxy, not the client
    # HTTPS with an SNI that resolves nowhere; the forged certificate must verify for it
    got = curl(netns, "--cacert", setup["ca"], "--resolve", "nowhere.invalid:443:%s" % ORIGIN_V4,
               "https://nowhere.invalid/sni")
    assert got["sni"] == "nowhere.invalid" and got["path"] == "/sni"
    # HTTPS to a bare IP (curl sends no SNI): the leaf carries the IP from the original destination
    got = curl(netns, "--cacert", setup["ca"], "https://%s/ip" % ORIGIN_V4)
    assert got["sni"] == "-" and got["path"] == "/ip"
    out = recorded(binary, setup, netns)
    assert "GET http://nowhere.invalid/plain" in out or "GET http://%s/plain" % ORIGIN_V4 in out, out
    assert "GET https://%s/sni" % ORIGIN_V4 in out, out
    assert "GET https://%s/ip" % ORIGIN_V4 in out, out


def test_ipv6(netns, setup, binary):  # noqa: F811
    if not netns.has_v6_nat:
        pytest.skip(netns.v6_nat_error)
    got = curl(netns, "-H", "Host: nowhere.invalid", "http://[%s]/v6" % ORIGIN_V6)
    assert got["path"] == "/v6" and got["peer"] != nx.CLIENT_V6
    got = curl(netns, "--cacert", setup["ca"], "https://[%s]/v6tls" % ORIGIN_V6)
    assert got["path"] == "/v6tls"
    out = recorded(binary, setup, netns)
    assert "GET https://[%s]/v6tls" % ORIGIN_V6 in out, out


def test_connection_that_was_not_redirected_is_refused(netns, setup):  # noqa: F811
    # straight to the proxy's port, not through a REDIRECT rule: its original destination is
    # the proxy itself, which must not be relayed (it would loop)
    r = netns.run(netns.client, ["curl", "-sS", "--max-time", "5", "http://%s:%d/" % (nx.PROXY_V4, setup["port"])],
                  timeout=20)
    assert r.returncode != 0
    proxy = setup["proxy"]
    deadline = time.monotonic() + 10
    seen = b""
    os.set_blocking(proxy.stdout.fileno(), False)
    while time.monotonic() < deadline and b"not redirected" not in seen:
        seen += proxy.stdout.read() or b""
        time.sleep(0.1)
    assert b"Transparent mode failure" in seen and b"not redirected" in seen, seen
