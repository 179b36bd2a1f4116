/* SOCKSv5 codec (src/proto/socks5/socks5.c). Every parser is checked on every prefix of its
 * input, each copied to an allocation of exactly that size (so ASan sees any read past it):
 * shorter than the message -> MITM_INCOMPLETE, from there on the same result. A small session
 * driver, written like the socks5 mode layer will be, replays whole client streams split in two
 * at every offset and byte by byte and must give the same replies, log and leftover bytes.
 * Inputs named curl_* are bytes curl 7.88 sent (tests/fuzz/corpus/socks5/). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5/socks5.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* ------------------------------------------------------------------ one parser, every prefix */

enum which { GREETING, GREETING_AUTH, AUTH, REQUEST };

struct res {
    ssize_t rc;
    uint8_t method, nmethods, rep, cmd, atyp;
    uint8_t methods[255];
    char host[256];
    uint16_t port;
    uint8_t user[256], pass[256];
    size_t ulen, plen;
    char err[MITM_SOCKS5_ERR_LEN];
};

static struct res parse(enum which w, const uint8_t *in, size_t len)
{
    struct res r;
    memset(&r, 0, sizeof(r));
    r.rep = 0xee; /* "not set" */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, in, len);
    if (w == GREETING || w == GREETING_AUTH) {
        struct mitm_socks5_greeting g;
        r.rc = mitm_socks5_parse_greeting(copy, len, w == GREETING_AUTH, &g, r.err, sizeof(r.err));
        if (r.rc > 0) {
            r.method = g.method;
            r.nmethods = g.nmethods;
            cr_assert(g.methods == copy + 2);
            memcpy(r.methods, g.methods, g.nmethods);
        }
    } else if (w == AUTH) {
        struct mitm_socks5_auth a;
        r.rc = mitm_socks5_parse_auth(copy, len, &a, r.err, sizeof(r.err));
        if (r.rc > 0) {
            cr_assert(a.username.base >= copy && a.username.base + a.username.len <= copy + r.rc);
            cr_assert(a.password.base >= copy && a.password.base + a.password.len <= copy + r.rc);
            r.ulen = a.username.len;
            r.plen = a.password.len;
            memcpy(r.user, a.username.base, r.ulen);
            memcpy(r.pass, a.password.base, r.plen);
        }
    } else {
        struct mitm_socks5_request q;
        r.rc = mitm_socks5_parse_request(copy, len, &q, &r.rep, r.err, sizeof(r.err));
        r.cmd = q.cmd;
        if (r.rc > 0) {
            r.atyp = q.atyp;
            r.port = q.port;
            memcpy(r.host, q.host, sizeof(r.host));
        }
    }
    free(copy);
    return r;
}

static void same(const struct res *a, const struct res *b, bool cmp_err, size_t k)
{
    cr_assert_eq(a->rc, b->rc, "prefix %zu: rc %zd vs %zd (%s)", k, a->rc, b->rc, b->err);
    cr_assert_eq(a->method, b->method, "prefix %zu", k);
    cr_assert_eq(a->nmethods, b->nmethods, "prefix %zu", k);
    cr_assert_eq(memcmp(a->methods, b->methods, sizeof(a->methods)), 0, "prefix %zu", k);
    cr_assert_eq(a->rep, b->rep, "prefix %zu", k);
    cr_assert_eq(a->cmd, b->cmd, "prefix %zu", k);
    cr_assert_eq(a->atyp, b->atyp, "prefix %zu", k);
    cr_assert_str_eq(a->host, b->host, "prefix %zu", k);
    cr_assert_eq(a->port, b->port, "prefix %zu", k);
    cr_assert_eq(a->ulen, b->ulen, "prefix %zu", k);
    cr_assert_eq(a->plen, b->plen, "prefix %zu", k);
    cr_assert_eq(memcmp(a->user, b->user, a->ulen), 0, "prefix %zu", k);
    cr_assert_eq(memcmp(a->pass, b->pass, a->plen), 0, "prefix %zu", k);
    if (a->rc != MITM_INCOMPLETE && a->rc != MITM_PARSE_ERROR)
        return;
    if (cmp_err)
        cr_assert_str_eq(a->err, b->err, "prefix %zu", k);
}

/* Parse in[0..len) whole and every prefix of it. Returns the whole result. cmp_err: the error
 * text must not depend on the prefix (false where it is a repr of the caller's buffer). */
