/* The WebSocket opening handshake (RFC 6455 §4): the checks of both ends and the accept key. */
#include "proto/ws/ws.h"
#include "proto/http/http.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

void mitm_ws_accept_key(const char *key, size_t len, char out[29])
{
    static const char guid[] = MITM_WS_GUID;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* SHA-1 cannot fail on memory input; a NULL ctx (out of memory) leaves a zero digest, which
     * no peer will match */
    memset(md, 0, sizeof(md));
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(ctx, key, len) == 1 &&
        EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) == 1)
        EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
}

/* Does any field called name hold token in its comma-separated list (RFC 9110 §5.6.1)? */
static bool list_has(const struct mitm_headers *h, const char *name, const char *token, bool icase)
{
    size_t tl = strlen(token);
    for (long i = mitm_headers_find(h, name, 0); i >= 0; i = mitm_headers_find(h, name, (size_t)i + 1)) {
        const char *v = h->v[i].value, *end = v + h->v[i].value_len;
        while (v < end) {
            const char *c = memchr(v, ',', (size_t)(end - v)), *e;
            const char *s = mitm_trim_ows(v, c ? c : end, &e);
            size_t n = (size_t)(e - s);
            if (n == tl && (icase ? strncasecmp(s, token, n) == 0 : memcmp(s, token, n) == 0))
                return true;
            v = c ? c + 1 : end;
        }
    }
    return false;
}

/* The value of the only field called name, or NULL when it is absent (*count 0) or repeated. */
static const char *single(const struct mitm_headers *h, const char *name, size_t *len, size_t *count)
{
    *count = mitm_headers_count(h, name);
    return *count == 1 ? mitm_headers_get(h, name, len) : NULL;
}

bool mitm_ws_is_upgrade(int status, const struct mitm_headers *req, const struct mitm_headers *resp)
{
    size_t n, cnt;
    /* mitmproxy compares the joined values ("a, b" for repeated fields): one field must match */
    const char *up = single(resp, "upgrade", &n, &cnt);
    if (status != 101 || !up || n != 9 || strncasecmp(up, "websocket", 9) != 0)
        return false;
    const char *ver = single(req, "sec-websocket-version", &n, &cnt);
    return ver && n == 2 && memcmp(ver, "13", 2) == 0;
}

/* 24 base64 characters ending in "==": 16 bytes (§4.1: "a randomly selected 16-byte value"). */
static bool key_ok(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/'))
            return false;
    }
    return true;
}

int mitm_ws_check_request(const struct mitm_headers *h, const char **reason)
{
    size_t n, cnt;
    if (!list_has(h, "upgrade", "websocket", true)) {
        *reason = "Upgrade header does not name websocket";
        return -1;
    }
    if (!list_has(h, "connection", "upgrade", true)) {
        *reason = "Connection header lacks the upgrade token";
        return -1;
    }
    const char *key = single(h, "sec-websocket-key", &n, &cnt);
    if (!key) {
        *reason = cnt ? "repeated Sec-WebSocket-Key" : "missing Sec-WebSocket-Key";
        return -1;
    }
    if (!key_ok(key, n)) {
        *reason = "Sec-WebSocket-Key is not 16 bytes in base64";
        return -1;
    }
    const char *ver = single(h, "sec-websocket-version", &n, &cnt);
    if (!ver) {
        *reason = cnt ? "repeated Sec-WebSocket-Version" : "missing Sec-WebSocket-Version";
        return -1;
    }
    if (n != 2 || memcmp(ver, "13", 2) != 0) {
        *reason = "unsupported Sec-WebSocket-Version (only 13)";
        return -1;
    }
    return 0;
}

/* §4.1: the response's Upgrade must be "websocket" and nothing else. */
static bool upgrade_is_websocket(const struct mitm_headers *h)
{
    size_t n, cnt;
    const char *v = single(h, "upgrade", &n, &cnt), *e;
    if (!v)
        return false;
    const char *s = mitm_trim_ows(v, v + n, &e);
    return e - s == 9 && strncasecmp(s, "websocket", 9) == 0;
}

int mitm_ws_check_response(int status, const struct mitm_headers *req, const struct mitm_headers *resp,
                           const char **reason)
{
    size_t n, cnt, kn;
    if (status != 101) {
        *reason = "response status is not 101";
        return -1;
    }
    if (!upgrade_is_websocket(resp)) {
        *reason = "response Upgrade header is not websocket";
        return -1;
    }
    if (!list_has(resp, "connection", "upgrade", true)) {
        *reason = "response Connection header lacks the upgrade token";
        return -1;
    }
    const char *key = single(req, "sec-websocket-key", &kn, &cnt);
    const char *acc = single(resp, "sec-websocket-accept", &n, &cnt);
    if (!key) {
        *reason = "request has no single Sec-WebSocket-Key";
        return -1;
    }
    if (!acc) {
        *reason = cnt ? "repeated Sec-WebSocket-Accept" : "missing Sec-WebSocket-Accept";
        return -1;
    }
    char want[29];
    mitm_ws_accept_key(key, kn, want);
    if (n != 28 || memcmp(acc, want, 28) != 0) {
        *reason = "Sec-WebSocket-Accept does not match the key";
        return -1;
    }
    const char *proto = single(resp, "sec-websocket-protocol", &n, &cnt);
    if (cnt > 1) {
        *reason = "repeated Sec-WebSocket-Protocol in the response";
        return -1;
    }
    if (proto) {
        char tok[256];
        const char *e, *s = mitm_trim_ows(proto, proto + n, &e);
        size_t tl = (size_t)(e - s);
        if (tl == 0 || tl >= sizeof(tok) || memchr(s, ',', tl)) {
            *reason = "response Sec-WebSocket-Protocol is not one protocol";
            return -1;
        }
        memcpy(tok, s, tl);
        tok[tl] = 0;
        /* subprotocol names are compared exactly (RFC 6455 §11.3.4) */
        if (!list_has(req, "sec-websocket-protocol", tok, false)) {
            *reason = "response selects a Sec-WebSocket-Protocol the request did not offer";
            return -1;
        }
    }
    return 0;
}
