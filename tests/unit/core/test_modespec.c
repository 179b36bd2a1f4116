/* Mode specs as mitmproxy's mode_specs.py parses them. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/modespec.h"

static int parse(const char *s, struct mitm_mode_spec *m, char *err)
{
    return mitm_mode_spec_parse(s, m, err, 256);
}

Test(modespec, kinds_defaults_and_listen_addresses)
{
    struct mitm_mode_spec m;
    char err[256];
    cr_assert(parse("regular", &m, err) == 0, "%s", err);
    cr_assert_eq(m.kind, MITM_MODE_REGULAR);
    cr_assert_str_eq(m.description, "HTTP(S) proxy");
    cr_assert_eq(mitm_mode_spec_listen_port(&m, -1), 8080);
    cr_assert_eq(mitm_mode_spec_listen_port(&m, 9000), 9000, "listen_port applies");
    cr_assert_str_eq(mitm_mode_spec_listen_host(&m, "10.0.0.1"), "10.0.0.1");
    mitm_mode_spec_free(&m);
    cr_assert(parse("socks5@[::1]:1081", &m, err) == 0, "%s", err);
    cr_assert_eq(m.kind, MITM_MODE_SOCKS5);
    cr_assert_str_eq(m.listen_host, "::1");
    cr_assert_eq(mitm_mode_spec_listen_port(&m, 9000), 1081, "its own port wins");
    mitm_mode_spec_free(&m);
    cr_assert(parse("socks5", &m, err) == 0);
    cr_assert_eq(mitm_mode_spec_listen_port(&m, -1), 1080);
    mitm_mode_spec_free(&m);
    cr_assert(parse("transparent@0", &m, err) == 0);
    cr_assert_eq(m.listen_port, 0);
    cr_assert_null(m.listen_host);
    mitm_mode_spec_free(&m);
}

Test(modespec, reverse_and_upstream_targets)
{
    struct mitm_mode_spec m;
    char err[256];
    cr_assert(parse("reverse:example.com", &m, err) == 0, "%s", err);
    cr_assert_str_eq(m.scheme, "https", "reverse defaults to https");
    cr_assert_str_eq(m.host, "example.com");
    cr_assert_eq(m.port, 443);
    cr_assert_str_eq(m.description, "reverse proxy to example.com");
    mitm_mode_spec_free(&m);
    cr_assert(parse("reverse:http://[2001:db8::1]:8080/@127.0.0.1:8443", &m, err) == 0, "%s", err);
    cr_assert_str_eq(m.host, "2001:db8::1");
    cr_assert_eq(m.port, 8080);
    cr_assert_str_eq(m.listen_host, "127.0.0.1");
    cr_assert_eq(m.listen_port, 8443);
    mitm_mode_spec_free(&m);
    cr_assert(parse("upstream:proxy.test:3128", &m, err) == 0, "%s", err);
    cr_assert_str_eq(m.scheme, "http", "upstream defaults to http");
    cr_assert_eq(m.port, 3128);
    mitm_mode_spec_free(&m);
}

Test(modespec, refusals_with_mitmproxys_reasons)
{
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"bogus", "unknown mode"},
        {"regular:x", "mode takes no arguments"},
        {"regular@99999", "invalid port: 99999"},
        {"regular@x", "invalid port: x"},
        {"reverse:tcp://example.com", "Port specification missing."},
        {"reverse:ftp://example.com:21", "Invalid server scheme: ftp"},
        {"reverse:quic://example.com", "not supported by mitmc"},
        {"upstream:tls://p:1", "invalid upstream proxy scheme"},
        {"reverse:http://exa mple.com", "Invalid hostname"},
        {"reverse:http://example.com/path", "Invalid server specification"},
        {"wireguard", "wireguard mode is not supported by mitmc"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mitm_mode_spec m;
        char err[256];
        cr_assert(parse(bad[i].spec, &m, err) < 0, "%s parsed", bad[i].spec);
        cr_assert(strstr(err, bad[i].why), "%s: %s", bad[i].spec, err);
    }
}