static struct res check(enum which w, const uint8_t *in, size_t len, bool cmp_err)
{
    struct res whole = parse(w, in, len);
    size_t k0 = len + 1; /* first prefix with a result */
    for (size_t k = 0; k <= len; k++) {
        struct res p = parse(w, in, k);
        if (p.rc == MITM_INCOMPLETE && k0 > len)
            continue;
        if (k0 > len)
            k0 = k;
        same(&p, &whole, cmp_err, k);
    }
    if (whole.rc > 0)
        cr_assert_eq((size_t)whole.rc, k0, "a message is complete exactly at its length");
    return whole;
}

/* ------------------------------------------------------------------ greeting */

Test(socks5_greeting, curl_no_auth)
{
    struct res r = check(GREETING, S("\x05\x02\x00\x01"), true); /* curl: no auth, GSSAPI */
    cr_assert_eq(r.rc, 4);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_AUTH);
    cr_assert_eq(r.nmethods, 2);
    cr_assert_eq(r.methods[0], 0x00);
    cr_assert_eq(r.methods[1], 0x01);
}

Test(socks5_greeting, curl_proxy_user_with_auth_required)
{
    struct res r = check(GREETING_AUTH, S("\x05\x03\x00\x01\x02"), true);
    cr_assert_eq(r.rc, 5);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_USERPASS);
}

Test(socks5_greeting, userpass_offered_but_not_required_picks_no_auth)
{
    struct res r = check(GREETING, S("\x05\x03\x00\x01\x02"), true);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_AUTH);
}

Test(socks5_greeting, auth_required_but_not_offered)
{
    struct res r = check(GREETING_AUTH, S("\x05\x01\x00"), true);
    cr_assert_eq(r.rc, 3);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_ACCEPTABLE);
    cr_assert_str_eq(r.err, "Client does not support SOCKS5 with user/password authentication.");
}

Test(socks5_greeting, only_userpass_offered_without_auth)
{
    struct res r = check(GREETING, S("\x05\x01\x02"), true);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_ACCEPTABLE);
    cr_assert_str_eq(r.err, "Client does not support SOCKS5 with no authentication.");
}

Test(socks5_greeting, no_methods_offered)
{
    struct res r = check(GREETING, S("\x05\x00"), true);
    cr_assert_eq(r.rc, 2);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_ACCEPTABLE);
    r = check(GREETING_AUTH, S("\x05\x00"), true);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_ACCEPTABLE);
}

Test(socks5_greeting, all_255_methods_and_trailing_bytes_left)
{
    uint8_t in[2 + 255 + 3];
    in[0] = 5;
    in[1] = 255;
    for (int i = 0; i < 255; i++)
        in[2 + i] = (uint8_t)(254 - i); /* 0x02 near the end, 0x00 last */
    memcpy(in + 257, "\x05\x01\x00", 3);
    struct res r = check(GREETING_AUTH, in, sizeof(in), true);
    cr_assert_eq(r.rc, 257);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_USERPASS);
    r = check(GREETING, in, sizeof(in), true);
    cr_assert_eq(r.rc, 257);
    cr_assert_eq(r.method, MITM_SOCKS5_METHOD_NO_AUTH);
}

Test(socks5_greeting, http_request_guess_is_mitmproxys_text)
{
    struct res r = check(GREETING, S("GET / HTTP/1.1"), true);
    cr_assert_eq(r.rc, MITM_PARSE_ERROR);
    cr_assert_str_eq(r.err, "Probably not a SOCKS request but a regular HTTP request. Invalid SOCKS version. "
                            "Expected 0x05, got 0x47");
    r = check(GREETING, S("CONNECT example.test:80 HTTP/1.1\r\n\r\n"), true);
    cr_assert_str_eq(r.err, "Probably not a SOCKS request but a regular HTTP request. Invalid SOCKS version. "
                            "Expected 0x05, got 0x43");
}

Test(socks5_greeting, lower_case_is_no_guess)
{
    struct res r = check(GREETING, S("abcd"), true);
    cr_assert_eq(r.rc, MITM_PARSE_ERROR);
    cr_assert_str_eq(r.err, "Invalid SOCKS version. Expected 0x05, got 0x61");
}

Test(socks5_greeting, socks4_and_tls_guesses)
{
    struct res r = check(GREETING, S("\x04\x01\x1f\x90\x7f\x00\x00\x01\x00"), true); /* curl --socks4 */
    cr_assert_str_eq(r.err, "Probably not a SOCKS5 request but a SOCKS4 request. Invalid SOCKS version. "
                            "Expected 0x05, got 0x4");
    r = check(GREETING, S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), true);
    cr_assert_str_eq(r.err, "Probably not a SOCKS request but a TLS handshake. Invalid SOCKS version. "
                            "Expected 0x05, got 0x16");
}

