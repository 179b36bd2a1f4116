"""The console (`mitmc` without a subcommand) driven inside tmux: keys in with send-keys, the
screen read back with capture-pane. Each test runs its own tmux server (a private socket), so
nothing is shared; every wait polls with a deadline, and the server is killed at the end with
the console's PID checked gone."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

import e2e_util as u
from conftest import proxy_env

pytestmark = pytest.mark.skipif(u.IS_MITMDUMP, reason="the console is mitmc's (mitmdump has none)")

TMUX = shutil.which("tmux")
WAIT = 10.0


class Console:
    """One mitmc console in a private tmux server."""

    def __init__(self, binary, confdir, args=(), env=None, wait_listen=True):
        if not TMUX:
            pytest.fail("tmux is required (scripts/install-deps installs it)")
        self.sock = "mitmc-test-%s" % uuid.uuid4().hex[:12]
        argv = [binary, "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % confdir]
        argv += list(args)
        cmd = " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)
        full_env = proxy_env()  # sanitizer builds: findings are fatal (a non-zero exit)
        full_env["LINES"] = "60"  # mitmc follows the terminal, not COLUMNS (200) and LINES
        full_env.update(env or {})
        # a shell runs mitmc and then says how it ended: the pane shows the shell's line
        # once the terminal is restored
        # TERM is set in the pane: tmux would give it its default-terminal (screen)
        shell = "TERM=xterm-256color %s; echo \"mitmc exited with $?\"; exec sleep 600" % cmd
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", shell, env=full_env)
        sh = int(self.tmux("display-message", "-p", "#{pane_pid}").strip())
        self.pid = self._child(sh)
        if wait_listen:  # the status bar shows the bound port (-p 0)
            s = self.wait_for(r"\[127\.0\.0\.1:(\d+)\]")
            self.port = int(re.search(r"\[127\.0\.0\.1:(\d+)\]", s).group(1))

    @staticmethod
    def _child(pid):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.02)
        pytest.fail("mitmc did not start")

    def tmux(self, *args, env=None):
        r = subprocess.run([TMUX, "-L", self.sock] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=10, stdin=subprocess.DEVNULL)
        return r.stdout.decode("utf-8", "replace")

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys):
        """Named tmux keys (Enter, Tab, Escape, Down) or literal text."""
        for k in keys:
            if k in ("Enter", "Tab", "BTab", "Escape", "Down", "Up", "BSpace"):
                self.tmux("send-keys", k)
            else:
                self.tmux("send-keys", "-l", k)
            time.sleep(0.05)

    def wait_for(self, pattern, timeout=WAIT, absent=False):
        """Poll until pattern is on the screen (or, absent=True, is not); returns the screen."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            m = re.search(pattern, s)
            if (m is None) == absent:
                return s
            if time.monotonic() > deadline:
                pytest.fail("screen %s %r within %.0fs:\n%s" % ("still shows" if absent else "never showed",
                                                                   pattern, timeout, s))
            time.sleep(0.05)

    def alive(self):
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().split(") ")[1][0] != "Z"
        except OSError:
            return False

    def wait_exit(self, timeout=WAIT):
        """Wait for mitmc to end; returns its exit status as the shell reported it."""
        s = self.wait_for(r"mitmc exited with (\d+)", timeout=timeout)
        return int(re.search(r"mitmc exited with (\d+)", s).group(1))

    def close(self):
        """Stop mitmc with SIGTERM if it still runs (it must exit 0: under ASan that also
        means no leak), then the tmux server; the PID must be gone."""
        status, screen = None, ""
        try:
            if self.alive():
                os.kill(self.pid, signal.SIGTERM)
                status = self.wait_exit()
                screen = self.screen()
        finally:
            self.tmux("kill-server")
            deadline = time.monotonic() + 5
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
                pytest.fail("mitmc (pid %d) survived its tmux server" % self.pid)
        if status not in (None, 0):
            pytest.fail("mitmc exited with status %d at SIGTERM:\n%s" % (status, screen))


@pytest.fixture
def console(binary, tmp_path, seed_confdir):
    started = []
    confdir = tmp_path / "console-confdir"
    shutil.copytree(seed_confdir, confdir)

    def start(*args, env=None, keys_yaml=None, wait_listen=True):
        if keys_yaml is not None:
            (confdir / "keys.yaml").write_text(keys_yaml)
        c = Console(binary, confdir, args, env, wait_listen)
        started.append(c)
        return c

    yield start
    errors = []
    for c in started:
        try:
            c.close()
        except BaseException as e:  # close every console, then report
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


def fetch(c, url, *args):
    argv = ["curl", "-q", "-sS", "--max-time", "20", "-x", "http://127.0.0.1:%d" % c.port] + list(args) + [url]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          timeout=30)


