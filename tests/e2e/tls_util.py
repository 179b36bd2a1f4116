"""TLS helpers shared by the end-to-end tests: a test PKI made with the openssl command line,
a Python HTTPS upstream, CONNECT + TLS through the proxy, certificate inspection."""
import http.server
import os
import re
import ssl
import subprocess
import threading

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

import e2e_util as u

OPENSSL = "/usr/bin/openssl"


def run(*argv, cwd=None):
    p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       cwd=cwd, timeout=60)
    assert p.returncode == 0, "%r failed: %s" % (argv, p.stderr.decode(errors="replace"))
    return p


class Pki:
    """A test CA, a second (untrusted) CA, and server certificates signed in various ways."""

    def __init__(self, d):
        self.d = str(d)
        self.ca = self._ca("ca", "mitmc test CA")
        self.other_ca = self._ca("otherca", "untrusted test CA")
        sans = "DNS:alpha.test,DNS:beta.test,IP:127.0.0.1"
        self.good = self._leaf("good", self.ca, "alpha.test", sans, 30)
        self.expired = self._leaf("expired", self.ca, "alpha.test", sans, -1)
        self.untrusted = self._leaf("untrusted", self.other_ca, "alpha.test", sans, 30)
        self.selfsigned = self._selfsigned("selfsigned", sans)
        self.withcrl = self._leaf("withcrl", self.ca, "alpha.test", sans, 30,
                                  extra="crlDistributionPoints=URI:http://crl.test/ca/root.crl\n")

    def p(self, name):
        return os.path.join(self.d, name)

    def _key(self, name):
        run(OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.p(name + ".key"))
        return self.p(name + ".key")

    def _ca(self, name, cn):
        key = self._key(name)
        run(OPENSSL, "req", "-x509", "-new", "-key", key, "-out", self.p(name + ".pem"), "-days", "30",
            "-subj", "/CN=%s" % cn, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return (self.p(name + ".pem"), key)

    def _leaf(self, name, ca, cn, sans, days, extra=""):
        key = self._key(name)
        run(OPENSSL, "req", "-new", "-key", key, "-out", self.p(name + ".csr"), "-subj", "/CN=%s/O=Upstream Org" % cn)
        with open(self.p(name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n%s" % (sans, extra))
        run(OPENSSL, "x509", "-req", "-in", self.p(name + ".csr"), "-CA", ca[0], "-CAkey", ca[1],
            "-CAcreateserial", "-out", self.p(name + ".pem"), "-days", str(days), "-extfile", self.p(name + ".ext"))
        return (self.p(name + ".pem"), key)

    def _selfsigned(self, name, sans):
        key = self._key(name)
        run(OPENSSL, "req", "-x509", "-new", "-key", key, "-out", self.p(name + ".pem"), "-days", "30",
            "-subj", "/CN=alpha.test", "-addext", "subjectAltName=%s" % sans)
        return (self.p(name + ".pem"), key)


class TlsUpstream:
    """HTTPS server on 127.0.0.1:0 (http/1.1 ALPN). GET /x answers "hello /x"; .paths
    records every request that arrived (so a refused one provably never did), .reused
    whether its connection resumed a TLS session."""

    def __init__(self, cert, max_version=None):
        self.paths = []
        self.reused = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.paths.append(self.path)
                outer.reused.append(self.connection.session_reused)
                body = ("hello " + self.path).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Upstream", "tls")
                self.end_headers()
                self.wfile.write(body)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert[0], cert[1])
        ctx.set_alpn_protocols(["http/1.1"])
        if max_version:
            ctx.maximum_version = max_version
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        # the handshake runs in the handler thread on first read, not in accept(): a
        # client that never sends a ClientHello cannot wedge the server (or its shutdown)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def confdir_of(proxy):
    m = re.search(r"confdir=(\S+)", " ".join(proxy.argv))
    return m.group(1)


def ca_cert(proxy):
    return os.path.join(confdir_of(proxy), "mitmproxy-ca-cert.pem")


def tls_via_proxy(proxy_port, host, port, sni=None, cafile=None):
    """CONNECT through the proxy, then a TLS handshake; returns the SSLSocket."""
    s = u.connect(proxy_port)
    s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
    head = u.Reader(s).until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx.wrap_socket(s, server_hostname=sni)


def sans_of(der):
    cert = x509.load_der_x509_certificate(der)
    ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    return cert, set(ext.get_values_for_type(x509.DNSName)), set(str(i) for i in ext.get_values_for_type(x509.IPAddress))


def pubkey_der(cert):
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