Test(socks5_greeting, non_socks_waits_for_three_bytes)
{
    cr_assert_eq(parse(GREETING, S("G")).rc, MITM_INCOMPLETE);
    cr_assert_eq(parse(GREETING, S("GE")).rc, MITM_INCOMPLETE);
    cr_assert_eq(parse(GREETING, S("GET")).rc, MITM_PARSE_ERROR);
    cr_assert_eq(parse(GREETING, S("\x05")).rc, MITM_INCOMPLETE);
    cr_assert_eq(parse(GREETING, S("\x05\x02\x00")).rc, MITM_INCOMPLETE);
    cr_assert_eq(parse(GREETING, S("")).rc, MITM_INCOMPLETE);
}

Test(socks5_greeting, err_may_be_null_or_short)
{
    struct mitm_socks5_greeting g;
    cr_assert_eq(mitm_socks5_parse_greeting(S("GET /"), false, &g, NULL, 0), MITM_PARSE_ERROR);
    cr_assert_eq(mitm_socks5_parse_greeting(S("\x05\x01\x02"), false, &g, NULL, 0), 3);
    char small[10];
    cr_assert_eq(mitm_socks5_parse_greeting(S("GET /"), false, &g, small, sizeof(small)), MITM_PARSE_ERROR);
    cr_assert_str_eq(small, "Probably ");
}

/* ------------------------------------------------------------------ auth */

Test(socks5_auth, curl_user_pass)
{
    struct res r = check(AUTH, S("\x01\x04user\x09pass word"), true);
    cr_assert_eq(r.rc, 16);
    cr_assert_eq(r.ulen, 4);
    cr_assert_eq(memcmp(r.user, "user", 4), 0);
    cr_assert_eq(r.plen, 9);
    cr_assert_eq(memcmp(r.pass, "pass word", 9), 0);
}

Test(socks5_auth, empty_and_binary_credentials_are_the_hooks_business)
{
    struct res r = check(AUTH, S("\x01\x00\x00"), true);
    cr_assert_eq(r.rc, 3);
    cr_assert_eq(r.ulen, 0);
    cr_assert_eq(r.plen, 0);
    r = check(AUTH, S("\x01\x01u\x00"), true); /* curl --proxy-user u: */
    cr_assert_eq(r.rc, 4);
    cr_assert_eq(r.plen, 0);
    r = check(AUTH,
              S("\x01\x02\x00\xff\x01\x0a"
                "trailing"),
              true);
    cr_assert_eq(r.rc, 6);
    cr_assert_eq(memcmp(r.user, "\x00\xff", 2), 0);
    cr_assert_eq(r.pass[0], '\n');
}

Test(socks5_auth, longest)
{
    uint8_t in[MITM_SOCKS5_AUTH_MAX];
    in[0] = 1;
    in[1] = 255;
    memset(in + 2, 'u', 255);
    in[257] = 255;
    memset(in + 258, 'p', 255);
    struct res r = check(AUTH, in, sizeof(in), true);
    cr_assert_eq(r.rc, MITM_SOCKS5_AUTH_MAX);
    cr_assert_eq(r.ulen, 255);
    cr_assert_eq(r.plen, 255);
}

Test(socks5_auth, wrong_version)
{
    struct res r = check(AUTH, S("\x05\x04user\x08password"), true);
    cr_assert_eq(r.rc, MITM_PARSE_ERROR);
    cr_assert_str_eq(r.err, "Invalid SOCKS5 username/password version. Expected 0x01, got 0x5");
}

/* ------------------------------------------------------------------ request */

Test(socks5_request, curl_ipv4)
{
    struct res r = check(REQUEST, S("\x05\x01\x00\x01\x7f\x00\x00\x01\x1f\x90"), true);
    cr_assert_eq(r.rc, 10);
    cr_assert_eq(r.atyp, MITM_SOCKS5_ATYP_IPV4);
    cr_assert_eq(r.cmd, MITM_SOCKS5_CMD_CONNECT);
    cr_assert_str_eq(r.host, "127.0.0.1");
    cr_assert_eq(r.port, 8080);
    cr_assert_eq(r.rep, 0xee, "rep is only set on errors");
}

Test(socks5_request, curl_ipv6)
{
    struct res r = check(REQUEST,
                         S("\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
                           "\x01\xbb"),
                         true);
    cr_assert_eq(r.rc, 22);
    cr_assert_eq(r.atyp, MITM_SOCKS5_ATYP_IPV6);
    cr_assert_str_eq(r.host, "2001:db8::1");
    cr_assert_eq(r.port, 443);
}

