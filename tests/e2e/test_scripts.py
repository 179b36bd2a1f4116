"""Lua scripts (-s) through the real binary with curl: every example in examples/, two scripts
in order, hot reload, errors that leave the proxy running, script_timeout, and startup
failures reported as mitmproxy reports a broken addon (exit status 1)."""
import os
import re
import shutil
import subprocess
import time

import pytest

import e2e_util as u
from conftest import proxy_env

pytestmark = u.mitmc_only  # Lua scripting is mitmc's (mitmdump runs Python)

EXAMPLES = os.path.join(u.ROOT, "examples")


def ex(name):
    return os.path.join(EXAMPLES, name)


def ok_reply(body=b"ok", ctype=b"text/plain"):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (ctype, len(body))) + body


def head_and_body(r):
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return head, body


def header(head, name):
    m = re.search(rb"\r\n" + re.escape(name.encode()) + rb": ([^\r]*)\r\n", head + b"\r\n", re.I)
    return m.group(1).decode() if m else None


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def run_to_exit(binary, tmp_path, *args, timeout=30):
    """Run mitmc dump until it exits by itself (a startup failure); returns CompletedProcess."""
    argv = [binary, "dump", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % (tmp_path / "cd")]
    return subprocess.run(argv + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          env=proxy_env(), timeout=timeout)


# --------------------------------------------------------------------------- examples

def test_example_add_header(mitmc, raw_upstream, curl):
    proxy = mitmc("-s", ex("http-add-header.lua"))
    up = raw_upstream(reply=ok_reply())
    counts = []
    for _ in range(3):
        head, body = head_and_body(curl(proxy.port, "http://127.0.0.1:%d/" % up.port, "-D", "-"))
        assert body == b"ok"
        counts.append(header(head, "count"))
    assert counts == ["1", "2", "3"], "one count over all workers (mitm.shared)"


def test_example_modify_query_string(mitmc, raw_upstream, curl):
    proxy = mitmc("-s", ex("http-modify-query-string.lua"))
    up = raw_upstream(reply=ok_reply())
    r = curl(proxy.port, "http://127.0.0.1:%d/search?q=a" % up.port)
    assert r.returncode == 0 and r.stdout == b"ok", r.stderr
    assert up.received().startswith(b"GET /search?q=a&mitmproxy=rocks HTTP/1.1\r\n"), up.received()