def test_flows_listed_and_flow_view_tabs(console, http_upstream):
    c = console()
    assert fetch(c, http_upstream.url + "/size/5").returncode == 0
    assert fetch(c, http_upstream.url + "/status/404").returncode == 0
    c.wait_for(r"GET\s+127\.0\.0\.1\s+/size/5\s+200")
    c.wait_for(r"GET\s+127\.0\.0\.1\s+/status/404\s+404")
    c.wait_for(r"\[1/2\]")
    c.keys("Enter")
    s = c.wait_for(r"Flow Details")
    assert "Request" in s and "Response" in s and "Detail" in s
    c.wait_for(r"GET http://127\.0\.0\.1:\d+/size/5 HTTP/1\.1")
    c.wait_for(r"User-Agent:\s+curl")
    c.keys("Tab")
    c.wait_for(r"HTTP/1\.[01] 200")
    c.keys("Tab")
    c.wait_for(r"Server Connection:")
    c.keys("q")
    c.wait_for(r"^Flows", absent=False)
    c.wait_for(r"Flow Details", absent=True)


def test_intercept_edit_header_and_resume(console, raw_upstream):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = console()
    c.keys("i")
    c.wait_for(r":set intercept ''")
    c.keys("~q", "Enter")
    c.wait_for(r"\[i:~q\]")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=fetch(c, "http://127.0.0.1:%d/held" % up.port)))
    t.start()
    c.wait_for(r"/held")
    time.sleep(0.5)
    assert up.received() == b"", "the upstream saw the request before it was resumed"
    # e -> Edit... chooser -> request-headers -> grid: add a row, name, value, back
    c.keys("e")
    c.wait_for(r"Edit\.\.\.")
    c.wait_for(r"request-headers")
    # cookies, urlencoded form, multipart form, path, method, query, reason, request-headers
    # (mitmproxy's order)
    c.keys(*["Down"] * 7, "Enter")
    c.wait_for(r"Edit Request Headers")
    c.keys("a", "Enter")
    c.wait_for(r"(?m)^key:")
    c.keys("X-Edited", "Enter")
    c.keys("Tab", "Enter")
    c.wait_for(r"(?m)^value:")
    c.keys("yes", "Enter")
    c.wait_for(r"X-Edited\s+yes")
    c.keys("q")
    c.wait_for(r"Edit Request Headers", absent=True)
    assert up.received() == b""
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0 and result["r"].stdout == b"ok"
    assert b"X-Edited: yes\r\n" in up.received()
    c.wait_for(r"/held\s+200")


def test_replay_sends_again(console, http_upstream):
    c = console()
    before = len(http_upstream.requests)
    assert fetch(c, http_upstream.url + "/replayme").returncode == 0
    c.wait_for(r"/replayme")
    c.keys("r")
    deadline = time.monotonic() + WAIT
    while len([r for r in http_upstream.requests[before:] if r["path"] == "/replayme"]) < 2:
        assert time.monotonic() < deadline, "the replay never reached the upstream"
        time.sleep(0.05)
    c.wait_for(r"\u21ba")  # the replay indicator


def test_view_filter_and_bad_filter(console, http_upstream):
    c = console()
    fetch(c, http_upstream.url + "/alpha")
    fetch(c, http_upstream.url + "/beta")
    c.wait_for(r"/alpha")
    c.wait_for(r"/beta")
    c.keys("f")
    c.wait_for(r":set view_filter ''")
    c.keys("~u alpha", "Enter")
    c.wait_for(r"\[f:~u alpha\]")
    s = c.wait_for(r"/beta", absent=True)
    assert "/alpha" in s
    # a filter that does not parse: a message, nothing changed
    c.keys("f")
    c.wait_for(r":set view_filter '~u alpha'")
    for _ in range(len("~u alpha")):
        c.keys("BSpace")
    c.keys("~zz", "Enter")
    s = c.wait_for(r"(?i)invalid|error|unknown")
    assert "[f:~u alpha]" in s and "/alpha" in s and "/beta" not in s


def test_command_prompt_runs_a_command(console, http_upstream):
    c = console()
    fetch(c, http_upstream.url + "/one")
    fetch(c, http_upstream.url + "/two")
    c.wait_for(r"/two")
    c.keys(":")
    c.keys("view.properties.length", "Enter")
    # the result opens in a data viewer over the list
    c.wait_for(r"Command result")
    c.keys("Enter")
    c.wait_for(r"Command result", absent=True)
    c.keys(":", "export.formats", "Enter")
    c.wait_for(r"raw_request")
    c.keys("q")
    c.wait_for(r"raw_request", absent=True)
    c.keys(":", "no.such.command", "Enter")
    c.wait_for(r"Unknown command: no\.such\.command")


