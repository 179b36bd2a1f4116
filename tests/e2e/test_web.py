"""`mitmc web`: mitmweb's API with the real binary (docs/internals/web.md). Flows are made with
curl through the proxy; the API is read with httpx and the /updates WebSocket with
python3-websockets. Every wait is bounded; no timing is asserted."""
import asyncio
import hashlib
import json
import re
import shutil
import socket
import subprocess
import time

import httpx
import pytest
import websockets

import e2e_util as u
from conftest import proxy_env

pytestmark = u.mitmc_only

URL_RE = re.compile(r"Web server listening at (http://127\.0\.0\.1:(\d+))/(?:\?token=([0-9a-f]{32}))?$")


class Web:
    def __init__(self, proxy):
        self.proxy = proxy
        m = proxy.wait_stdout(URL_RE, 15)
        assert m, "no web URL in the log:\n" + proxy.stdout
        self.base, self.port, self.token = m.group(1), int(m.group(2)), m.group(3) or "-"
        self.http = httpx.Client(base_url=self.base, trust_env=False, timeout=u.IO_TIMEOUT,
                                 headers={"Authorization": "Bearer " + self.token})

    def get(self, path, **kw):
        return self.http.get(path, **kw)

    def flows(self):
        r = self.get("/flows")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_flows(self, pred, what, timeout=u.IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fl = self.flows()
            if pred(fl):
                return fl
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s; flows: %s" % (what, json.dumps(self.flows())[:2000]))


@pytest.fixture
def web(binary, tmp_path, seed_confdir):
    confdir = tmp_path / "confdir"
    shutil.copytree(seed_confdir, confdir)
    started = []

    def start(*args):
        argv = [binary, "web", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % confdir,
                "--web-port", "0", "--no-web-open-browser"] + list(args)
        p = u.Proxy(argv, proxy_env())
        try:
            w = Web(p)
        except AssertionError:
            p.stop(check=False)
            raise
        started.append((p, w))
        return w

    yield start
    for p, w in started:
        w.http.close()
        p.stop()


def curl_bg(port, url, *args, timeout=30):
    argv = ["curl", "-q", "-sS", "--max-time", str(timeout), "-x", "http://127.0.0.1:%d" % port,
            "-o", "-", "-w", "\n%{http_code}"] + list(args) + [url]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def by_path(flows, needle):
    return [f for f in flows if needle in f["request"]["path"]]


def test_flows_listed_with_body_hashes_and_bodies_downloaded(web, curl, http_upstream):
    w = web()
    r = curl(w.proxy.port, http_upstream.url + "/size/3000")
    assert r.returncode == 0 and r.stdout == u.body_bytes(3000)
    fl = w.wait_flows(lambda fl: len(by_path(fl, "/size/3000")) == 1 and by_path(fl, "/size/3000")[0].get("response"),
                      "the /size flow")
    flow = by_path(fl, "/size/3000")[0]
    assert flow["type"] == "http" and flow["request"]["method"] == "GET"
    assert flow["request"]["host"] == "127.0.0.1" and flow["request"]["port"] == http_upstream.port
    assert flow["response"]["status_code"] == 200
    assert flow["response"]["contentLength"] == 3000
    assert flow["response"]["contentHash"] == hashlib.sha256(u.body_bytes(3000)).hexdigest()
    assert "content" not in flow["response"]  # no bodies in the list
    r = w.get("/flows/%s/response/content.data" % flow["id"])
    assert r.status_code == 200 and r.content == u.body_bytes(3000)
    assert r.headers["content-disposition"] == "attachment; filename=3000"


def test_request_body_download(web, curl, http_upstream, tmp_path):
    w = web()
    body = u.body_bytes(7000)
    (tmp_path / "body").write_bytes(body)
    r = curl(w.proxy.port, http_upstream.url + "/echo?up", "--data-binary", "@%s" % (tmp_path / "body"))
    assert r.returncode == 0 and r.stdout == body
    fl = w.wait_flows(lambda fl: by_path(fl, "/echo?up") and by_path(fl, "/echo?up")[0].get("response"), "echo")
    flow = by_path(fl, "/echo?up")[0]
    assert flow["request"]["contentLength"] == 7000
    assert flow["request"]["contentHash"] == hashlib.sha256(body).hexdigest()
    assert w.get("/flows/%s/request/content.data" % flow["id"]).content == body
    assert w.get("/flows/%s/response/content.data" % flow["id"]).content == body
    v = w.get("/flows/%s/response/content/raw.json" % flow["id"]).json()
    assert set(v) >= {"text", "view_name", "syntax_highlight", "description"}


def test_intercept_holds_until_resume_with_an_edit(web, http_upstream):
    w = web()
    r = w.http.put("/options", json={"intercept": "~q & ~u held"})
    assert r.status_code == 200, r.text
    assert w.get("/options").json()["intercept"]["value"] == "~q & ~u held"
    c = curl_bg(w.proxy.port, http_upstream.url + "/echo?held")
    try:
        fl = w.wait_flows(lambda fl: any(f["intercepted"] for f in by_path(fl, "held")), "an intercepted flow")
        flow = by_path(fl, "held")[0]
        assert not [q for q in http_upstream.requests if "held" in q["path"]], "upstream saw a held request"
        assert c.poll() is None
        headers = flow["request"]["headers"] + [["X-Edited", "by-web"]]
        r = w.http.put("/flows/" + flow["id"], json={"request": {"headers": headers}})
        assert r.status_code == 200, r.text
        assert not [q for q in http_upstream.requests if "held" in q["path"]]
        r = w.http.post("/flows/%s/resume" % flow["id"])
        assert r.status_code == 200
        out, err = c.communicate(timeout=20)
    finally:
        if c.poll() is None:
            c.kill()
            c.wait()
    assert out.endswith(b"\n200"), (out, err)
    seen = [q for q in http_upstream.requests if "held" in q["path"]]
    assert len(seen) == 1
    assert ("X-Edited", "by-web") in seen[0]["headers"]


def test_replay_reaches_upstream_again(web, curl, http_upstream):
    w = web()
    assert curl(w.proxy.port, http_upstream.url + "/echo?replayme").returncode == 0
    fl = w.wait_flows(lambda fl: by_path(fl, "replayme") and by_path(fl, "replayme")[0].get("response"), "flow")
    before = len([q for q in http_upstream.requests if "replayme" in q["path"]])
    assert before == 1
    r = w.http.post("/flows/%s/replay" % by_path(fl, "replayme")[0]["id"])
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + u.IO_TIMEOUT
    while time.monotonic() < deadline and len([q for q in http_upstream.requests if "replayme" in q["path"]]) < 2:
        time.sleep(0.05)
    assert len([q for q in http_upstream.requests if "replayme" in q["path"]]) == 2


def test_delete_duplicate_revert(web, curl, http_upstream):
    w = web()
    assert curl(w.proxy.port, http_upstream.url + "/echo?del").returncode == 0
    fl = w.wait_flows(lambda fl: by_path(fl, "del") and by_path(fl, "del")[0].get("response"), "flow")
    fid = by_path(fl, "del")[0]["id"]
    r = w.http.post("/flows/%s/duplicate" % fid)
    assert r.status_code == 200 and re.fullmatch(r"[0-9a-f-]{36}", r.text) and r.text != fid
    dup = r.text
    assert {f["id"] for f in w.flows()} == {fid, dup}
    r = w.http.put("/flows/" + dup, json={"comment": "note", "request": {"path": "/echo?del2"}})
    assert r.status_code == 200, r.text
    d = [f for f in w.flows() if f["id"] == dup][0]
    assert d["comment"] == "note" and d["modified"] and d["request"]["path"] == "/echo?del2"
    assert w.http.post("/flows/%s/revert" % dup).status_code == 200
    d = [f for f in w.flows() if f["id"] == dup][0]
    assert d["comment"] == "" and not d["modified"] and d["request"]["path"] == "/echo?del"
    assert w.http.delete("/flows/" + fid).status_code == 200
    assert [f["id"] for f in w.flows()] == [dup]
    r = w.http.delete("/flows/" + fid)
    assert r.status_code == 404 and r.json() == {"error": "Flow not found."}


def test_updates_websocket_gets_add_and_update(web, http_upstream):
    """A held flow is published at once (flows/add), its resume and response follow as
    flows/update; a quick flow may be published only when final (one flows/add)."""
    w = web("--set", "intercept=~q & ~u wsflow")

    async def run():
        url = "ws://127.0.0.1:%d/updates?token=%s" % (w.port, w.token)
        async with websockets.connect(url, open_timeout=u.IO_TIMEOUT) as ws:
            await ws.send(json.dumps({"type": "flows/updateFilter", "payload": {"name": "search", "expr": "~u wsflow"}}))
            m = json.loads(await asyncio.wait_for(ws.recv(), u.IO_TIMEOUT))
            assert m == {"type": "flows/filterUpdate", "payload": {"name": "search", "matching_flow_ids": []}}
            c = curl_bg(w.proxy.port, http_upstream.url + "/echo?wsflow")
            got = []
            try:
                deadline = time.monotonic() + u.IO_TIMEOUT
                while time.monotonic() < deadline:
                    m = json.loads(await asyncio.wait_for(ws.recv(), u.IO_TIMEOUT))
                    if m["type"] not in ("flows/add", "flows/update"):
                        continue
                    got.append(m)
                    flow = m["payload"]["flow"]
                    if flow["intercepted"]:
                        r = await asyncio.to_thread(w.http.post, "/flows/%s/resume" % flow["id"])
                        assert r.status_code == 200
                    if flow.get("response"):
                        break
            finally:
                c.communicate(timeout=20)
            return got

    got = asyncio.run(run())
    assert got[0]["type"] == "flows/add"
    assert got[0]["payload"]["flow"]["request"]["path"] == "/echo?wsflow"
    assert got[0]["payload"]["flow"]["intercepted"] is True
    assert got[0]["payload"]["matching_filters"] == {"search": True}
    assert got[-1]["type"] == "flows/update"
    assert got[-1]["payload"]["flow"]["response"]["status_code"] == 200
    assert got[-1]["payload"]["flow"]["intercepted"] is False, [(m["type"], m["payload"]["flow"]["intercepted"], bool(m["payload"]["flow"].get("response"))) for m in got]
    assert len({m["payload"]["flow"]["id"] for m in got}) == 1


def test_auth_required(web):
    w = web()
    plain = httpx.Client(base_url=w.base, trust_env=False, timeout=u.IO_TIMEOUT)
    try:
        for path in ("/flows", "/options", "/state", "/events", "/commands", "/flows/dump"):
            r = plain.get(path)
            assert r.status_code == 403 and "error" in r.json(), path
        assert plain.post("/clear").status_code == 403
        r = plain.get("/")
        assert r.status_code == 403 and "<form" in r.text  # the login page
        assert plain.get("/flows", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert plain.get("/flows?token=" + "0" * 32).status_code == 403
        # the token once, then the cookie alone
        r = plain.get("/flows?token=" + w.token)
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("mitmproxy-auth-%d=" % w.port)
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert plain.get("/flows").status_code == 200
        # the login form
        fresh = httpx.Client(base_url=w.base, trust_env=False, timeout=u.IO_TIMEOUT)
        assert fresh.post("/", data={"token": w.token}).status_code == 200
        assert fresh.get("/state").status_code == 200
        fresh.close()
    finally:
        plain.close()


def test_password_option(web):
    w = web("--set", "web_password=s3cret")
    assert w.get("/flows").status_code == 403  # the random token is not valid then
    assert w.get("/flows", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    # any `set` replaces the options' strings: the password must not be read from them
    auth = {"Authorization": "Bearer s3cret"}
    for v in (True, False, True):
        assert w.http.put("/options", json={"anticache": v}, headers=auth).status_code == 200
    assert w.get("/flows", headers=auth).status_code == 200
    with httpx.Client(base_url=w.base, trust_env=False, timeout=u.IO_TIMEOUT) as fresh:  # no cookie
        assert fresh.get("/flows", headers={"Authorization": "Bearer wrong!"}).status_code == 403
        assert fresh.get("/flows", headers=auth).status_code == 200


def test_host_and_origin_refused(web):
    w = web()
    r = w.get("/flows", headers={"Host": "evil.example:%d" % w.port})
    assert r.status_code == 403 and r.json() == {"error": "Invalid Host header."}
    assert w.get("/flows", headers={"Host": "localhost:%d" % w.port}).status_code == 200
    r = w.http.post("/clear", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = w.http.post("/clear", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert w.http.post("/clear", headers={"Origin": w.base, "Sec-Fetch-Site": "same-origin"}).status_code == 200

    async def ws_evil():
        url = "ws://127.0.0.1:%d/updates?token=%s" % (w.port, w.token)
        try:
            async with websockets.connect(url, origin="http://evil.example", open_timeout=u.IO_TIMEOUT):
                return None
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code

    assert asyncio.run(ws_evil()) == 403


def test_proxy_port_cannot_reach_the_web_ui(web, curl):
    w = web()
    for host in ("127.0.0.1", "localhost"):
        r = curl(w.proxy.port, "http://%s:%d/flows?token=%s" % (host, w.port, w.token), "-i")
        assert r.returncode == 0
        assert r.stdout.startswith(b"HTTP/1.1 403"), r.stdout[:200]
        assert b"cannot be reached through the proxy" in r.stdout
        assert b'"id"' not in r.stdout
    assert w.proxy.wait_stdout(r"Refused a proxied request to the mitmc web UI", 5)


def test_bad_input_changes_nothing(web, curl, http_upstream):
    w = web()
    assert curl(w.proxy.port, http_upstream.url + "/echo?bad").returncode == 0
    fl = w.wait_flows(lambda fl: by_path(fl, "bad") and by_path(fl, "bad")[0].get("response"), "flow")
    fid = fl[0]["id"]
    before = w.flows()
    bad = [
        ("put", "/flows/" + fid, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ("put", "/flows/" + fid, {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 400),
        ("put", "/flows/" + fid, {"json": {"request": {"port": 0}}}, 400),
        ("put", "/flows/" + fid, {"json": {"request": {"method": "G ET"}}}, 400),
        ("put", "/flows/" + fid, {"json": {"request": {"headers": [["Bad Name", "x"]]}}}, 400),
        ("put", "/flows/" + fid, {"json": {"request": {"path": "/ok", "nosuch": 1}}}, 400),
        ("put", "/flows/" + fid, {"json": {"response": {"code": 42}}}, 400),
        ("put", "/flows/" + fid, {"json": {"bogus": 1}}, 400),
        ("put", "/flows/" + "0" * 36, {"json": {"comment": "x"}}, 404),
        ("post", "/flows/nothex!/resume", {}, 404),
        ("post", "/flows/dump", {"content": b"this is not a flow file"}, 400),
        ("post", "/flows/dump", {"files": {"file": ("f", b"5:hello,")}}, 400),
        ("put", "/options", {"json": {"no_such_option": 1}}, 400),
        ("put", "/options", {"json": {"web_debug": True, "listen_port": "x"}}, 400),
        ("put", "/options", {"json": {"intercept": "~invalid("}}, 400),
    ]
    for method, path, kw, status in bad:
        r = getattr(w.http, method)(path, **kw)
        assert r.status_code == status, (path, kw, r.status_code, r.text)
        assert "error" in r.json(), (path, r.text)
    assert w.flows() == before
    opts = w.get("/options").json()
    assert opts["web_debug"]["value"] is False and opts["intercept"]["value"] is None
    # the proxy is unaffected
    r = curl(w.proxy.port, http_upstream.url + "/size/10")
    assert r.returncode == 0 and r.stdout == u.body_bytes(10)


def test_dump_roundtrip_and_paged_flows(web, curl, http_upstream):
    w = web()
    for i in range(5):
        assert curl(w.proxy.port, http_upstream.url + "/echo?page%d" % i).returncode == 0
    full = w.wait_flows(lambda fl: len(fl) == 5 and all(f.get("response") for f in fl), "5 flows")
    page = w.get("/flows?offset=1&limit=2").json()
    assert page["total"] == 5 and page["offset"] == 1
    assert [f["id"] for f in page["flows"]] == [f["id"] for f in full[1:3]]
    page = w.get("/flows", params={"filter": "~u page3 | ~u page4", "limit": "10"}).json()
    assert page["total"] == 2 and [f["request"]["path"] for f in page["flows"]] == ["/echo?page3", "/echo?page4"]
    assert w.get("/flows?limit=x").status_code == 400
    dump = w.get("/flows/dump")
    assert dump.status_code == 200 and dump.headers["content-type"] == "application/octet-stream"
    part = w.get("/flows/dump", params={"filter": "~u page2"}).content
    assert 0 < len(part) < len(dump.content)
    r = w.http.post("/flows/dump", files={"file": ("flows", part)})
    assert r.status_code == 200, r.text
    got = w.flows()
    assert [f["request"]["path"] for f in got] == ["/echo?page2"]
    r = w.http.post("/flows/dump", content=dump.content)
    assert r.status_code == 200
    assert sorted(f["id"] for f in w.flows()) == sorted(f["id"] for f in full)


def test_static_assets_and_state(web):
    w = web()
    r = w.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY" and "default-src 'self'" in r.headers["content-security-policy"]
    etag = r.headers["etag"]
    assert w.get("/", headers={"If-None-Match": etag}).status_code == 304
    raw = w.get("/", headers={"Accept-Encoding": "gzip"})
    assert raw.headers.get("content-encoding") == "gzip" and raw.text == r.text
    st = w.get("/state").json()
    assert set(st) >= {"version", "contentViews", "servers", "platform"}
    assert "regular" in st["servers"]
    assert st["servers"]["regular"]["listen_addrs"] == [["127.0.0.1", w.proxy.port]], "the bound port (-p 0)"
    cmds = w.get("/commands").json()
    assert cmds["view.clear"]["parameters"] == []
    r = w.http.post("/commands/view.order.options", json={"arguments": []})
    assert "time" in r.json()["value"]
    assert "error" in w.http.post("/commands/no.such.command", json={"arguments": []}).json()
    assert any(c[0] == "~q" for c in w.get("/filter-help").json()["commands"])
    assert any("Web server listening" in e["message"] for e in w.get("/events").json())


def test_oversized_and_slow_requests_are_cut_off(web, curl, http_upstream):
    w = web()
    # a head beyond 64 KiB: 431, connection closed
    with u.connect(w.port) as s:
        s.sendall(b"GET /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        r = u.read_response(u.Reader(s, u.IO_TIMEOUT))
        assert r.status == 431
    # a body announced beyond 256 MiB: 413 before any byte of it is read
    with u.connect(w.port) as s:
        s.sendall(b"POST /flows/dump HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300000000\r\n\r\n")
        r = u.read_response(u.Reader(s, u.IO_TIMEOUT))
        assert r.status == 413
    # without credentials in its head no request gets a body over 64 KiB buffered (it would be
    # refused anyway); with them, the same body is read and answered
    with u.connect(w.port) as s:
        s.sendall(b"POST /flows/dump HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
        r = u.read_response(u.Reader(s, u.IO_TIMEOUT))
        assert r.status == 413
    with u.connect(w.port) as s:
        s.sendall(b"POST /flows/dump HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Length: 100000\r\n\r\n" % w.token.encode() + b"x" * 100000)
        r = u.read_response(u.Reader(s, u.IO_TIMEOUT))
        assert r.status == 400, r  # read, then refused: not a flow file
    # a malformed head: 400 with a JSON error
    r = u.exchange(w.port, b"GET /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n")
    assert r.status == 400 and b"error" in r.body
    # slowloris: a head trickled one byte a second gets 408 once its 15 s are up, however
    # steadily it trickles
    with u.connect(w.port) as s:
        s.sendall(b"GET /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        s.settimeout(1.0)
        got = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                s.sendall(b"a")
            except OSError:
                break
            try:
                d = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not d:
                break
            got += d
        assert got.startswith(b"HTTP/1.1 408"), got[:200]
    # the proxy and the API are unaffected
    assert curl(w.proxy.port, http_upstream.url + "/size/10").stdout == u.body_bytes(10)
    assert w.get("/state").status_code == 200


def test_https_flow_has_the_server_certificate(web, curl, tmp_path):
    """cert_to_json of a flow's server certificate (a flow file written by Debian's mitmproxy,
    uploaded twice: the second encoding comes from the parsed-chain cache)."""
    import io
    import tls_util
    from mitmproxy import certs
    from mitmproxy import io as mio
    from mitmproxy.test import tflow
    pki = tls_util.Pki(tmp_path)
    buf = io.BytesIO()
    wr = mio.FlowWriter(buf)
    for _ in range(2):
        f = tflow.tflow(resp=True)
        f.server_conn.certificate_list = [certs.Cert.from_pem(open(pki.good[0], "rb").read())]
        f.request.headers.fields = f.request.headers.fields + ((b"X-Bytes", b'\xff"\\\x01\t'),)
        wr.add(f)
    w = web()
    r = w.http.post("/flows/dump", content=buf.getvalue())
    assert r.status_code == 200, r.text
    fl = w.flows()
    assert len(fl) == 2
    for f in fl:
        cert = f["server_conn"]["cert"]
        assert cert["subject"] == [["commonName", "alpha.test"], ["organizationName", "Upstream Org"]]
        assert cert["issuer"] == [["commonName", "mitmc test CA"]]
        assert cert["altnames"] == ["alpha.test", "beta.test", "127.0.0.1"]
        assert cert["keyinfo"] == ["EC", 256]
        assert len(cert["sha256"]) == 64 and cert["notafter"] > cert["notbefore"]
    assert fl[0]["server_conn"]["cert"] == fl[1]["server_conn"]["cert"]
    # header bytes that are not UTF-8 show as Latin-1; quotes, backslashes, controls escaped
    assert ["X-Bytes", '\xff"\\\x01\t'] in fl[0]["request"]["headers"]


def test_script_options_and_commands_in_the_api(web, raw_upstream, tmp_path):
    """What a Lua script adds (loader:add_option, loader:add_command) is in /options and
    /commands like mitmc's own; PUT /options sets the script's option while the proxy runs,
    and the next request reads it; a value of the wrong type is refused and changes nothing."""
    script = tmp_path / "greet.lua"
    script.write_text(
        "function load(l)\n"
        "  l:add_option('greeting', 'str', 'hi', 'The greeting header.')\n"
        "  l:add_command('greet.say', function() return 'said ' .. mitm.options.greeting end, 'Say it.')\n"
        "end\n"
        "function request(flow) flow.request.headers['X-Greeting'] = mitm.options.greeting end\n")
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    w = web("-s", str(script))
    opt = w.get("/options").json()["greeting"]
    assert opt == {"type": "str", "default": "hi", "value": "hi", "help": "The greeting header.", "choices": None}
    assert "greet.say" in w.get("/commands").json()
    assert w.http.put("/options", json={"greeting": 5}).status_code == 400
    assert w.get("/options").json()["greeting"]["value"] == "hi"
    assert w.http.put("/options", json={"greeting": "hello"}).status_code == 200
    assert w.get("/options").json()["greeting"]["value"] == "hello"
    r = w.http.post("/commands/greet.say", json={"arguments": []})
    assert r.status_code == 200 and "said hello" in json.dumps(r.json()), r.text
    p = curl_bg(w.proxy.port, "http://127.0.0.1:%d/g" % up.port)
    out, _ = p.communicate(timeout=40)
    assert out.endswith(b"ok\n200"), out
    assert b"\r\nX-Greeting: hello\r\n" in up.received()


def test_commands_flag_lists_the_web_registry(binary):
    """`mitmc web --commands` lists what the web master registers (mitmproxy's core and view
    commands, no console.*), without starting anything."""
    r = subprocess.run([binary, "web", "--commands"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.decode().splitlines() if line and not line.startswith("#")]
    assert {"flow.resume", "view.clear", "replay.client", "set", "script.run"} <= set(names), names
    assert not [n for n in names if n.startswith("console.")], names


# Flows made and filtered by Debian's mitmproxy 8.1.1: its flowfilter is the oracle. The data
# is lowercase and each Host header is the URL's own authority, where 8.1.1 (case-sensitive
# ~u, a pretty_url rebuilt from the Host header) and mitmproxy 12 agree. Some flows are as
# transparent mode records them: an address as the host, the name only in Host.
ORACLE = r'''
import json, random, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
from mitmproxy import flowfilter, io
from mitmproxy.test import tflow
from mitmproxy.flow import Error
rnd = random.Random(7)
flows = []
for k in range(400):
    f = tflow.tflow(resp=rnd.random() < 0.8)
    r = f.request
    r.scheme = rnd.choice(["http", "https"])
    r.host = rnd.choice(["example.com", "api.example.org", "cdn.test", "10.0.0.7"])
    r.port = rnd.choice([80, 443, 8080])
    r.path = rnd.choice(["/", "/a/b?x=1", "/api/v1/users", "/img/logo.png", "/json"]) + "?n=%d" % k
    r.method = rnd.choice(["GET", "POST", "PUT", "DELETE"])
    default = {"http": 80, "https": 443}[r.scheme] == r.port
    r.headers.pop("host", None)
    if rnd.random() < 0.1:  # transparent mode: an address, the name in Host
        r.host = "10.0.0.9"
        r.headers["host"] = "named.example"
    elif rnd.random() < 0.8:  # the URL's authority, sometimes with its default port written out
        r.headers["host"] = r.host if default and rnd.random() < 0.7 else "%s:%d" % (r.host, r.port)
    if r.method != "GET":
        r.headers["content-type"] = "application/x-www-form-urlencoded"
    if f.response:
        f.response.status_code = rnd.choice([200, 204, 301, 404, 500])
        ct = rnd.choice([None, "text/html", "application/json; charset=utf-8", "image/png", "text/css"])
        if ct:
            f.response.headers["content-type"] = ct
    if rnd.random() < 0.1:
        f.error = Error("connection killed")
    if rnd.random() < 0.1:
        f.marked = ":default:"
    flows.append(f)
with open(sys.argv[1], "wb") as fp:
    w = io.FlowWriter(fp)
    for f in flows:
        w.add(f)
want = {}
for expr in json.loads(sys.argv[2]):
    flt = flowfilter.parse(expr)
    want[expr] = [f.id for f in flows if flt(f)]
print(json.dumps(want))
'''

FILTERS = ["~u ^http://example\\.com/", "~u :80/", "~d example", "~d named", "~u ^https?://named\\.example/", "~d ^10\\.", "~d ^cdn\\.test$",
           "~u ^https://api", "~u :8080/", "~u logo\\.png", "~m post", "~c 404", "~c 200 & ~d example.com",
           "~ts json", "~t json", "~t form", "~a", "~q", "~s & !~c 200", "~e", "~marked",
           "!(~m get | ~m post) & ~s", "~u json | ~ts html", "~h content-type", "~b nomatch", "~all",
           "example.com/a"]


def test_filtered_flows_of_a_stored_capture_match_mitmproxy(web, tmp_path):
    """GET /flows?filter= over a capture read with -r gives, for every filter, exactly the flows
    mitmproxy 8.1.1's own filter picks from the same file, in the view's order: the store
    decides most of them on its summaries (src/filter/facts.c) and reads the rest back."""
    path = tmp_path / "capture.mitm"
    out = subprocess.run(["/usr/bin/python3", "-c", ORACLE, str(path), json.dumps(FILTERS)], capture_output=True,
                         timeout=120, check=True)
    want = json.loads(out.stdout)
    w = web("-n", "-r", str(path))
    w.wait_flows(lambda fl: len(fl) == 400, "the 400 flows read from the file")
    for expr in FILTERS:
        r = w.get("/flows", params={"filter": expr, "limit": "1000"})
        assert r.status_code == 200, r.text
        page = r.json()
        got = [f["id"] for f in page["flows"]]
        assert got == want[expr], "%s: mitmc %d flows, mitmproxy %d" % (expr, len(got), len(want[expr]))
        assert page["total"] == len(want[expr])
    assert sum(len(v) for v in want.values()) > 1000  # the filters are not all empty
