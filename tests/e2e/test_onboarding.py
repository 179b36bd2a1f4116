"""The onboarding app (mitm.it): answered by the proxy itself, serving the CA certificate
in its public forms and never the private key."""
import os
import re

import e2e_util as u


def confdir_of(proxy):
    return re.search(r"confdir=(\S+)", " ".join(proxy.argv)).group(1)


def test_page_and_certificates(proxy, curl):
    seen = []
    r = curl(proxy.port, "http://mitm.it/", "-D", "-")
    assert r.returncode == 0, r.stderr
    seen.append(r.stdout)
    assert r.stdout.startswith(b"HTTP/1.1 200")
    assert b"/cert/pem" in r.stdout and b"/cert/p12" in r.stdout and b"/cert/cer" in r.stdout
    conf = confdir_of(proxy)
    for ext in ("pem", "cer", "p12"):
        r = curl(proxy.port, "http://mitm.it/cert/%s" % ext)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(conf, "mitmproxy-ca-cert.%s" % ext), "rb") as f:
            assert r.stdout == f.read(), ext
        seen.append(r.stdout)
    r = curl(proxy.port, "http://mitm.it/cert/pem", "-D", "-")
    assert b"attachment; filename=mitmproxy-ca-cert.pem" in r.stdout
    # anything else on the host: 404, and still never the key
    for path in ("/cert/key", "/../mitmproxy-ca.pem", "/cert/pem/../../mitmproxy-ca.pem", "/nothing"):
        r = curl(proxy.port, "http://mitm.it" + path, "--path-as-is", "-D", "-")
        seen.append(r.stdout)
        assert r.stdout.startswith(b"HTTP/1.1 404"), (path, r.stdout[:200])
    for body in seen:
        assert b"PRIVATE KEY" not in body


def test_any_port_and_case(proxy, curl):
    r = curl(proxy.port, "http://MITM.IT:8080/cert/pem")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"-----BEGIN CERTIFICATE-----")


def test_disabled(mitmc, curl):
    p = mitmc("--set", "onboarding=false", "--set", "connect_timeout=5")
    r = curl(p.port, "http://mitm.it/", "-D", "-")
    assert not r.stdout.startswith(b"HTTP/1.1 200"), r.stdout[:200]


def test_custom_host(mitmc, curl):
    p = mitmc("--set", "onboarding_host=setup.example")
    r = curl(p.port, "http://setup.example/")
    assert r.returncode == 0
    assert b"/cert/pem" in r.stdout