def test_save_file_read_back(console, http_upstream, tmp_path, binary):
    c = console()
    assert fetch(c, http_upstream.url + "/saved/1").returncode == 0
    assert fetch(c, http_upstream.url + "/saved/2").returncode == 0
    c.wait_for(r"/saved/2")
    path = tmp_path / "out.flows"
    c.keys(":", "save.file @all %s" % path, "Enter")
    deadline = time.monotonic() + WAIT
    while not (path.exists() and path.stat().st_size > 0):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    r = subprocess.run([binary, "dump", "-n", "-r", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert b"/saved/1" in r.stdout and b"/saved/2" in r.stdout


MITMDUMP = "/usr/bin/mitmdump"


@pytest.mark.skipif(not os.access(MITMDUMP, os.X_OK), reason="Debian's mitmdump is not installed")
def test_save_file_read_by_mitmdump(console, http_upstream, tmp_path):
    # mitmdump 8.1.1 reads flow format versions up to 17; mitmc writes 21 (mitmproxy 10+)
    # unless save_flow_format says 17
    c = console("--set", "save_flow_format=17")
    fetch(c, http_upstream.url + "/saved/1")
    c.wait_for(r"/saved/1")
    path = tmp_path / "out.flows"
    c.keys(":", "save.file @all %s" % path, "Enter")
    c.wait_for(r"Saved 1 flows|\[1/1\]")
    deadline = time.monotonic() + WAIT
    while not (path.exists() and path.stat().st_size > 0):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    r = subprocess.run([MITMDUMP, "-n", "-r", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert b"/saved/1" in r.stdout


def test_q_asks_then_quits_and_restores_terminal(console):
    c = console()
    c.keys("q")
    c.wait_for(r"Quit \(yes,no\)\?")
    c.keys("n")
    c.wait_for(r"Quit \(yes,no\)\?", absent=True)
    assert c.alive()
    c.keys("q")
    c.wait_for(r"Quit \(yes,no\)\?")
    c.keys("y")
    assert c.wait_exit() == 0
    # the alternate screen is gone: the pane shows the shell's line, not the UI
    s = c.screen()
    assert "Flows" not in s and "[127.0.0.1:" not in s
    assert not c.alive()


def test_Q_exits_at_once(console):
    c = console()
    c.keys("Q")
    assert c.wait_exit() == 0


def test_sigterm_restores_terminal(console):
    c = console()
    os.kill(c.pid, signal.SIGTERM)
    assert c.wait_exit() == 0
    assert "Flows" not in c.screen()


def test_bad_keys_yaml_reported_in_event_log(console, http_upstream):
    c = console(keys_yaml="- key: x\n  cmd: console.view.help\n  ctx: [nosuch]\n")
    c.keys("E")
    c.wait_for(r"Events")
    c.wait_for(r"keys\.yaml: Unsupported context: nosuch")
    c.keys("q")
    fetch(c, http_upstream.url + "/still-works")
    c.wait_for(r"/still-works")


def test_custom_key_binding(console):
    c = console(keys_yaml="- key: ctrl e\n  cmd: console.view.eventlog\n  help: events\n")
    c.tmux("send-keys", "C-e")
    c.wait_for(r"(?m)^Events")


def test_help_options_keybindings_commands(console):
    c = console()
    c.keys("?")
    c.wait_for(r"Flowlist Keys")
    c.keys("G")
    c.wait_for(r"~u regex\s+URL")
    c.keys("q")
    c.keys("O")
    c.wait_for(r"(?m)^Options")
    c.wait_for(r"anticache\s+false")
    # enter flips a boolean, offers the choices of an option that has them
    c.keys("j", "j", "Enter")
    c.wait_for(r"anticache\s+true")
    c.wait_for(r"\[anticache\]")
    c.keys("q")
    c.keys("K")
    c.wait_for(r"Key Bindings")
    c.keys("q")
    c.keys("C")
    c.wait_for(r"console\.command\.set option_name:str")
    c.keys("q")
    c.wait_for(r"(?m)^Flows")


def test_edit_body_in_editor_then_resume(console, raw_upstream, tmp_path):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    fail = tmp_path / "fail"
    fail.write_text("")
    editor = tmp_path / "editor.sh"
    # fails (after scribbling on the file) while the flag file exists, else edits the body
    editor.write_text("#!/bin/sh\nif [ -e '%s' ]; then echo junk > \"$1\"; exit 3; fi\n"
                      "sed -i 's/hello/HELLO, edited/' \"$1\"\n" % fail)
    editor.chmod(0o755)
    c = console("--set", "intercept=~q", env={"EDITOR": str(editor)})
    c.wait_for(r"\[i:~q\]")
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=fetch(c, "http://127.0.0.1:%d/post" % up.port, "--data-binary", "hello")))
    t.start()
    c.wait_for(r"POST\s+127\.0\.0\.1\s+/post")
    c.keys("e")
    c.wait_for(r"request-body")
    # after cookies, urlencoded form, multipart form, path, method, query, reason,
    # request-headers, response-headers
    c.keys(*["Down"] * 9, "Enter")
    c.wait_for(r"editor exited with status 3: nothing changed")
    fail.unlink()
    c.keys(":", "console.edit.focus request-body", "Enter")
    c.keys("Enter")
    s = c.wait_for(r"HELLO, edited")
    assert "Request intercepted" in s
    assert up.received() == b""
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0 and result["r"].stdout == b"ok"
    got = up.received()
    assert got.endswith(b"\r\n\r\nHELLO, edited"), got
    assert b"Content-Length: 13\r\n" in got or b"content-length: 13\r\n" in got, got


def test_kill_intercepted_flow(console, raw_upstream):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = console("--set", "intercept=~q")
    c.wait_for(r"\[i:~q\]")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=fetch(c, "http://127.0.0.1:%d/doomed" % up.port)))
    t.start()
    c.wait_for(r"/doomed")
    c.keys("X")
    t.join(30)
    assert result["r"].returncode != 0  # the client got no response
    assert up.received() == b""
    c.wait_for(r"/doomed\s+err")


