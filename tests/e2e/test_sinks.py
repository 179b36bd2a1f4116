"""Flow sinks into PostgreSQL (docs/internals/sinks.md) against a real PostgreSQL that the
test starts itself: Debian's postgresql, a temporary cluster (initdb + pg_ctl) on a free
loopback port, owned by the unprivileged `postgres` user when the tests run as root. Password
authentication (scram-sha-256), so the tests also see that the password is never logged."""
import http.server
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import e2e_util as u
from pg_util import PASSWORD, POLL, Postgres, Receiver

pytestmark = u.mitmc_only


@pytest.fixture
def pg():
    p = Postgres()
    yield p
    p.destroy()


class StatusHandler(http.server.BaseHTTPRequestHandler):
    """GET /<name>/<i>/<status> answers with that status and the path as body."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("/", 3)[3] if self.path.startswith("http://") else self.path[1:]
        status = int(path.split("/")[2])
        body = ("/" + path).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def upstream():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StatusHandler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    t.join(5)


def get(proxy_port, host, up_port, path):
    req = ("GET http://%s:%d%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host, up_port, path, host, up_port)).encode()
    r = u.exchange(proxy_port, req)
    assert r.body == path.encode(), (r.status_line, r.body)
    return r


def sink_args(pg, name, *more):
    return ["--set", "flow_sink=" + pg.uri, "--set", "flow_sink_instance=" + name] + list(more)


def no_password(*texts):
    for t in texts:
        assert PASSWORD not in t


def test_two_instances_one_database_and_filtered_read(mitmc, pg, upstream, binary):
    a = mitmc(*sink_args(pg, "alpha"))
    b = mitmc(*sink_args(pg, "beta"))
    for p, name in ((a, "alpha"), (b, "beta")):
        for i in range(6):
            host = "localhost" if i % 2 else "127.0.0.1"
            get(p.port, host, upstream, "/%s/%d/%d" % (name, i, 500 if i % 3 else 200))
    assert pg.wait_rows("true", 12) == 12
    a.stop()
    b.stop()
    no_password(a.stdout, a.stderr, b.stdout, b.stderr)
    rows = pg.sql("SELECT instance, method, host, port, path, status, response_content_type, "
                  "response_body = convert_to(path, 'UTF8'), request_headers->0->>0 "
                  "FROM mitmc_flows ORDER BY instance, path")
    assert rows[0] == "alpha|GET|127.0.0.1|%d|/alpha/0/200|200|text/plain|t|Host" % upstream
    assert len(rows) == 12 and {r.split("|")[0] for r in rows} == {"alpha", "beta"}
    assert pg.sql("SELECT value FROM mitmc_meta WHERE key = 'schema_version'") == ["1"]

    # read back from the database with a filter: the SQL narrows (host, status), mitmc decides
    r = subprocess.run([binary, "dump", "-n", "-r", pg.uri, "~d localhost & ~c 500"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    got = sorted(re.findall(r"GET http://localhost:\d+(/\w+/\d+/\d+)", out))
    want = sorted("/%s/%d/500" % (n, i) for n in ("alpha", "beta") for i in (1, 5))
    assert got == want, out
    assert "<< 500" in out
    no_password(out, r.stderr.decode())
    # a regex the SQL cannot express is applied by mitmc alone, with the same answer
    r = subprocess.run([binary, "dump", "-n", "-r", pg.uri, '~d "localhost|nothing" & ~c 500'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert sorted(re.findall(r"GET http://localhost:\d+(/\w+/\d+/\d+)", r.stdout.decode())) == want


def test_database_restart_loses_and_duplicates_nothing(mitmc, pg, upstream):
    p = mitmc(*sink_args(pg, "gamma", "--set", "flow_sink_batch=7"))
    paths = []
    for i in range(20):
        paths.append("/gamma/%d/200" % i)
        get(p.port, "127.0.0.1", upstream, paths[-1])
    assert pg.wait_rows("true", 20) == 20
    pg.stop()
    for i in range(20, 45):  # the proxy keeps serving while the database is down
        paths.append("/gamma/%d/200" % i)
        get(p.port, "127.0.0.1", upstream, paths[-1])
    # the failure is logged (the URI without its password) and the flows stay spooled
    assert p.wait_stdout(r"flow sink postgresql://mitmc:\*\*\*@127\.0\.0\.1:\d+/postgres: "
                         r"(cannot connect|cannot begin|COPY failed).*stay spooled, retrying", timeout=30), p.stdout
    pg.start()
    for i in range(45, 50):
        paths.append("/gamma/%d/200" % i)
        get(p.port, "127.0.0.1", upstream, paths[-1])
    assert pg.wait_rows("true", 50) == 50
    p.stop()
    no_password(p.stdout, p.stderr)
    rows = pg.sql("SELECT flow_id, path FROM mitmc_flows WHERE instance = 'gamma'")
    assert len(rows) == 50
    assert len({r.split("|")[0] for r in rows}) == 50
    assert sorted(r.split("|")[1] for r in rows) == sorted(paths)


def test_sigkill_with_flows_spooled_delivers_them_after_restart(mitmc, pg, upstream, binary, tmp_path):
    pg.stop()
    spool = tmp_path / "spool"
    args = sink_args(pg, "delta", "--set", "flow_sink_spool_dir=%s" % spool)
    p = mitmc(*args)
    paths = ["/delta/%d/201" % i for i in range(15)]
    for path in paths:
        get(p.port, "127.0.0.1", upstream, path)
    # the spool is a flow file: wait until it holds all 15, then kill -9
    files = []
    for _ in range(int(30 / POLL)):
        files = [f for f in spool.glob("*.spool")] if spool.exists() else []
        if files:
            r = subprocess.run([binary, "dump", "-n", "-r", str(files[0])], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            if len(re.findall(r"<< 201", r.stdout.decode())) == 15:
                break
        time.sleep(POLL)
    else:
        raise AssertionError("the spool never held the 15 flows")
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait(10)
    p.returncode = 0  # killed on purpose: the fixture's exit-status check does not apply
    pg.start()
    q = mitmc(*args)
    assert pg.wait_rows("instance = 'delta'", 15) == 15
    q.stop()
    rows = pg.sql("SELECT path FROM mitmc_flows WHERE instance = 'delta' ORDER BY path")
    assert sorted(rows) == sorted(paths)
    assert "bytes of flows spooled" in q.stdout + q.stderr


def test_wrong_password_is_logged_without_it_and_flows_wait(mitmc, pg, upstream, tmp_path):
    bad = pg.uri.replace(PASSWORD, "wrong-Pw-77")
    p = mitmc("--set", "flow_sink=" + bad, "--set", "flow_sink_instance=eps")
    get(p.port, "127.0.0.1", upstream, "/eps/0/200")
    m = None
    for _ in range(int(30 / POLL)):
        m = re.search(r"flow sink (\S+): cannot connect: .*password authentication failed", p.stdout + p.stderr)
        if m:
            break
        time.sleep(POLL)
    assert m, p.stdout + p.stderr
    assert m.group(1) == bad.replace("wrong-Pw-77", "***")
    p.stop()
    assert "wrong-Pw-77" not in p.stdout + p.stderr
    assert "left in" in p.stdout + p.stderr  # still spooled for the next start


def test_unknown_sink_is_refused_at_start(binary, tmp_path):
    r = subprocess.run([binary, "dump", "-n", "--set", "confdir=%s" % tmp_path, "--set",
                        "flow_sink=mysql://x@y/z"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 1
    assert "flow_sink: unknown sink 'mysql://x@y/z'" in r.stdout.decode() + r.stderr.decode()
    r = subprocess.run([binary, "dump", "-n", "--set", "confdir=%s" % tmp_path, "--set",
                        "flow_sink=mysql://u:s3cret@y/z"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 1 and "unknown sink" in out and "s3cret" not in out, out


def test_instances_starting_at_once_on_an_empty_confdir_share_one_ca(binary, tmp_path, curl):
    confdir = tmp_path / "shared-confdir"  # does not exist yet: the first one creates it
    procs, errors = [], []

    def start():
        try:
            procs.append(u.Proxy([binary, "dump", "--listen-host", "127.0.0.1", "-p", "0", "--set",
                                  "confdir=%s" % confdir], dict(os.environ), timeout=60))
        except AssertionError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    try:
        assert not errors, errors
        assert len(procs) == 4
        pem = (confdir / "mitmproxy-ca-cert.pem").read_bytes()
        assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
        for p in procs:  # each serves the one CA on disk
            r = curl(p.port, "http://mitm.it/cert/pem")
            assert r.stdout == pem
    finally:
        for p in procs:
            p.stop()


def test_jsonl_sink_retries_a_failing_receiver_and_loses_nothing(mitmc, upstream):
    rx = Receiver(fail=2)
    try:
        p = mitmc("--set", "flow_sink=jsonl+http://127.0.0.1:%d/ingest?x=1" % rx.port, "--set",
                  "flow_sink_instance=zeta", "--set", "flow_sink_batch=4", "--set", "flow_sink_gzip=true",
                  "--set", "flow_sink_headers=Authorization: Bearer t0k")
        paths = ["/zeta/%d/%d" % (i, 404 if i == 3 else 200) for i in range(10)]
        for path in paths:
            get(p.port, "127.0.0.1", upstream, path)
        assert rx.wait_accepted(10) == 10, [l for l in p.stdout.split("\n") if "sink" in l]
        assert p.wait_stdout(r"flow sink jsonl\+http://127\.0\.0\.1:\d+/ingest\?x=1: POST answered 503; "
                             r"\d+ bytes of flows stay spooled, retrying", timeout=10), p.stdout
        p.stop()
        # every flow once; their order is the order the workers finished them (two requests on
        # two workers may reach the main thread either way), which the spool keeps
        got = [f["request"]["path"] for f in rx.accepted]
        assert sorted(got) == sorted(paths), [(s, [f["request"]["path"] for f in ls]) for s, _, ls in rx.posts]
        assert len({f["id"] for f in rx.accepted}) == 10
        assert len(rx.posts) >= 3
        path, headers, _ = rx.posts[-1]
        assert path == "/ingest?x=1"
        assert headers["Authorization"] == "Bearer t0k"
        assert headers["Content-Type"] == "application/x-ndjson"
        # the 404 one, wherever the workers' order put it
        f = [x for x in rx.accepted if x["request"]["path"] == "/zeta/3/404"][0]
        assert f["instance"] == "zeta" and f["type"] == "http"
        assert f["request"]["method"] == "GET" and f["request"]["host"] == "127.0.0.1"
        assert f["request"]["port"] == upstream
        assert f["request"]["headers"]["Host"] == "127.0.0.1:%d" % upstream
        assert f["response"]["status_code"] == 404
        assert f["response"]["content"] == "/zeta/3/404"
        assert f["response"]["headers"]["Content-Type"] == "text/plain"
        assert f["client_conn"]["address"]["host"] == "127.0.0.1"
        assert f["server_conn"]["address"] == {"host": "127.0.0.1", "port": upstream}
        assert isinstance(f["request"]["timestamp_start"], int)
    finally:
        rx.stop()
