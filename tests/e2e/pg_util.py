"""Test doubles for the flow sinks (docs/internals/sinks.md), shared by tests/e2e/test_sinks.py
and bench/sinks: a temporary PostgreSQL cluster (Debian's postgresql, initdb + pg_ctl on a
free loopback port, owned by the unprivileged `postgres` user when run as root, password
authentication) and a JSON Lines receiver that records what it accepts."""
import gzip
import http.server
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "s3cret-Pw-0451"
POLL = 0.1


def _as_pg(argv, **kw):
    """Run a PostgreSQL server tool, as the postgres user when we are root (initdb refuses root)."""
    if os.getuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120, **kw)


class Postgres:
    def __init__(self):
        if not os.path.exists(PG_BIN + "/initdb"):
            raise RuntimeError("PostgreSQL 15 is required (scripts/install-deps installs postgresql)")
        self.dir = tempfile.mkdtemp(prefix="mitmc-pg-")
        os.chmod(self.dir, 0o755)
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if os.getuid() == 0:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        r = _as_pg([PG_BIN + "/initdb", "-D", self.data, "-U", "mitmc", "--auth=scram-sha-256",
                    "--pwfile=" + pwfile, "-E", "UTF8", "--no-sync"])
        assert r.returncode == 0, r.stderr.decode()
        self.port = None
        self.start()
        self.uri = "postgresql://mitmc:%s@127.0.0.1:%d/postgres" % (PASSWORD, self.port)

    def start(self):
        # the port is kept across restarts; a port taken meanwhile fails the start loudly
        for _ in range(3 if self.port is None else 1):
            port = self.port or free_port()
            r = _as_pg([PG_BIN + "/pg_ctl", "-D", self.data, "-w", "-t", "60", "-l",
                        os.path.join(self.dir, "log"), "-o",
                        "-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off" % (port, self.dir), "start"])
            if r.returncode == 0:
                self.port = port
                return
        raise AssertionError("PostgreSQL did not start: %s\n%s" % (r.stderr.decode(), self.log()))

    def stop(self):
        r = _as_pg([PG_BIN + "/pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop"])
        assert r.returncode == 0, r.stderr.decode()

    def log(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def sql(self, query):
        env = dict(os.environ, PGPASSWORD=PASSWORD, PGCONNECT_TIMEOUT="10")
        r = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "mitmc",
                            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", query],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        return [line for line in r.stdout.decode().split("\n") if line]

    def wait_rows(self, where, n, timeout=60):
        """Bounded poll until count(*) of the rows matching where reaches n; returns the count."""
        q = "SELECT count(*) FROM mitmc_flows WHERE %s" % where
        got = -1
        for _ in range(int(timeout / POLL)):
            if self.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'mitmc_flows'") == ["1"]:
                got = int(self.sql(q)[0])
                if got >= n:
                    return got
            time.sleep(POLL)
        return got

    def destroy(self):
        _as_pg([PG_BIN + "/pg_ctl", "-D", self.data, "-w", "-m", "immediate", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)



class Receiver:
    """A JSON Lines receiver: records every POST (headers, decoded lines); answers 503 to the
    first `fail` of them, 200 after."""

    def __init__(self, fail=0):
        self.posts, self.accepted = [], []
        self.fail = fail
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                lines = [json.loads(line) for line in body.decode().split("\n") if line]
                with outer.lock:
                    outer.posts.append((self.path, dict(self.headers.items()), lines))
                    ok = len(outer.posts) > outer.fail
                    if ok:
                        outer.accepted.extend(lines)
                status = 200 if ok else 503
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def wait_accepted(self, n, timeout=60):
        for _ in range(int(timeout / POLL)):
            with self.lock:
                if len(self.accepted) >= n:
                    return len(self.accepted)
            time.sleep(POLL)
        return len(self.accepted)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)