def held(console, raw_upstream, path, *curl_args):
    """A console intercepting requests, with one (to path) held; returns the console, the
    upstream, and the thread and result dict of the client."""
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = console("--set", "intercept=~q")
    c.wait_for(r"\[i:~q\]")
    result = {}
    url = "http://127.0.0.1:%d%s" % (up.port, path)
    t = threading.Thread(target=lambda: result.update(r=fetch(c, url, *curl_args)))
    t.start()
    c.wait_for(re.escape(path.split("?")[0]))
    return c, up, t, result


def test_edit_query_in_grid_then_resume(console, raw_upstream):
    c, up, t, result = held(console, raw_upstream, "/q?a=1&b=two")
    c.keys("e")
    c.wait_for(r"Edit\.\.\.")
    c.wait_for(r"query")
    c.keys(*["Down"] * 5, "Enter")
    c.wait_for(r"Edit Query")
    c.wait_for(r"(?m)^a\s+1\s*$")
    c.wait_for(r"(?m)^b\s+two\s*$")
    c.keys("Down", "Tab", "Enter")
    c.wait_for(r"(?m)^value: two")
    for _ in range(3):
        c.keys("BSpace")
    c.keys("x y&z", "Enter")
    c.wait_for(r"(?m)^b\s+x y&z\s*$")
    c.keys("q")
    c.wait_for(r"Edit Query", absent=True)
    c.wait_for(r"/q\?a=1&b=x\+y%26z")
    assert up.received() == b""
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0 and result["r"].stdout == b"ok"
    assert up.received().startswith(b"GET /q?a=1&b=x+y%26z HTTP/1.1\r\n")


def test_edit_urlencoded_form_then_resume(console, raw_upstream):
    c, up, t, result = held(console, raw_upstream, "/form", "-d", "name=joe&age=3")
    c.keys(":", "console.edit.focus 'urlencoded form'", "Enter")
    c.wait_for(r"Edit URL-encoded Form")
    c.wait_for(r"(?m)^name\s+joe\s*$")
    c.keys("Tab", "Enter")
    c.wait_for(r"(?m)^value: joe")
    for _ in range(3):
        c.keys("BSpace")
    c.keys("ann lee", "Enter")
    c.wait_for(r"(?m)^name\s+ann lee\s*$")
    c.keys("q")
    c.wait_for(r"Edit URL-encoded Form", absent=True)
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0
    got = up.received()
    assert got.endswith(b"\r\n\r\nname=ann+lee&age=3"), got
    assert b"Content-Length: 18\r\n" in got or b"content-length: 18\r\n" in got
    assert b"application/x-www-form-urlencoded" in got


def test_edit_cookies_then_resume(console, raw_upstream):
    c, up, t, result = held(console, raw_upstream, "/cookie", "-H", "Cookie: sid=abc; theme=dark")
    c.keys(":", "console.edit.focus cookies", "Enter")
    c.wait_for(r"Edit Cookies")
    c.wait_for(r"(?m)^sid\s+abc\s*$")
    c.wait_for(r"(?m)^theme\s+dark\s*$")
    c.keys("Down", "d")
    c.wait_for(r"(?m)^theme", absent=True)
    c.keys("a", "Enter")
    c.wait_for(r"(?m)^name:")
    c.keys("lang", "Enter")
    c.keys("Tab", "Enter")
    c.keys("en", "Enter")
    c.wait_for(r"(?m)^lang\s+en\s*$")
    c.keys("q")
    c.wait_for(r"Edit Cookies", absent=True)
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0
    assert b"\r\nCookie: sid=abc; lang=en\r\n" in up.received()


def test_grid_empty_name_changes_nothing(console, raw_upstream):
    c, up, t, result = held(console, raw_upstream, "/q?a=1")
    c.keys(":", "console.edit.focus query", "Enter")
    c.wait_for(r"Edit Query")
    c.keys("a", "Enter")
    c.wait_for(r"(?m)^key:")
    c.keys("Enter")
    c.wait_for(r"A name cannot be empty")
    c.keys("q")
    c.wait_for(r"Row 2 has no name: nothing changed")
    c.wait_for(r"Edit Query", absent=True)
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0
    assert up.received().startswith(b"GET /q?a=1 HTTP/1.1\r\n")