Test(socks5_request, ipv6_loopback_and_mapped_as_mitmproxy_shows_them)
{
    struct res r = check(
        REQUEST,
        S("\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x12\x34"), true);
    cr_assert_str_eq(r.host, "::1");
    cr_assert_eq(r.port, 0x1234);
    r = check(REQUEST,
              S("\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04\x00\x50"),
              true);
    cr_assert_str_eq(r.host, "::ffff:1.2.3.4");
}

Test(socks5_request, curl_hostname_and_application_data_left)
{
    struct res r = check(REQUEST,
                         S("\x05\x01\x00\x03\x0c"
                           "example.test\x00\x50"
                           "GET / HTTP/1.1\r\n"),
                         true);
    cr_assert_eq(r.rc, 19);
    cr_assert_eq(r.atyp, MITM_SOCKS5_ATYP_DOMAIN);
    cr_assert_str_eq(r.host, "example.test");
    cr_assert_eq(r.port, 80);
}

Test(socks5_request, longest_domain_and_port_zero)
{
    uint8_t in[MITM_SOCKS5_REQUEST_MAX];
    memcpy(in, "\x05\x01\x00\x03\xff", 5);
    memset(in + 5, 'a', 255);
    in[260] = 0;
    in[261] = 0;
    struct res r = check(REQUEST, in, sizeof(in), true);
    cr_assert_eq(r.rc, MITM_SOCKS5_REQUEST_MAX);
    cr_assert_eq(strlen(r.host), 255);
    cr_assert_eq(r.port, 0);
}

Test(socks5_request, domain_that_is_an_ip_literal_is_kept_as_sent)
{
    struct res r = check(REQUEST, S("\x05\x01\x00\x03\x05[::1]\x01\xbb"), true);
    cr_assert_str_eq(r.host, "[::1]");
}

Test(socks5_request, bind_is_reported_with_mitmproxys_text)
{
    /* mitmproxy's own test vector (test_modes.py test_socks5_err) */
    struct res r = check(REQUEST, S("\x05\x02\x00\x01\x7f\x00\x00\x01\x12\x34"), false);
    cr_assert_eq(r.rc, MITM_PARSE_ERROR);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED);
    cr_assert_eq(r.cmd, MITM_SOCKS5_CMD_BIND);
    cr_assert_str_eq(r.err, "Unsupported SOCKS5 request: b'\\x05\\x02\\x00\\x01\\x7f\\x00\\x00\\x01\\x124'");
}

Test(socks5_request, udp_associate_unknown_command_bad_version_bad_rsv)
{
    struct res r = check(REQUEST, S("\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"), false);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED);
    cr_assert_eq(r.cmd, MITM_SOCKS5_CMD_UDP_ASSOCIATE);
    r = check(REQUEST, S("\x05\x09\x00\x01\x00\x00\x00\x00\x00\x00"), false);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED);
    cr_assert_eq(r.cmd, 9);
    r = check(REQUEST, S("\x04\x01\x00\x01\x00\x00\x00\x00\x00\x00"), false);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED);
    cr_assert_str_eq(r.err,
                     "Unsupported SOCKS5 request: b'\\x04\\x01\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00'");
    r = check(REQUEST, S("\x05\x01\x01\x01\x00\x00\x00\x00\x00\x00"), false);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED);
    cr_assert_eq(r.cmd, MITM_SOCKS5_CMD_CONNECT);
    /* the command is checked before the address type, as mitmproxy does */
    r = check(REQUEST, S("\x05\x02\x00\xff"), false);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED);
}

Test(socks5_request, unknown_address_type)
{
    /* mitmproxy's test vector */
    struct res r = check(REQUEST, S("\x05\x01\x00\xff\x00\x00"), true);
    cr_assert_eq(r.rc, MITM_PARSE_ERROR);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED);
    cr_assert_str_eq(r.err, "Unknown address type: 255");
    r = check(REQUEST, S("\x05\x01\x00\x02"), true);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED);
    cr_assert_str_eq(r.err, "Unknown address type: 2");
    r = check(REQUEST, S("\x05\x01\x00\x00"), true);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED);
}

