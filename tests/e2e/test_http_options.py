"""The HTTP options of the foundation: anticache, anticomp, body_size_limit,
stream_large_bodies. Exact bytes checked on the upstream side."""
import e2e_util as u

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def get(port, extra=b""):
    return (b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (port, port) + extra + b"\r\n")


def test_anticache_strips_conditional_headers(mitmc, raw_upstream):
    proxy = mitmc("--anticache")
    up = raw_upstream(reply=OK)
    cond = b'If-Modified-Since: Sat, 29 Oct 1994 19:43:31 GMT\r\nIf-None-Match: "x"\r\n'
    r = u.exchange(proxy.port, get(up.port, b"X-Keep: 1\r\n" + cond))
    assert r.status == 200
    assert up.received() == get(up.port, b"X-Keep: 1\r\n").replace(b"http://127.0.0.1:%d/" % up.port, b"/")


def test_without_anticache_conditional_headers_pass(proxy, raw_upstream):
    up = raw_upstream(reply=OK)
    r = u.exchange(proxy.port, get(up.port, b'If-None-Match: "x"\r\n'))
    assert r.status == 200
    assert b'If-None-Match: "x"\r\n' in up.received()


def test_anticomp_asks_for_identity(mitmc, raw_upstream):
    proxy = mitmc("--anticomp")
    up = raw_upstream(reply=OK)
    r = u.exchange(proxy.port, get(up.port, b"Accept-Encoding: gzip, br\r\n"))
    assert r.status == 200
    got = up.received()
    assert b"Accept-Encoding: identity\r\n" in got and b"gzip" not in got


def test_body_size_limit_request_413_never_upstream(mitmc, raw_upstream):
    proxy = mitmc("--set", "body_size_limit=1k")
    up = raw_upstream(reply=OK)
    body = b"x" * 2000
    req = (b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
           % (up.port, up.port, len(body)) + body)
    r = u.exchange(proxy.port, req, timeout=10)
    assert r.status == 413
    assert up.received() == b""
    # under the limit: served
    small = b"y" * 500
    req = (b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
           % (up.port, up.port, len(small)) + small)
    assert u.exchange(proxy.port, req).status == 200
    assert up.received().endswith(small)


def test_body_size_limit_response_502(mitmc, raw_upstream):
    proxy = mitmc("--set", "body_size_limit=1k")
    big = b"z" * 4000
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
    r = u.exchange(proxy.port, get(up.port))
    assert r.status == 502


def test_stream_large_bodies_passes_bytes_and_marks_content_missing(mitmc, raw_upstream):
    proxy = mitmc("--set", "stream_large_bodies=10k")
    body = bytes(range(256)) * 400  # 100 KiB
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    r = u.exchange(proxy.port, get(up.port))
    assert r.status == 200 and r.body == body
    # mitmdump prints streamed responses as "(content missing)"
    assert proxy.wait_stdout(r"<< 200 OK \(content missing\)")


def test_streamed_chunked_upload_intact(mitmc, raw_upstream):
    proxy = mitmc("--set", "stream_large_bodies=1k")
    up = raw_upstream(reply=OK)
    chunks = b"".join(b"%x\r\n%s\r\n" % (1000, bytes([65 + i]) * 1000) for i in range(10)) + b"0\r\n\r\n"
    req = (b"POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\n"
           % (up.port, up.port) + chunks)
    r = u.exchange(proxy.port, req, timeout=10)
    assert r.status == 200
    got = up.received()
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /up HTTP/1.1\r\n") and b"Transfer-Encoding: chunked" in head
    # the payload arrives whole (chunk boundaries may differ: the proxy re-frames)
    payload, data = b"", rest
    while True:
        size_line, _, data = data.partition(b"\r\n")
        n = int(size_line, 16)
        if n == 0:
            break
        payload, data = payload + data[:n], data[n + 2:]
    assert payload == b"".join(bytes([65 + i]) * 1000 for i in range(10))