def test_edit_path_of_intercepted_request(console, raw_upstream):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = console("--set", "intercept=~q")
    c.wait_for(r"\[i:~q\]")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=fetch(c, "http://127.0.0.1:%d/old" % up.port)))
    t.start()
    c.wait_for(r"/old")
    c.keys(":", "console.edit.focus path", "Enter")
    c.wait_for(r"(?m)^path: /old")
    for _ in range(3):
        c.keys("BSpace")
    c.keys("new?x=1", "Enter")
    c.wait_for(r"/new\?x=1")
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0
    assert up.received().startswith(b"GET /new?x=1 HTTP/1.1\r\n")


def test_full_contents_toggle(console, raw_upstream):
    body = b"".join(b"line %d\n" % i for i in range(600))
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))
    c = console()
    assert fetch(c, "http://127.0.0.1:%d/long" % up.port).returncode == 0
    c.wait_for(r"/long\s+200")
    c.keys("Enter", "Tab", "G")
    c.wait_for(r"Stopped displaying after 512 lines")
    c.keys("f", "G")
    s = c.wait_for(r"line 599")
    assert "Stopped displaying" not in s


def test_grid_save_and_command_history(console, http_upstream, tmp_path):
    c = console()
    fetch(c, http_upstream.url + "/grid")
    c.wait_for(r"/grid")
    c.keys(":", "console.edit.focus request-headers", "Enter")
    c.wait_for(r"Edit Request Headers")
    out = tmp_path / "headers.csv"
    c.keys("w")
    c.wait_for(r":console\.grideditor\.save")
    c.keys(str(out), "Enter")
    c.wait_for(r"Saved \d+ rows")
    assert out.read_text().startswith("Host,127.0.0.1:")
    c.keys("q")
    # the command history survives a restart (confdir/command_history)
    c.keys("Q")
    c.wait_exit()
    c2 = console()
    c2.keys(":", "Up")
    c2.wait_for(r":console\.grideditor\.save %s" % re.escape(str(out)))


def test_resize_redraws_and_narrow_list_layout(console, http_upstream):
    c = console()
    fetch(c, http_upstream.url + "/resized")
    c.wait_for(r"GET\s+127\.0\.0\.1\s+/resized\s+404")
    c.tmux("resize-window", "-x", "90", "-y", "30")
    # under 100 columns mitmproxy's default layout is the two-line list
    c.wait_for(r">> GET http://127\.0\.0\.1:\d+/resized")
    c.wait_for(r"\u2190 404")
    c.tmux("resize-window", "-x", "160", "-y", "48")
    c.wait_for(r"GET\s+127\.0\.0\.1\s+/resized\s+404")


def test_many_flows_and_palettes(console, http_upstream):
    c = console()
    urls = [http_upstream.url + "/many/%d" % i for i in range(200)]
    r = subprocess.run(["curl", "-q", "-sS", "--max-time", "60", "-x", "http://127.0.0.1:%d" % c.port,
                        "-o", "/dev/null"] + sum([[u2, "-o", "/dev/null"] for u2 in urls[1:]], [urls[0]]),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=90)
    assert r.returncode == 0, r.stderr
    c.wait_for(r"\[1/200\]", timeout=20)
    c.keys("G")
    c.wait_for(r"\[200/200\]")
    c.wait_for(r">>.*/many/199")
    for palette in ("light", "dark", "solarized_light", "lowdark", "solarized_dark"):
        c.keys(":", "set console_palette %s" % palette, "Enter")
        c.wait_for(r"(?m)^Flows")
    c.keys("g")
    c.wait_for(r">>.*/many/0\s")
    c.keys(":", "set console_palette nosuch", "Enter")
    c.wait_for(r"(?i)invalid|choice|must be one of")


def test_intercepted_response_edited_status_reaches_client(console, raw_upstream):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = console("--set", "intercept=~s")
    c.wait_for(r"\[i:~s\]")
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=fetch(c, "http://127.0.0.1:%d/resp" % up.port, "-o", "/dev/null", "-w", "%{http_code}")))
    t.start()
    c.wait_for(r"/resp\s+200")
    c.keys("Enter")
    c.wait_for(r"Response intercepted")
    assert "r" not in result
    c.keys(":", "console.edit.focus status_code", "Enter")
    c.wait_for(r"(?m)^status_code: 200")
    c.keys("BSpace", "BSpace", "BSpace", "418", "Enter")
    c.wait_for(r"/resp\s+418")
    c.keys("Tab")
    c.wait_for(r"HTTP/1\.1 418")
    c.keys("a")
    t.join(30)
    assert result["r"].stdout == b"418"


def test_read_file_and_startup_error(console, mitmc, http_upstream, tmp_path, curl):
    path = tmp_path / "in.flows"
    p = mitmc("-w", str(path))
    for i in range(3):
        assert curl(p.port, http_upstream.url + "/rfile/%d" % i).returncode == 0
    p.stop()
    c = console("-r", str(path))
    c.wait_for(r"\[1/3\]")
    c.wait_for(r"/rfile/2\s+404")
    bad = tmp_path / "bad.flows"
    bad.write_bytes(b"garbage\n")
    c2 = console("-r", str(bad), wait_listen=False)
    assert c2.wait_exit() == 1
    s = c2.screen()
    assert "Error logged during startup:" in s and "Flow file corrupted" in s


