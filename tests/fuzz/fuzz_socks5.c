/* Fuzz target: the SOCKSv5 codec. The input is a client's byte stream. Each parser runs on it
 * alone (greeting with and without auth required, auth, request), then a mode-layer-like
 * session runs greeting -> auth -> request over it, consuming as it goes. Invariants (abort on
 * violation): a result consumes at most the input; a complete message is INCOMPLETE one byte
 * short of its end; a result on a prefix is the result on the whole input (the parsers decide
 * from the bytes of the message alone); errors carry a text and, for requests, a reply code of
 * RFC 1928 §6; hosts are NUL-terminated, domain names printable ASCII; texts never overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c))                                                                                            \
            abort();                                                                                         \
    } while (0)

static ssize_t greeting(const uint8_t *p, size_t n, bool auth, uint8_t *method)
{
    struct mitm_socks5_greeting g;
    char err[MITM_SOCKS5_ERR_LEN] = "";
    ssize_t r = mitm_socks5_parse_greeting(p, n, auth, &g, err, sizeof(err));
    CHECK(r == MITM_INCOMPLETE || r == MITM_PARSE_ERROR || (r >= 2 && (size_t)r <= n));
    CHECK(r != MITM_PARSE_ERROR || (err[0] && p[0] != MITM_SOCKS5_VERSION));
    if (r > 0) {
        CHECK((size_t)r == 2u + g.nmethods && g.methods == p + 2);
        CHECK(g.method == (auth ? MITM_SOCKS5_METHOD_USERPASS : MITM_SOCKS5_METHOD_NO_AUTH) ||
              (g.method == MITM_SOCKS5_METHOD_NO_ACCEPTABLE && err[0]));
        *method = g.method;
    }
    return r;
}

static ssize_t auth(const uint8_t *p, size_t n)
{
    struct mitm_socks5_auth a;
    char err[MITM_SOCKS5_ERR_LEN] = "";
    ssize_t r = mitm_socks5_parse_auth(p, n, &a, err, sizeof(err));
    CHECK(r == MITM_INCOMPLETE || r == MITM_PARSE_ERROR || (r >= 3 && (size_t)r <= n));
    CHECK(r != MITM_PARSE_ERROR || err[0]);
    if (r > 0)
        CHECK((size_t)r == 3 + a.username.len + a.password.len && a.username.base == p + 2 &&
              a.password.base == p + 3 + a.username.len);
    return r;
}

static ssize_t request(const uint8_t *p, size_t n, struct mitm_socks5_request *q)
{
    char err[MITM_SOCKS5_ERR_LEN] = "";
    uint8_t rep = 0xee;
    ssize_t r = mitm_socks5_parse_request(p, n, q, &rep, err, sizeof(err));
    CHECK(r == MITM_INCOMPLETE || r == MITM_PARSE_ERROR ||
          (r >= 8 && (size_t)r <= n)); /* 8: a one-byte domain */
    CHECK(strlen(err) < sizeof(err));
    if (r == MITM_PARSE_ERROR)
        CHECK(err[0] &&
              (rep == MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED ||
               rep == MITM_SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED || rep == MITM_SOCKS5_REP_HOST_UNREACHABLE));
    else
        CHECK(rep == 0xee);
    if (r > 0) {
        size_t hl = strnlen(q->host, sizeof(q->host));
        CHECK(hl > 0 && hl < sizeof(q->host) && q->cmd == MITM_SOCKS5_CMD_CONNECT);
        if (q->atyp == MITM_SOCKS5_ATYP_DOMAIN) {
            CHECK((size_t)r == 7 + hl);
            for (size_t i = 0; i < hl; i++)
                CHECK(q->host[i] > 0x20 && q->host[i] < 0x7f);
        } else {
            CHECK(q->atyp == MITM_SOCKS5_ATYP_IPV4 ? r == 10 : (q->atyp == MITM_SOCKS5_ATYP_IPV6 && r == 22));
        }
    }
    return r;
}

/* The result on the whole input, on one byte less, and on a prefix chosen from the data. */
static void prefixes(const uint8_t *data, size_t size)
{
    size_t k = size ? data[size - 1] % (size + 1) : 0;
    for (int w = 0; w < 4; w++) {
        ssize_t whole, shorter, part;
        uint8_t m1 = 0, m2 = 0;
        struct mitm_socks5_request q1, q2;
        if (w < 2) {
            whole = greeting(data, size, w, &m1);
            part = greeting(data, k, w, &m2);
            shorter = whole > 0 ? greeting(data, (size_t)whole - 1, w, &m2) : MITM_INCOMPLETE;
            if (part > 0)
                CHECK(m1 == m2);
        } else if (w == 2) {
            whole = auth(data, size);
            part = auth(data, k);
            shorter = whole > 0 ? auth(data, (size_t)whole - 1) : MITM_INCOMPLETE;
        } else {
            whole = request(data, size, &q1);
            part = request(data, k, &q2);
            if (part > 0)
                CHECK(strcmp(q1.host, q2.host) == 0 && q1.port == q2.port);
            if (part == MITM_PARSE_ERROR)
                CHECK(q1.cmd == q2.cmd);
            shorter = whole > 0 ? request(data, (size_t)whole - 1, &q2) : MITM_INCOMPLETE;
        }
        CHECK(shorter == MITM_INCOMPLETE);
        CHECK(part == MITM_INCOMPLETE || part == whole);
    }
}

/* greeting -> (auth) -> request, as the mode layer sequences them. */
static void session(const uint8_t *data, size_t size, bool need_auth)
{
    struct mitm_buf out;
    mitm_buf_init(&out, MITM_SOCKS5_REPLY_LEN * 3);
    size_t off = 0;
    uint8_t method = 0;
    ssize_t r = greeting(data, size, need_auth, &method);
    if (r <= 0 || method == MITM_SOCKS5_METHOD_NO_ACCEPTABLE)
        goto Exit;
    CHECK(mitm_socks5_write_method(&out, method) == 0);
    off += (size_t)r;
    if (need_auth) {
        r = auth(data + off, size - off);
        if (r <= 0)
            goto Exit;
        CHECK(mitm_socks5_write_auth_reply(&out, true) == 0);
        off += (size_t)r;
    }
    struct mitm_socks5_request q;
    r = request(data + off, size - off, &q);
    if (r <= 0)
        goto Exit;
    CHECK(mitm_socks5_write_reply(&out, MITM_SOCKS5_REP_SUCCEEDED) == 0);
    char hp[300];
    CHECK(mitm_socks5_hostport(hp, sizeof(hp), q.host, q.port) > 0 && strlen(hp) < sizeof(hp));
Exit:
    CHECK(out.len <= MITM_SOCKS5_REPLY_LEN * 3);
    mitm_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prefixes(data, size);
    session(data, size, false);
    session(data, size, true);
    enum mitm_socks5_guess g = mitm_socks5_guess(data, size);
    CHECK(g <= MITM_SOCKS5_GUESS_HTTP && (g == MITM_SOCKS5_GUESS_NONE) == !mitm_socks5_guess_text(g)[0]);
    char small[80], big[MITM_SOCKS5_ERR_LEN];
    mitm_socks5_eof_text(data, size, small, sizeof(small));
    mitm_socks5_eof_text(data, size, big, sizeof(big));
    CHECK(strlen(small) < sizeof(small) && strncmp(small, big, strlen(small)) == 0);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    CHECK(mitm_socks5_repr(&b, data, size < 4096 ? size : 4096) == 0 && b.len >= 3);
    mitm_buf_free(&b);
    return 0;
}
