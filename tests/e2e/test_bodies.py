"""Large bodies through the real binary (docs/internals/flows.md, "Large bodies"): a body
that streams because it outgrew body_buffer_limit is kept in a file as it passes, so the flow
is complete in the -w file and in the flow store while the proxy's memory stays flat. The
upstream sends a deterministic body; SHA-256 is compared on both sides and in the records.
Every wait is bounded; no timing is asserted."""
import hashlib
import os
import shutil
import subprocess
import threading
import time

import pytest

import e2e_util as u
from conftest import proxy_env
from test_web import Web

pytestmark = u.mitmc_only

BLOCK = hashlib.sha256(b"mitmc large body").digest() * 2048  # 64 KiB


def big_body_sha(n):
    h = hashlib.sha256()
    for off in range(0, n, len(BLOCK)):
        h.update(BLOCK[:min(len(BLOCK), n - off)])
    return h.hexdigest()


def serve_download(n):
    def handler(conn):
        if conn.read_request() is None:
            return
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          b"Content-Length: %d\r\n\r\n" % n)
        for off in range(0, n, len(BLOCK)):
            conn.sock.sendall(BLOCK[:min(len(BLOCK), n - off)])
    return handler


def tns(b, i=0):
    """One tnetstring value of the memoryview b at i: (value, next index); bytes stay views."""
    j = i
    while b[j] != 0x3A:
        j += 1
    n = int(bytes(b[i:j]))
    start, end = j + 1, j + 1 + n
    tag, data = b[end], b[start:end]
    if tag in b"}]":
        out, k = [], 0
        while k < n:
            v, k = tns(data, k)
            out.append(v)
        if tag == ord("}"):
            out = {bytes(out[x]).decode(): out[x + 1] for x in range(0, len(out), 2)}
        return out, end + 1
    if tag == ord("#"):
        return int(bytes(data)), end + 1
    if tag == ord("~"):
        return None, end + 1
    return data, end + 1  # bytes, text, floats and booleans: not needed here


def records(path):
    with open(path, "rb") as f:
        b = memoryview(f.read())
    i, out = 0, []
    while i < len(b):
        v, i = tns(b, i)
        out.append(v)
    return out


def wait_records(path, pred=lambda x: True, timeout=30):
    """The -w file's records that pred accepts, once there is one (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        recs = [x for x in records(path) if pred(x)] if path.exists() else []
        if recs or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


def sha(view):
    return None if view is None else hashlib.sha256(view).hexdigest()


def vm_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Sampler:
    """The proxy's peak RSS, sampled every 20 ms until stopped."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop_ev = pid, vm_rss(pid), threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for _ in range(100000):
            if self.stop_ev.wait(0.02):
                return
            try:
                self.peak = max(self.peak, vm_rss(self.pid))
            except (OSError, AssertionError):
                return

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        return self.peak


