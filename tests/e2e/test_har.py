"""HAR (reference §13): `--set hardump=FILE` writes the session as HAR on exit, the file
loads back with `-n -r`, and a Chromium DevTools export imports."""
import json
import os
import subprocess

import e2e_util as u

FIXTURES = os.path.join(u.ROOT, "tests", "unit", "flow", "fixtures")

pytestmark = u.mitmc_only  # mitmdump 8.1.1 has neither hardump nor HAR import


def read_back(binary, path, tmp_path, *args):
    argv = [binary, "dump", "-n", "-r", str(path), "--set", "confdir=%s" % tmp_path] + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=30, env=dict(os.environ, COLUMNS="200"))
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    return r, out


def test_hardump_writes_session_and_reads_back(mitmc, http_upstream, curl, binary, tmp_path):
    har = tmp_path / "session.har"
    p = mitmc("--set", "hardump=%s" % har)
    r1 = curl(p.port, http_upstream.url + "/gzip")
    r2 = curl(p.port, http_upstream.url + "/echo?x=1", "-d", "a=1&b=2")
    assert r1.returncode == 0 and r2.returncode == 0
    assert p.wait_stdout(r"POST http://127\.0\.0\.1:%d/echo" % http_upstream.port), p.stdout
    p.stop()
    assert har.exists(), "hardump must be written at exit"
    doc = json.loads(har.read_text())
    log = doc["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "mitmc"
    entries = log["entries"]
    assert [e["request"]["method"] for e in entries] == ["GET", "POST"]
    assert entries[0]["request"]["url"] == http_upstream.url + "/gzip"
    content = entries[0]["response"]["content"]
    assert content["text"] == u.GZIP_PLAIN.decode()
    assert content["size"] == len(u.GZIP_BODY)
    assert content["compression"] == len(u.GZIP_PLAIN) - len(u.GZIP_BODY)
    post = entries[1]["request"]
    assert post["postData"]["text"] == "a=1&b=2"
    assert post["postData"]["params"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]
    assert post["queryString"] == [{"name": "x", "value": "1"}]
    assert entries[1]["response"]["status"] == 200
    assert entries[1]["response"]["content"]["text"] == "a=1&b=2"
    assert entries[0]["serverIPAddress"] == "127.0.0.1"

    r, out = read_back(binary, har, tmp_path)
    assert r.returncode == 0, out
    assert "GET %s/gzip" % http_upstream.url in out, out
    assert "POST %s/echo?x=1" % http_upstream.url in out, out
    assert "<< 200 OK 3.1k" in out, out  # decoded on import: 3200 bytes


def test_chromium_har_imports(binary, tmp_path):
    r, out = read_back(binary, os.path.join(FIXTURES, "chrome.har"), tmp_path, "--flow-detail", "2")
    assert r.returncode == 0, out
    assert "GET https://example.com/index.html?q=caf%C3%A9&x=1 HTTP/2" in out, out
    assert "    user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0" in out, out
    assert ":authority" not in out, out
    assert "POST https://api.example.com:8443/v1/items HTTP/3" in out, out
    assert "<< HTTP/3 201 Created 8b" in out, out
    assert "net::ERR_BLOCKED_BY_CLIENT" in out, out
    assert "data:image" not in out


def test_malformed_har_is_an_error(binary, tmp_path):
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {\n  "entries": [\n    {,}\n]}}')
    r, out = read_back(binary, bad, tmp_path)
    assert r.returncode != 0
    assert "line 3, column 6" in out, out
