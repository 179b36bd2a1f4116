"""Network namespaces for transparent-mode tests: a client host and a proxy host joined by a cable.

    client namespace                                 proxy namespace
    lo up                                            lo up
    <id>c  10.201.0.1/24  fd00:201::1/64  <-veth->   <id>p  10.201.0.2/24  fd00:201::2/64
    default via 10.201.0.2 / fd00:201::2             net.ipv4.ip_forward=1, net.ipv6.conf.all.forwarding=1,
                                                     net.ipv4.conf.all.send_redirects=0
                                                     iptables/ip6tables -t nat -A PREROUTING -p tcp
                                                       --dport 80|443 -j REDIRECT --to-port P  (redirect())

The client routes everything through the proxy host, so a connection to any address (the proxy's
own 10.201.0.2:80, or 203.0.113.9:80 that exists nowhere) enters the proxy namespace on its veth,
where PREROUTING rules see it. Connections made inside the proxy namespace (the proxy's own
upstream connections, an origin server listening there on 10.201.0.2:80) never pass PREROUTING
and are not redirected: that is what lets the proxy and an origin share the namespace.

Use the `netns` fixture (import it into the test module: `from netns import netns`):

    def test_x(netns):
        p = netns.popen(netns.proxy, [binary, "..."])    # stopped by PID at teardown
        netns.redirect(port)                              # the REDIRECT rules to port
        r = netns.run(netns.client, ["curl", "-sS", "http://10.201.0.2/"])

Names are unique per fixture (random), every process started here is stopped by its PID, and the
namespaces are deleted by name in a finalizer registered before anything is created, so a test
that fails half way still leaves nothing behind. The fixture skips (with the reason printed) only
when this machine forbids network namespaces or iptables cannot load its nat table; anything else
that goes wrong is a failure. Needs root, iproute2, iptables and procps (scripts/install-deps).
"""
import os
import secrets
import shutil
import signal
import subprocess

import pytest

CLIENT_V4, PROXY_V4 = "10.201.0.1", "10.201.0.2"
CLIENT_V6, PROXY_V6 = "fd00:201::1", "fd00:201::2"
CMD_TIMEOUT = 30  # seconds for any one setup/teardown command or run()


class HarnessError(AssertionError):
    pass


class Skip(Exception):
    """The machine cannot do this (turned into pytest.skip by the fixture)."""


def _tool(name):
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not path:
        raise HarnessError("%s is not installed (scripts/install-deps installs it)" % name)
    return path


