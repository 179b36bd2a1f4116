"""Flow files end to end: -w while proxying, -r with and without a server (-n), filters on
both, SIGKILL durability, damaged files, and interop with Debian's mitmdump 8.1.1 files.

Written files are decoded here with a small tnetstring reader of our own (not mitmc's), so
a test can fail if mitmc writes something mitmproxy would not read back the same.
"""
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import e2e_util as u
import sigkill_load
from conftest import proxy_env
from tnetstring_util import read_records, tns_load

MITMDUMP = "/usr/bin/mitmdump"
FLOW_LINE = re.compile(r"^(\S+: [A-Z]+ \S+.*|\s*<< .*)$")  # request and response lines


def text(v):
    return v.decode("latin-1") if isinstance(v, bytes) else v


# --------------------------------------------------------------------------- processes

def argv_dump(*args, server=True, confdir=None):
    argv = [u.BIN] if u.IS_MITMDUMP else [u.BIN, "dump"]
    if server:
        argv += ["--listen-host", "127.0.0.1", "-p", "0"]
    if confdir:
        argv += ["--set", "confdir=%s" % confdir]
    return argv + list(args)


def run_dump(*args, stdin=None, confdir=None, timeout=30):
    """mitmc dump -n ARGS to completion -> CompletedProcess with str stdout/stderr."""
    p = subprocess.run(argv_dump("-n", *args, server=False, confdir=confdir), input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=proxy_env(), timeout=timeout)
    p.out = p.stdout.decode("utf-8", "replace")
    p.err = p.stderr.decode("utf-8", "replace")
    for marker in u.SANITIZER_MARKERS:
        assert marker not in p.err, p.err
    return p


def flow_lines(out):
    return [line for line in out.splitlines() if FLOW_LINE.match(line)]


def wait_responses(proc, n, timeout=10.0):
    """Wait until proc has printed n response lines; returns how many it printed."""
    deadline = time.monotonic() + timeout
    while True:
        got = len([x for x in flow_lines(proc.stdout) if "<<" in x])
        if got >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


RESP = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Up: 1\r\n\r\n%s"

REQUESTS = [  # (method, path, body)
    ("GET", "/api/list?x=1", b""),
    ("POST", "/api/items", b'{"name": "a"}'),
    ("POST", "/other/form", b"a=1&b=2"),
    ("GET", "/static/app.js", b""),
]


def send(proxy_port, up_port, method, path, body=b""):
    req = b"%s http://127.0.0.1:%d%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (
        method.encode(), up_port, path.encode(), up_port)
    if body or method == "POST":
        req += b"Content-Length: %d\r\n" % len(body)
    with u.connect(proxy_port) as s:
        s.sendall(req + b"\r\n" + body)
        r = u.read_response(u.Reader(s), method)
    assert r.status == 200, r
    return r


def echo_reply(req):
    """The upstream answers with the request line, so every flow has its own body."""
    line = req.split(b"\r\n", 1)[0]
    return RESP % (len(line), line)


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """mitmc dump -w FILE with REQUESTS sent through it, then SIGINT. Returns (file, live
    flow lines). Shared by the read tests of this module."""
    d = tmp_path_factory.mktemp("capture")
    up = u.RawUpstream(reply=echo_reply)
    path = str(d / "flows.mitm")
    p = u.Proxy(argv_dump("-w", path, confdir=d), proxy_env())
    try:
        for i, (m, pth, body) in enumerate(REQUESTS):
            send(p.port, up.port, m, pth, body)
            # workers publish flows independently: wait for each so the file order is known
            assert wait_responses(p, i + 1) == i + 1, p.stdout
        p.proc.send_signal(signal.SIGINT)
        assert p.proc.wait(timeout=10) == 0
    finally:
        p.stop()
        up.stop()
    lines = flow_lines(p.stdout)
    assert len(lines) == 2 * len(REQUESTS), p.stdout
    return path, lines


# --------------------------------------------------------------------------- -w then -r

