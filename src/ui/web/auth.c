/* Who may talk to the web server (mitmproxy 12's WebAuth and AuthRequestHandler, plus the
 * Host and Origin checks; docs/internals/web.md): a random token or web_password (plain, or
 * an argon2 hash), then a signed cookie; DNS rebinding refused by the Host header, cross-site
 * requests by Origin and Sec-Fetch-Site. */
#include "ui/web/web-int.h"

#include <arpa/inet.h>
#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/options.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int argon2_kind(const char *h, argon2_type *t)
{
    if (strncmp(h, "$argon2id$", 10) == 0)
        *t = Argon2_id;
    else if (strncmp(h, "$argon2i$", 9) == 0)
        *t = Argon2_i;
    else if (strncmp(h, "$argon2d$", 9) == 0)
        *t = Argon2_d;
    else
        return -1;
    return 0;
}

int web_auth_init(struct web *w)
{
    uint8_t rnd[16];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(w->secret, sizeof(w->secret)) != 1) {
        mitm_log(MITM_LOG_ERROR, NULL, "web: no random bytes for the token");
        return -1;
    }
    hex(rnd, sizeof(rnd), w->token);
    /* a copy: a `set` of any option frees and replaces mitm_options' strings */
    const char *pw = mitm_options.web_password;
    free(w->password);
    w->password = mitm_strdup(pw && *pw ? pw : w->token);
    pw = pw && *pw ? w->password : NULL;
    w->argon2 = false;
    if (pw && pw[0] == '$') {
        argon2_type t;
        int rc = argon2_kind(pw, &t) < 0 ? ARGON2_DECODING_FAIL : argon2_verify(pw, "", 0, t);
        if (rc != ARGON2_OK && rc != ARGON2_VERIFY_MISMATCH) {
            mitm_log(MITM_LOG_ERROR, NULL,
                     "`web_password` starts with `$`, but it's not a valid argon2 hash.");
            return -1;
        }
        w->argon2 = true;
    } else if (pw && *pw) {
        mitm_log(
            MITM_LOG_WARN, NULL,
            "Using a plaintext password to protect the mitmweb user interface. Consider using an argon2 hash "
            "for `web_password`  instead.");
    }
    snprintf(w->cookie_name, sizeof(w->cookie_name), "mitmproxy-auth-%u", (unsigned)w->port);
    return 0;
}

bool web_auth_check(const struct web *w, const char *password, size_t len)
{
    if (!len)
        return false;
    if (w->argon2) {
        argon2_type t;
        return argon2_kind(w->password, &t) == 0 && argon2_verify(w->password, password, len, t) == ARGON2_OK;
    }
    /* hmac.compare_digest: no early exit on the first differing byte */
    size_t pl = strlen(w->password);
    unsigned char a[32], b[32];
    unsigned int al = 0, bl = 0;
    HMAC(EVP_sha256(), w->secret, sizeof(w->secret), (const unsigned char *)w->password, pl, a, &al);
    HMAC(EVP_sha256(), w->secret, sizeof(w->secret), (const unsigned char *)password, len, b, &bl);
    return al == bl && CRYPTO_memcmp(a, b, al) == 0;
}

void web_auth_cookie(const struct web *w, char out[80])
{
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), w->secret, sizeof(w->secret), (const unsigned char *)w->cookie_name,
         strlen(w->cookie_name), mac, &ml);
    out[0] = 'y';
    out[1] = '.';
    hex(mac, ml, out + 2);
}

bool web_auth_cookie_valid(const struct web *w, const struct mitm_headers *h)
{
    char want[80];
    web_auth_cookie(w, want);
    size_t nl = strlen(w->cookie_name), wl = strlen(want);
    for (size_t i = 0; i < h->n; i++) {
        const struct mitm_header *e = &h->v[i];
        if (e->name_len != 6 || strncasecmp(e->name, "cookie", 6) != 0)
            continue;
        const char *p = e->value, *end = e->value + e->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            if ((size_t)(stop - p) == nl + 1 + wl && memcmp(p, w->cookie_name, nl) == 0 && p[nl] == '=' &&
                CRYPTO_memcmp(p + nl + 1, want, wl) == 0)
                return true;
            p = stop;
        }
    }
    return false;
}

static bool ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

bool web_is_local_host(const char *host, size_t len)
{
    char h[256];
    if (len >= sizeof(h))
        return false;
    memcpy(h, host, len);
    h[len] = 0;
    if (strcasecmp(h, "localhost") == 0 || (len > 10 && strcasecmp(h + len - 10, ".localhost") == 0))
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127 || a4.s_addr == 0;
    if (inet_pton(AF_INET6, h, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

/* One of the web server's names: an IP address (a rebinding attack needs a name), a loopback
 * name, or web_host itself. */
static bool allowed_name(const struct web *w, const char *host)
{
    return ip_literal(host) || web_is_local_host(host, strlen(host)) || strcasecmp(host, w->host) == 0 ||
           (mitm_options.web_host && strcasecmp(host, mitm_options.web_host) == 0);
}

bool web_host_allowed(const struct web *w, const struct mitm_headers *h)
{
    size_t len;
    const char *v = mitm_headers_get(h, "Host", &len);
    char *host = NULL;
    uint16_t port = 0;
    if (!v || mitm_h1_parse_authority(v, len, 80, &host, &port) < 0)
        return false;
    bool ok = allowed_name(w, host);
    free(host);
    return ok;
}

bool web_same_origin(const struct web *w, const struct mitm_headers *h)
{
    size_t len;
    const char *site = mitm_headers_get(h, "Sec-Fetch-Site", &len);
    if (site && !((len == 11 && strncasecmp(site, "same-origin", 11) == 0) ||
                  (len == 4 && strncasecmp(site, "none", 4) == 0)))
        return false;
    const char *origin = mitm_headers_get(h, "Origin", &len);
    if (!origin)
        return true;
    if (len < 8 || strncasecmp(origin, "http://", 7) != 0)
        return false;
    char *host = NULL;
    uint16_t port = 0;
    if (mitm_h1_parse_authority(origin + 7, len - 7, 80, &host, &port) < 0)
        return false;
    bool ok = port == w->port && allowed_name(w, host);
    free(host);
    return ok;
}