class Netns:
    def __init__(self):
        tag = secrets.token_hex(3)
        self.client = "mitmc-%s-client" % tag
        self.proxy = "mitmc-%s-proxy" % tag
        self.client_dev = "mc%sc" % tag  # interface names are at most 15 bytes
        self.proxy_dev = "mc%sp" % tag
        self.ip = _tool("ip")
        self.created = []  # namespaces to delete, in creation order
        self.procs = []  # every Popen started by popen()
        self.log = []  # every command run, for failure messages
        self.has_v6_nat = False
        self.v6_nat_error = None

    # ------------------------------------------------------------------ commands

    def _cmd(self, argv, check=True, timeout=CMD_TIMEOUT):
        self.log.append(" ".join(argv))
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                                    r.stderr.decode("utf-8", "replace").strip()))
        return r

    def exec_argv(self, ns, argv):
        """argv that runs argv inside namespace ns. `ip netns exec` execs the command in place, so a
        process started with it keeps its PID: stopping that PID stops the command."""
        return [self.ip, "netns", "exec", ns] + list(argv)

    def run(self, ns, argv, timeout=CMD_TIMEOUT, check=False):
        """Run argv to completion inside ns; returns the CompletedProcess (stdout/stderr bytes)."""
        return self._cmd(self.exec_argv(ns, argv), check=check, timeout=timeout)

    def popen(self, ns, argv, **kw):
        """Start argv inside ns (stdout/stderr piped unless given); stopped by PID at teardown."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(self.exec_argv(ns, argv), **kw)
        self.procs.append(p)
        return p

    def sysctl(self, ns, key, value):
        self.run(ns, [_tool("sysctl"), "-q", "-w", "%s=%s" % (key, value)], check=True)

    # ------------------------------------------------------------------ setup

    def setup(self):
        r = self._cmd([self.ip, "netns", "add", self.client], check=False)
        if r.returncode != 0:
            raise Skip("network namespaces are not allowed here: ip netns add: %s"
                       % r.stderr.decode("utf-8", "replace").strip())
        self.created.append(self.client)
        self._cmd([self.ip, "netns", "add", self.proxy])
        self.created.append(self.proxy)
        # Create the pair inside the namespaces, so nothing is ever left in the root namespace.
        self._cmd([self.ip, "link", "add", self.client_dev, "netns", self.client, "type", "veth",
                   "peer", "name", self.proxy_dev, "netns", self.proxy])
        for ns, dev, v4, v6 in ((self.client, self.client_dev, CLIENT_V4, CLIENT_V6),
                                (self.proxy, self.proxy_dev, PROXY_V4, PROXY_V6)):
            self._cmd([self.ip, "-n", ns, "link", "set", "lo", "up"])
            self._cmd([self.ip, "-n", ns, "addr", "add", v4 + "/24", "dev", dev])
            # nodad: usable at once, no duplicate address detection wait (there is no one else)
            self._cmd([self.ip, "-n", ns, "-6", "addr", "add", v6 + "/64", "dev", dev, "nodad"])
            self._cmd([self.ip, "-n", ns, "link", "set", dev, "up"])
        self._cmd([self.ip, "-n", self.client, "route", "add", "default", "via", PROXY_V4])
        self._cmd([self.ip, "-n", self.client, "-6", "route", "add", "default", "via", PROXY_V6])
        # What mitmproxy's transparent-mode docs set on the proxy host: forward what is not
        # redirected, and do not tell clients about the shorter way around the proxy.
        self.sysctl(self.proxy, "net.ipv4.ip_forward", 1)
        self.sysctl(self.proxy, "net.ipv6.conf.all.forwarding", 1)
        self.sysctl(self.proxy, "net.ipv4.conf.all.send_redirects", 0)
        iptables, ip6tables = _tool("iptables"), _tool("ip6tables")
        r = self.run(self.proxy, [iptables, "-t", "nat", "-S"])
        if r.returncode != 0:
            raise Skip("iptables cannot load its nat table here: %s"
                       % r.stderr.decode("utf-8", "replace").strip())
        r = self.run(self.proxy, [ip6tables, "-t", "nat", "-S"])
        self.has_v6_nat = r.returncode == 0
        if not self.has_v6_nat:
            self.v6_nat_error = "ip6tables cannot load its nat table here: %s" % (
                r.stderr.decode("utf-8", "replace").strip())
        return self

    def redirect(self, to_port, ports=(80, 443), v6=True):
        """iptables (and ip6tables, if v6 and available) REDIRECT of TCP to ports, in the proxy
        namespace's PREROUTING chain: connections arriving from the client go to to_port."""
        tools = [_tool("iptables")] + ([_tool("ip6tables")] if v6 and self.has_v6_nat else [])
        for tool in tools:
            for port in ports:
                self.run(self.proxy, [tool, "-t", "nat", "-A", "PREROUTING", "-i", self.proxy_dev, "-p", "tcp",
                                      "--dport", str(port), "-j", "REDIRECT", "--to-port", str(to_port)],
                         check=True)

    def add_address(self, ns, cidr, dev="lo"):
        """Another address in ns (e.g. an origin's public-looking address on the proxy host)."""
        self._cmd([self.ip, "-n", ns] + (["-6"] if ":" in cidr else []) +
                  ["addr", "add", cidr, "dev", dev] + (["nodad"] if ":" in cidr else []))

    # ------------------------------------------------------------------ teardown

    def stop(self, proc, timeout=10.0):
        """SIGTERM, wait, then SIGKILL, by PID. Returns the exit status (None if it had to be killed)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
                return None
        return proc.returncode

    def teardown(self):
        """Stop every process by PID, then delete the namespaces by name (the veth pair and the
        rules go with them). Runs whatever failed before; raises at the end if something is left."""
        errors = []
        for p in self.procs:
            try:
                self.stop(p)
                for f in (p.stdout, p.stderr):
                    if f:
                        f.close()
            except Exception as e:  # keep going: the namespaces must go whatever happened
                errors.append("stopping pid %d: %r" % (p.pid, e))
        for ns in reversed(self.created):
            try:
                r = self._cmd([self.ip, "netns", "del", ns], check=False)
                if r.returncode != 0:
                    errors.append("ip netns del %s: %s" % (ns, r.stderr.decode("utf-8", "replace").strip()))
            except Exception as e:
                errors.append("ip netns del %s: %r" % (ns, e))
        self.created = []
        left = [ns for ns in (self.client, self.proxy) if os.path.exists("/run/netns/" + ns)]
        if left:
            errors.append("namespaces still there after teardown: %s" % left)
        if errors:
            raise HarnessError("netns teardown: " + "; ".join(errors))


@pytest.fixture
def netns(request):
    """A fresh Netns pair, set up; torn down after the test (even when it or the setup failed)."""
    n = Netns()
    request.addfinalizer(n.teardown)  # before setup: a half-built pair is removed too
    try:
        n.setup()
    except Skip as e:
        pytest.skip(str(e))
    return n
