"""Fixtures for the end-to-end tests (see docs/internals/testing.md).

MITMC_BIN selects the binary under test (default: build/mitmc of this checkout). Pointing it
at /usr/bin/mitmdump runs the same tests against mitmproxy 8.1.1 to validate them; tests
for mitmc-only options skip themselves there (see `e2e_util.mitmc_only`).
"""
import os
import shutil
import subprocess

import pytest

import e2e_util as u

BIN = u.BIN
IS_MITMDUMP = u.IS_MITMDUMP


def pytest_report_header(config):
    return "mitmc binary: %s%s" % (BIN, " (reference run against mitmdump)" if IS_MITMDUMP else "")


@pytest.fixture(scope="session")
def binary():
    if not os.access(BIN, os.X_OK):
        pytest.fail("MITMC_BIN %s is not an executable (build first: make)" % BIN)
    return BIN


def proxy_env():
    env = dict(os.environ)
    # Sanitizer builds: make every finding fatal and visible (harmless for other builds).
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env.setdefault("COLUMNS", "200")
    return env


@pytest.fixture(scope="session")
def seed_confdir(binary, tmp_path_factory):
    """A confdir in which the binary has created its CA once. Each test gets a copy, so a test
    never pays for a CA key generation (about 0.3 s, more under ASan). Falls back to an empty
    confdir if the binary cannot start (each test then reports the startup failure itself)."""
    d = tmp_path_factory.mktemp("seed-confdir")
    argv = [binary] if IS_MITMDUMP else [binary, "dump"]
    try:
        p = u.Proxy(argv + ["--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % d], proxy_env())
        p.stop(check=False)
    except AssertionError:
        pass
    return d


@pytest.fixture
def mitmc(binary, tmp_path, seed_confdir):
    """Factory: mitmc(*args, quiet=False) starts `mitmc dump --listen-host 127.0.0.1 -p 0
    --set confdir=TMP *args`, waits for its listening line and returns a u.Proxy (.port,
    .stdout, .stderr, .wait_stdout(), .stop()). `wrapper` is an argv prefix that must end by
    exec-ing the rest (so the PID stays the proxy's). With quiet=True (for -q, which prints no
    listening line) the port is read from /proc instead. Every process is stopped by PID at
    teardown, which asserts exit status 0 and no sanitizer report."""
    started = []
    confdir = tmp_path / "confdir"
    shutil.copytree(seed_confdir, confdir)

    def start(*args, quiet=False, timeout=15.0, listen_host="127.0.0.1", wrapper=()):
        argv = list(wrapper) + ([binary] if IS_MITMDUMP else [binary, "dump"])
        argv += ["--listen-host", listen_host, "-p", "0", "--set", "confdir=%s" % confdir]
        argv += list(args)
        p = u.Proxy(argv, proxy_env(), wait_listen=not quiet, timeout=timeout)
        started.append(p)
        return p

    yield start
    errors = []
    for p in started:
        try:
            p.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def proxy(mitmc):
    """One default proxy."""
    return mitmc()


@pytest.fixture
def raw_upstream():
    """Factory: raw_upstream(reply=bytes|fn, handler=fn, close=False) -> u.RawUpstream."""
    servers = []

    def start(**kw):
        s = u.RawUpstream(**kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def http_upstream():
    """The echo/size/chunked/gzip HTTP server (u.EchoHandler), shared by a module."""
    s = u.HttpUpstream()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def curl_bin():
    path = shutil.which("curl")
    if not path:
        pytest.fail("curl is required (scripts/install-deps installs it)")
    return path


@pytest.fixture
def curl(curl_bin, tmp_path):
    """curl(proxy_port, url, *args) -> CompletedProcess (stdout bytes). No config files,
    bounded by --max-time."""

    def run(port, url, *args, timeout=60):
        argv = [curl_bin, "-q", "-sS", "--max-time", str(timeout), "-x", "http://127.0.0.1:%d" % port]
        argv += list(args) + [url]
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=timeout + 10, cwd=tmp_path)

    return run


@pytest.fixture
def tcp_server():
    servers = []

    def start(**kw):
        s = u.TcpServer(**kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