def test_mouse_click_selects_a_row(console, http_upstream):
    c = console()
    for p in ("/m1", "/m2", "/m3"):
        fetch(c, http_upstream.url + p)
    c.wait_for(r"/m3")
    c.wait_for(r"\[1/3\]")
    # an SGR mouse press and release (xterm's kmous) on the screen's 3rd line: the 2nd flow
    c.tmux("send-keys", "-l", "\x1b[<0;5;3M\x1b[<0;5;3m")
    c.wait_for(r"\[2/3\]")
    c.wait_for(r">>.*/m2")


def test_mouse_in_split_layouts(console, http_upstream):
    """In the vertical layout a click in a pane focuses it, and a click on a flow row of the
    flow list pane selects that flow (mitmproxy's urwid panes)."""
    c = console()
    for p in ("/s1", "/s2", "/s3"):
        fetch(c, http_upstream.url + p)
    c.wait_for(r"\[1/3\]")
    c.keys("-")
    c.wait_for(r"(?m)^Events")
    click = "\x1b[<0;5;%dM\x1b[<0;5;%dm"
    c.tmux("send-keys", "-l", click % (3, 3))  # line 3: the pane title, then flows 1 and 2
    c.wait_for(r"\[2/3\]")
    lines = c.screen().splitlines()
    events = next(i for i, l in enumerate(lines) if l.startswith("Events"))
    c.tmux("send-keys", "-l", click % (events + 3, events + 3))  # inside the event log pane
    time.sleep(0.3)
    c.keys("Enter")  # the event log has the focus: enter opens nothing
    time.sleep(0.5)
    assert "Flow Details" not in c.screen()
    c.tmux("send-keys", "-l", click % (4, 4))  # back in the flow list, on the third flow
    c.wait_for(r"\[3/3\]")
    c.keys("Enter")
    c.wait_for(r"(?m)^Flow Details")
    c.wait_for(r"GET http://127\.0\.0\.1:\d+/s3 HTTP/1\.1")


def test_edit_set_cookies_of_intercepted_response(console, raw_upstream):
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/; HttpOnly\r\n"
                            b"Content-Length: 2\r\n\r\nok")
    c = console("--set", "intercept=~s")
    c.wait_for(r"\[i:~s\]")
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=fetch(c, "http://127.0.0.1:%d/sc" % up.port, "-D", "-")))
    t.start()
    c.wait_for(r"/sc\s+200")
    c.keys(":", "console.edit.focus set-cookies", "Enter")
    c.wait_for(r"Edit Set-Cookies")
    c.wait_for(r"(?m)^sid\s+abc\s+Path=/; HttpOnly\s*$")
    c.keys("Tab", "Enter")
    c.wait_for(r"(?m)^value: abc")
    c.keys("BSpace", "BSpace", "BSpace", "a b", "Enter")
    c.keys("Tab", "Enter")  # the attributes: a subgrid of their own, as mitmproxy's
    c.wait_for(r"Edit Set-Cookie Attributes")
    c.wait_for(r"(?m)^Path\s+/\s*$")
    c.wait_for(r"(?m)^HttpOnly\s*$")
    c.keys("Down", "d")
    c.wait_for(r"(?m)^HttpOnly", absent=True)
    c.keys("a", "Enter")
    c.wait_for(r"(?m)^key:")
    c.keys("Max-Age", "Enter")
    c.keys("Tab", "Enter")
    c.wait_for(r"(?m)^value:")
    c.keys("60", "Enter")
    c.wait_for(r"(?m)^Max-Age\s+60\s*$")
    c.keys("q")
    c.wait_for(r"(?m)^sid\s+a b\s+Path=/; Max-Age=60\s*$")
    c.keys("q")
    c.wait_for(r"Edit Set-Cookies", absent=True)
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0
    assert b'\r\nSet-Cookie: sid="a b"; Path=/; Max-Age=60\r\n' in result["r"].stdout, result["r"].stdout


def test_split_layouts_cycle_and_pane_focus(console, http_upstream):
    c = console()
    fetch(c, http_upstream.url + "/split")
    c.wait_for(r"/split\s+404")
    assert not re.search(r"(?m)^Events", c.screen())
    c.keys("-")  # vertical: the flow list above, the event log (mitmproxy's second pane) below
    s = c.wait_for(r"(?m)^Events")
    lines = s.splitlines()
    flows = next(i for i, l in enumerate(lines) if l.startswith("Flows"))
    events = next(i for i, l in enumerate(lines) if l.startswith("Events"))
    assert flows < events and any("/split" in l for l in lines[flows:events])
    # shift tab moves the focus to the event log, where enter opens nothing; once back on
    # the flow list enter opens the flow in that pane
    c.keys("BTab")
    c.keys("Enter")
    time.sleep(0.5)
    assert "Flow Details" not in c.screen()
    c.keys("BTab", "Enter")
    s = c.wait_for(r"(?m)^Flow Details")
    assert re.search(r"(?m)^Events", s), "the event log pane stays while pane 0 shows the flow"
    c.keys("q")
    c.wait_for(r"(?m)^Flows")
    c.keys("-")  # horizontal: side by side on the same title line
    s = c.wait_for(r"(?m)^Flows\s+Events")
    assert "/split" in s
    c.keys("-")  # back to single
    c.wait_for(r"(?m)^Events", absent=True)
    c.wait_for(r"(?m)^Flows")
    c.wait_for(r"/split\s+404")


