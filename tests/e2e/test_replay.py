"""Client replay (-C) and server replay (-S): a session is recorded with -w against a
counting upstream, then replayed with the real binary (mitmproxy addons/clientplayback.py,
serverplayback.py, keepserving.py)."""
import email.utils
import re
import subprocess
import threading

import pytest

import e2e_util as u

EXIT_TIMEOUT = 30  # seconds for a replaying mitmc to finish on its own
# mitmdump 8.1.1 only knows the old name of server_replay_reuse
REUSE = ["--set", "server_replay_nopop=true"] if u.IS_MITMDUMP else ["--server-replay-reuse"]
RECORDED_DATE = 784111777  # the upstream's Date: Sun, 06 Nov 1994 08:49:37 GMT


class Counter:
    """Upstream reply: counts requests; each answer says which one it was."""

    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, req):
        with self.lock:
            self.n += 1
            n = self.n
        body = b"hit %d" % n
        return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Up: yes\r\n"
                b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n%s" % (len(body), body))


def record(mitmc, curl, tmp_path, up, requests):
    """Record requests (lists of extra curl args + path) through mitmc -w; returns the file
    and the bodies the client got."""
    flows = tmp_path / "session.mitm"
    p = mitmc("-w", str(flows))
    bodies = []
    for args, path in requests:
        r = curl(p.port, "http://127.0.0.1:%d%s" % (up.port, path), *args)
        assert r.returncode == 0, r.stderr
        bodies.append(r.stdout)
    # every flow is on disk once it is printed
    for _, path in requests:
        assert p.wait_stdout(re.escape(path.split("?")[0])), p.stdout
    p.stop()
    assert flows.stat().st_size > 0
    return flows, bodies


def wait_exit(p):
    p.proc.wait(timeout=EXIT_TIMEOUT)
    p.stop()  # collects the output threads; asserts exit status 0 and no sanitizer report


def dechunk(data):
    """A chunked body (RFC 9112 §7.1, no trailers) at the start of data -> (body, rest)."""
    body = b""
    for _ in range(10000):
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return body, data[2:]
        body, data = body + data[:size], data[size + 2:]
    raise ValueError("too many chunks")


def requests_received(up):
    """(method, target, body) of every request the upstream got, in arrival order."""
    out = []
    with up.lock:
        conns = list(up.conns)
    for c in conns:
        data = c.data
        while data:
            head, _, rest = data.partition(b"\r\n\r\n")
            line, headers = u.parse_head(head + b"\r\n\r\n")
            if "chunked" in (u.header(headers, "transfer-encoding") or "").lower():
                body, rest = dechunk(rest)
            else:
                n = int(u.header(headers, "content-length", "0"))
                body, rest = rest[:n], rest[n:]
            out.append((line.split(" ")[0], line.split(" ")[1], body, headers))
            data = rest
    return out


def test_client_replay_resends_each_request(mitmc, curl, raw_upstream, tmp_path):
    counter = Counter()
    up = raw_upstream(reply=counter)
    flows, _ = record(mitmc, curl, tmp_path, up, [
        ([], "/one?x=1"),
        (["-d", "hello=world"], "/two"),
        (["-X", "PUT", "-H", "Transfer-Encoding: chunked", "--data-binary", "chunky body"], "/three"),
    ])
    assert counter.n == 3
    p = mitmc("-C", str(flows))
    wait_exit(p)
    assert counter.n == 6, "each recorded request is sent once more"
    got = requests_received(up)[3:]
    assert [(m, t, b) for m, t, b, _ in got] == [
        ("GET", "/one?x=1", b""), ("POST", "/two", b"hello=world"), ("PUT", "/three", b"chunky body")]
    # mitmc sends a chunked original whole with a Content-Length (RFC 9112 §6.3);
    # mitmdump re-chunks it
    h3 = got[2][3]
    if not u.IS_MITMDUMP:
        assert u.header(h3, "transfer-encoding") is None, h3
        assert u.header(h3, "content-length") == "11", h3
    out = p.stdout
    for path in ("/one?x=1", "/two", "/three"):
        assert re.search(r"\[replay\].*%s" % re.escape("127.0.0.1:%d%s" % (up.port, path)), out), out
    assert out.count("<< 200 OK") == 3, out


def test_client_replay_unlimited_concurrency(mitmc, curl, raw_upstream, tmp_path):
    counter = Counter()
    up = raw_upstream(reply=counter)
    flows, _ = record(mitmc, curl, tmp_path, up, [([], "/a"), ([], "/b"), ([], "/c"), ([], "/d")])
    p = mitmc("-C", str(flows), "--set", "client_replay_concurrency=-1")
    wait_exit(p)
    assert counter.n == 8
    assert sorted(t for _, t, _, _ in requests_received(up)[4:]) == ["/a", "/b", "/c", "/d"]


def test_client_replay_upstream_down_still_finishes(mitmc, curl, raw_upstream, tmp_path):
    up = raw_upstream(reply=Counter())
    flows, _ = record(mitmc, curl, tmp_path, up, [([], "/x"), ([], "/y")])
    up.stop()
    p = mitmc("-C", str(flows))
    wait_exit(p)  # errors end a replay too: the second request is sent, then mitmc quits
    assert p.stdout.count("[replay]") >= 2, p.stdout


