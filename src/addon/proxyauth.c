/* proxyauth: see proxyauth.h. */
#include "addon/proxyauth.h"
#include "addon/htpasswd.h"
#include "addon/httputil.h"
#include "addon/lru.h"
#include "base/alloc.h"
#include "base/err.h"
#include "core/options.h"
#include "proto/http/http.h"
#include "proto/socks5/layer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNS_MAX_BYTES ((size_t)8 << 20)

enum validator { ACCEPT_ALL, SINGLE_USER, HTPASSWD };

struct mitm_proxyauth {
    enum validator kind;
    char *user, *pass; /* SINGLE_USER */
    struct mitm_htpasswd *htpasswd;
    pthread_mutex_t lock;
    struct mitm_lru *conns;    /* connection key -> "user\0pass" */
    struct mitm_lru *verified; /* sha256(user \0 pass) of bcrypt successes */
};

void mitm_proxyauth_free(struct mitm_proxyauth *pa)
{
    if (!pa)
        return;
    if (pa->pass)
        OPENSSL_cleanse(pa->pass, strlen(pa->pass));
    free(pa->user);
    free(pa->pass);
    mitm_htpasswd_free(pa->htpasswd);
    mitm_lru_free(pa->conns);
    mitm_lru_free(pa->verified);
    pthread_mutex_destroy(&pa->lock);
    free(pa);
}

static int make_validator(struct mitm_proxyauth *pa, const char *auth, char *err, size_t errlen)
{
    if (strcmp(auth, "any") == 0) {
        pa->kind = ACCEPT_ALL;
    } else if (auth[0] == '@') {
        char why[512];
        pa->kind = HTPASSWD;
        if (!(pa->htpasswd = mitm_htpasswd_load(auth + 1, why, sizeof(why)))) {
            char *full = mitm_options_expanduser(auth + 1);
            mitm_errf(err, errlen, "Could not open htpasswd file: %s (%s)", full, why);
            free(full);
            return -1;
        }
    } else if (strncmp(auth, "ldap", 4) == 0) {
        mitm_errf(err, errlen,
                  "Invalid proxyauth specification: LDAP authentication is not supported by mitmc");
        return -1;
    } else if (strchr(auth, ':')) {
        const char *colon = strchr(auth, ':');
        if (strchr(colon + 1, ':')) {
            mitm_errf(err, errlen, "Invalid single-user auth specification.");
            return -1;
        }
        pa->kind = SINGLE_USER;
        pa->user = mitm_strndup(auth, (size_t)(colon - auth));
        pa->pass = mitm_strdup(colon + 1);
    } else {
        mitm_errf(err, errlen, "Invalid proxyauth specification.");
        return -1;
    }
    return 0;
}

int mitm_proxyauth_configure(const struct mitm_options *o, struct mitm_proxyauth **out, char *err,
                             size_t errlen)
{
    *out = NULL;
    if (!o->proxyauth || !*o->proxyauth)
        return 0;
    struct mitm_proxyauth *pa = mitm_calloc(1, sizeof(*pa));
    pthread_mutex_init(&pa->lock, NULL);
    pa->conns = mitm_lru_new(MITM_PROXYAUTH_MAX_CONNS, CONNS_MAX_BYTES);
    pa->verified = mitm_lru_new(MITM_PROXYAUTH_CACHE_SIZE, 0);
    if (make_validator(pa, o->proxyauth, err, errlen) < 0) {
        mitm_proxyauth_free(pa);
        return -1;
    }
    *out = pa;
    return 0;
}

static bool eq(const char *want, const char *got, size_t n)
{
    return strlen(want) == n && CRYPTO_memcmp(want, got, n) == 0;
}

static void cache_key(const char *user, size_t ulen, const char *pass, size_t plen, unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, user, ulen);
    EVP_DigestUpdate(c, "", 1);
    EVP_DigestUpdate(c, pass, plen);
    EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
}