def test_example_redirect_requests(mitmc, raw_upstream, curl):
    up = raw_upstream(reply=ok_reply(b"from the redirect target"))
    proxy = mitmc("-s", ex("http-redirect-requests.lua"), "--set", "redirect_from=example.org",
                  "--set", "redirect_to=127.0.0.1:%d" % up.port)
    r = curl(proxy.port, "http://example.org/page")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"from the redirect target"
    got = up.received()
    assert got.startswith(b"GET /page HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % up.port in got, "the Host header follows request.host"


def test_example_reply_from_proxy(mitmc, curl):
    proxy = mitmc("-s", ex("http-reply-from-proxy.lua"))
    head, body = head_and_body(curl(proxy.port, "http://example.com/path", "-D", "-"))
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == b"Hello World"
    assert header(head, "Content-Type") == "text/html"
    assert header(head, "Content-Length") == "11"


def test_made_response_runs_responseheaders_and_response(mitmc, curl, tmp_path):
    # mitmproxy emulates responseheaders for a response an addon set in request
    script = write(tmp_path / "made.lua", """
return {
    request = function(flow) flow.response = mitm.response(201, "made") end,
    responseheaders = function(flow) flow.response.headers["x-rh"] = "1" end,
    response = function(flow) flow.response.headers["x-r"] = flow.response.headers["x-rh"] or "none" end,
}
""")
    proxy = mitmc("-s", script)
    head, body = head_and_body(curl(proxy.port, "http://example.com/", "-D", "-"))
    assert head.startswith(b"HTTP/1.1 201 ")
    assert body == b"made"
    assert header(head, "x-rh") == "1"
    assert header(head, "x-r") == "1"


def test_example_modify_body(mitmc, raw_upstream, curl):
    proxy = mitmc("-s", ex("http-modify-body.lua"), "--set", "modify_from=Hello", "--set", "modify_to=Howdy, big")
    up = raw_upstream(reply=ok_reply(b"Hello world. Hello again.", b"text/plain; charset=utf-8"))
    head, body = head_and_body(curl(proxy.port, "http://127.0.0.1:%d/" % up.port, "-D", "-"))
    assert body == b"Howdy, big world. Howdy, big again."
    assert header(head, "Content-Length") == str(len(body))


def test_example_count_flows_reports_at_done(mitmc, raw_upstream, curl):
    proxy = mitmc("-s", ex("count-flows.lua"))
    up = raw_upstream(reply=ok_reply())
    for _ in range(3):
        assert curl(proxy.port, "http://127.0.0.1:%d/" % up.port).returncode == 0
    assert proxy.wait_stdout(r"We've seen 3 flows")
    proxy.stop()
    assert "count-flows.lua: Total: 3 flows" in proxy.stdout, proxy.stdout


def test_example_filter_flows(mitmc, raw_upstream, curl):
    proxy = mitmc("-s", ex("filter-flows.lua"), "--set", "flowfilter=~u /match")
    up = raw_upstream(reply=ok_reply())
    assert curl(proxy.port, "http://127.0.0.1:%d/other" % up.port).returncode == 0
    assert curl(proxy.port, "http://127.0.0.1:%d/match" % up.port).returncode == 0
    m = proxy.wait_stdout(r"filter-flows.lua: <request GET (\S+)> -> <response 200 OK>")
    assert m and m.group(1).endswith("/match"), proxy.stdout
    assert proxy.stdout.count("Flow matches filter:") == 1


def test_example_options_simple(mitmc, raw_upstream, curl):
    up = raw_upstream(reply=ok_reply())
    off = mitmc("-s", ex("options-simple.lua"))
    head, _ = head_and_body(curl(off.port, "http://127.0.0.1:%d/" % up.port, "-D", "-"))
    assert header(head, "count") is None
    on = mitmc("-s", ex("options-simple.lua"), "--set", "addheader=true")
    head, _ = head_and_body(curl(on.port, "http://127.0.0.1:%d/" % up.port, "-D", "-"))
    assert header(head, "count") == "1"


def test_example_commands_simple(mitmc):
    proxy = mitmc("-s", ex("commands-simple.lua"))
    assert proxy.wait_stdout(r"commands-simple.lua: num = 1"), proxy.stdout


def test_example_tcp_simple(mitmc, tcp_server):
    echo = tcp_server()
    proxy = mitmc("--tcp-hosts", ".*", "-s", ex("tcp-simple.lua"))
    s = u.connect(proxy.port)
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (echo.port, echo.port))
    rd = u.Reader(s)
    assert rd.until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    s.sendall(b"a foo\x01 foofoo")
    # the client's foo became bar on the way in, and the echo passes the hook again
    assert rd.exactly(13) == b"a bar\x01 barbar"
    assert echo.received == b"a bar\x01 barbar"
    assert proxy.wait_stdout(r"tcp-simple.lua: tcp_message\[from_client=true\), content=a bar\\x01 barbar\]")
    assert proxy.wait_stdout(r"tcp_message\[from_client=false\), content=a bar\\x01 barbar\]")


