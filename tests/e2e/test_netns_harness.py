"""The network-namespace harness (netns.py), proven with the platform code transparent mode uses.

origdst_echo (tests/platform/origdst_echo.c) listens in the proxy namespace, and for every
connection reports what mitm_orig_dst() and mitm_orig_dst_is_self() say, both on its stdout (the
server side) and as the HTTP body it answers (the client side); the tests check both. Clients
run in the client namespace: curl, and a raw TCP connect from /usr/bin/python3.
"""
import os
import re
import subprocess
import threading

import pytest

import e2e_util as u
import netns as nx
from netns import netns  # noqa: F401  (the fixture)

ECHO = os.environ.get("ORIGDST_ECHO_BIN") or os.path.join(os.path.dirname(u.BIN), "tests", "platform",
                                                         "origdst_echo")
pytestmark = u.mitmc_only  # our platform code, not the binary under test: nothing to compare


class Echo:
    """origdst_echo started in a namespace; .port, .lines (stdout, read by a thread)."""

    def __init__(self, ns, where, host):
        if not os.access(ECHO, os.X_OK):
            pytest.fail("%s is not built (ninja -C <build>; ORIGDST_ECHO_BIN overrides)" % ECHO)
        self.proc = ns.popen(where, [ECHO, host, "0"])
        self.cond = threading.Condition()
        self.lines = []
        first = self.proc.stdout.readline().decode()
        m = re.match(r"listening at (\S+):(\d+)$", first.strip())
        if not m:
            ns.stop(self.proc)
            raise AssertionError("origdst_echo did not start: %r %r" % (first, self.proc.stderr.read()))
        self.port = int(m.group(2))
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode().rstrip("\n"))
                self.cond.notify_all()

    def wait_line(self, n, timeout=u.IO_TIMEOUT):
        """The n-th (0-based) connection line, waiting for it."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.lines) > n, timeout)
            assert len(self.lines) > n, "origdst_echo printed no line %d: %r" % (n, self.lines)
            return self.lines[n]


def curl(ns, url, *args):
    """curl in the client namespace; returns the body (the echo's line)."""
    r = ns.run(ns.client, ["curl", "-q", "-sS", "-g", "--max-time", "10", "--noproxy", "*"] + list(args) + [url],
               timeout=20)
    assert r.returncode == 0, "curl %s: %s" % (url, r.stderr.decode())
    return r.stdout.decode().rstrip("\n")


RAW_CLIENT = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
sys.stdout.write(data.split(b"\r\n\r\n", 1)[1].decode())
"""


def raw_tcp(ns, host, port):
    """A plain TCP connect + HTTP/1.0 request from the client namespace; returns the body."""
    r = ns.run(ns.client, ["/usr/bin/python3", "-c", RAW_CLIENT, host, str(port)], timeout=20)
    assert r.returncode == 0, "raw connect to %s:%d: %s" % (host, port, r.stderr.decode())
    return r.stdout.decode().rstrip("\n")


def expect(body, echo, n, peer_host, dst, local, self_=0):
    """The client got the n-th line and it says peer -> dst, local, self."""
    line = echo.wait_line(n)
    assert body == line, "client saw %r, server printed %r" % (body, line)
    m = re.match(r"orig_dst (\S+) -> (\S+) local=(\S+) self=(\d)$", line)
    assert m, line
    assert m.group(1).rsplit(":", 1)[0] == peer_host, line
    assert m.group(2) == dst, line
    assert m.group(3) == local, line
    assert int(m.group(4)) == self_, line


@pytest.fixture
def echo(netns):  # noqa: F811
    """Factory: echo(where, host) starts origdst_echo in namespace where on host:0. Each one is
    stopped by PID (and must exit 0) and its reader joined before the namespaces go."""
    started = []

    def start(where, host):
        e = Echo(netns, where, host)
        started.append(e)
        return e

    yield start
    for e in started:
        rc = netns.stop(e.proc)
        e.thread.join(5)
        assert rc == 0, "origdst_echo exited with %r: %r" % (rc, e.proc.stderr.read())


@pytest.fixture
def dual(netns, echo):  # noqa: F811
    """origdst_echo on [::]:P (dual-stack) in the proxy namespace, with ports 80 and 443 redirected
    to it for IPv4 and (if the kernel can) IPv6."""
    e = echo(netns.proxy, "::")
    netns.redirect(e.port)
    return e


def need_v6(ns):
    if not ns.has_v6_nat:
        pytest.skip(ns.v6_nat_error)


def test_ipv4_redirect_to_the_proxy_hosts_address(netns, dual):  # noqa: F811
    # A dual-stack socket sees this IPv4 connection as ::ffff:10.201.0.2: the lookup must use SOL_IP.
    body = curl(netns, "http://%s/" % nx.PROXY_V4)
    expect(body, dual, 0, nx.CLIENT_V4, "%s:80" % nx.PROXY_V4, "%s:%d" % (nx.PROXY_V4, dual.port))


def test_ipv6_redirect_to_the_proxy_hosts_address(netns, dual):  # noqa: F811
    need_v6(netns)
    body = curl(netns, "http://[%s]/" % nx.PROXY_V6)
    expect(body, dual, 0, "[%s]" % nx.CLIENT_V6, "[%s]:80" % nx.PROXY_V6, "[%s]:%d" % (nx.PROXY_V6, dual.port))


def test_routed_destinations_that_exist_nowhere_are_redirected(netns, dual):  # noqa: F811
    # The gateway case: the client's default route is the proxy host; 203.0.113.9 (TEST-NET-3) and
    # 2001:db8::9 (documentation prefix) are nobody's addresses, yet the connection lands here.
    body = raw_tcp(netns, "203.0.113.9", 443)
    expect(body, dual, 0, nx.CLIENT_V4, "203.0.113.9:443", "%s:%d" % (nx.PROXY_V4, dual.port))
    need_v6(netns)
    body = curl(netns, "http://[2001:db8::9]/")
    expect(body, dual, 1, "[%s]" % nx.CLIENT_V6, "[2001:db8::9]:80", "[%s]:%d" % (nx.PROXY_V6, dual.port))


def test_direct_connection_to_the_listener_is_not_redirected(netns, dual):  # noqa: F811
    # No rule matched, but conntrack is active in this namespace (the nat table is loaded), so the
    # lookup answers the listener's own address: is_self says so, and the mode layer will refuse.
    body = raw_tcp(netns, nx.PROXY_V4, dual.port)
    hp = "%s:%d" % (nx.PROXY_V4, dual.port)
    expect(body, dual, 0, nx.CLIENT_V4, hp, hp, self_=1)
    need_v6(netns)
    body = curl(netns, "http://[%s]:%d/" % (nx.PROXY_V6, dual.port))
    hp = "[%s]:%d" % (nx.PROXY_V6, dual.port)
    expect(body, dual, 1, "[%s]" % nx.CLIENT_V6, hp, hp, self_=1)


def test_ipv4_only_listener_and_other_ports(netns, echo):  # noqa: F811
    # An AF_INET listener (the plain IPv4 path), reached through a rule for another port; ports
    # without a rule are not redirected (the connection is refused: nothing listens on 81).
    e = echo(netns.proxy, "0.0.0.0")
    netns.redirect(e.port, ports=(8443,), v6=False)
    body = curl(netns, "http://%s:8443/" % nx.PROXY_V4)
    expect(body, e, 0, nx.CLIENT_V4, "%s:8443" % nx.PROXY_V4, "%s:%d" % (nx.PROXY_V4, e.port))
    r = netns.run(netns.client, ["curl", "-q", "-sS", "--max-time", "5", "http://%s:81/" % nx.PROXY_V4])
    assert r.returncode == 7, r.stderr  # CURLE_COULDNT_CONNECT
    assert len(e.lines) == 1


def test_teardown_stops_processes_and_removes_namespaces():
    n = nx.Netns()
    try:
        n.setup()
    except nx.Skip as e:
        n.teardown()
        pytest.skip(str(e))
    sleeper = n.popen(n.proxy, ["sleep", "600"])
    ns_list = subprocess.run([n.ip, "netns", "list"], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert n.client in ns_list and n.proxy in ns_list
    n.teardown()
    assert sleeper.poll() is not None, "the process in the namespace was stopped by its PID"
    ns_list = subprocess.run([n.ip, "netns", "list"], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert n.client not in ns_list and n.proxy not in ns_list
    links = subprocess.run([n.ip, "-o", "link"], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert n.client_dev not in links and n.proxy_dev not in links, "no veth left in the root namespace"
