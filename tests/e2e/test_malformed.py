"""Malformed requests are answered 400 (414/431 for size limits) and never reach the upstream;
malformed responses become 502. The next normal request is always served."""
import pytest

import e2e_util as u

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# name -> header lines and body placed after "POST http://UP/ HTTP/1.1\r\nHost: UP\r\n"
BAD_REQUESTS = {
    "cl-and-te": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad-chunk-size": b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "obs-fold": b"X-Folded: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
    "space-before-colon": b"X-Bad : v\r\nContent-Length: 0\r\n\r\n",
    "bare-cr": b"X-Bad: a\rb\r\nContent-Length: 0\r\n\r\n",
    "nul-in-header": b"X-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "second-host": b"Host: other.example\r\nContent-Length: 0\r\n\r\n",
    # empty Transfer-Encoding list elements: a server that does not skip them would read
    # another framing than the proxy (smuggling), so they are refused, as mitmproxy does
    "te-empty-last": b"Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n",
    "te-empty-first": b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
}

BAD_RESPONSES = {
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nX-Bad : v\r\nContent-Length: 0\r\n\r\n",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 0\r\n\r\n",
    "nul-in-header": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "bad-status-line": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
}


def good_request(port, path=b"/good"):
    return b"GET http://127.0.0.1:%d%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, path, port)


def assert_rejected(proxy_port, up, req, status):
    with u.connect(proxy_port) as s:
        s.sendall(req)
        rd = u.Reader(s)
        r = u.read_response(rd)
        assert r.status == status, r
        assert rd.at_eof(), "connection must be closed after a framing error"
    # The next normal request is served, and is the only thing the upstream ever saw.
    r = u.exchange(proxy_port, good_request(up.port))
    assert r.status == 200 and r.body == b"ok"
    assert up.received() == b"GET /good HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port


LENIENT = "its HTTP/1 parser accepts and forwards this"
REQ_DIFFERS = {"bad-chunk-size": "closes the connection without an error response",
               "bare-cr": LENIENT, "nul-in-header": LENIENT, "obs-fold": LENIENT, "second-host": LENIENT}
RESP_DIFFERS = {"bare-cr": LENIENT, "nul-in-header": LENIENT, "obs-fold": LENIENT}


def cases(table, differs):
    return [pytest.param(n, marks=[u.mitmdump_differs(differs[n])] if n in differs else []) for n in sorted(table)]


@pytest.mark.parametrize("name", cases(BAD_REQUESTS, REQ_DIFFERS))
def test_bad_request_400(proxy, raw_upstream, name):
    up = raw_upstream(reply=OK)
    req = b"POST http://127.0.0.1:%d/bad HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (up.port, up.port)
    assert_rejected(proxy.port, up, req + BAD_REQUESTS[name], 400)


@u.mitmc_only
def test_request_line_too_long_414(mitmc, raw_upstream):
    p = mitmc("--set", "http_max_line_size=1k", "--set", "http_max_header_size=4k")
    up = raw_upstream(reply=OK)
    assert_rejected(p.port, up, good_request(up.port, b"/" + b"a" * 2000), 414)


@u.mitmc_only
def test_header_block_too_large_431(mitmc, raw_upstream):
    p = mitmc("--set", "http_max_line_size=1k", "--set", "http_max_header_size=4k")
    up = raw_upstream(reply=OK)
    many = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 80) for i in range(80))  # ~8 KiB
    req = good_request(up.port)[:-2] + many + b"\r\n"
    assert_rejected(p.port, up, req, 431)


@u.mitmc_only
def test_default_line_limit_414(proxy, raw_upstream):
    up = raw_upstream(reply=OK)
    assert_rejected(proxy.port, up, good_request(up.port, b"/" + b"a" * (17 << 10)), 414)


def test_transfer_encoding_over_two_fields_reaches_the_server_as_it_was_read(proxy, raw_upstream):
    """"gzip" and "chunked" in two fields are one list ending in chunked: the body is read as
    chunks and must reach the server as chunks, never as bare bytes under a chunked header."""
    up = raw_upstream(reply=OK)
    head = b"POST http://127.0.0.1:%d/te HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (up.port, up.port)
    fields = b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5\r\nhello\r\n0\r\n\r\n"
    r = u.exchange(proxy.port, head + fields + body)
    assert r.status == 200 and r.body == b"ok"
    got = up.received()
    assert got.startswith(b"POST /te HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s" % (up.port, fields)), got
    assert got.endswith(fields + body), got


def test_h2c_upgrade_never_reaches_the_server(proxy, raw_upstream):
    """mitmproxy's disable_h2c: the upgrade headers go, so a server cannot switch the
    connection to cleartext HTTP/2 past the proxy; the request itself is served."""
    up = raw_upstream(reply=OK)
    r = u.exchange(proxy.port, b"GET http://127.0.0.1:%d/h2c HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                   b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nX-Keep: 1\r\n\r\n" % (up.port, up.port))
    assert r.status == 200 and r.body == b"ok"
    assert up.received() == b"GET /h2c HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Keep: 1\r\n\r\n" % up.port
    assert proxy.wait_stdout(r"h2c upgrade requests\) are currently not supported")


@u.mitmdump_differs("sends OPTIONS / to the origin")
def test_server_wide_options_goes_to_the_origin_as_asterisk(proxy, raw_upstream):
    """RFC 9112 §3.2.4: an absolute-form OPTIONS without path or query asks about the server
    as a whole; the last proxy must send it as "OPTIONS *". With a path or query it stays."""
    up = raw_upstream(reply=OK)
    r = u.exchange(proxy.port, b"OPTIONS http://127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % (up.port, up.port))
    assert r.status == 200
    assert up.received() == b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port


@u.mitmdump_differs("refuses an absolute-form target with a query and no path (400)")
def test_options_with_a_query_keeps_its_target(proxy, raw_upstream):
    up = raw_upstream(reply=OK)
    r = u.exchange(proxy.port, b"OPTIONS http://127.0.0.1:%d?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % (up.port, up.port))
    assert r.status == 200
    assert up.received() == b"OPTIONS /?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port


@pytest.mark.parametrize("name", cases(BAD_RESPONSES, RESP_DIFFERS))
def test_bad_response_502(proxy, raw_upstream, name):
    bad = raw_upstream(reply=BAD_RESPONSES[name], close=True)
    r = u.exchange(proxy.port, good_request(bad.port))
    assert r.status == 502, r
    up = raw_upstream(reply=OK)
    r = u.exchange(proxy.port, good_request(up.port))
    assert r.status == 200 and r.body == b"ok"


@u.mitmc_only
@pytest.mark.parametrize("what", ["status-line", "header-block"])
def test_oversized_response_502(mitmc, raw_upstream, what):
    p = mitmc("--set", "http_max_line_size=1k", "--set", "http_max_header_size=4k")
    if what == "status-line":
        resp = b"HTTP/1.1 200 " + b"K" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"
    else:
        resp = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"v" * 8000 + b"\r\nContent-Length: 0\r\n\r\n"
    bad = raw_upstream(reply=resp, close=True)
    assert u.exchange(p.port, good_request(bad.port)).status == 502
    up = raw_upstream(reply=OK)
    assert u.exchange(p.port, good_request(up.port)).status == 200