def test_client_replay_bad_file(binary, tmp_path):
    bad = tmp_path / "bad.mitm"
    bad.write_bytes(b"this is not a flow file\n")
    argv = [binary] if u.IS_MITMDUMP else [binary, "dump"]
    argv += ["--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % tmp_path, "-C", str(bad)]
    import subprocess
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0
    text = (r.stdout + r.stderr).decode()
    assert "bad.mitm" in text or "Invalid data format" in text, text


def test_server_replay_answers_from_the_file(mitmc, curl, raw_upstream, tmp_path):
    counter = Counter()
    up = raw_upstream(reply=counter)
    flows, bodies = record(mitmc, curl, tmp_path, up, [([], "/page?id=1"), (["-d", "q=2"], "/form")])
    assert bodies == [b"hit 1", b"hit 2"]
    up.stop()  # nothing may reach the upstream any more
    p = mitmc("-S", str(flows), *REUSE)
    for _ in range(2):
        r = curl(p.port, "http://127.0.0.1:%d/page?id=1" % up.port, "-i")
        assert r.returncode == 0, r.stderr
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        assert body == b"hit 1"
        assert b"\r\nX-Up: yes\r\n" in head
        # server_replay_refresh shifts Date by the time since the recording (seconds here),
        # not to "now": mitmproxy's Response.refresh()
        date = dict(u.parse_head(head + b"\r\n\r\n")[1])["Date"]
        shift = email.utils.mktime_tz(email.utils.parsedate_tz(date)) - RECORDED_DATE
        assert 0 <= shift < EXIT_TIMEOUT * 4, date
    r = curl(p.port, "http://127.0.0.1:%d/form" % up.port, "-d", "q=2")
    assert r.stdout == b"hit 2"
    r = curl(p.port, "http://127.0.0.1:%d/form" % up.port, "-d", "q=3")
    assert r.returncode == 0
    assert b"hit" not in r.stdout, "another body does not match; forwarded to a dead upstream -> 502"
    assert counter.n == 2
    assert p.wait_stdout(r"\[replay\]\s+<< 200 OK 5b"), p.stdout
    q = mitmc("-S", str(flows), "--no-server-replay-refresh", *REUSE)
    r = curl(q.port, "http://127.0.0.1:%d/page?id=1" % up.port, "-i")
    assert b"\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n" in r.stdout, r.stdout


@u.mitmc_only  # mitmdump 8.1.1 has no server_replay_extra
def test_server_replay_extra_404_and_kill(mitmc, curl, raw_upstream, tmp_path):
    counter = Counter()
    up = raw_upstream(reply=counter)
    flows, _ = record(mitmc, curl, tmp_path, up, [([], "/known")])
    p = mitmc("-S", str(flows), "--server-replay-extra", "404", "--server-replay-reuse")
    r = curl(p.port, "http://127.0.0.1:%d/unknown" % up.port, "-i")
    assert r.stdout.startswith(b"HTTP/1.1 404 Not Found\r\n"), r.stdout
    assert r.stdout.endswith(b"\r\n\r\n")
    assert curl(p.port, "http://127.0.0.1:%d/known" % up.port).stdout == b"hit 1"
    assert counter.n == 1, "neither request reached the upstream"
    assert p.wait_stdout("server_playback: returned 404 non-replay request"), p.stdout

    k = mitmc("-S", str(flows), "--server-replay-extra", "kill", "--server-replay-reuse")
    with u.connect(k.port) as s:
        s.sendall(b"GET http://127.0.0.1:%d/unknown HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (up.port, up.port))
        rd = u.Reader(s)
        assert rd.at_eof(), "killed: the connection closes without a response"
    assert counter.n == 1
    assert k.wait_stdout("server_playback: killed non-replay request"), k.stdout
    assert curl(k.port, "http://127.0.0.1:%d/known" % up.port).stdout == b"hit 1"


def test_server_replay_quits_when_every_response_was_used(mitmc, curl, raw_upstream, tmp_path):
    up = raw_upstream(reply=Counter())
    flows, _ = record(mitmc, curl, tmp_path, up, [([], "/only")])
    p = mitmc("-S", str(flows))
    r = curl(p.port, "http://127.0.0.1:%d/only" % up.port)
    assert r.stdout == b"hit 1"
    wait_exit(p)  # keepserving is off: mitmdump quits once the replay is over


@u.mitmc_only  # checked against mitmc's own process handling (no listening socket to wait for)
def test_client_replay_without_server(binary, mitmc, curl, raw_upstream, tmp_path):
    """`-n -C f`: replays run on the workers with no listening socket; mitmc exits when done."""
    counter = Counter()
    up = raw_upstream(reply=counter)
    flows, _ = record(mitmc, curl, tmp_path, up, [([], "/n1"), ([], "/n2")])
    assert counter.n == 2
    confdir = tmp_path / "noserver"
    confdir.mkdir()
    p = subprocess.run([binary, "dump", "-n", "-C", str(flows), "--set", "confdir=%s" % confdir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=EXIT_TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert counter.n == 4, "both requests replayed without a proxy server"
    out = p.stdout.decode()
    assert "listening" not in out, out
    assert out.count("[replay]") == 2 and out.count("<< 200 OK") == 2, out
    for marker in u.SANITIZER_MARKERS:
        assert marker not in p.stderr.decode()
