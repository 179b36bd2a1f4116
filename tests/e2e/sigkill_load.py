"""The -w barrier under load: client threads send requests through `mitmc dump -w FILE`,
on keep-alive and on new connections, until the proxy is killed with SIGKILL at a random
moment; then every flow whose response a client received completely (and checked, byte
for byte) must be in FILE, and FILE must hold only complete records.

Used by tests/e2e/test_flowfile.py (a few short rounds) and bench/sigkill (100 rounds).
Requests are GET /k/<round>/<thread>/<n>: every path is unique, and the upstream's body
is made from it, so the client knows the whole response it must get. One flow in three is
streamed (a Content-Length body above stream_large_bodies, sent in two writes), one is
chunked, one is a small buffered body.
"""
import os
import random
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
from tnetstring_util import read_records  # noqa: E402

STREAM_LIMIT = 4096  # stream_large_bodies for the proxy under test


def body_for(path):
    """The body the upstream sends for path (bytes), by the kind of response."""
    n = int(path.rsplit(b"/", 1)[1])
    reps = 6000 // (len(path) + 1) + 1 if n % 3 == 0 else 3
    return (path + b"\n") * reps


def serve(conn):
    """The upstream (a u.RawUpstream handler): every request on the connection answered,
    the body made from the path; the framing by the kind of response."""
    for _ in range(100000):
        req = conn.read_request()
        if req is None:
            return
        path = req.split(b" ", 2)[1]
        body = body_for(path)
        n = int(path.rsplit(b"/", 1)[1])
        if n % 3 == 1:
            conn.sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                              % (len(body), body))
            continue
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        if n % 3 == 0:  # streamed by the proxy: in two writes
            conn.sock.sendall(head + body[:len(body) // 2])
            conn.sock.sendall(body[len(body) // 2:])
        else:
            conn.sock.sendall(head + body)


def client(proxy_port, up_port, round_, tid, stop, confirmed, lock):
    """Requests until the proxy dies: batches of 1-4 on one connection (keep-alive), each
    batch on a new connection. A path is confirmed once its whole response was read."""
    rng = random.Random(round_ * 1000 + tid)
    n = 0
    while not stop.is_set():
        try:
            s = u.connect(proxy_port, timeout=5)
        except OSError:
            return
        try:
            rd = u.Reader(s, timeout=5)
            for _ in range(rng.randint(1, 4)):
                path = b"/k/%d/%d/%d" % (round_, tid, n)
                n += 1
                s.sendall(b"GET http://127.0.0.1:%d%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                          % (up_port, path, up_port))
                r = u.read_response(rd)
                if r.status != 200 or r.body != body_for(path):
                    raise AssertionError("wrong response for %r: %r" % (path, r))
                with lock:
                    confirmed.append(path.decode())
        except (u.Closed, OSError, ValueError, socket.timeout):
            return
        finally:
            s.close()


def run_round(round_, workdir, confdir, threads=8, kill_after=(0.1, 0.5), quiet=False):
    """One round: start the proxy, load it, SIGKILL it. Returns (confirmed paths, paths in
    the file). Raises AssertionError if the file holds an incomplete record."""
    up = u.RawUpstream(handler=serve)
    path = os.path.join(workdir, "round-%d.mitm" % round_)
    argv = [u.BIN, "dump", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % confdir,
            "--set", "stream_large_bodies=%d" % STREAM_LIMIT, "-w", path] + (["-q"] if quiet else [])
    env = dict(os.environ)
    p = u.Proxy(argv, env, wait_listen=not quiet)
    stop = threading.Event()
    confirmed, lock = [], threading.Lock()
    ts = [threading.Thread(target=client, args=(p.port, up.port, round_, i, stop, confirmed, lock), daemon=True)
          for i in range(threads)]
    try:
        for t in ts:
            t.start()
        time.sleep(random.uniform(*kill_after))
        os.kill(p.pid, signal.SIGKILL)
        p.proc.wait(10)
        stop.set()
        for t in ts:
            t.join(10)
    finally:
        stop.set()
        p.stop(check=False)
        up.stop()
    saved = {r["request"]["path"].decode("latin-1") for r in read_records(path) if "request" in r}
    os.unlink(path)
    with lock:
        return list(confirmed), saved


def main(argv):
    """bench/sigkill: ROUNDS rounds (default 100); prints the totals, exits 1 on a miss."""
    import tempfile
    rounds = int(argv[1]) if len(argv) > 1 else 100
    total = missing = 0
    with tempfile.TemporaryDirectory() as d:
        confdir = os.path.join(d, "confdir")
        os.mkdir(confdir)
        for r in range(rounds):
            confirmed, saved = run_round(r, d, confdir, quiet=r % 2 == 1)
            lost = [x for x in confirmed if x not in saved]
            total += len(confirmed)
            missing += len(lost)
            if lost:
                print("round %d: missing %s" % (r, lost[:10]), flush=True)
    print("rounds %d  flows confirmed by clients %d  flows missing %d" % (rounds, total, missing))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
