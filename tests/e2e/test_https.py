"""HTTPS interception end to end: real clients (curl, openssl s_client, Python ssl) through
the real binary to Python TLS upstreams whose certificates come from a test PKI made with
the openssl command line at test time.
"""
import os
import re
import ssl
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

import e2e_util as u
from tls_util import OPENSSL, Pki, TlsUpstream, ca_cert, pubkey_der, sans_of, tls_via_proxy


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def upstream(pki):
    servers = []

    def start(kind="good", max_version=None):
        s = TlsUpstream(getattr(pki, kind), max_version)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


# --------------------------------------------------------------------------- the happy path

def test_curl_https_exchange_intact(mitmc, pki, upstream, curl):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    r = curl(proxy.port, "https://127.0.0.1:%d/path?q=1" % up.port, "--cacert", ca_cert(proxy), "-D", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(b"hello /path?q=1")
    assert b"X-Upstream: tls" in r.stdout
    assert up.paths == ["/path?q=1"]
    # the flow line names the https URL
    assert proxy.wait_stdout(r"GET https://127\.0\.0\.1:%d/path\?q=1" % up.port)


def test_leaf_carries_every_upstream_name(mitmc, pki, upstream):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    with tls_via_proxy(proxy.port, "127.0.0.1", up.port) as s:
        cert, dns, ips = sans_of(s.getpeercert(binary_form=True))
        assert s.version() == "TLSv1.3"
        assert s.selected_alpn_protocol() == "http/1.1"
    assert {"alpha.test", "beta.test"} <= dns
    assert "127.0.0.1" in ips
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Upstream Org"
    ca = x509.load_pem_x509_certificate(open(ca_cert(proxy), "rb").read())
    assert cert.issuer == ca.subject
    assert pubkey_der(cert) != pubkey_der(ca), "the leaf key is not the CA key"


def test_sni_name_verifies(mitmc, pki, upstream, curl):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    r = curl(proxy.port, "https://beta.test/sni", "--cacert", ca_cert(proxy),
             "--connect-to", "beta.test:443:127.0.0.1:%d" % up.port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello /sni"
    with tls_via_proxy(proxy.port, "127.0.0.1", up.port, sni="beta.test", cafile=ca_cert(proxy)) as s:
        _, dns, _ = sans_of(s.getpeercert(binary_form=True))
    assert "beta.test" in dns


def test_openssl_s_client(mitmc, pki, upstream):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    p = subprocess.run([OPENSSL, "s_client", "-proxy", "127.0.0.1:%d" % proxy.port, "-connect",
                        "127.0.0.1:%d" % up.port, "-servername", "beta.test", "-CAfile", ca_cert(proxy),
                        "-verify_return_error", "-quiet", "-ign_eof"],
                       input=b"GET /s HTTP/1.1\r\nHost: beta.test\r\nConnection: close\r\n\r\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith(b"hello /s")
    p = subprocess.run([OPENSSL, "s_client", "-proxy", "127.0.0.1:%d" % proxy.port, "-connect",
                        "127.0.0.1:%d" % up.port, "-servername", "beta.test", "-CAfile", ca_cert(proxy)],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    out = p.stdout.decode()
    assert "TLSv1.3" in out
    assert re.search(r"issuer=CN ?= ?mitmproxy, O ?= ?mitmproxy", out), out
    assert "Verify return code: 0 (ok)" in out


# --------------------------------------------------------------------------- session resumption

@u.mitmdump_differs("runs a full upstream handshake on every connection")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_upstream_sessions_are_resumed(mitmc, pki, upstream, curl, version):
    """A second connection to the same server resumes the session of the first: no
    certificate sent, decoded and verified again. What a session holds still names the
    leaf (sniffing), and each client still gets a full exchange."""
    up = upstream(max_version=version)
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    for i in range(3):  # HTTP/1.1: the same ALPN offers as the last client (they key the session)
        r = curl(proxy.port, "https://127.0.0.1:%d/r%d" % (up.port, i), "--cacert", ca_cert(proxy), "--http1.1")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"hello /r%d" % i
    with tls_via_proxy(proxy.port, "127.0.0.1", up.port) as s:  # no SNI, as curl to an IP
        _, dns, ips = sans_of(s.getpeercert(binary_form=True))
        s.sendall(b"GET /leaf HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert u.read_response(u.Reader(s)).body == b"hello /leaf"
    assert {"alpha.test", "beta.test"} <= dns and "127.0.0.1" in ips, "names from the resumed session"
    assert up.paths == ["/r0", "/r1", "/r2", "/leaf"]
    assert up.reused == [False, True, True, True]


@u.mitmdump_differs("runs a full upstream handshake on every connection")
def test_sessions_are_kept_per_server_name(mitmc, pki, upstream, curl):
    """A session made for one SNI is not offered under another: that name is verified
    on its own first connection."""
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    for name in ("alpha.test", "beta.test", "alpha.test", "beta.test"):
        r = curl(proxy.port, "https://%s/%s" % (name, name), "--cacert", ca_cert(proxy),
                 "--connect-to", "%s:443:127.0.0.1:%d" % (name, up.port))
        assert r.returncode == 0, r.stderr
    assert up.reused == [False, False, True, True]


def test_upstream_chain_added_on_every_connection(mitmc, pki, upstream):
    """add_upstream_certs_to_client_chain: the server's certificate follows our leaf, on a
    first connection and on one that resumed the upstream session alike."""
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0],
                  "--set", "add_upstream_certs_to_client_chain=true")
    for _ in range(2):
        p = subprocess.run([OPENSSL, "s_client", "-proxy", "127.0.0.1:%d" % proxy.port, "-connect",
                            "127.0.0.1:%d" % up.port, "-servername", "alpha.test", "-showcerts", "-ign_eof"],
                           input=b"GET /c HTTP/1.1\r\nHost: alpha.test\r\nConnection: close\r\n\r\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        chain = re.findall(r"^ *(\d) s:(.*)\n *i:(.*)$", p.stdout.decode(), re.M)
        assert [(n, re.sub(r"\s", "", i)) for n, _, i in chain] == [
            ("0", "CN=mitmproxy,O=mitmproxy"), ("1", "CN=mitmctestCA")], p.stdout.decode()
        assert b"hello /c" in p.stdout
    if not u.IS_MITMDUMP:
        assert up.reused == [False, True]


@u.mitmdump_differs("runs a full upstream handshake on every connection")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_a_client_leaving_early_does_not_spoil_sessions(mitmc, pki, upstream, curl, version):
    """A client that rejects our certificate leaves after the upstream handshake, with no
    close_notify toward the server: that is no reason to stop resuming."""
    up = upstream(max_version=version)
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    url = "https://127.0.0.1:%d/" % up.port
    assert curl(proxy.port, url + "a", "--cacert", ca_cert(proxy)).returncode == 0
    assert curl(proxy.port, url + "x", "--cacert", pki.ca[0]).returncode == 60  # rejects our leaf
    for p in ("b", "c"):
        assert curl(proxy.port, url + p, "--cacert", ca_cert(proxy)).returncode == 0
    assert up.paths == ["/a", "/b", "/c"]
    assert up.reused == [False, True, True]


def test_a_session_is_only_resumed_for_the_name_it_was_verified_for(mitmc, pki, upstream):
    """No SNI is sent for an IP, but the IP the certificate is checked against still
    keys the session: a client asking for another IP is refused on its own merits, even
    after a connection that verified."""
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])

    def get(servername):
        argv = [OPENSSL, "s_client", "-proxy", "127.0.0.1:%d" % proxy.port, "-connect", "127.0.0.1:%d" % up.port,
                "-alpn", "http/1.1", "-quiet", "-ign_eof"] + (["-servername", servername] if servername else [])
        return subprocess.run(argv, input=b"GET /n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30).stdout

    assert get(None).startswith(b"HTTP/1.1 200"), "127.0.0.1 is in the certificate"
    out = get("127.0.0.9")
    assert out.startswith(b"HTTP/1.1 502"), out[:200]
    assert b"Certificate verify failed: IP address mismatch" in out
    assert up.paths == ["/n"]


def test_failed_verification_leaves_no_session(mitmc, pki, upstream, curl):
    """A refused server is refused again on the next connection: nothing from a failed
    handshake is remembered."""
    up = upstream("untrusted")
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    for _ in range(2):
        r = curl(proxy.port, "https://127.0.0.1:%d/refused" % up.port, "--cacert", ca_cert(proxy))
        assert r.returncode == 0, r.stderr
        assert b"Certificate verify failed: unable to get local issuer certificate" in r.stdout
    assert up.paths == []


# --------------------------------------------------------------------------- magic CRL

@u.mitmc_only  # mitmproxy 10.1+; Debian's 8.1.1 has no magic CRL
def test_magic_crl(mitmc, pki, upstream, curl):
    """An upstream certificate with a CRL distribution point: the leaf names one at the
    same origin with mitmproxy's magic path, and the proxy answers that path itself with
    an empty CRL signed by its CA (a client that checks revocation keeps working)."""
    up = upstream("withcrl")
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    ca = x509.load_pem_x509_certificate(open(ca_cert(proxy), "rb").read())
    path = "/mitmproxy-%d.crl" % ca.serial_number
    with tls_via_proxy(proxy.port, "127.0.0.1", up.port) as s:
        leaf = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
    dps = leaf.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert [n.value for dp in dps for n in dp.full_name] == ["http://crl.test" + path]
    for url in ("http://crl.test" + path, "http://anything.test/prefix" + path,
                "https://127.0.0.1:%d%s" % (up.port, path)):
        r = curl(proxy.port, url, "--cacert", ca_cert(proxy), "-D", "-")
        assert r.returncode == 0, r.stderr
        head, _, body = r.stdout.rpartition(b"\r\n\r\n")
        last = head.split(b"\r\n\r\n")[-1]  # after the CONNECT answer, for https
        assert last.startswith(b"HTTP/1.1 200"), r.stdout[:200]
        assert b"content-type: application/pkix-crl" in last.lower()
        crl = x509.load_der_x509_crl(body)
        assert crl.is_signature_valid(ca.public_key())
        assert crl.issuer == ca.subject and len(list(crl)) == 0
    assert up.paths == [], "answered by the proxy, never forwarded"
    # without a distribution point upstream, none on the leaf
    plain = upstream()
    with tls_via_proxy(proxy.port, "127.0.0.1", plain.port) as s:
        leaf = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)


# --------------------------------------------------------------------------- verification

ERRORS = [
    ("expired", "127.0.0.1", "certificate has expired"),
    ("good", "gamma.test", "hostname mismatch"),
    ("selfsigned", "127.0.0.1", "self-signed certificate"),
    ("untrusted", "127.0.0.1", "unable to get local issuer certificate"),
]


@pytest.mark.parametrize("kind,host,reason", ERRORS)
def test_upstream_cert_errors_are_502(mitmc, pki, upstream, curl, kind, host, reason):
    up = upstream(kind)
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    args = ["--cacert", ca_cert(proxy), "-D", "-"]
    url = "https://127.0.0.1:%d/refused" % up.port
    if host != "127.0.0.1":
        args += ["--connect-to", "%s:443:127.0.0.1:%d" % (host, up.port)]
        url = "https://%s/refused" % host
    r = curl(proxy.port, url, *args)
    assert r.returncode == 0, r.stderr  # the client handshake succeeds: the error is HTTP
    # curl -D - prints the proxy's CONNECT answer first
    connect_head, _, rest = r.stdout.partition(b"\r\n\r\n")
    assert connect_head.startswith(b"HTTP/1.1 200"), r.stdout
    # curl offered h2: with no server answer to mirror the proxy chose it (mitmproxy's HTTP_ALPNS)
    assert re.match(rb"HTTP/(1\.1|2) 502", rest), r.stdout
    assert ("Certificate verify failed: " + reason).encode() in r.stdout
    assert up.paths == [], "no request reached the server"


@pytest.mark.parametrize("flag", [["-k"], ["--ssl-insecure"], ["--set", "ssl_insecure=true"]])
@pytest.mark.parametrize("kind,host,reason", ERRORS)
def test_insecure_passes(mitmc, pki, upstream, curl, kind, host, reason, flag):
    up = upstream(kind)
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], *flag)
    args = ["--cacert", ca_cert(proxy)]
    url = "https://127.0.0.1:%d/ok" % up.port
    if host != "127.0.0.1":
        args += ["--connect-to", "%s:443:127.0.0.1:%d" % (host, up.port)]
        url = "https://%s/ok" % host
    r = curl(proxy.port, url, *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello /ok"


def test_system_trust_store_rejects_test_ca(mitmc, upstream, curl):
    up = upstream()
    proxy = mitmc()
    r = curl(proxy.port, "https://127.0.0.1:%d/x" % up.port, "--cacert", ca_cert(proxy))
    assert b"502" in r.stdout or b"Certificate verify failed" in r.stdout, r.stdout
    assert b"unable to get local issuer certificate" in r.stdout


def test_client_rejecting_our_cert_is_logged(mitmc, pki, upstream, curl):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    r = curl(proxy.port, "https://beta.test/x", "--cacert", pki.ca[0],
             "--connect-to", "beta.test:443:127.0.0.1:%d" % up.port)
    assert r.returncode == 60, r.stderr  # curl: peer certificate cannot be authenticated
    assert proxy.wait_stdout(r"client does not trust the proxy's certificate for beta\.test")
    assert up.paths == []
    # everyone else keeps being served
    r = curl(proxy.port, "https://127.0.0.1:%d/after" % up.port, "--cacert", ca_cert(proxy))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello /after"


def test_not_tls_after_handshake_start_is_closed(mitmc, pki, upstream):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    s = u.connect(proxy.port)
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % up.port)
    rd = u.Reader(s)
    assert rd.until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    s.sendall(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00")
    assert rd.at_eof()
    s.close()
    assert proxy.wait_stdout(r"invalid ClientHello")


# --------------------------------------------------------------------------- ignore / allow

def test_ignore_hosts_shows_real_certificate(mitmc, pki, upstream, curl):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], "--set", "ignore_hosts=^127\\.0\\.0\\.1")
    r = curl(proxy.port, "https://127.0.0.1:%d/ign" % up.port, "--cacert", pki.ca[0])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello /ign"
    # by SNI too
    proxy2 = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], "--set", "ignore_hosts=BETA\\.test")
    r = curl(proxy2.port, "https://beta.test/sni", "--cacert", pki.ca[0],
             "--connect-to", "beta.test:443:127.0.0.1:%d" % up.port)
    assert r.returncode == 0, r.stderr


