"""Idle and slow clients must not delay anyone else (liveness bounds, not timings)."""
import threading
import time

import e2e_util as u

LIVENESS = 5  # seconds: generous; a blocked proxy would take forever, not 5 s


def test_idle_and_slow_clients_do_not_block(proxy, http_upstream, curl):
    idle = []
    stop = threading.Event()

    def slowloris():
        req = b"GET http://127.0.0.1:%d/echo HTTP/1.1\r\nHost: x\r\nX-Slow: " % http_upstream.port
        with u.connect(proxy.port) as s:
            for i in range(60):  # at most 60 s, normally stopped after a few bytes
                if stop.is_set():
                    return
                s.sendall(req[i % len(req):i % len(req) + 1])
                stop.wait(1.0)

    t = threading.Thread(target=slowloris, daemon=True)
    try:
        for _ in range(500):
            idle.append(u.connect(proxy.port))
        t.start()
        time.sleep(1.5)  # let the slow client dribble a couple of bytes first
        for _ in range(3):
            r = curl(proxy.port, http_upstream.url + "/size/100", timeout=LIVENESS)
            assert r.returncode == 0, r.stderr
            assert r.stdout == u.body_bytes(100)
    finally:
        stop.set()
        t.join(5)
        for s in idle:
            s.close()
