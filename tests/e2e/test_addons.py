"""The modify, map, block, sticky and auth addons through the real binary, with mitmproxy's
option syntax: exact bytes on the client side and on the upstream side.

Every case also runs against Debian's mitmdump 8.1.1 (/usr/bin/mitmdump, started with the
same flags on another port) when it is installed, and the two results are compared: the
bytes the upstream received and the bytes the client got, with the Server header value of
responses the proxy made itself ("mitmc/..." / "mitmproxy 8.1.1") written as SERVER. Where
8.1.1 differs, the case says so with `differs=REASON` and the comparison asserts that it
still differs (so the list stays true). MITMC_COMPARE=0 turns the comparison off.
Run with MITMC_BIN=/usr/bin/mitmdump, the tests check mitmdump itself (conftest.py); the
cases 8.1.1 fails there are marked `u.mitmdump_differs`.
"""
import base64
import warnings

with warnings.catch_warnings():  # deprecated in 3.11, the simplest maker of $2b$ hashes here
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt
import gzip
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

import e2e_util as u

REF_BIN = "/usr/bin/mitmdump"
COMPARE = (not u.IS_MITMDUMP and os.access(REF_BIN, os.X_OK) and os.environ.get("MITMC_COMPARE", "1") != "0")
SERVER_RE = re.compile(rb"(?im)^(server: )(?:mitmc/\S+|mitmproxy [0-9.]+)\r$")
CLOSED = b"<connection closed, no response>"

# what 8.1.1 does differently, once per reason (docs/internals/addons.md has the table)
D_HOST_PORT = "8.1.1's port setter does not update the Host header, so map_remote leaves the new port out of " \
              "it; mitmproxy 12 writes host:port"
D_EMPTY_CL = "mitmproxy sets content-length whenever a modify_body spec matched, even if nothing was replaced " \
             "(a GET gains content-length: 0); mitmc leaves an unchanged message alone"
D_TEMPLATE = "8.1.1 reads a modify_body replacement as a re.sub template; mitmproxy 10+ inserts it as it is"
D_STREAM_ALERT = "8.1.1 has no 'Both modify_body and stream_large_bodies are active' warning (10.1.6+)"
D_STATUS_RANGE = "8.1.1 refuses status codes it has no reason phrase for; mitmproxy 12 takes any integer, " \
                 "mitmc any three-digit code"
D_FILE_NEWLINE = "mitmproxy puts an @file's trailing newline into the header value (a bare LF inside the " \
                 "head); mitmc drops one trailing newline and refuses any other CR or LF"


def norm(data):
    return SERVER_RE.sub(rb"\1SERVER\r", data)


def env():
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.setdefault("COLUMNS", "200")
    return e


