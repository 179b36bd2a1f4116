/* The next-layer decision's pure parts: mitmproxy's "probably not HTTP" test and the
 * ignore_hosts / allow_hosts / tcp_hosts matching (next_layer.py _ignore_connection). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/options.h"
#include "proto/next.h"

static struct mitm_options o;

static void setup(void)
{
    mitm_options_init(&o);
}

static void teardown(void)
{
    mitm_options_free(&o);
}

TestSuite(next, .init = setup, .fini = teardown);

static struct mitm_next_config *config(const char *ignore, const char *allow, const char *tcp)
{
    char err[256];
    if (ignore)
        cr_assert(mitm_options_set(&o, "ignore_hosts", ignore, err, sizeof(err)) == 0);
    if (allow)
        cr_assert(mitm_options_set(&o, "allow_hosts", allow, err, sizeof(err)) == 0);
    if (tcp)
        cr_assert(mitm_options_set(&o, "tcp_hosts", tcp, err, sizeof(err)) == 0);
    struct mitm_next_config *c = mitm_next_config_new(&o, err, sizeof(err));
    cr_assert(c, "%s", err);
    return c;
}

#define NOT_HTTP(s, srv) mitm_next_probably_not_http((const uint8_t *)(s), sizeof(s) - 1, srv)

Test(next, probably_not_http)
{
    cr_assert(!NOT_HTTP("GET / HTTP/1.1\r\n", false));
    cr_assert(!NOT_HTTP("PRI", false));
    cr_assert(NOT_HTTP("GE", false), "fewer than 3 bytes");
    cr_assert(NOT_HTTP("\x16\x03\x01", false));
    cr_assert(NOT_HTTP("1GET", false), "first three must be letters");
    cr_assert(NOT_HTTP("SSH-2.0-OpenSSH_9.2", false), "an SSH banner from the client");
    cr_assert(NOT_HTTP("GET / HTTP/1.1\r\n", true), "the server spoke first");
}

#define PREFACE(s, more) mitm_next_h2_preface((const uint8_t *)(s), sizeof(s) - 1, more)

Test(next, h2_preface)
{
    cr_assert_eq(PREFACE("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true), 1);
    cr_assert_eq(PREFACE("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04", false), 1, "frames follow");
    cr_assert_eq(PREFACE("PRI * HTTP/2.0\r\n\r\nSM\r\n", true), -1, "a prefix: wait");
    cr_assert_eq(PREFACE("PRI", true), -1);
    cr_assert_eq(PREFACE("", true), 0, "nothing yet: no preface (a server that spoke first decides)");
    cr_assert_eq(PREFACE("PRI * HTTP/2.0\r\n\r\nSM\r\n", false), 0, "a prefix that cannot grow");
    cr_assert_eq(PREFACE("PRI / HTTP/1.1\r\n", true), 0, "an HTTP/1 request with method PRI");
    cr_assert_eq(PREFACE("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", true), 0);
    cr_assert_eq(PREFACE("GET / HTTP/1.1\r\n\r\n", true), 0);
    cr_assert_eq(PREFACE("\x16\x03\x01", true), 0);
}

Test(next, ignore_hosts_on_address_peer_sni_and_host_header)
{
    struct mitm_next_config *c = config("^example\\.com:443$", NULL, NULL);
    cr_assert(mitm_next_ignored(c, "example.com", 443, NULL, NULL, NULL));
    cr_assert(mitm_next_ignored(c, "EXAMPLE.com", 443, NULL, NULL, NULL), "case-insensitive");
    cr_assert(!mitm_next_ignored(c, "example.com", 80, NULL, NULL, NULL), "the port is part of it");
    cr_assert(mitm_next_ignored(c, "10.0.0.1", 443, NULL, "example.com", NULL), "by SNI");
    cr_assert(!mitm_next_ignored(c, "10.0.0.1", 443, NULL, "other.com", NULL));
    mitm_next_config_free(c);
    c = config("^example\\.com:8080$", NULL, NULL);
    cr_assert(mitm_next_ignored(c, "10.0.0.1", 80, NULL, NULL, "example.com:8080"),
              "a Host header with its own port keeps it");
    cr_assert(!mitm_next_ignored(c, "10.0.0.1", 80, NULL, NULL, "example.com"), "else the address's port");
    mitm_next_config_free(c);
    c = config("^192\\.0\\.2\\.7:", NULL, NULL);
    cr_assert(mitm_next_ignored(c, "cdn.test", 443, "192.0.2.7", NULL, NULL), "by the peer's IP");
    mitm_next_config_free(c);
    c = config("^\\[::1\\]:443$", NULL, NULL);
    cr_assert(mitm_next_ignored(c, "::1", 443, NULL, NULL, NULL), "IPv6 in brackets");
    mitm_next_config_free(c);
}

Test(next, allow_hosts_and_both)
{
    struct mitm_next_config *c = config(NULL, "bank", NULL);
    cr_assert(!mitm_next_ignored(c, "bank.test", 443, NULL, NULL, NULL));
    cr_assert(mitm_next_ignored(c, "news.test", 443, NULL, NULL, NULL), "not allowed: ignored");
    cr_assert(!mitm_next_ignored(c, "10.0.0.1", 443, NULL, "bank.test", NULL), "allowed by SNI");
    cr_assert(!mitm_next_ignored(c, NULL, 0, NULL, NULL, NULL), "no destination: nothing to relay to");
    mitm_next_config_free(c);
    c = config("^login\\.", "bank", NULL); /* mitmproxy 12: both apply */
    cr_assert(!mitm_next_ignored(c, "www.bank.test", 443, NULL, NULL, NULL));
    cr_assert(mitm_next_ignored(c, "login.bank.test", 443, NULL, NULL, NULL));
    mitm_next_config_free(c);
}

Test(next, tcp_hosts)
{
    struct mitm_next_config *c = config(NULL, NULL, "^mail\\.test:25$");
    cr_assert(mitm_next_tcp_host(c, "mail.test", 25, NULL));
    cr_assert(mitm_next_tcp_host(c, "10.0.0.2", 25, "mail.test"));
    cr_assert(!mitm_next_tcp_host(c, "mail.test", 587, NULL));
    cr_assert(!mitm_next_tcp_host(NULL, "mail.test", 25, NULL), "no configuration");
    mitm_next_config_free(c);
}

Test(next, bad_pattern_is_named)
{
    char err[256];
    cr_assert(mitm_options_set(&o, "tcp_hosts", "(unclosed", err, sizeof(err)) == 0);
    cr_assert_null(mitm_next_config_new(&o, err, sizeof(err)));
    cr_assert(strstr(err, "invalid tcp_hosts pattern '(unclosed'"), "%s", err);
}