def test_write_then_read_prints_the_same_lines(capture):
    path, live = capture
    p = run_dump("-r", path)
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == live
    recs = read_records(path)
    assert [(text(r["request"]["method"]), text(r["request"]["path"])) for r in recs] == \
        [(m, pth) for m, pth, _ in REQUESTS]
    for r, (m, pth, body) in zip(recs, REQUESTS):
        assert r["version"] == (17 if u.IS_MITMDUMP else 21) and r["type"] == "http"
        assert r["request"]["content"] == body
        line = b"%s %s HTTP/1.1" % (m.encode(), pth.encode())  # as the upstream received it
        assert r["response"]["content"] == line
        assert r["response"]["headers"] == [[b"Content-Length", b"%d" % len(line)], [b"X-Up", b"1"]]


@u.mitmc_only
def test_read_from_stdin(capture):
    path, live = capture
    with open(path, "rb") as f:
        p = run_dump("-r", "-", stdin=f.read())
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == live


def test_read_filter(capture):
    path, live = capture
    p = run_dump("-r", path, "~m POST & ~u /api")
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == live[2:4]


def test_rewrite_with_filter_saves_only_matching(capture, tmp_path):
    path, live = capture
    out = str(tmp_path / "posts.mitm")
    p = run_dump("-r", path, "-w", out, "~m POST")
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == live[2:6]
    recs = read_records(out)
    assert [text(r["request"]["path"]) for r in recs] == ["/api/items", "/other/form"]
    orig = {r["id"]: r for r in read_records(path)}
    for r in recs:  # the records are the same flows, byte for byte in their messages
        o = orig[r["id"]]
        assert r["request"] == o["request"] and r["response"] == o["response"]


@u.mitmc_only
def test_save_stream_filter_option_alone(capture, tmp_path):
    path, live = capture
    out = str(tmp_path / "gets.mitm")
    p = run_dump("-r", path, "-w", out, "--set", "save_stream_filter=~m GET")
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == live  # printing is not filtered
    assert [text(r["request"]["method"]) for r in read_records(out)] == ["GET", "GET"]


@u.mitmc_only
def test_append_and_strftime_rotation(capture, tmp_path):
    path, _ = capture
    out = str(tmp_path / "all.mitm")
    for _ in range(2):
        assert run_dump("-q", "-r", path, "-w", "+" + out).returncode == 0
    assert len(read_records(out)) == 2 * len(REQUESTS)
    assert run_dump("-q", "-r", path, "-w", out).returncode == 0  # no "+": truncates
    assert len(read_records(out)) == len(REQUESTS)
    pattern = str(tmp_path / "by-year" / "%Y" / "flows-%Y.mitm")
    assert run_dump("-q", "-r", path, "-w", pattern).returncode == 0
    years = os.listdir(tmp_path / "by-year")
    assert len(years) == 1 and re.fullmatch(r"\d{4}", years[0])
    assert len(read_records(str(tmp_path / "by-year" / years[0] / ("flows-%s.mitm" % years[0])))) == 4


# --------------------------------------------------------------------------- damaged files

@u.mitmc_only
def test_truncated_file_keeps_complete_records(capture, tmp_path):
    path, live = capture
    data = open(path, "rb").read()
    _, end_of_third = tns_load(data, tns_load(data, tns_load(data, 0)[1])[1])
    cut = tmp_path / "cut.mitm"
    cut.write_bytes(data[:end_of_third + 40])  # the fourth record is incomplete
    p = run_dump("-r", str(cut))
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == live[:6]
    assert "Flow file corrupted - loaded 3 flows: file truncated at byte %d" % (end_of_third + 40) in p.out


@u.mitmc_only
def test_garbage_file_is_an_error(tmp_path):
    bad = tmp_path / "garbage.mitm"
    bad.write_bytes(b"this is not a flow file\n")
    p = run_dump("-r", str(bad))
    assert p.returncode == 1
    assert "Flow file corrupted: flow file corrupt at byte 0" in p.err, p.err
    assert flow_lines(p.out) == []