def test_options_lists_script_options(binary, tmp_path):
    r = subprocess.run([binary, "dump", "--options", "-s", ex("options-simple.lua")], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=proxy_env(), timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "# Add a count header to responses Type bool.\naddheader: false\n" in out, out
    assert out.index("addheader:") < out.index("anticache:"), "in name order"
    assert "Loading script" not in out


# --------------------------------------------------------------------------- behaviour

def test_flows_read_with_r_run_through_the_scripts(mitmc, binary, raw_upstream, curl, tmp_path):
    """mitmproxy's load_flow: -r runs each flow's hooks in their live order through the
    scripts (flow.live is false), then prints and saves what they left."""
    rec = tmp_path / "rec.flows"
    proxy = mitmc("-w", str(rec))
    up = raw_upstream(reply=ok_reply())
    assert curl(proxy.port, "http://127.0.0.1:%d/loaded" % up.port).returncode == 0
    proxy.stop()
    script = write(tmp_path / "tag.lua", """
local seen = {}
local function note(name) return function(f) seen[#seen + 1] = name end end
return {
  requestheaders = note("requestheaders"), request = note("request"),
  responseheaders = note("responseheaders"),
  response = function(f)
    seen[#seen + 1] = "response"
    f.response.headers["X-Loaded"] = tostring(f.live)
    mitm.log.info("order " .. table.concat(seen, ","))
  end,
}
""")
    out = tmp_path / "out.flows"
    r = run_to_exit(binary, tmp_path, "-n", "-r", str(rec), "-s", script, "-w", str(out), "--flow-detail", "2")
    text = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 0, text
    assert "order requestheaders,request,responseheaders,response" in text, text
    assert "x-loaded: false" in text.lower(), text
    r2 = run_to_exit(binary, tmp_path, "-n", "-r", str(out), "--flow-detail", "2")
    assert "x-loaded: false" in r2.stdout.decode().lower(), r2.stdout


def test_connection_hooks_fire_in_mitmproxys_order(mitmc, raw_upstream, curl, tmp_path):
    script = write(tmp_path / "conns.lua", """
local function addr(a) return a and (a[1] .. ":" .. a[2]) or "-" end
return {
  client_connected = function(c) mitm.log.info("HOOK client_connected " .. addr(c.peername)) end,
  server_connect = function(d)
    mitm.log.info("HOOK server_connect " .. addr(d.server.address) .. " for " .. addr(d.client.peername))
  end,
  server_connected = function(d) mitm.log.info("HOOK server_connected " .. addr(d.server.peername)) end,
  server_disconnected = function(d) mitm.log.info("HOOK server_disconnected " .. addr(d.server.address)) end,
  client_disconnected = function(c) mitm.log.info("HOOK client_disconnected " .. addr(c.peername)) end,
}
""")
    proxy = mitmc("-s", script)
    up = raw_upstream(reply=ok_reply())
    assert curl(proxy.port, "http://127.0.0.1:%d/" % up.port).returncode == 0
    assert proxy.wait_stdout(r"HOOK client_disconnected")
    hooks = re.findall(r"HOOK (\S+) (\S+)", proxy.stdout)
    names = [h[0] for h in hooks]
    assert names == ["client_connected", "server_connect", "server_connected", "server_disconnected",
                     "client_disconnected"], proxy.stdout
    peer = hooks[0][1]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", peer)
    assert hooks[1][1] == "127.0.0.1:%d" % up.port and hooks[3][1] == hooks[1][1]
    assert "for " + peer in proxy.stdout and hooks[4][1] == peer
    assert hooks[2][1] == "127.0.0.1:%d" % up.port


def test_connection_hooks_can_kill_client_and_server(mitmc, raw_upstream, curl, tmp_path):
    up = raw_upstream(reply=ok_reply())
    kill_server = write(tmp_path / "ks.lua", """
return { server_connect = function(d) d.server.error = "not this one" end }
""")
    proxy = mitmc("-s", kill_server)
    r = curl(proxy.port, "http://127.0.0.1:%d/x" % up.port, "-i")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 502"), r.stdout
    assert b"Connection killed: not this one" in r.stdout
    assert proxy.wait_stdout(r"server connection to 127\.0\.0\.1:%d killed before connect: not this one" % up.port)
    assert up.received() == b""
    proxy.stop()
    kill_client = write(tmp_path / "kc.lua", """
return { client_connected = function(c) c.error = "go away" end }
""")
    proxy = mitmc("-s", kill_client)
    r = curl(proxy.port, "http://127.0.0.1:%d/y" % up.port)
    assert r.returncode != 0
    assert proxy.wait_stdout(r"client kill connection")
    assert up.received() == b""


def test_kill_in_response_hook_sends_no_response(mitmc, raw_upstream, curl, tmp_path):
    """mitmproxy checks a kill after the response hook: the client gets nothing."""
    up = raw_upstream(reply=ok_reply())
    script = write(tmp_path / "kr.lua", "return { response = function(f) f:kill() end }\n")
    proxy = mitmc("-s", script)
    r = curl(proxy.port, "http://127.0.0.1:%d/killed" % up.port, "-i")
    assert r.returncode != 0 and r.stdout == b"", r.stdout
    assert b"/killed" in up.received()


def test_two_scripts_run_in_order(mitmc, raw_upstream, curl, tmp_path):
    one = write(tmp_path / "one.lua", "return {request = function(f) f.request.headers['X-Order'] = 'one' end}\n")
    two = write(tmp_path / "two.lua", "return {request = function(f)\n"
                "  f.request.headers['X-Order'] = f.request.headers['X-Order'] .. ',two'\nend}\n")
    proxy = mitmc("-s", one, "-s", two)
    up = raw_upstream(reply=ok_reply())
    assert curl(proxy.port, "http://127.0.0.1:%d/" % up.port).returncode == 0
    assert b"\r\nX-Order: one,two\r\n" in up.received(), up.received()


def test_hot_reload(mitmc, raw_upstream, curl, tmp_path):
    path = tmp_path / "live.lua"
    write(path, "return {request = function(f) f.request.headers['X-Version'] = '1' end}\n")
    proxy = mitmc("-s", str(path))
    up = raw_upstream(reply=ok_reply())
    assert curl(proxy.port, "http://127.0.0.1:%d/a" % up.port).returncode == 0
    assert b"\r\nX-Version: 1\r\n" in up.received()
    write(path, "return {request = function(f) f.request.headers['X-Version'] = 'two' end}\n")
    assert proxy.wait_stdout(r"Loading script .*live.lua", timeout=1) is not None  # the start
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # mitmc looks once a second
        if len(re.findall(r"Loading script .*live.lua", proxy.stdout)) >= 2:
            break
        time.sleep(0.1)
    assert len(re.findall(r"Loading script .*live.lua", proxy.stdout)) == 2, proxy.stdout
    before = len(up.received())
    assert curl(proxy.port, "http://127.0.0.1:%d/b" % up.port).returncode == 0
    assert b"\r\nX-Version: two\r\n" in up.received()[before:], "the next request runs the new code"

    write(path, "return {request = function(f) f.request.headers['X-Version'] = 3 \n")  # broken
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "reload failed" not in proxy.stdout:
        time.sleep(0.1)
    assert "reload failed" in proxy.stdout and "error in script" in proxy.stderr, proxy.stderr
    before = len(up.received())
    assert curl(proxy.port, "http://127.0.0.1:%d/c" % up.port).returncode == 0
    assert b"\r\nX-Version: two\r\n" in up.received()[before:], "a failed reload keeps the old code"


def test_hook_error_is_logged_and_requests_keep_flowing(mitmc, raw_upstream, curl, tmp_path):
    path = write(tmp_path / "broken.lua", "return {\n"
                 "  request = function(flow)\n"
                 "    flow.request.headers['X-Seen'] = 'yes'\n"
                 "    error('something broke')\n"
                 "  end,\n"
                 "}\n")
    proxy = mitmc("-s", path)
    up = raw_upstream(reply=ok_reply(b"still served"))
    for _ in range(3):
        r = curl(proxy.port, "http://127.0.0.1:%d/" % up.port)
        assert r.returncode == 0 and r.stdout == b"still served", r.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proxy.stderr.count("broken.lua: error in request") < 3:
        time.sleep(0.05)
    err = proxy.stderr
    assert err.count("broken.lua: error in request") == 3, err
    assert "broken.lua:4: something broke" in err and "stack traceback:" in err, err


def test_infinite_loop_is_interrupted(mitmc, raw_upstream, curl, tmp_path):
    path = write(tmp_path / "loop.lua", "return {request = function(flow)\n"
                 "  if flow.request.path == '/loop' then while true do end end\n"
                 "end}\n")
    proxy = mitmc("-s", path, "--set", "script_timeout=300", "--set", "workers=1")
    up = raw_upstream(reply=ok_reply())
    t0 = time.monotonic()
    r = curl(proxy.port, "http://127.0.0.1:%d/loop" % up.port, timeout=20)
    assert r.returncode == 0 and r.stdout == b"ok", r.stderr
    assert time.monotonic() - t0 < 10
    assert proxy.wait_stdout(r"listening") and "script_timeout: request ran longer than 300 ms" in proxy.stderr
    r = curl(proxy.port, "http://127.0.0.1:%d/fine" % up.port)
    assert r.returncode == 0 and r.stdout == b"ok", "the worker is free again"


def test_syntax_error_at_start_exits_1(binary, tmp_path):
    path = write(tmp_path / "syntax.lua", "function request(flow)\n  if then\nend\n")
    r = run_to_exit(binary, tmp_path, "-s", path)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "error in script %s: " % path in err and "syntax.lua:2:" in err, err
    assert "Error logged during startup, exiting..." in err


def test_missing_script_exits_1(binary, tmp_path):
    r = run_to_exit(binary, tmp_path, "-s", str(tmp_path / "nope.lua"))
    assert r.returncode == 1
    assert "No such script: %s" % (tmp_path / "nope.lua") in r.stderr.decode()


def test_unknown_option_with_a_script(binary, tmp_path):
    path = write(tmp_path / "ok.lua", "return {}\n")
    r = run_to_exit(binary, tmp_path, "-s", path, "--set", "nosuchoption=1")
    assert r.returncode == 2
    assert "Unknown option: nosuchoption" in r.stderr.decode()