Test(socks5_request, invalid_domain_names)
{
    struct res r = check(REQUEST, S("\x05\x01\x00\x03\x00\x00\x50"), true);
    cr_assert_eq(r.rc, MITM_PARSE_ERROR);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_HOST_UNREACHABLE);
    cr_assert_str_eq(r.err, "Invalid domain name in SOCKS5 request: b''");
    r = check(REQUEST,
              S("\x05\x01\x00\x03\x03"
                "a\x00"
                "b\x00\x50"),
              true);
    cr_assert_eq(r.rep, MITM_SOCKS5_REP_HOST_UNREACHABLE);
    cr_assert_str_eq(r.err, "Invalid domain name in SOCKS5 request: b'a\\x00b'");
    static const char *bad[] = {"a b", "a\rb", "a\nb", "\x7f", "caf\xc3\xa9", "\t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        uint8_t in[64] = {5, 1, 0, 3};
        size_t n = strlen(bad[i]);
        in[4] = (uint8_t)n;
        memcpy(in + 5, bad[i], n);
        in[5 + n] = 0;
        in[6 + n] = 80;
        r = check(REQUEST, in, 7 + n, true);
        cr_assert_eq(r.rc, MITM_PARSE_ERROR, "%s", bad[i]);
        cr_assert_eq(r.rep, MITM_SOCKS5_REP_HOST_UNREACHABLE);
    }
}

/* ------------------------------------------------------------------ guesses, texts, writers */

Test(socks5_guess, classes)
{
    cr_assert_eq(mitm_socks5_guess(S("GET")), MITM_SOCKS5_GUESS_HTTP);
    cr_assert_eq(mitm_socks5_guess(S("PRI * HTTP/2.0")), MITM_SOCKS5_GUESS_HTTP);
    cr_assert_eq(mitm_socks5_guess(S("G\x00\x01")), MITM_SOCKS5_GUESS_HTTP); /* like bytes.isupper */
    cr_assert_eq(mitm_socks5_guess(S("Get")), MITM_SOCKS5_GUESS_NONE);
    cr_assert_eq(mitm_socks5_guess(S("\x00\x01\x02")), MITM_SOCKS5_GUESS_NONE);
    cr_assert_eq(mitm_socks5_guess(S("GETs")), MITM_SOCKS5_GUESS_HTTP, "only 3 bytes are looked at");
    cr_assert_eq(mitm_socks5_guess(S("\x04\x01"
                                     "AB")),
                 MITM_SOCKS5_GUESS_SOCKS4, "before the HTTP test");
    cr_assert_eq(mitm_socks5_guess(S("\x04\x02\x00")), MITM_SOCKS5_GUESS_SOCKS4);
    cr_assert_eq(mitm_socks5_guess(S("\x04\x03\x00")), MITM_SOCKS5_GUESS_NONE);
    cr_assert_eq(mitm_socks5_guess(S("\x16\x03\x01")), MITM_SOCKS5_GUESS_TLS);
    cr_assert_eq(mitm_socks5_guess(S("\x16\x03\x04")), MITM_SOCKS5_GUESS_NONE);
    cr_assert_eq(mitm_socks5_guess(S("\x16\x03")), MITM_SOCKS5_GUESS_NONE);
    cr_assert_eq(mitm_socks5_guess(S("")), MITM_SOCKS5_GUESS_NONE);
    cr_assert_str_eq(mitm_socks5_guess_text(MITM_SOCKS5_GUESS_NONE), "");
}

