/* SOCKSv5 server-side codec (RFC 1928, RFC 1929): see socks5.h. */
#include "proto/socks5/socks5.h"

#include "base/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ log texts */

/* One byte as CPython's bytes repr writes it (Objects/bytesobject.c), into o (>= 4 bytes). */
static size_t repr_byte(uint8_t c, char quote, char *o)
{
    static const char hex[] = "0123456789abcdef";
    if (c == quote || c == '\\') {
        o[0] = '\\';
        o[1] = (char)c;
        return 2;
    }
    if (c == '\t' || c == '\n' || c == '\r') {
        o[0] = '\\';
        o[1] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
        return 2;
    }
    if (c < 0x20 || c >= 0x7f) {
        o[0] = '\\';
        o[1] = 'x';
        o[2] = hex[c >> 4];
        o[3] = hex[c & 15];
        return 4;
    }
    o[0] = (char)c;
    return 1;
}

/* CPython uses double quotes only when the bytes hold a single quote and no double quote. */
static char repr_quote(const uint8_t *p, size_t n)
{
    return n && memchr(p, '\'', n) && !memchr(p, '"', n) ? '"' : '\'';
}

int mitm_socks5_repr(struct mitm_buf *out, const uint8_t *p, size_t n)
{
    char quote = repr_quote(p, n), tmp[4];
    struct mitm_buf r; /* built whole, then appended at once: out never holds half a repr */
    mitm_buf_init(&r, 0);
    mitm_buf_printf(&r, "b%c", quote);
    for (size_t i = 0; i < n; i++)
        mitm_buf_append(&r, tmp, repr_byte(p[i], quote, tmp));
    mitm_buf_append(&r, &quote, 1);
    int rc = mitm_buf_append(out, mitm_buf_data(&r), r.len);
    mitm_buf_free(&r);
    return rc;
}

/* Append s[0..k) at err[*o] if it fits with the final NUL. */
static bool put(char *err, size_t errlen, size_t *o, const char *s, size_t k)
{
    if (*o + k >= errlen)
        return false;
    memcpy(err + *o, s, k);
    *o += k;
    return true;
}

/* err = prefix + repr(p[0..n)), cut to errlen at a whole escape. Written in place (no
 * allocation on a peer's error path). */
static void err_repr(char *err, size_t errlen, const char *prefix, const uint8_t *p, size_t n)
{
    if (!err || errlen == 0)
        return;
    size_t o = (size_t)snprintf(err, errlen, "%s", prefix);
    char quote = repr_quote(p, n), tmp[4];
    if (o >= errlen)
        return; /* the prefix alone was cut */
    if (!put(err, errlen, &o, "b", 1) || !put(err, errlen, &o, &quote, 1))
        goto Exit;
    for (size_t i = 0; i < n; i++)
        if (!put(err, errlen, &o, tmp, repr_byte(p[i], quote, tmp)))
            goto Exit;
    put(err, errlen, &o, &quote, 1);
Exit:
    err[o] = 0;
}

void mitm_socks5_eof_text(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    if (len == 0)
        mitm_errf(err, errlen, "%s", ""); /* mitmproxy logs nothing then */
    else
        err_repr(err, errlen, "Client closed connection before completing SOCKS5 handshake: ", buf, len);
}

/* ------------------------------------------------------------------ guesses */

/* Python's bytes.isupper(): at least one cased byte, and every cased byte upper case. */
static bool py_isupper(const uint8_t *p, size_t n)
{
    bool upper = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 'a' && p[i] <= 'z')
            return false;
        if (p[i] >= 'A' && p[i] <= 'Z')
            upper = true;
    }
    return upper;
}

enum mitm_socks5_guess mitm_socks5_guess(const uint8_t *buf, size_t len)
{
    size_t n = len < 3 ? len : 3;
    /* SOCKS4 (and 4a): VN=4, CD=1 CONNECT or 2 BIND. */
    if (n >= 2 && buf[0] == 0x04 && (buf[1] == 0x01 || buf[1] == 0x02))
        return MITM_SOCKS5_GUESS_SOCKS4;
    /* A TLS handshake record: ContentType 22, legacy record version 3.0..3.3. */
    if (n >= 3 && buf[0] == 0x16 && buf[1] == 0x03 && buf[2] <= 0x03)
        return MITM_SOCKS5_GUESS_TLS;
    if (py_isupper(buf, n))
        return MITM_SOCKS5_GUESS_HTTP;
    return MITM_SOCKS5_GUESS_NONE;
}