bool mitm_proxyauth_check(struct mitm_proxyauth *pa, const char *user, size_t ulen, const char *pass,
                          size_t plen)
{
    switch (pa->kind) {
    case ACCEPT_ALL:
        return true;
    case SINGLE_USER:
        return eq(pa->user, user, ulen) & eq(pa->pass, pass, plen);
    case HTPASSWD:
        break;
    }
    unsigned char key[32];
    struct mitm_slice hit;
    cache_key(user, ulen, pass, plen, key);
    pthread_mutex_lock(&pa->lock);
    bool cached = mitm_lru_get(pa->verified, mitm_slice(key, sizeof(key)), &hit);
    pthread_mutex_unlock(&pa->lock);
    if (cached)
        return true;
    if (!mitm_htpasswd_check(pa->htpasswd, user, ulen, pass, plen))
        return false;
    pthread_mutex_lock(&pa->lock);
    mitm_lru_put(pa->verified, mitm_slice(key, sizeof(key)), mitm_slice("", 0));
    pthread_mutex_unlock(&pa->lock);
    return true;
}

/* The key of a client connection: peer address, port and accept time. */
static size_t conn_key(const char *host, uint16_t port, double start, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s|%u|%.6f", host ? host : "", port, start);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static size_t flow_key(const struct mitm_flow *f, char *out, size_t cap)
{
    const struct mitm_conn_info *c = &f->client_conn;
    return conn_key(c->peer_host, c->peer_port, c->timestamp_start, out, cap);
}

static void remember(struct mitm_proxyauth *pa, const char *key, size_t klen, const char *user, size_t ulen,
                     const char *pass, size_t plen)
{
    struct mitm_buf v;
    mitm_buf_init(&v, 0);
    mitm_buf_append(&v, user, ulen);
    mitm_buf_append(&v, "", 1);
    mitm_buf_append(&v, pass, plen);
    pthread_mutex_lock(&pa->lock);
    mitm_lru_put(pa->conns, mitm_slice(key, klen), mitm_buf_slice(&v));
    pthread_mutex_unlock(&pa->lock);
    mitm_buf_free(&v);
}

bool mitm_proxyauth_socks5(struct mitm_proxyauth *pa, const char *peer_host, uint16_t peer_port,
                           double conn_start, const char *user, size_t ulen, const char *pass, size_t plen)
{
    if (!mitm_proxyauth_check(pa, user, ulen, pass, plen))
        return false;
    char key[128];
    size_t kl = conn_key(peer_host, peer_port, conn_start, key, sizeof(key));
    remember(pa, key, kl, user, ulen, pass, plen);
    return true;
}

struct mitm_http_response *mitm_proxyauth_required_response(bool is_proxy, double now)
{
    int status = is_proxy ? 407 : 401;
    const char *reason = mitm_addon_reason(status);
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>", status,
                     reason, status, reason);
    const char *hdrs[] = {is_proxy ? "Proxy-Authenticate" : "WWW-Authenticate",
                          "Basic realm=\"" MITM_PROXYAUTH_REALM "\""};
    return mitm_addon_make_response(status, hdrs, 1, body, (size_t)n, now);
}

/* authenticate_http(): true (header removed, metadata set, the credentials left in user
 * and pass, which the caller frees) or false (f answered with 407/401). */
static bool authenticate(struct mitm_proxyauth *pa, struct mitm_flow *f, double now, struct mitm_buf *user,
                         struct mitm_buf *pass)
{
    bool is_proxy = mitm_addon_mode_is(f, "regular") || mitm_addon_mode_is(f, "upstream");
    const char *name = is_proxy ? "Proxy-Authorization" : "Authorization";
    struct mitm_buf v;
    mitm_buf_init(&v, 0);
    mitm_addon_header_joined(&f->request->headers, name, &v);
    bool ok = mitm_addon_parse_basic((const char *)mitm_buf_data(&v), v.len, user, pass) &&
              mitm_proxyauth_check(pa, (const char *)mitm_buf_data(user), user->len,
                                   (const char *)mitm_buf_data(pass), pass->len);
    if (ok) {
        mitm_addon_meta_pair(f, "proxyauth", (const char *)mitm_buf_data(user), user->len,
                             (const char *)mitm_buf_data(pass), pass->len);
        mitm_headers_remove(&f->request->headers, name);
    } else {
        mitm_http_response_free(f->response);
        f->response = mitm_proxyauth_required_response(is_proxy, now);
    }
    mitm_buf_free(&v);
    return ok;
}