@u.mitmc_only
def test_missing_file_is_an_error(tmp_path):
    p = run_dump("-r", str(tmp_path / "nope.mitm"))
    assert p.returncode == 1
    assert "Cannot load flows: [Errno 2] No such file or directory: '%s'" % (tmp_path / "nope.mitm") in p.err


HAR = b"""{"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [
 {"startedDateTime": "2024-01-01T00:00:00.000Z", "time": 1,
  "request": {"method": "GET", "url": "http://example.com/har/a?x=1", "httpVersion": "HTTP/1.1",
              "headers": [{"name": "Host", "value": "example.com"}], "queryString": [], "cookies": [],
              "headersSize": -1, "bodySize": 0},
  "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
               "content": {"size": 5, "mimeType": "text/plain", "text": "hello"}, "redirectURL": "",
               "headersSize": -1, "bodySize": 5},
  "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}},
 {"startedDateTime": "2024-01-01T00:00:01.000Z", "time": 1,
  "request": {"method": "POST", "url": "https://example.com/api/b", "httpVersion": "HTTP/1.1", "headers": [],
              "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
  "response": {"status": 201, "statusText": "Created", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
               "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
               "bodySize": 0},
  "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}]}}
"""


@u.mitmc_only
def test_har_file_and_pipe(tmp_path):
    har = tmp_path / "t.har"
    har.write_bytes(HAR)
    want = ["127.0.0.1:0: GET http://example.com/har/a?x=1", "          << 200 OK 5b",
            "127.0.0.1:0: POST https://example.com/api/b", "          << 201 Created 0b"]
    p = run_dump("-r", str(har))
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == want
    out = str(tmp_path / "from-har.mitm")
    p = run_dump("-r", "-", "-w", out, "~m POST", stdin=HAR)  # a pipe: read whole, then HAR
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == want[2:]
    recs = read_records(out)
    assert [(r["request"]["method"], r["request"]["path"], r["response"]["status_code"]) for r in recs] == \
        [(b"POST", b"/api/b", 201)]
    har.write_bytes(b'{"log": 5')
    p = run_dump("-r", str(har))
    assert p.returncode == 1 and "HAR: " in p.err, p.err


# --------------------------------------------------------------------------- server and -r

def test_read_with_server_exits_when_done(capture, tmp_path):
    """mitmdump's keepserving addon: with -r and a server, quit once the file is read."""
    path, live = capture
    p = subprocess.run(argv_dump("-r", path, confdir=tmp_path), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=proxy_env(), timeout=30)
    assert p.returncode == 0, p.stderr
    assert flow_lines(p.stdout.decode()) == live


@u.mitmc_only
def test_keepserving_keeps_running(capture, tmp_path):
    path, live = capture
    p = u.Proxy(argv_dump("-r", path, "--set", "keepserving=true", confdir=tmp_path), proxy_env())
    assert p.wait_stdout(re.escape(live[-1]), 10)
    assert p.proc.poll() is None
    p.stop()


# --------------------------------------------------------------------------- SIGKILL

class SlowUpstream(u.RawUpstream):
    """Answers at once, except for /slow, which waits until the test ends."""

    def __init__(self):
        self.release = threading.Event()
        super().__init__(handler=self._handle)

    def _handle(self, conn):
        for _ in range(100):
            req = conn.read_request()
            if req is None:
                return
            if b" /slow " in req or b"/slow HTTP" in req:
                self.release.wait(20)
                return
            conn.sock.sendall(echo_reply(req))

    def stop(self):
        self.release.set()
        super().stop()


