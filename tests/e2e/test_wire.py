"""Exact bytes on both sides: raw client socket -> mitmc -> raw upstream socket."""
import e2e_util as u

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# Odd case, order and duplicates; none of these headers has a hop-by-hop meaning.
REQ_HEADERS = (b"x-lower: 1\r\n"
               b"X-UPPER: 2\r\n"
               b"X-Dup: first\r\n"
               b"Accept: */*\r\n"
               b"x-dup: second\r\n"
               b"X-Dup: third\r\n"
               b"Cookie: a=1\r\n"
               b"Cookie: b=2\r\n")


def test_request_headers_exact(proxy, raw_upstream):
    up = raw_upstream(reply=OK)
    host = b"Host: 127.0.0.1:%d\r\n" % up.port
    req = b"GET http://127.0.0.1:%d/p/a?q=1&r=%%20 HTTP/1.1\r\n" % up.port + host + REQ_HEADERS + b"\r\n"
    r = u.exchange(proxy.port, req)
    assert r.status == 200 and r.body == b"ok"
    assert up.received() == b"GET /p/a?q=1&r=%20 HTTP/1.1\r\n" + host + REQ_HEADERS + b"\r\n"


def test_response_headers_exact(proxy, raw_upstream):
    resp = (b"HTTP/1.1 200 Fine Thanks\r\n"
            b"x-lower: 1\r\n"
            b"Set-Cookie: a=1\r\n"
            b"X-UPPER: 2\r\n"
            b"set-cookie: b=2\r\n"
            b"Set-Cookie: a=1\r\n"
            b"CONTENT-length: 5\r\n"
            b"\r\n")
    up = raw_upstream(reply=resp + b"hello")
    r = u.exchange(proxy.port, b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % (up.port, up.port))
    assert r.head_raw == resp
    assert r.body == b"hello"


def test_two_requests_one_connection(proxy, raw_upstream):
    up = raw_upstream(reply=lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(req.split(b" ")[1]), req.split(b" ")[1]))
    with u.connect(proxy.port) as s:
        rd = u.Reader(s)
        for path in (b"/first", b"/second/one"):
            s.sendall(b"GET http://127.0.0.1:%d%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                      % (up.port, path, up.port))
            r = u.read_response(rd)
            assert r.status == 200 and r.body == path
    got = up.received()
    assert got.count(b"GET /first HTTP/1.1\r\n") == 1
    assert got.count(b"GET /second/one HTTP/1.1\r\n") == 1


def test_post_content_length_body_exact(proxy, raw_upstream):
    up = raw_upstream(reply=OK)
    body = bytes(range(256)) * 4
    req_tail = b"Host: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n" % (up.port, len(body)) + body
    r = u.exchange(proxy.port, b"POST http://127.0.0.1:%d/up HTTP/1.1\r\n" % up.port + req_tail)
    assert r.status == 200
    assert up.received() == b"POST /up HTTP/1.1\r\n" + req_tail


@u.mitmdump_differs("forwards Transfer-Encoding: chunked to an HTTP/1.0 client")
def test_http10_client_gets_no_chunked_framing(proxy, raw_upstream):
    body = b"hello, chunked world"
    chunked = b"5\r\nhello\r\n7\r\n, chunk\r\n8\r\ned world\r\n0\r\n\r\n"
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    with u.connect(proxy.port) as s:
        s.sendall(b"GET http://127.0.0.1:%d/ HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n" % (up.port, up.port))
        rd = u.Reader(s)
        head = rd.until(b"\r\n\r\n")
        status_line, headers = u.parse_head(head)
        assert status_line.split(" ")[1] == "200"
        assert u.header(headers, "transfer-encoding") is None, head
        cl = u.header(headers, "content-length")
        # Either delimited by Content-Length or by closing the connection (RFC 9112 §6.3).
        got = rd.exactly(int(cl)) if cl is not None else rd.to_eof()
    assert got == body


def test_expect_100_continue_raw(proxy, raw_upstream):
    """The client must get a 100 before it sends the body (from mitmc or forwarded)."""
    def handler(conn):
        head = conn.reader.until(b"\r\n\r\n")
        if b"expect: 100-continue" in head.lower():
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = conn.reader.exactly(int(u.header(u.parse_head(head)[1], "content-length")))
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        conn.reader.at_eof(5)

    up = raw_upstream(handler=handler)
    body = b"the body after the 100"
    with u.connect(proxy.port) as s:
        s.sendall(b"PUT http://127.0.0.1:%d/up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % (up.port, up.port, len(body)))
        rd = u.Reader(s)
        interim = rd.until(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 ")
        s.sendall(body)
        r = u.read_response(rd)
    assert r.status == 200 and r.body == body


def test_options_asterisk(proxy, raw_upstream):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nAllow: GET, OPTIONS\r\nContent-Length: 0\r\n\r\n")
    host = b"Host: 127.0.0.1:%d\r\n" % up.port
    r = u.exchange(proxy.port, b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n")
    assert r.status == 200 and r.header("allow") == "GET, OPTIONS"
    assert up.received() == b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n"