def test_commands_flag_lists_the_registry(binary, tmp_path):
    # no terminal: the console's commands are listed without starting it
    env = proxy_env()
    r = subprocess.run([binary, "--commands", "--set", "confdir=%s" % tmp_path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "\n# Resume flows if they are intercepted.\nflow.resume flows:flow[]\n\n" in out
    assert "\n# View a flow.\nconsole.view.flow flow:flow\n\n" in out
    sigs = [b.splitlines()[-1] for b in out.strip("\n").split("\n\n")]
    assert sigs == sorted(sigs), "sorted by signature, as mitmproxy's CommandManager.dump"
    assert all(l.startswith("# ") for b in out.strip("\n").split("\n\n") for l in b.splitlines()[:-1])
    d = subprocess.run([binary, "dump", "--commands"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=30, env=env)
    assert d.returncode == 0, d.stderr
    assert "\nscript.run flows:flow[] path:path\n" in d.stdout.decode()
    assert "console." not in d.stdout.decode()


def test_script_option_set_at_run_time(console, raw_upstream, tmp_path):
    """A script's option (loader:add_option) is in the options screen and settable with
    `:set` while the proxy runs: the next request reads the new value on its worker, and
    configure(updated) hears of the change there (mitmproxy's configure)."""
    script = tmp_path / "greet.lua"
    script.write_text(
        "local told = 'start'\n"
        "function load(l) l:add_option('greeting', 'str', 'hi', 'The greeting header.') end\n"
        "function configure(updated)\n"
        "  if updated.greeting and not updated.anticache then told = 'told' end\n"
        "end\n"
        "function request(flow)\n"
        "  flow.request.headers['X-Greeting'] = mitm.options.greeting .. '/' .. told\n"
        "end\n")
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = console("-s", str(script))
    c.tmux("resize-window", "-x", "160", "-y", "80")  # the options up to "greeting" on one page
    r = fetch(c, "http://127.0.0.1:%d/one" % up.port)
    assert r.returncode == 0 and r.stdout == b"ok", r.stderr
    assert b"\r\nX-Greeting: hi/start\r\n" in up.received()
    c.keys("O")
    c.wait_for(r"greeting\s+hi")
    c.keys("q")
    c.keys(":", "set greeting hello", "Enter")
    c.wait_for(r"(?m)^Flows")
    c.keys("O")
    c.wait_for(r"greeting\s+hello")
    c.keys("q")
    c.keys(":", "set greeting", "Enter")  # no value: the default, as for table options
    c.keys(":", "set greeting howdy", "Enter")
    c.keys(":", "set nosuchoption 1", "Enter")
    c.wait_for(r"Unknown option: nosuchoption")
    r = fetch(c, "http://127.0.0.1:%d/two" % up.port)
    assert r.returncode == 0 and r.stdout == b"ok", r.stderr
    assert b"\r\nX-Greeting: howdy/told\r\n" in up.received()


def test_browser_start_points_a_browser_at_the_proxy(console, http_upstream, tmp_path):
    """`B` (browser.start) starts the first Chrome/Chromium in PATH with a profile of its own
    and the running proxy's address, as mitmproxy's browser addon; quitting stops it and
    removes the profile. The browser here is a stand-in script on PATH that records its
    arguments and fetches a page through the --proxy-server it was given."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv.txt"
    fake = bindir / "chromium"
    fake.write_text(
        "#!/bin/sh\n"
        "for a in \"$@\"; do echo \"$a\"; done > %s.tmp && mv %s.tmp %s\n"
        "proxy=$(echo \"$@\" | tr ' ' '\\n' | sed -n 's/^--proxy-server=//p')\n"
        "curl -q -sS --max-time 10 -x \"http://$proxy\" %s/size/7 > /dev/null\n"
        "exec sleep 60\n" % (record, record, record, http_upstream.url))
    fake.chmod(0o755)
    env = {"PATH": "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin"))}
    c = console(env=env)
    c.keys("B")
    deadline = time.monotonic() + WAIT
    while not record.exists():
        assert time.monotonic() < deadline, "the browser was never started"
        time.sleep(0.05)
    argv = record.read_text().split("\n")
    assert "--proxy-server=127.0.0.1:%d" % c.port in argv, argv
    profile = [a[len("--user-data-dir="):] for a in argv if a.startswith("--user-data-dir=")]
    assert len(profile) == 1 and os.path.isdir(profile[0]), argv
    assert "--no-first-run" in argv and argv[-2] == "about:blank", argv
    c.wait_for(r"GET\s+127\.0\.0\.1\s+/size/7\s+200")  # its traffic goes through us
    c.keys(":", "browser.start", "Enter")
    c.wait_for(r"Alert: Starting additional browser")
    c.keys(":", "browser.start opera", "Enter")
    c.wait_for(r"Alert: Invalid browser name\.")
    c.close()
    assert not os.path.exists(profile[0]), "the profile outlived the console"


def test_edit_multipart_form_then_resume(console, raw_upstream):
    """The multipart form grid (mitmproxy's multipart_form): the parts curl -F sent, one
    changed, the body re-encoded with the request's boundary as mitmproxy encodes it."""
    c, up, t, result = held(console, raw_upstream, "/mp", "-F", "name=joe", "-F", "age=3")
    c.keys(":", "console.edit.focus 'multipart form'", "Enter")
    c.wait_for(r"Edit Multipart Form")
    c.wait_for(r"(?m)^name\s+joe\s*$")
    c.wait_for(r"(?m)^age\s+3\s*$")
    c.keys("Tab", "Enter")
    c.wait_for(r"(?m)^value: joe")
    for _ in range(3):
        c.keys("BSpace")
    c.keys("ann", "Enter")
    c.wait_for(r"(?m)^name\s+ann\s*$")
    c.keys("q")
    c.wait_for(r"Edit Multipart Form", absent=True)
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0
    got = up.received()
    head, _, body = got.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-type: multipart/form-data; boundary=(\S+)\r\n", head + b"\r\n")
    assert m, head
    b = m.group(1)
    part = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert body == (b"--%s\r\nContent-Disposition: form-data; name=\"name\"\r\n%sann\r\n\r\n"
                    b"--%s\r\nContent-Disposition: form-data; name=\"age\"\r\n%s3\r\n\r\n--%s--\r\n"
                    % (b, part, b, part, b)), body
    assert re.search(rb"(?i)\r\ncontent-length: %d\r\n" % len(body), head), head


def test_edit_response_of_a_request_without_one(console, raw_upstream):
    """Editing a response part of an intercepted request gives it an empty 200 first (as
    mitmproxy's console); resumed, the client gets that response and the upstream nothing."""
    c, up, t, result = held(console, raw_upstream, "/made", "-D", "-")
    c.keys(":", "console.edit.focus response-headers", "Enter")
    c.wait_for(r"Edit Response Headers")
    c.wait_for(r"(?m)^Content-Length\s+0\s*$")
    c.keys("a", "Enter")
    c.wait_for(r"(?m)^key:")
    c.keys("X-Made", "Enter")
    c.keys("Tab", "Enter")
    c.wait_for(r"(?m)^value:")
    c.keys("here", "Enter")
    c.wait_for(r"X-Made\s+here")
    c.keys("q")
    c.wait_for(r"Edit Response Headers", absent=True)
    c.keys("a")
    t.join(30)
    assert result["r"].returncode == 0, result["r"].stderr
    out = result["r"].stdout
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nX-Made: here\r\n" in out, out
    assert up.received() == b"", "the upstream was asked although the flow had its response"


def test_v_shows_a_body_in_the_pager(console, raw_upstream, tmp_path):
    """`v` in the flow view (console.bodyview), as mitmproxy's spawn_external_viewer: the
    decoded body in a read-only temporary file named for its content type, shown by
    $MITMPROXY_EDITOR / $PAGER / $EDITOR; the file is gone afterwards."""
    up = raw_upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<b>bold</b>")
    record = tmp_path / "viewed"
    pager = tmp_path / "pager.sh"
    pager.write_text("#!/bin/sh\n{ echo \"$1\"; stat -c %%a \"$1\"; cat \"$1\"; } > %s\n" % record)
    pager.chmod(0o755)
    c = console(env={"PAGER": str(pager), "MITMPROXY_EDITOR": "", "EDITOR": "false"})
    r = fetch(c, "http://127.0.0.1:%d/page" % up.port)
    assert r.returncode == 0
    c.wait_for(r"/page\s+200")
    c.keys("Enter")
    c.wait_for(r"Flow Details")
    c.keys("v")
    c.wait_for(r"View\.\.\.")
    c.keys("Down", "Enter")  # response
    deadline = time.monotonic() + WAIT
    while not record.exists() or not record.read_text().endswith("</b>"):
        assert time.monotonic() < deadline, "the pager never ran:\n" + c.screen()
        time.sleep(0.05)
    name, mode, body = record.read_text().split("\n", 2)
    assert re.search(r"/mproxy\w{6}\.html$", name), name
    assert mode == "400" and body == "<b>bold</b>"
    c.wait_for(r"Flow Details")
    assert not os.path.exists(name), "the temporary file was left behind"
