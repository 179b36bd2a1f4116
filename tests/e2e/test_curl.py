"""curl (the real client) through `mitmc dump`: methods, framing, large and compressed bodies."""
import hashlib
import re

import pytest

import e2e_util as u

BIG = 20 << 20  # 20 MiB


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PURGE-CACHE"])
def test_method(proxy, http_upstream, curl, method):
    body = b"payload for %s" % method.encode()
    r = curl(proxy.port, http_upstream.url + "/echo", "-X", method, "--data-binary", body.decode(),
             "-H", "Content-Type: application/octet-stream", "-D", "-")
    assert r.returncode == 0, r.stderr
    head, _, got = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert re.search(rb"\r\nX-Method: %s\r\n" % method.encode(), head), head
    assert got == body


def test_head(proxy, http_upstream, curl):
    r = curl(proxy.port, http_upstream.url + "/size/1234", "-I")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 1234\r\n" in r.stdout
    assert r.stdout.endswith(b"\r\n\r\n")  # headers only, no body


@pytest.mark.parametrize("kind", ["size", "chunked"])
def test_response_framing(proxy, http_upstream, curl, kind):
    n = 100_000
    r = curl(proxy.port, "%s/%s/%d" % (http_upstream.url, kind, n), "-D", "-")
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == u.body_bytes(n)


def test_20mib_download(proxy, http_upstream, curl, tmp_path):
    out = tmp_path / "down"
    r = curl(proxy.port, "%s/size/%d" % (http_upstream.url, BIG), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(u.body_bytes(BIG)).hexdigest()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_20mib_upload(proxy, http_upstream, curl, tmp_path, chunked):
    data = u.body_bytes(BIG)
    src = tmp_path / "up"
    src.write_bytes(data)
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    r = curl(proxy.port, http_upstream.url + "/sha256", "--data-binary", "@%s" % src, *extra)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == hashlib.sha256(data).hexdigest()


def test_gzip_body_passed_byte_for_byte(proxy, http_upstream, curl):
    # No --compressed: curl writes the body as received, so it must be the upstream's gzip bytes.
    r = curl(proxy.port, http_upstream.url + "/gzip", "-D", "-")
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert b"\r\nContent-Encoding: gzip\r\n" in head
    assert body == u.GZIP_BODY


def test_100_continue_upload(proxy, http_upstream, curl, tmp_path):
    data = u.body_bytes(50_000)
    src = tmp_path / "up"
    src.write_bytes(data)
    # curl waits up to --expect100-timeout for the 100 before sending the body; -v shows it.
    r = curl(proxy.port, http_upstream.url + "/sha256", "--data-binary", "@%s" % src, "-v",
             "-H", "Expect: 100-continue", "--expect100-timeout", "30")
    assert r.returncode == 0, r.stderr
    assert b"< HTTP/1.1 100 Continue" in r.stderr
    assert r.stdout.decode() == hashlib.sha256(data).hexdigest()