@u.mitmc_only
def test_sigkill_loses_no_reported_flow(tmp_path):
    """Three flows printed, a fourth in flight, SIGKILL: the file holds exactly the three,
    each complete. Twenty times, because a race shows up only sometimes."""
    up = SlowUpstream()
    confdir = tmp_path / "confdir"
    confdir.mkdir()
    try:
        for round_ in range(20):
            path = str(tmp_path / ("killed-%d.mitm" % round_))
            p = u.Proxy(argv_dump("-w", path, confdir=confdir), proxy_env())
            try:
                for i in range(3):
                    send(p.port, up.port, "GET", "/done/%d" % i)
                assert wait_responses(p, 3) == 3, p.stdout  # all three are reported
                slow = u.connect(p.port)
                slow.sendall(b"GET http://127.0.0.1:%d/slow HTTP/1.1\r\nHost: x\r\n\r\n" % up.port)
                for _ in range(500):  # the fourth request reached the upstream: it is in flight
                    if sum(b"/slow" in c.data for c in list(up.conns)) >= round_ + 1:
                        break
                    time.sleep(0.01)
                p.proc.kill()
                p.proc.wait(10)
                slow.close()
            finally:
                p.stop(check=False)
            recs = read_records(path)  # raises if any record is incomplete
            # (sorted: the three may finish on different workers in any order)
            assert sorted(text(r["request"]["path"]) for r in recs) == ["/done/0", "/done/1", "/done/2"]
    finally:
        up.stop()


@u.mitmc_only
def test_sigterm_writes_flows_in_flight(tmp_path):
    """A graceful stop with a request still waiting for its response: as mitmproxy's save
    writes its active flows at done, the flow is in the file (request, no response, the
    error "Client disconnected."), and printed; the client's connection is closed."""
    up = SlowUpstream()
    confdir = tmp_path / "confdir"
    confdir.mkdir()
    path = str(tmp_path / "stopped.mitm")
    try:
        p = u.Proxy(argv_dump("-w", path, confdir=confdir), proxy_env())
        send(p.port, up.port, "GET", "/done")
        slow = u.connect(p.port)
        slow.sendall(b"GET http://127.0.0.1:%d/slow HTTP/1.1\r\nHost: x\r\n\r\n" % up.port)
        for _ in range(500):
            if any(b"/slow" in c.data for c in list(up.conns)):
                break
            time.sleep(0.01)
        else:
            pytest.fail("the request never reached the upstream")
        p.stop()  # SIGTERM: exit status 0
        slow.settimeout(10)
        assert slow.recv(100) == b"", "the proxy closed the client without a response"
        slow.close()
        recs = read_records(path)
        by_path = {text(r["request"]["path"]): r for r in recs}
        assert sorted(by_path) == ["/done", "/slow"], by_path.keys()
        cut = by_path["/slow"]
        assert cut["response"] is None
        assert text(cut["error"]["msg"]) == "Client disconnected."
        assert "GET http://127.0.0.1:%d/slow" % up.port in p.stdout
        assert "<< Client disconnected." in p.stdout, p.stdout
    finally:
        up.stop()


@u.mitmc_only
def test_sigkill_under_load_loses_no_confirmed_flow(tmp_path):
    """The -w barrier (issue 11): 8 client threads, keep-alive and new connections, buffered,
    chunked and streamed responses, SIGKILL at a random moment, three rounds (one with -q,
    where the main thread never sees the flows). Every flow whose response a client read
    completely is in the file, and the file holds complete records only. bench/sigkill runs
    the same for 100 rounds."""
    confdir = tmp_path / "confdir"
    confdir.mkdir()
    total = 0
    for round_ in range(3):
        confirmed, saved = sigkill_load.run_round(round_, str(tmp_path), str(confdir), quiet=round_ == 2)
        missing = [x for x in confirmed if x not in saved]
        assert not missing, "round %d: %d of %d confirmed flows missing: %s" % (
            round_, len(missing), len(confirmed), missing[:10])
        total += len(confirmed)
    assert total > 30, "the clients got too few responses to test anything: %d" % total