static void wipe(struct mitm_buf *b)
{
    if (b->mem)
        OPENSSL_cleanse(b->mem, b->alloc);
    mitm_buf_free(b);
}

static void run(struct mitm_proxyauth *pa, struct mitm_flow *f, double now, bool connect)
{
    struct mitm_buf user, pass;
    mitm_buf_init(&user, 0);
    mitm_buf_init(&pass, 0);
    if (authenticate(pa, f, now, &user, &pass) && connect) {
        /* every later request of this connection (the tunnel's) is let through */
        char key[128];
        size_t kl = flow_key(f, key, sizeof(key));
        remember(pa, key, kl, (const char *)mitm_buf_data(&user), user.len,
                 (const char *)mitm_buf_data(&pass), pass.len);
    }
    wipe(&user);
    wipe(&pass);
}

static void on_requestheaders(struct mitm_proxyauth *pa, struct mitm_flow *f, double now)
{
    char key[128];
    size_t kl = flow_key(f, key, sizeof(key));
    struct mitm_slice got;
    struct mitm_buf v;
    mitm_buf_init(&v, 0);
    pthread_mutex_lock(&pa->lock);
    bool known = mitm_lru_get(pa->conns, mitm_slice(key, kl), &got);
    if (known)
        mitm_buf_append(&v, got.base, got.len);
    pthread_mutex_unlock(&pa->lock);
    if (known) {
        const char *u = (const char *)mitm_buf_data(&v);
        size_t ul = strlen(u);
        mitm_addon_meta_pair(f, "proxyauth", u, ul, u + ul + 1, v.len - ul - 1);
    } else if (!f->is_replay) {
        run(pa, f, now, false);
    }
    mitm_buf_free(&v);
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_proxyauth *pa = state;
    if (!pa)
        return;
    if (h == MITM_HOOK_SOCKS5_AUTH) {
        /* socks5 mode asks for RFC 1929 credentials when proxyauth is set; a valid pair
         * authenticates the whole connection, as a CONNECT's does. */
        struct mitm_socks5_auth_data *d = arg;
        const struct mitm_conn *c = d->client;
        d->valid = c && mitm_proxyauth_socks5(pa, c->peer_host, c->peer_port, c->timestamp_start, d->username,
                                              strlen(d->username), d->password, strlen(d->password));
        return;
    }
    if (h == MITM_HOOK_CLIENT_DISCONNECTED) {
        /* the connection is gone: so is what it authenticated (mitmproxy keeps a weak map) */
        const struct mitm_conn *c = arg;
        char key[128];
        size_t kl = conn_key(c->peer_host, c->peer_port, c->timestamp_start, key, sizeof(key));
        pthread_mutex_lock(&pa->lock);
        mitm_lru_del(pa->conns, mitm_slice(key, kl));
        pthread_mutex_unlock(&pa->lock);
        return;
    }
    if (h != MITM_HOOK_HTTP_CONNECT && h != MITM_HOOK_REQUESTHEADERS)
        return; /* other hooks carry other payloads than a flow */
    struct mitm_flow *f = arg;
    if (!f->request)
        return;
    if (h == MITM_HOOK_HTTP_CONNECT)
        run(pa, f, env->now, true);
    else
        on_requestheaders(pa, f, env->now);
}

const struct mitm_addon mitm_addon_proxyauth = {"proxyauth", hook};