static void expect_repr(const char *in, size_t n, const char *want)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_socks5_repr(&b, (const uint8_t *)in, n), 0);
    cr_assert_eq(b.len, strlen(want), "%.*s", (int)b.len, (const char *)mitm_buf_data(&b));
    cr_assert_eq(memcmp(mitm_buf_data(&b), want, b.len), 0, "%.*s", (int)b.len,
                 (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
}

Test(socks5_text, repr_like_python)
{
    /* expected values printed by /usr/bin/python3 repr() */
    expect_repr("", 0, "b''");
    expect_repr("it's", 4, "b\"it's\"");
    expect_repr("say \"hi\"", 8, "b'say \"hi\"'");
    expect_repr("both ' and \"", 12, "b'both \\' and \"'");
    expect_repr("\\\t\n\r\x00\x1f\x7f\x80\xff ~", 11, "b'\\\\\\t\\n\\r\\x00\\x1f\\x7f\\x80\\xff ~'");
    struct mitm_buf capped;
    mitm_buf_init(&capped, 4);
    cr_assert_eq(mitm_socks5_repr(&capped, (const uint8_t *)"abc", 3), -1);
    cr_assert_eq(capped.len, 0, "nothing appended when refused");
    mitm_buf_free(&capped);
}

Test(socks5_text, eof_and_cut_repr)
{
    char err[MITM_SOCKS5_ERR_LEN];
    mitm_socks5_eof_text(S("\x05"), err, sizeof(err));
    cr_assert_str_eq(err, "Client closed connection before completing SOCKS5 handshake: b'\\x05'");
    mitm_socks5_eof_text(S(""), err, sizeof(err));
    cr_assert_str_eq(err, "");
    char small[70]; /* prefix (61) + "b'" + one \x05 = 67 chars; a second escape would need 71 */
    mitm_socks5_eof_text(S("\x05\x05\x05"), small, sizeof(small));
    cr_assert_str_eq(small, "Client closed connection before completing SOCKS5 handshake: b'\\x05");
    char tiny[8];
    mitm_socks5_eof_text(S("\x05"), tiny, sizeof(tiny));
    cr_assert_str_eq(tiny, "Client ");
    mitm_socks5_eof_text(S("\x05"), NULL, 0);
}

Test(socks5_text, long_buffer_repr_is_cut_not_overflowed)
{
    uint8_t in[4096];
    memset(in, 0xff, sizeof(in));
    in[0] = 5;
    in[1] = 2;
    in[2] = 0;
    char err[MITM_SOCKS5_ERR_LEN];
    struct mitm_socks5_request q;
    uint8_t rep = 0;
    cr_assert_eq(mitm_socks5_parse_request(in, sizeof(in), &q, &rep, err, sizeof(err)), MITM_PARSE_ERROR);
    cr_assert_lt(strlen(err), sizeof(err));
    cr_assert(strncmp(err, "Unsupported SOCKS5 request: b'\\x05\\x02\\x00\\xff", 46) == 0, "%s", err);
    cr_assert_eq(strlen(err) % 4, (strlen("Unsupported SOCKS5 request: b'")) % 4, "whole escapes only");
}

static void expect_bytes(const struct mitm_buf *b, const char *want, size_t n)
{
    cr_assert_eq(b->len, n);
    cr_assert_eq(memcmp(mitm_buf_data(b), want, n), 0);
}

Test(socks5_write, replies_as_mitmproxy_sends_them)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_socks5_write_method(&b, MITM_SOCKS5_METHOD_NO_AUTH);
    expect_bytes(&b, "\x05\x00", 2);
    mitm_buf_consume(&b, b.len);
    mitm_socks5_write_method(&b, MITM_SOCKS5_METHOD_NO_ACCEPTABLE);
    expect_bytes(&b, "\x05\xff", 2);
    mitm_buf_consume(&b, b.len);
    mitm_socks5_write_auth_reply(&b, true);
    mitm_socks5_write_auth_reply(&b, false);
    expect_bytes(&b, "\x01\x00\x01\x01", 4);
    mitm_buf_consume(&b, b.len);
    mitm_socks5_write_reply(&b, MITM_SOCKS5_REP_SUCCEEDED);
    expect_bytes(&b, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", MITM_SOCKS5_REPLY_LEN);
    mitm_buf_consume(&b, b.len);
    mitm_socks5_write_reply(&b, MITM_SOCKS5_REP_HOST_UNREACHABLE);
    expect_bytes(&b, "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    mitm_buf_free(&b);
    struct mitm_buf capped;
    mitm_buf_init(&capped, 9);
    cr_assert_eq(mitm_socks5_write_reply(&capped, 0), -1);
    cr_assert_eq(capped.len, 0);
    mitm_buf_free(&capped);
}

Test(socks5_write, hostport)
{
    char out[64];
    cr_assert_eq(mitm_socks5_hostport(out, sizeof(out), "2001:db8::1", 443), 17);
    cr_assert_str_eq(out, "[2001:db8::1]:443");
    mitm_socks5_hostport(out, sizeof(out), "127.0.0.1", 80);
    cr_assert_str_eq(out, "127.0.0.1:80");
    mitm_socks5_hostport(out, sizeof(out), "example.test", 65535);
    cr_assert_str_eq(out, "example.test:65535");
    cr_assert_eq(mitm_socks5_hostport(out, 6, "::1", 8080), 10);
    cr_assert_str_eq(out, "[::1]");
}

/* ------------------------------------------------------------------ whole sessions, every split */

/* What a mode layer built on the codec does with a client stream: the replies it sends, the
 * line it logs, where the stream ends up, and the bytes left for the next layer. */
struct outcome {
    struct mitm_buf replies;
    char log[MITM_SOCKS5_ERR_LEN];
    int state; /* 0 greeting, 1 auth, 2 request, 3 connected, 4 closed */
    char host[256];
    uint16_t port;
    struct mitm_buf rest;
};

struct session_spec {
    bool auth_required;
    const char *user, *pass; /* the credentials the socks5_auth hook accepts */
};

static bool step(const struct session_spec *sp, struct mitm_buf *in, struct outcome *o)
{
    const uint8_t *p = mitm_buf_data(in);
    size_t n = in->len;
    ssize_t r;
    if (o->state == 0) {
        struct mitm_socks5_greeting g;
        r = mitm_socks5_parse_greeting(p, n, sp->auth_required, &g, o->log, sizeof(o->log));
        if (r == MITM_INCOMPLETE)
            return false;
        if (r > 0)
            mitm_socks5_write_method(&o->replies, g.method);
        o->state = r < 0 || g.method == MITM_SOCKS5_METHOD_NO_ACCEPTABLE ? 4 : sp->auth_required ? 1 : 2;
    } else if (o->state == 1) {
        struct mitm_socks5_auth a;
        r = mitm_socks5_parse_auth(p, n, &a, o->log, sizeof(o->log));
        if (r == MITM_INCOMPLETE)
            return false;
        bool ok = r > 0 && mitm_slice_eq(a.username, mitm_slice_str(sp->user)) &&
                  mitm_slice_eq(a.password, mitm_slice_str(sp->pass));
        mitm_socks5_write_auth_reply(&o->replies, ok);
        if (r > 0 && !ok)
            snprintf(o->log, sizeof(o->log), "%s", MITM_SOCKS5_AUTH_FAILED_MSG);
        o->state = ok ? 2 : 4;
    } else if (o->state == 2) {
        struct mitm_socks5_request q;
        uint8_t rep = 0;
        r = mitm_socks5_parse_request(p, n, &q, &rep, o->log, sizeof(o->log));
        if (r == MITM_INCOMPLETE)
            return false;
        mitm_socks5_write_reply(&o->replies, r > 0 ? MITM_SOCKS5_REP_SUCCEEDED : rep);
        if (r > 0) {
            memcpy(o->host, q.host, sizeof(o->host));
            o->port = q.port;
        }
        o->state = r > 0 ? 3 : 4;
    } else {
        return false;
    }
    if (r > 0)
        mitm_buf_consume(in, (size_t)r);
    return o->state != 4;
}

/* Feed in[0..len) in pieces ending at each cut (ascending, the last one len), then EOF. */
static void run_session(const struct session_spec *sp, const uint8_t *in, size_t len, const size_t *cuts,
                        size_t ncuts, struct outcome *o)
{
    cr_assert(ncuts > 0 && cuts[ncuts - 1] == len);
    memset(o, 0, sizeof(*o));
    mitm_buf_init(&o->replies, 0);
    mitm_buf_init(&o->rest, 0);
    struct mitm_buf buf;
    mitm_buf_init(&buf, MITM_SOCKS5_GREETING_MAX + MITM_SOCKS5_AUTH_MAX + MITM_SOCKS5_REQUEST_MAX);
    size_t at = 0;
    for (size_t c = 0; c < ncuts && o->state != 4; c++) {
        if (o->state == 3) {
            mitm_buf_append(&o->rest, in + at, cuts[c] - at);
        } else {
            cr_assert_eq(mitm_buf_append(&buf, in + at, cuts[c] - at), 0, "handshake over its cap");
            while (step(sp, &buf, o))
                ;
            if (o->state == 3) { /* what the next layer gets */
                mitm_buf_append(&o->rest, mitm_buf_data(&buf), buf.len);
                mitm_buf_consume(&buf, buf.len);
            }
        }
        at = cuts[c];
    }
    if (o->state < 3)
        mitm_socks5_eof_text(mitm_buf_data(&buf), buf.len, o->log, sizeof(o->log));
    mitm_buf_free(&buf);
}

static void outcome_free(struct outcome *o)
{
    mitm_buf_free(&o->replies);
    mitm_buf_free(&o->rest);
}

static void same_outcome(const struct outcome *a, const struct outcome *b, bool cmp_log, const char *how)
{
    cr_assert(mitm_slice_eq(mitm_buf_slice(&a->replies), mitm_buf_slice(&b->replies)), "%s: replies", how);
    cr_assert_eq(a->state, b->state, "%s: state", how);
    cr_assert_str_eq(a->host, b->host, "%s", how);
    cr_assert_eq(a->port, b->port, "%s", how);
    cr_assert(mitm_slice_eq(mitm_buf_slice(&a->rest), mitm_buf_slice(&b->rest)), "%s: rest", how);
    if (cmp_log)
        cr_assert_str_eq(a->log, b->log, "%s", how);
}

/* Run whole, split in two at every offset, and byte by byte; all must agree. Returns whole. */
static void check_session(const struct session_spec *sp, const uint8_t *in, size_t len, bool cmp_log,
                          struct outcome *whole)
{
    size_t all[1] = {len};
    run_session(sp, in, len, all, 1, whole);
    for (size_t k = 0; k <= len; k++) {
        size_t two[2] = {k, len};
        struct outcome o;
        char how[32];
        snprintf(how, sizeof(how), "split at %zu", k);
        run_session(sp, in, len, two, 2, &o);
        same_outcome(whole, &o, cmp_log, how);
        outcome_free(&o);
    }
    size_t *bytes = malloc((len ? len : 1) * sizeof(size_t));
    for (size_t k = 0; k < len; k++)
        bytes[k] = k + 1;
    struct outcome o;
    run_session(sp, in, len, bytes, len, &o);
    same_outcome(whole, &o, cmp_log, "byte by byte");
    outcome_free(&o);
    free(bytes);
}

static const struct session_spec noauth = {false, NULL, NULL};
static const struct session_spec withauth = {true, "user", "pass word"};

#define OK_REPLY "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"

Test(socks5_session, curl_hostname)
{
    static const char in[] = "\x05\x02\x00\x01"
                             "\x05\x01\x00\x03\x0c"
                             "example.test\x00\x50"
                             "GET /path HTTP/1.1\r\n\r\n";
    struct outcome o;
    check_session(&noauth, S(in), true, &o);
    expect_bytes(&o.replies, "\x05\x00" OK_REPLY, 12);
    cr_assert_eq(o.state, 3);
    cr_assert_str_eq(o.host, "example.test");
    cr_assert_eq(o.port, 80);
    expect_bytes(&o.rest, "GET /path HTTP/1.1\r\n\r\n", 22);
    outcome_free(&o);
}

Test(socks5_session, curl_proxy_user)
{
    static const char in[] = "\x05\x03\x00\x01\x02"
                             "\x01\x04user\x09pass word"
                             "\x05\x01\x00\x01\xc0\x00\x02\x07\x00\x50";
    struct outcome o;
    check_session(&withauth, S(in), true, &o);
    expect_bytes(&o.replies, "\x05\x02\x01\x00" OK_REPLY, 14);
    cr_assert_eq(o.state, 3);
    cr_assert_str_eq(o.host, "192.0.2.7");
    cr_assert_eq(o.rest.len, 0);
    outcome_free(&o);
}

Test(socks5_session, wrong_password)
{
    static const char in[] = "\x05\x02\x00\x02"
                             "\x01\x04user\x07"
                             "errcode"
                             "\x05\x01\x00\x01\x7f\x00\x00\x01\x12\x34";
    struct outcome o;
    check_session(&withauth, S(in), true, &o);
    expect_bytes(&o.replies, "\x05\x02\x01\x01", 4);
    cr_assert_eq(o.state, 4);
    cr_assert_str_eq(o.log, "authentication failed");
    outcome_free(&o);
}

Test(socks5_session, http_client_on_the_socks_port)
{
    static const char in[] = "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n";
    struct outcome o;
    check_session(&noauth, S(in), true, &o);
    cr_assert_eq(o.replies.len, 0);
    cr_assert_eq(o.state, 4);
    cr_assert_str_eq(o.log, "Probably not a SOCKS request but a regular HTTP request. Invalid SOCKS version. "
                            "Expected 0x05, got 0x47");
    outcome_free(&o);
}

Test(socks5_session, bind_after_greeting)
{
    static const char in[] = "\x05\x01\x00"
                             "\x05\x02\x00\x01\x7f\x00\x00\x01\x12\x34";
    struct outcome o;
    check_session(&noauth, S(in), false, &o);
    expect_bytes(&o.replies, "\x05\x00\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    cr_assert_eq(o.state, 4);
    cr_assert_str_eq(o.log, "Unsupported SOCKS5 request: b'\\x05\\x02\\x00\\x01\\x7f\\x00\\x00\\x01\\x124'");
    outcome_free(&o);
}

Test(socks5_session, no_acceptable_method)
{
    struct outcome o;
    check_session(&withauth, S("\x05\x01\x00"), true, &o);
    expect_bytes(&o.replies, "\x05\xff", 2);
    cr_assert_eq(o.state, 4);
    cr_assert_str_eq(o.log, "Client does not support SOCKS5 with user/password authentication.");
    outcome_free(&o);
}

Test(socks5_session, client_closes_mid_handshake)
{
    struct outcome o;
    check_session(&noauth, S("\x05\x01\x00\x05\x01"), true, &o);
    expect_bytes(&o.replies, "\x05\x00", 2);
    cr_assert_eq(o.state, 2);
    cr_assert_str_eq(o.log, "Client closed connection before completing SOCKS5 handshake: b'\\x05\\x01'");
    outcome_free(&o);
    check_session(&noauth, S("GE"), true, &o);
    cr_assert_str_eq(o.log, "Client closed connection before completing SOCKS5 handshake: b'GE'");
    outcome_free(&o);
}
