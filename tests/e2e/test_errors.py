"""Upstream connection errors become 502 (504 for a connect timeout) with a readable reason."""
import re
import socket
import time

import pytest

import e2e_util as u


def get(proxy_port, host_port):
    # 30 s: a resolver without network may retry for a while before failing (liveness bound).
    return u.exchange(proxy_port, b"GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n" % (host_port, host_port),
                      timeout=30)


def test_connect_refused_502(proxy):
    # A bound but not listening socket keeps the port ours and refuses connections.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        r = get(proxy.port, b"127.0.0.1:%d" % port)
    assert r.status == 502, r
    assert re.search(rb"refused|connect call failed", r.body, re.I), r.body


def test_dns_failure_502(proxy):
    r = get(proxy.port, b"nonexistent.invalid")
    assert r.status == 502, r
    assert r.body.strip(), "the 502 body must name the reason"


@u.mitmc_only
def test_connect_timeout_504(mitmc):
    p = mitmc("--set", "connect_timeout=1")
    # Linux drops SYNs to a listener whose accept queue is full, so once we fill the queue of
    # a backlog-0 listener that never accepts, further connects get no answer at all.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(0)
        port = hole.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex(("127.0.0.1", port))
                fillers.append(f)
            probe = socket.socket()
            probe.settimeout(0.5)
            try:
                probe.connect(("127.0.0.1", port))
                pytest.skip("cannot make a non-answering address on loopback here")
            except socket.timeout:
                pass
            finally:
                probe.close()
            r = get(p.port, b"127.0.0.1:%d" % port)
        finally:
            for f in fillers:
                f.close()
    assert r.status == 504, r
    assert r.body.strip()


@u.mitmc_only  # mitmdump 8.1.1 answers the same 502 (curl), but keeps this raw exchange open
def test_request_to_the_proxy_itself_is_refused(proxy):
    """A request whose destination is the proxy's own address would loop through it until
    something runs out: refused before connecting, as mitmproxy's proxyserver does."""
    hosts = (b"127.0.0.1", b"localhost", b"localhost.", b"127.0.0.2", b"[::ffff:127.0.0.1]")
    for host in hosts:
        hp = b"%s:%d" % (host, proxy.port)
        r = u.exchange(proxy.port, b"GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (hp, hp),
                       timeout=30)
        assert r.status == 502, r
        assert b"Request destination unknown" in r.body, r.body
    deadline = time.monotonic() + 10
    while len(re.findall(r"<< Connection killed: Request destination unknown", proxy.stdout)) < len(hosts):
        assert time.monotonic() < deadline, proxy.stdout
        time.sleep(0.05)
    flows = [line for line in proxy.stdout.splitlines() if re.search(r"GET http://\S+:%d/" % proxy.port, line)]
    assert len(flows) == len(hosts), proxy.stdout  # one flow each, no loop