const char *mitm_socks5_guess_text(enum mitm_socks5_guess g)
{
    switch (g) {
    case MITM_SOCKS5_GUESS_SOCKS4:
        return "Probably not a SOCKS5 request but a SOCKS4 request. ";
    case MITM_SOCKS5_GUESS_TLS:
        return "Probably not a SOCKS request but a TLS handshake. ";
    case MITM_SOCKS5_GUESS_HTTP:
        return "Probably not a SOCKS request but a regular HTTP request. ";
    case MITM_SOCKS5_GUESS_NONE:
        break;
    }
    return "";
}

/* ------------------------------------------------------------------ parsers */

ssize_t mitm_socks5_parse_greeting(const uint8_t *buf, size_t len, bool auth_required,
                                   struct mitm_socks5_greeting *g, char *err, size_t errlen)
{
    if (len == 0)
        return MITM_INCOMPLETE;
    if (buf[0] != MITM_SOCKS5_VERSION) {
        if (len < 3)
            return MITM_INCOMPLETE; /* the guess looks at 3 bytes: wait for them */
        mitm_errf(err, errlen, "%sInvalid SOCKS version. Expected 0x05, got 0x%x",
                  mitm_socks5_guess_text(mitm_socks5_guess(buf, len)), buf[0]);
        return MITM_PARSE_ERROR;
    }
    if (len < 2 || len < 2 + (size_t)buf[1])
        return MITM_INCOMPLETE;
    uint8_t want = auth_required ? MITM_SOCKS5_METHOD_USERPASS : MITM_SOCKS5_METHOD_NO_AUTH;
    *g = (struct mitm_socks5_greeting){0};
    g->nmethods = buf[1];
    g->methods = buf + 2;
    /* RFC 1928 §3: NMETHODS is 1..255; an empty list simply offers nothing acceptable. */
    g->method = buf[1] && memchr(buf + 2, want, buf[1]) ? want : MITM_SOCKS5_METHOD_NO_ACCEPTABLE;
    if (g->method == MITM_SOCKS5_METHOD_NO_ACCEPTABLE)
        mitm_errf(err, errlen, "Client does not support SOCKS5 with %s authentication.",
                  auth_required ? "user/password" : "no");
    return (ssize_t)(2 + buf[1]);
}

ssize_t mitm_socks5_parse_auth(const uint8_t *buf, size_t len, struct mitm_socks5_auth *a, char *err,
                               size_t errlen)
{
    if (len == 0)
        return MITM_INCOMPLETE;
    /* RFC 1929 §2: VER is the sub-negotiation's version, 1 (not the SOCKS version 5). */
    if (buf[0] != MITM_SOCKS5_AUTH_VERSION) {
        mitm_errf(err, errlen, "Invalid SOCKS5 username/password version. Expected 0x01, got 0x%x", buf[0]);
        return MITM_PARSE_ERROR;
    }
    if (len < 2)
        return MITM_INCOMPLETE;
    size_t ulen = buf[1];
    if (len < 3 + ulen)
        return MITM_INCOMPLETE;
    size_t plen = buf[2 + ulen];
    if (len < 3 + ulen + plen)
        return MITM_INCOMPLETE;
    a->username = mitm_slice(buf + 2, ulen);
    a->password = mitm_slice(buf + 3 + ulen, plen);
    return (ssize_t)(3 + ulen + plen);
}

/* A DOMAINNAME we pass on: 1..255 printable ASCII bytes, no space (see socks5.h). */
static bool domain_ok(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return false;
    return true;
}

/* The DST.ADDR + DST.PORT bytes that follow ATYP, from the bytes after it (p[0..n)), or 0 when
 * not yet known (a domain's length byte has not arrived). */
