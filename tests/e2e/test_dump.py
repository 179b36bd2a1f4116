"""mitmdump's console output and process behaviour: flow lines, -q, --flow-detail 2, signals."""
import re
import shutil
import signal
import socket
import subprocess

import pytest

import e2e_util as u

RESP = b"HTTP/1.1 200 OK\r\nX-Resp-Test: def\r\nContent-Length: 6\r\n\r\nhello\n"


def request(proxy_port, up_port, extra=b""):
    """One request from a raw socket; returns its client address as mitmdump prints it."""
    with u.connect(proxy_port) as s:
        s.sendall(b"GET http://127.0.0.1:%d/index.html HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n"
                  % (up_port, up_port, extra))
        r = u.read_response(u.Reader(s))
        assert r.status == 200 and r.body == b"hello\n"
        return "%s:%d" % s.getsockname()


def test_flow_lines_default(proxy, raw_upstream):
    up = raw_upstream(reply=RESP)
    client = request(proxy.port, up.port)
    req_line = "%s: GET http://127.0.0.1:%d/index.html" % (client, up.port)
    assert proxy.wait_stdout("^" + re.escape(req_line) + "$"), proxy.stdout
    lines = proxy.stdout.splitlines()
    i = lines.index(req_line)
    # reference §8: "<<" padded so the status code lines up under the method
    pad = " " * (max(0, len(client) - 2) + 1)
    assert lines[i + 1] == pad + "<< 200 OK 6b", lines[i:i + 2]


def test_quiet_prints_no_flow_lines(mitmc, raw_upstream):
    p = mitmc("-q", quiet=True)
    up = raw_upstream(reply=RESP)
    request(p.port, up.port)
    p.stop()
    assert "GET http://" not in p.stdout and "<<" not in p.stdout, p.stdout


def test_flow_detail_2_prints_headers(mitmc, raw_upstream):
    p = mitmc("--flow-detail", "2")
    up = raw_upstream(reply=RESP)
    client = request(p.port, up.port, b"X-Req-Test: abc\r\n")
    assert p.wait_stdout(r"^ << 200 OK 6b$"), p.stdout
    lines = p.stdout.splitlines()
    assert "%s: GET http://127.0.0.1:%d/index.html" % (client, up.port) in lines
    assert "    X-Req-Test: abc" in lines
    assert "    X-Resp-Test: def" in lines
    assert "    Content-Length: 6" in lines


def test_block_global_allows_loopback(mitmc, raw_upstream):
    p = mitmc("--set", "block_global=true")
    up = raw_upstream(reply=RESP)
    request(p.port, up.port)


def test_sigint_exits_cleanly(mitmc, raw_upstream):
    p = mitmc()
    up = raw_upstream(reply=RESP)
    request(p.port, up.port)
    p.proc.send_signal(signal.SIGINT)
    assert p.proc.wait(timeout=10) == 0
    p.stop()  # collects output, checks status and sanitizer reports


NETNS_CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
for src in ("8.8.8.8", "127.0.0.1"):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect((src, port))
    s.sendall(b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
    data = b""
    try:
        for _ in range(100):
            d = s.recv(65536)
            data += d
            if not d or b"\r\n\r\n" in data:
                break
    except (ConnectionResetError, socket.timeout):
        pass
    print("%s %r" % (src, data[:12]))
"""


def test_block_global_refuses_public_client(mitmc):
    """In a private network namespace, 8.8.8.8 is a local address: a client bound to it is a
    'public' client. It must get nothing (mitmproxy kills the connection); loopback is served."""
    if subprocess.run(["unshare", "-n", "true"], stderr=subprocess.DEVNULL).returncode != 0 or \
            not shutil.which("ip") or not shutil.which("nsenter"):
        pytest.skip("needs root, unshare -n, nsenter and ip (iproute2)")
    setup = 'ip link set lo up && ip addr add 8.8.8.8/32 dev lo && exec "$0" "$@"'
    p = mitmc("--set", "block_global=true", listen_host="0.0.0.0",
              wrapper=["unshare", "-n", "--", "sh", "-c", setup])
    r = subprocess.run(["nsenter", "-t", str(p.pid), "-n", "/usr/bin/python3", "-c", NETNS_CLIENT, str(p.port)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["8.8.8.8 b''", "127.0.0.1 b'HTTP/1.1 502'"]


@u.mitmc_only  # mitmproxy 12 wording; mitmc names the modes it does not have
def test_bad_or_unsupported_mode_is_refused_not_run_as_regular(binary, tmp_path):
    # mitmproxy's "Invalid proxy mode specification: SPEC (REASON)"; modes mitmc lacks are named
    cases = {"wireguard": "wireguard mode is not supported by mitmc", "regular:x": "mode takes no arguments",
             "bogus": "unknown mode", "reverse:quic://example.com": "not supported by mitmc",
             "upstream:tcp://x:1": "invalid upstream proxy scheme", "upstream:ftp://x:1": "Invalid server scheme: ftp", "regular@99999": "invalid port: 99999"}
    for mode, why in cases.items():
        p = subprocess.run([binary, "dump", "-m", mode, "--set", "confdir=%s" % tmp_path, "-p", "0",
                            "--listen-host", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
        out = p.stdout.decode()
        assert p.returncode == 1, out
        assert "Invalid proxy mode specification: %s" % mode in out and why in out, out
        assert "listening" not in out, out


@u.mitmc_only  # mitmdump's wording is "OSError(98, 'Address already in use')"
def test_listener_that_cannot_be_set_up_fails_the_start(binary, tmp_path):
    """A port another socket holds (without SO_REUSEPORT): no worker may start on it, the
    process says why and exits 1 instead of running without a listener."""
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = subprocess.run([binary, "dump", "-p", str(port), "--listen-host", "127.0.0.1", "--set",
                            "confdir=%s" % tmp_path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
    finally:
        taken.close()
    out = p.stdout.decode()
    assert p.returncode == 1, out
    assert "cannot listen on 127.0.0.1:%d: Address already in use" % port in out, out
    assert "listening at" not in out, out


def test_two_modes_on_one_address_are_refused(binary, tmp_path):
    p = subprocess.run([binary, "dump", "-m", "regular@127.0.0.1:18080", "-m", "socks5@127.0.0.1:18080",
                        "--set", "confdir=%s" % tmp_path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=20)
    out = p.stdout.decode()
    assert p.returncode == 1, out
    assert "both listen on 127.0.0.1:18080" in out and "listening at" not in out, out


def test_regular_mode_spec_sets_the_port(mitmc):
    # MODE@[HOST:]PORT as mitmproxy; the fixture's -p 0 is overridden by the spec's port 0
    p = mitmc("-m", "regular@127.0.0.1:0")
    assert p.port > 0