@pytest.fixture
def proxies(mitmc, tmp_path, seed_confdir):
    """Factory: proxies(*args) -> [mitmc with args] plus, when comparing, [mitmdump 8.1.1
    with the same args]. The reference processes are stopped by PID at teardown."""
    refs = []

    def start(*args):
        out = [mitmc(*args)]
        if COMPARE:
            confdir = tmp_path / ("ref-confdir-%d" % len(refs))
            shutil.copytree(seed_confdir, confdir)
            argv = [REF_BIN, "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % confdir]
            p = u.Proxy(argv + list(args), env(), timeout=60)
            refs.append(p)
            out.append(p)
        return out

    yield start
    for p in refs:
        p.stop()


class Upstream(u.RawUpstream):
    """A RawUpstream whose reply depends on the request path (see reply())."""

    def __init__(self):
        super().__init__(reply=self.reply)

    @staticmethod
    def reply(req):
        path = req.split(b" ")[1]
        if b"/setcookie" in path:
            return (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/sc\r\nSet-Cookie: b=\"x y\"; Max-Age=3600\r\n"
                    b"Set-Cookie: gone=1; Path=/sc; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                    b"Set-Cookie: other=1; Domain=elsewhere.test\r\nContent-Length: 2\r\n\r\nok")
        if b"/gzip" in path:
            body = gzip.compress(b"the upstream body, from upstream", mtime=0)
            return (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        if b"/chunked" in path:
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: up\r\n\r\n"
                    b"9\r\nupstream \r\n7\r\nchunked\r\n0\r\n\r\n")
        if b"/big" in path:
            body = b"a" * 4096
            return b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + body
        body = b"upstream saw " + path
        return b"HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.fixture
def up():
    s = Upstream()
    yield s
    s.stop()


def send(port, data):
    """One raw request on a new connection: the response's exact bytes, or CLOSED."""
    with u.connect(port) as s:
        s.sendall(data)
        rd = u.Reader(s)
        try:
            r = u.read_response(rd)
        except (u.Closed, ConnectionResetError):
            return CLOSED
        return r.head_raw + r.body_raw


def each(procs, up, data):
    """Send data through every proxy: [(client bytes, upstream bytes)], normalised."""
    out = []
    for p in procs:
        with up.lock:
            before = len(up.conns)
        got = norm(send(p.port, data))
        with up.lock:
            upstream = b"".join(c.data for c in up.conns[before:])
        out.append((got, upstream))
    return out


def same(results, differs=None, fix=None):
    """mitmc's result, after comparing it with mitmdump 8.1.1's (if that ran). differs: why
    8.1.1 gets something else (asserted, so a stale mark fails); fix, with differs: turns
    8.1.1's result into mitmc's by undoing just that difference (the rest must agree)."""
    if len(results) > 1:
        if differs:
            assert results[0] != results[1], "mitmdump 8.1.1 now agrees; drop the mark: " + differs
            if fix:
                assert fix(results[1]) == results[0], "beyond '%s':\nmitmc: %r\nmitmdump: %r" % (
                    differs, results[0], results[1])
        else:
            assert results[0] == results[1], "mitmc and mitmdump 8.1.1 differ:\nmitmc: %r\nmitmdump: %r" % (
                results[0], results[1])
    return results[0]


def get(url, *headers, method=b"GET", body=b""):
    host = re.match(rb"https?://([^/]+)", url).group(1)
    hdrs = b"".join(h + b"\r\n" for h in headers)
    if body:
        hdrs += b"Content-Length: %d\r\n" % len(body)
    return b"%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n%s" % (method, url, host, hdrs, body)


def local(up, path):
    return b"http://127.0.0.1:%d%s" % (up.port, path)


def ok(body, *headers):
    hdrs = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (hdrs, len(body), body)


# --------------------------------------------------------------------------- map_remote

@u.mitmdump_differs(D_HOST_PORT)
def test_map_remote(proxies, up):
    procs = proxies("-M", "|//remote.test/old/|//127.0.0.1:%d/new/" % up.port,
                    "-M", r"|^http://tpl\.test/(\w+)/(.*)$|http://127.0.0.1:%d/\2/\1" % up.port,
                    "--map-remote", "|~m POST|//post.test/|//127.0.0.1:%d/posted/" % up.port)
    hp = b"127.0.0.1:%d" % up.port

    def port_in_host(r):
        return (r[0], r[1].replace(b"Host: 127.0.0.1\r\n", b"Host: %s\r\n" % hp))

    def mapped(req):
        return same(each(procs, up, req), differs=D_HOST_PORT, fix=port_in_host)

    got, upstream = mapped(get(b"http://remote.test/old/x?q=1", b"Accept: */*"))
    assert upstream == b"GET /new/x?q=1 HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n" % hp
    assert got == ok(b"upstream saw /new/x?q=1", b"Server: up")
    got, upstream = mapped(get(b"http://tpl.test/first/rest/of/it"))
    assert upstream == b"GET /rest/of/it/first HTTP/1.1\r\nHost: %s\r\n\r\n" % hp
    got, upstream = mapped(get(b"http://post.test/a", method=b"POST", body=b"data"))
    assert upstream == b"POST /posted/a HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\n\r\ndata" % hp


def test_map_remote_keeps_an_unmatched_request(proxies, up):
    procs = proxies("-M", "|//nothing.test/|//elsewhere.test/")
    req = get(local(up, b"/as/is"), b"X: y")
    got, upstream = same(each(procs, up, req))
    assert upstream == b"GET /as/is HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX: y\r\n\r\n" % up.port


# --------------------------------------------------------------------------- map_local

@pytest.fixture
def www(tmp_path):
    d = tmp_path / "www"
    (d / "sub").mkdir(parents=True)
    (d / "index.html").write_bytes(b"<h1>index</h1>\n")
    (d / "a.css").write_bytes(b"body{}\n")
    (d / "sub" / "b.json").write_bytes(b'{"b": 1}')
    (d / "foo bar.txt").write_bytes(b"spaced")
    (d / "data.bin").write_bytes(bytes(range(256)))
    (tmp_path / "secret.txt").write_bytes(b"outside the directory")
    (tmp_path / "one.js").write_bytes(b"console.log(1)")
    return d


def test_map_local(proxies, up, www):
    procs = proxies("--map-local", "|//local.test/|%s" % www,
                    "--map-local", "|//one.test/|%s" % (www.parent / "one.js"),
                    "--map-local", "|//127.0.0.1:%d/local/|%s" % (up.port, www))
    cases = [
        (b"/a.css", b"text/css", b"body{}\n"),
        (b"/", b"text/html", b"<h1>index</h1>\n"),
        (b"/sub/b.json?x=1", b"application/json", b'{"b": 1}'),
        (b"/foo%20bar.txt", b"text/plain", b"spaced"),
        (b"/data.bin", b"application/octet-stream", bytes(range(256))),
    ]
    for path, ctype, body in cases:
        got, upstream = same(each(procs, up, get(b"http://local.test" + path)))
        hdrs = b"Server: SERVER\r\n" + (b"Content-Type: %s\r\n" % ctype if ctype else b"")
        assert got == b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (hdrs, len(body), body), path
        assert upstream == b""
    got, _ = same(each(procs, up, get(b"http://one.test/any/path.html")))
    assert got.endswith(b"\r\n\r\nconsole.log(1)") and b"Content-Type: text/javascript\r\n" in got
    got, upstream = same(each(procs, up, get(b"http://local.test/missing")))
    assert got == b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    assert upstream == b""


@pytest.mark.parametrize("path", [b"/local/../secret.txt", b"/local/%2e%2e/secret.txt", b"/local/a/../../secret.txt"])
def test_map_local_never_leaves_its_directory(proxies, up, www, path):
    procs = proxies("--map-local", "|//127.0.0.1:%d/local/|%s" % (up.port, www))
    got, upstream = same(each(procs, up, get(local(up, path))))
    assert b"outside the directory" not in got
    assert got == ok(b"upstream saw " + path, b"Server: up"), "no candidate: the request goes upstream"


# --------------------------------------------------------------------------- modify_headers

@u.mitmdump_differs(D_FILE_NEWLINE)
def test_modify_headers(proxies, up, tmp_path):
    value = tmp_path / "value.txt"
    value.write_bytes(b"from a file\n")
    procs = proxies("-H", "|~q & ~u /mh/|X-Added|yes",
                    "-H", "|~u /mh/|User-Agent|",
                    "-H", "|~q & ~u /mh/|X-File|@%s" % value,
                    "--modify-headers", "|~s & ~u /mh/|X-Resp|r",
                    "-H", "|~s & ~u /mh/|Server|",
                    "-H", ":~u /mh/ & ~h X-Twice:X-Twice:one",
                    "-H", ":~u /mh/ & ~h X-Twice:X-Twice:two")
    req = get(local(up, b"/mh/x"), b"User-Agent: curl/8", b"X-Twice: 0", b"Accept: */*")
    got, upstream = same(each(procs, up, req), differs=D_FILE_NEWLINE,
                         fix=lambda r: (r[0], r[1].replace(b"from a file\n\r\n", b"from a file\r\n")))
    assert upstream == (b"GET /mh/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\nX-Added: yes\r\n"
                        b"X-File: from a file\r\nX-Twice: one\r\nX-Twice: two\r\n\r\n") % up.port
    assert got == (b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\nX-Resp: r\r\nX-Twice: one\r\nX-Twice: two\r\n\r\n"
                   b"upstream saw /mh/x"), "~h matches the request's headers in the response hook too"
    # not matching: untouched
    got, upstream = same(each(procs, up, get(local(up, b"/other"), b"User-Agent: curl/8")))
    assert upstream == b"GET /other HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: curl/8\r\n\r\n" % up.port


def test_modify_headers_on_a_local_answer(proxies, up, www):
    # mitmproxy runs responseheaders for a response an addon made (here map_local's)
    procs = proxies("--map-local", "|//local.test/|%s" % www, "-H", "|~s|Access-Control-Allow-Origin|*")
    got, _ = same(each(procs, up, get(b"http://local.test/a.css")))
    assert got == (b"HTTP/1.1 200 OK\r\nServer: SERVER\r\nContent-Type: text/css\r\ncontent-length: 7\r\n"
                   b"Access-Control-Allow-Origin: *\r\n\r\nbody{}\n")


# --------------------------------------------------------------------------- modify_body

def test_modify_body(proxies, up):
    procs = proxies("-B", "|~q & ~u /mb/|secret|pub",
                    "--modify-body", "|~s & ~u /mb/|upstream|UPSTREAM",
                    "-B", r"|~s & ~u /mb/chunked|\x20|_")
    got, upstream = same(each(procs, up, get(local(up, b"/mb/post"), method=b"POST", body=b"my secret is secret")))
    assert upstream == (b"POST /mb/post HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 13\r\n\r\n"
                        b"my pub is pub") % up.port
    assert got == ok(b"UPSTREAM saw /mb/post", b"Server: up")
    got, _ = same(each(procs, up, get(local(up, b"/mb/chunked"))), differs=D_EMPTY_CL,
                  fix=lambda r: (r[0], r[1].replace(b"content-length: 0\r\n", b"")))
    assert got == (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: up\r\n\r\n"
                   b"10\r\nUPSTREAM_chunked\r\n0\r\n\r\n"), "decoded, replaced, chunked again"


def test_modify_body_keeps_the_encoding(proxies, up):
    procs = proxies("-B", "|~s|upstream|UPSTREAM")
    for got, _ in each(procs, up, get(local(up, b"/gzip"))):
        head, _, body = got.partition(b"\r\n\r\n")
        assert b"Content-Encoding: gzip\r\n" in head
        assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n"
        assert gzip.decompress(body) == b"the UPSTREAM body, from UPSTREAM"


@u.mitmdump_differs(D_TEMPLATE)
def test_modify_body_replacement_is_literal(proxies, up):
    procs = proxies("-B", r"|~s & ~u /lit|(saw)|[\\1]")
    got, _ = same(each(procs, up, get(local(up, b"/lit"))), differs=D_TEMPLATE)
    assert got == ok(b"upstream [\\1] /lit", b"Server: up")


@u.mitmdump_differs(D_STREAM_ALERT)
def test_modify_body_leaves_streamed_bodies_alone(proxies, up):
    procs = proxies("--set", "stream_large_bodies=1k", "-B", "|~s|a|b")
    got, _ = same(each(procs, up, get(local(up, b"/big"))))
    assert got == b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + b"a" * 4096
    warned = ["Both modify_body and stream_large_bodies are active. Streamed bodies will not be modified."
              in p.stdout for p in procs]
    assert warned[0]
    if len(warned) > 1:
        assert not warned[1], "mitmdump 8.1.1 now warns; drop the mark: " + D_STREAM_ALERT


# --------------------------------------------------------------------------- block_list

def test_block_list(proxies, up):
    procs = proxies("--set", "block_list=|~u /blocked/|403", "--set", "block_list=!~u /dropped/!444",
                    "--set", "block_list=|~u /teapot|418")
    got, upstream = same(each(procs, up, get(local(up, b"/blocked/x"))))
    assert (got, upstream) == (b"HTTP/1.1 403 Forbidden\r\nServer: SERVER\r\ncontent-length: 0\r\n\r\n", b"")
    got, upstream = same(each(procs, up, get(local(up, b"/dropped/x"))))
    assert (got, upstream) == (CLOSED, b"")
    got, upstream = same(each(procs, up, get(local(up, b"/teapot"))))
    assert got == b"HTTP/1.1 418 I'm a teapot\r\nServer: SERVER\r\ncontent-length: 0\r\n\r\n"
    got, upstream = same(each(procs, up, get(local(up, b"/free"))))
    assert got == ok(b"upstream saw /free", b"Server: up")


# --------------------------------------------------------------------------- sticky

def test_stickycookie(proxies, up):
    procs = proxies("--stickycookie", "~u /sc/")
    results = []
    for p in procs:
        with up.lock:
            before = len(up.conns)
        first = send(p.port, get(local(up, b"/sc/setcookie")))
        assert first.endswith(b"\r\n\r\nok")
        send(p.port, get(local(up, b"/sc/next"), b"Cookie: mine=0"))
        send(p.port, get(local(up, b"/other/"), b"Accept: */*"))
        with up.lock:
            results.append(b"".join(c.data for c in up.conns[before:]))
    got = same([(r,) for r in results])[0]
    hp = b"127.0.0.1:%d" % up.port
    assert got == (b"GET /sc/setcookie HTTP/1.1\r\nHost: %s\r\n\r\n" % hp +
                   b"GET /sc/next HTTP/1.1\r\nHost: %s\r\nCookie: a=1; b=\"x y\"\r\n\r\n" % hp +
                   b"GET /other/ HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n" % hp)


def test_stickyauth(proxies, up):
    procs = proxies("--stickyauth", "~u /sa/")
    results = []
    for p in procs:
        with up.lock:
            before = len(up.conns)
        send(p.port, get(local(up, b"/sa/one"), b"Authorization: Basic dXNlcjpwYXNz"))
        send(p.port, get(local(up, b"/sa/two")))
        send(p.port, get(local(up, b"/nosa/")))
        with up.lock:
            results.append(b"".join(c.data for c in up.conns[before:]))
    got = same([(r,) for r in results])[0]
    hp = b"127.0.0.1:%d" % up.port
    assert got == (b"GET /sa/one HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n" % hp +
                   b"GET /sa/two HTTP/1.1\r\nHost: %s\r\nauthorization: Basic dXNlcjpwYXNz\r\n\r\n" % hp +
                   b"GET /nosa/ HTTP/1.1\r\nHost: %s\r\n\r\n" % hp)


# --------------------------------------------------------------------------- proxyauth

REQUIRED_407 = (b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"mitmproxy\"\r\n"
                b"content-length: 129\r\n\r\n<html><head><title>407 Proxy Authentication Required</title></head>"
                b"<body><h1>407 Proxy Authentication Required</h1></body></html>")


def basic(user, password):
    return b"Proxy-Authorization: Basic " + base64.b64encode(b"%s:%s" % (user, password))


def test_proxyauth_single_user(proxies, up):
    procs = proxies("--proxyauth", "user:pass")
    got, upstream = same(each(procs, up, get(local(up, b"/pa"), b"Accept: */*")))
    assert (got, upstream) == (REQUIRED_407, b"")
    got, upstream = same(each(procs, up, get(local(up, b"/pa"), basic(b"user", b"wrong"))))
    assert (got, upstream) == (REQUIRED_407, b"")
    got, upstream = same(each(procs, up, get(local(up, b"/pa"), basic(b"user", b"pass"), b"Accept: */*")))
    assert upstream == b"GET /pa HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n\r\n" % up.port
    assert got == ok(b"upstream saw /pa", b"Server: up")


def test_proxyauth_htpasswd(proxies, up, tmp_path):
    sha = base64.b64encode(__import__("hashlib").sha1(b"shapass").digest())
    ht = tmp_path / "htpasswd"
    ht.write_bytes(b"# users\nsha:{SHA}%s\nbob:%s\n" % (sha, crypt.crypt("bobpass", crypt.mksalt(
        crypt.METHOD_BLOWFISH, rounds=16)).encode()))
    procs = proxies("--proxyauth", "@%s" % ht)
    got, upstream = same(each(procs, up, get(local(up, b"/ht"), basic(b"sha", b"shapass"))))
    assert upstream == b"GET /ht HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port
    got, upstream = same(each(procs, up, get(local(up, b"/ht"), basic(b"sha", b"nope"))))
    assert got == REQUIRED_407
    got, upstream = same(each(procs, up, get(local(up, b"/ht"), basic(b"bob", b"bobpass"))))
    assert upstream == b"GET /ht HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port, "bcrypt ($2b$)"
    got, upstream = same(each(procs, up, get(local(up, b"/ht"), basic(b"bob", b"nope"))))
    assert got == REQUIRED_407


@u.mitmc_only
def test_proxyauth_holds_for_streamed_bodies(mitmc, up):
    p = mitmc("--proxyauth", "user:pass", "--set", "stream_large_bodies=10")
    got = send(p.port, get(local(up, b"/big-upload"), method=b"POST", body=b"x" * 100))
    assert up.received() == b"", "an unauthenticated request must never reach the upstream"
    assert got == REQUIRED_407


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory):
    """HTTPS upstream with a self-signed certificate; records each request head."""
    d = tmp_path_factory.mktemp("tls")
    key, cert = str(d / "k.pem"), str(d / "c.pem")
    subprocess.run(["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    heads = []
    stop = threading.Event()

    def serve(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                rd = u.Reader(s)
                for _ in range(100):
                    req = u.read_request(rd)
                    heads.append(req)
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")
        except (OSError, u.Closed, ValueError):
            pass

    def accept():
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield lsock.getsockname()[1], heads
    stop.set()
    lsock.close()
    t.join(5)


def test_proxyauth_once_per_tunnel(proxies, tls_upstream, curl_bin, tmp_path):
    port, heads = tls_upstream
    procs = proxies("--proxyauth", "user:pass", "-k")
    for p in procs:
        del heads[:]
        argv = [curl_bin, "-q", "-sS", "-k", "--max-time", "30", "-x", "http://127.0.0.1:%d" % p.port,
                "-U", "user:pass", "--http1.1"]
        urls = ["https://127.0.0.1:%d/first" % port, "https://127.0.0.1:%d/second" % port]
        r = subprocess.run(argv + urls, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"securesecure", "the requests inside the tunnel are not asked for credentials"
        assert [h.split(b"\r\n")[0] for h in heads] == [b"GET /first HTTP/1.1", b"GET /second HTTP/1.1"]
        assert all(b"proxy-authorization" not in h.lower() for h in heads)
        r = subprocess.run([curl_bin, "-q", "-sS", "-k", "--max-time", "30", "-x", "http://127.0.0.1:%d" % p.port,
                            "-o", "/dev/null", "-w", "%{http_connect}", urls[0]], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, cwd=tmp_path)
        assert r.stdout == b"407", "a CONNECT without credentials is refused"


# --------------------------------------------------------------------------- upstream_auth

def test_upstream_auth_is_for_upstream_and_reverse_modes_only(proxies, up):
    # regular mode: the option is accepted, nothing added (test_modes.py covers upstream)
    procs = proxies("--upstream-auth", "user:pass")
    got, upstream = same(each(procs, up, get(local(up, b"/ua"))))
    assert upstream == b"GET /ua HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port


# --------------------------------------------------------------------------- start-up errors

START_ERRORS = [
    (["-M", "|foo"], "Cannot parse map_remote option |foo: Invalid number of parameters (2 or 3 are expected)"),
    (["-M", "|~zz|a|b"], "Cannot parse map_remote option |~zz|a|b: Invalid filter expression: '~zz'"),
    (["-M", "|a(|b"], "Cannot parse map_remote option |a(|b: Invalid regular expression 'a('"),
    (["--map-local", "|a|/nonexistent/dir"],
     "Cannot parse map_local option |a|/nonexistent/dir: Invalid file path: /nonexistent/dir ([Errno 2] "
     "No such file or directory: '/nonexistent')"),
    (["-H", "|a|@/nonexistent/file"],
     "Cannot parse modify_headers option |a|@/nonexistent/file: Invalid file path: /nonexistent/file ([Errno 2] "
     "No such file or directory: '/nonexistent/file')"),
    (["-H", "|x\\x4|v"], "Cannot parse modify_headers option |x\\x4|v: invalid \\x escape at position 1"),
    (["-B", "|a(|b"], "Cannot parse modify_body option |a(|b: Invalid regular expression b'a('"),
    (["-B", "/x"], "Cannot parse modify_body option /x: Invalid number of parameters (2 or 3 are expected)"),
    (["--set", "block_list=|~q|abc"], "Cannot parse block_list option |~q|abc: Invalid HTTP status code: abc"),
    (["--set", "block_list=|~q|403|x"],
     "Cannot parse block_list option |~q|403|x: Invalid number of parameters (2 are expected)"),
    (["--set", "block_list=|~zz|403"], "Cannot parse block_list option |~zz|403: Invalid filter expression: '~zz'"),
    (["--proxyauth", "foo"], "Invalid proxyauth specification."),
    (["--proxyauth", "a:b:c"], "Invalid single-user auth specification."),
    (["--proxyauth", "@/nonexistent/htpasswd"], "Could not open htpasswd file: /nonexistent/htpasswd"),
    (["--stickycookie", "~zz"], "Invalid filter expression: '~zz'"),
    (["--stickyauth", "~zz"], "Invalid filter expression: '~zz'"),
    (["--upstream-auth", "foo"], "Invalid upstream auth specification: foo"),
]


def start_fails(argv, timeout=60):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=timeout, env=env())
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


@pytest.mark.parametrize("args,msg", START_ERRORS, ids=[" ".join(a) for a, _ in START_ERRORS])
def test_start_up_errors(binary, tmp_path, args, msg):
    base = ["--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % tmp_path]
    argv = [binary] if u.IS_MITMDUMP else [binary, "dump"]
    rc, out = start_fails(argv + base + args)
    assert rc == 1 and msg in out and "listening" not in out, out
    if COMPARE:
        rc, out = start_fails([REF_BIN] + base + args)
        assert rc == 1 and msg in out, "mitmdump 8.1.1: " + out


@u.mitmdump_differs(D_STATUS_RANGE)
@pytest.mark.parametrize("args", [["--set", "block_list=|~q|299"], ["--set", "block_list=|~q|999"]])
def test_any_three_digit_status(binary, tmp_path, args):
    base = ["--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % tmp_path]
    p = u.Proxy(([binary] if u.IS_MITMDUMP else [binary, "dump"]) + base + args, env(), timeout=60)
    p.stop()
    if COMPARE:
        rc, out = start_fails([REF_BIN] + base + args)
        assert rc == 1, D_STATUS_RANGE


@u.mitmc_only
def test_mitmc_refuses_what_http1_cannot_carry(binary, tmp_path):
    base = [binary, "dump", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % tmp_path]
    for args, msg in [(["--set", "block_list=|~q|1000"], "Invalid HTTP status code: 1000"),
                      (["-H", "|X|a\\r\\nInjected: 1"], "Invalid header value: holds CR, LF or NUL"),
                      (["-H", "|Bad Name|v"], "Invalid header name: not an HTTP token"),
                      (["-M", "|a|\\q"], "Invalid replacement '\\\\q' (bad escape \\q at position 0)"),
                      (["--proxyauth", "ldap:h:cn=x:pw:dc=y"], "LDAP authentication is not supported by mitmc")]:
        rc, out = start_fails(base + args)
        assert rc == 1 and msg in out, out


# --------------------------------------------------------------------------- flags and options

# (mitmproxy prints "--map-remote PATTERN, -M PATTERN"; mitmc's -h puts short flags first)
FLAGS = ["-M PATTERN", "--map-remote PATTERN", "--map-local PATTERN", "-B PATTERN", "--modify-body PATTERN",
         "-H PATTERN", "--modify-headers PATTERN", "--stickycookie FILTER", "--stickyauth FILTER",
         "--proxyauth SPEC", "--upstream-auth USER:PASS"]


def test_help_has_the_flags(binary):
    argv = [binary] if u.IS_MITMDUMP else [binary, "dump"]
    p = subprocess.run(argv + ["-h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, env=env())
    out = p.stdout.decode()
    for f in FLAGS:
        assert f in out, f
    for group in ("Map Remote:", "Map Local:", "Modify Body:", "Modify Headers:"):
        assert "\n%s\n" % group in out, group


OPTIONS = ["block_list: []", "keep_host_header: false", "map_local: []", "map_remote: []", "modify_body: []",
           "modify_headers: []", "proxyauth:", "stickyauth:", "stickycookie:", "upstream_auth:"]


def test_options_lists_them(binary):
    argv = [binary] if u.IS_MITMDUMP else [binary, "dump"]
    out = subprocess.run(argv + ["--options"], stdout=subprocess.PIPE, timeout=60, env=env()).stdout.decode()
    for o in OPTIONS:
        assert "\n%s\n" % o in out, o
    assert ("# Map remote resources to another remote URL using a pattern of the form\n"
            '# "[/flow-filter]/url-regex/replacement", where the separator can be any\n'
            "# character. Type sequence of str.\nmap_remote: []\n") in out


@u.mitmc_only
def test_map_remote_to_https(mitmc, up, tls_upstream):
    port, heads = tls_upstream
    p = mitmc("-k", "-M", "|^http://plain.test/|https://127.0.0.1:%d/" % port)
    got = send(p.port, get(b"http://plain.test/x"))
    assert got == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure"