@u.mitmc_only
def test_write_error_stops_the_proxy_before_the_response(tmp_path):
    """A record that cannot be written: the error is logged, the client gets no response
    (mitmproxy exits in its save hook before the response goes out) and the proxy stops
    with status 1."""
    up = u.RawUpstream(reply=echo_reply)
    confdir = tmp_path / "confdir"
    confdir.mkdir()
    p = u.Proxy(argv_dump("-w", "+/dev/full", confdir=confdir), proxy_env())
    try:
        with u.connect(p.port) as s:
            s.sendall(b"GET http://127.0.0.1:%d/full HTTP/1.1\r\nHost: x\r\n\r\n" % up.port)
            assert u.Reader(s).at_eof(), "the client got a response nobody recorded"
        assert p.proc.wait(timeout=10) == 1
        assert "Error while writing to /dev/full: No space left on device" in p.stdout + p.stderr
    finally:
        p.stop(check=False)
        up.stop()


# --------------------------------------------------------------------------- mitmdump interop

@u.mitmc_only
@pytest.mark.skipif(not os.access(MITMDUMP, os.X_OK), reason="Debian's mitmdump is not installed")
def test_reads_mitmdump_files(tmp_path, http_upstream):
    """Flows written by mitmdump 8.1.1 print the same lines in mitmc, and mitmc's re-written
    file holds the same request and response bytes."""
    theirs = str(tmp_path / "mitmdump.mitm")
    confdir = tmp_path / "md-conf"
    confdir.mkdir()
    md = u.Proxy([MITMDUMP, "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % confdir,
                  "-w", theirs], proxy_env(), timeout=30)
    try:
        send(md.port, http_upstream.port, "GET", "/size/1000")
        send(md.port, http_upstream.port, "POST", "/echo", b"posted body \x00\xff")
        send(md.port, http_upstream.port, "GET", "/gzip")
        assert wait_responses(md, 3) == 3, md.stdout
    finally:
        md.stop()
    their_lines = flow_lines(md.stdout)
    assert len(their_lines) == 6, md.stdout
    ours = str(tmp_path / "mitmc.mitm")
    p = run_dump("-r", theirs, "-w", ours)
    assert p.returncode == 0, p.err
    assert flow_lines(p.out) == their_lines
    a, b = read_records(theirs), read_records(ours)
    assert len(a) == len(b) == 3
    keys_rq = ["method", "scheme", "host", "port", "path", "http_version", "headers", "content",
               "timestamp_start", "timestamp_end"]
    keys_rs = ["status_code", "reason", "http_version", "headers", "content", "timestamp_start",
               "timestamp_end"]
    for x, y in zip(a, b):
        assert x["version"] == 17 and y["version"] == 21
        assert x["id"] == y["id"]
        for k in keys_rq:
            assert text(x["request"][k]) == text(y["request"][k]), k
        for k in keys_rs:
            assert text(x["response"][k]) == text(y["response"][k]), k
    assert a[1]["request"]["content"] == b"posted body \x00\xff"


@u.mitmc_only
@pytest.mark.skipif(not os.access(MITMDUMP, os.X_OK), reason="Debian's mitmdump is not installed")
def test_format_17_is_read_by_mitmdump(tmp_path, capture):
    """save_flow_format=17: -w writes what mitmproxy 8 writes, so Debian's mitmdump 8.1.1 reads
    mitmc's flows (it refuses version 21), with the same lines as mitmc prints; mitmc reads the
    file back to the same flows it wrote as 21."""
    old, new = str(tmp_path / "v17.mitm"), str(tmp_path / "v21.mitm")
    path, live = capture
    p = run_dump("-r", path, "-w", old, "--set", "save_flow_format=17")
    assert p.returncode == 0, p.err
    assert run_dump("-r", old, "-w", new).returncode == 0
    a, b = read_records(old), read_records(new)
    assert len(a) == len(b) == len(read_records(path)) >= 2
    for x, y in zip(a, b):
        assert x["version"] == 17 and y["version"] == 21
        assert "proxy_mode" not in x["client_conn"] and "address" in x["client_conn"]
        assert "ip_address" in x["server_conn"] and "via2" in x["server_conn"]
        assert x["id"] == y["id"] and x["request"] == y["request"] and x["response"] == y["response"]
    r = subprocess.run([MITMDUMP, "-n", "-r", old], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                       stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert flow_lines(r.stdout.decode()) == live