static size_t addr_len(uint8_t atyp, const uint8_t *p, size_t n)
{
    switch (atyp) {
    case MITM_SOCKS5_ATYP_IPV4:
        return 4 + 2;
    case MITM_SOCKS5_ATYP_IPV6:
        return 16 + 2;
    default: /* DOMAIN */
        return n ? 1 + (size_t)p[0] + 2 : 0;
    }
}

ssize_t mitm_socks5_parse_request(const uint8_t *buf, size_t len, struct mitm_socks5_request *r, uint8_t *rep,
                                  char *err, size_t errlen)
{
    /* VER, CMD and RSV as each arrives: mitmproxy compares the three bytes with 05 01 00 and
     * answers 0x07 to anything else. */
    static const uint8_t want[3] = {MITM_SOCKS5_VERSION, MITM_SOCKS5_CMD_CONNECT, 0x00};
    *r = (struct mitm_socks5_request){0};
    for (size_t i = 0; i < 3; i++) {
        if (len <= i)
            return MITM_INCOMPLETE;
        if (i == 1)
            r->cmd = buf[1]; /* only once VER is known to be 5: what to report stays split-proof */
        if (buf[i] != want[i]) {
            *rep = MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED;
            err_repr(err, errlen, "Unsupported SOCKS5 request: ", buf, len);
            return MITM_PARSE_ERROR;
        }
    }
    if (len < 4)
        return MITM_INCOMPLETE;
    uint8_t atyp = buf[3];
    if (atyp != MITM_SOCKS5_ATYP_IPV4 && atyp != MITM_SOCKS5_ATYP_DOMAIN && atyp != MITM_SOCKS5_ATYP_IPV6) {
        *rep = MITM_SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED;
        mitm_errf(err, errlen, "Unknown address type: %u", atyp);
        return MITM_PARSE_ERROR;
    }
    r->atyp = atyp;
    size_t alen = addr_len(atyp, buf + 4, len - 4);
    if (alen == 0 || len < 4 + alen)
        return MITM_INCOMPLETE;
    const uint8_t *a = buf + 4;
    if (atyp == MITM_SOCKS5_ATYP_DOMAIN) {
        if (!domain_ok(a + 1, a[0])) {
            *rep = MITM_SOCKS5_REP_HOST_UNREACHABLE;
            err_repr(err, errlen, "Invalid domain name in SOCKS5 request: ", a + 1, a[0]);
            return MITM_PARSE_ERROR;
        }
        memcpy(r->host, a + 1, a[0]);
        r->host[a[0]] = 0;
    } else {
        /* inet_ntop cannot fail here: the family is valid and host holds INET6_ADDRSTRLEN. */
        inet_ntop(atyp == MITM_SOCKS5_ATYP_IPV4 ? AF_INET : AF_INET6, a, r->host, sizeof(r->host));
    }
    r->port = (uint16_t)(a[alen - 2] << 8 | a[alen - 1]);
    return (ssize_t)(4 + alen);
}

/* ------------------------------------------------------------------ serialisers */

int mitm_socks5_write_method(struct mitm_buf *out, uint8_t method)
{
    const uint8_t m[2] = {MITM_SOCKS5_VERSION, method};
    return mitm_buf_append(out, m, sizeof(m));
}

int mitm_socks5_write_auth_reply(struct mitm_buf *out, bool ok)
{
    const uint8_t m[2] = {MITM_SOCKS5_AUTH_VERSION, ok ? 0x00 : 0x01};
    return mitm_buf_append(out, m, sizeof(m));
}

int mitm_socks5_write_reply(struct mitm_buf *out, uint8_t rep)
{
    const uint8_t m[MITM_SOCKS5_REPLY_LEN] = {MITM_SOCKS5_VERSION, rep, 0x00, MITM_SOCKS5_ATYP_IPV4};
    return mitm_buf_append(out, m, sizeof(m));
}

int mitm_socks5_hostport(char *out, size_t outlen, const char *host, uint16_t port)
{
    return snprintf(out, outlen, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}