@pytest.fixture
def small_quarantine(monkeypatch):
    """Under ASan freed memory sits in a quarantine that counts in RSS: keep it small."""
    opts = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    monkeypatch.setenv("ASAN_OPTIONS", opts + ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64")


@pytest.fixture
def web_proxy(binary, tmp_path, seed_confdir, small_quarantine):
    confdir = tmp_path / "confdir"
    shutil.copytree(seed_confdir, confdir)
    started = []

    def start(*args):
        argv = [binary, "web", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % confdir,
                "--web-port", "0", "--no-web-open-browser", "--set", "store_dir=%s" % tmp_path] + list(args)
        p = u.Proxy(argv, proxy_env())
        started.append(p)
        return p, Web(p)

    yield start
    for p in started:
        p.stop()


def curl_through(port, url, *args, timeout=300):
    return subprocess.run(["curl", "-q", "-sS", "--max-time", str(timeout), "-x", "http://127.0.0.1:%d" % port]
                          + list(args) + [url], capture_output=True, timeout=timeout + 30)


def test_256mib_download_is_recorded_whole_at_flat_memory(web_proxy, raw_upstream, tmp_path):
    n = 256 << 20
    want = big_body_sha(n)
    up = raw_upstream(handler=serve_download(n))
    wfile = tmp_path / "out.mitm"
    p, w = web_proxy("-w", str(wfile))
    small = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert curl_through(p.port, "http://127.0.0.1:%d/warm" % small.port).returncode == 0
    idle = vm_rss(p.pid)
    sampler = Sampler(p.pid)
    out = tmp_path / "body"
    r = curl_through(p.port, "http://127.0.0.1:%d/big" % up.port, "-o", str(out))
    peak = sampler.stop()
    assert r.returncode == 0, r.stderr
    with open(out, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == want  # the client got every byte
    grew = (peak - idle) / (1 << 20)
    assert grew < 48, "RSS grew by %.1f MiB during the download (idle %.1f MiB)" % (grew, idle / (1 << 20))
    # the -w record holds the whole body
    fl = w.wait_flows(lambda fl: any(f["request"]["path"] == "/big" and f.get("response") for f in fl), "the flow")
    big = [f for f in fl if f["request"]["path"] == "/big"][0]
    assert big["response"]["contentLength"] == n
    recs = wait_records(wfile, lambda x: bytes(x["request"]["path"]) == b"/big")
    assert recs, "no /big record in the -w file"
    assert sha(recs[0]["response"]["content"]) == want
    # and so does the flow store: the web UI reads the body back from it
    r = w.get("/flows/%s/response/content.data" % big["id"], timeout=120)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == want


def test_64mib_upload_streams_and_is_kept(web_proxy, raw_upstream, tmp_path):
    n = 64 << 20
    data = b"".join(BLOCK for _ in range(n // len(BLOCK)))
    got = {}

    def handler(conn):
        req = conn.read_request()
        if req is None:
            return
        got["sha"] = hashlib.sha256(req.split(b"\r\n\r\n", 1)[1]).hexdigest()
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")

    up = raw_upstream(handler=handler)
    src = tmp_path / "upload"
    src.write_bytes(data)
    wfile = tmp_path / "up.mitm"
    p, w = web_proxy("-w", str(wfile), "--set", "body_buffer_limit=1m")
    r = curl_through(p.port, "http://127.0.0.1:%d/up" % up.port, "--data-binary", "@%s" % src,
                     "-H", "Content-Type: application/octet-stream")
    assert r.returncode == 0 and r.stdout == b"done", r.stderr
    want = hashlib.sha256(data).hexdigest()
    assert got["sha"] == want  # the upstream got the exact bytes
    w.wait_flows(lambda fl: any(f.get("response") for f in fl), "the flow")
    recs = wait_records(wfile)
    assert recs and sha(recs[0]["request"]["content"]) == want


@pytest.mark.parametrize("opts, kept", [
    ([], True),                                                     # outgrew body_buffer_limit: kept
    (["--set", "keep_streamed_bodies=none"], False),                # not kept: as mitmproxy streams
    (["--set", "stream_large_bodies=1m"], False),                   # mitmproxy's meaning: not kept
    (["--set", "stream_large_bodies=1m", "--set", "keep_streamed_bodies=all"], True),
])
def test_which_streamed_bodies_are_kept(web_proxy, raw_upstream, tmp_path, opts, kept):
    n = 3 << 20
    up = raw_upstream(handler=serve_download(n))
    wfile = tmp_path / "k.mitm"
    p, w = web_proxy("-w", str(wfile), "--set", "body_buffer_limit=2m", *opts)
    r = curl_through(p.port, "http://127.0.0.1:%d/k" % up.port, "-o", str(tmp_path / "k"))
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256((tmp_path / "k").read_bytes()).hexdigest() == big_body_sha(n)
    w.wait_flows(lambda fl: any(f.get("response") for f in fl), "the flow")
    recs = wait_records(wfile)
    assert recs
    content = recs[0]["response"]["content"]
    assert sha(content) == (big_body_sha(n) if kept else None)