def test_allow_hosts(mitmc, pki, upstream, curl):
    up = upstream()
    proxy = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0], "--set", "allow_hosts=beta\\.test")
    # allowed: intercepted (our CA)
    r = curl(proxy.port, "https://beta.test/a", "--cacert", ca_cert(proxy),
             "--connect-to", "beta.test:443:127.0.0.1:%d" % up.port)
    assert r.returncode == 0, r.stderr
    # not allowed: relayed (the upstream's real certificate)
    r = curl(proxy.port, "https://alpha.test/b", "--cacert", pki.ca[0],
             "--connect-to", "alpha.test:443:127.0.0.1:%d" % up.port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello /b"


# --------------------------------------------------------------------------- the CA

def test_fresh_confdirs_get_different_cas(binary, tmp_path):
    certs = []
    for name in ("a", "b"):
        d = tmp_path / name
        p = u.Proxy([binary, "dump", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % d],
                    dict(os.environ))
        p.stop()
        certs.append(open(d / "mitmproxy-ca-cert.pem", "rb").read())
        for secret in ("mitmproxy-ca.pem", "mitmproxy-ca.p12"):
            assert stat.S_IMODE(os.stat(d / secret).st_mode) == 0o600
    assert certs[0] != certs[1]


def test_ca_survives_restart(mitmc, pki, upstream, curl):
    up = upstream()
    p1 = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    before = open(ca_cert(p1), "rb").read()
    p1.stop()
    p2 = mitmc("--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0])
    assert open(ca_cert(p2), "rb").read() == before
    r = curl(p2.port, "https://127.0.0.1:%d/again" % up.port, "--cacert", ca_cert(p2))
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not os.access("/usr/bin/mitmdump", os.X_OK), reason="Debian's mitmproxy is not installed")
def test_mitmproxy_generated_ca_is_used(binary, tmp_path, pki, upstream, curl):
    up = upstream()
    d = tmp_path / "mitmproxy-conf"
    ref = u.Proxy(["/usr/bin/mitmdump", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % d],
                  dict(os.environ))
    ref.stop(check=False)
    theirs = open(d / "mitmproxy-ca-cert.pem", "rb").read()
    p = u.Proxy([binary, "dump", "--listen-host", "127.0.0.1", "-p", "0", "--set", "confdir=%s" % d,
                 "--set", "ssl_verify_upstream_trusted_ca=%s" % pki.ca[0]], dict(os.environ))
    try:
        r = curl(p.port, "https://127.0.0.1:%d/theirs" % up.port, "--cacert", str(d / "mitmproxy-ca-cert.pem"))
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"hello /theirs"
        assert open(d / "mitmproxy-ca-cert.pem", "rb").read() == theirs
    finally:
        p.stop()
