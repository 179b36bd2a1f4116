/* The process-wide TLS configuration: two SSL_CTX objects made once at startup (per
 * connection only SSL objects are created) and the connection strategy. Read-only once
 * built: workers share it. */
#include "proto/tls/tls.h"
#include "core/options.h"
#include "base/alloc.h"
#include "cert/keylog.h"
#include "proto/tls/sessions.h"
#include "proto/tls/tls-int.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mitm_tls_config {
    SSL_CTX *client_ctx; /* we are the server toward clients */
    SSL_CTX *server_ctx; /* we are the client toward servers */
    struct mitm_cert_store *store;
    struct mitm_tls_sessions *sessions; /* upstream sessions, for resumption */
    bool eager, upstream_cert, verify;
};

/* Servers remembered for session resumption (each slot: one server, a few sessions). */
#define UPSTREAM_SESSION_SLOTS 1024

static void *fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void *fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_get_error();
    if (e && n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ": %s", ERR_reason_error_string(e));
    ERR_clear_error();
    return NULL;
}

/* Option text to an OpenSSL protocol version; 0 = library bound. -1: unknown. */
static int version_of(const char *s)
{
    static const struct {
        const char *name;
        int v;
    } t[] = {{"UNBOUNDED", 0},           {"SSL3", SSL3_VERSION},     {"TLS1", TLS1_VERSION},
             {"TLS1_1", TLS1_1_VERSION}, {"TLS1_2", TLS1_2_VERSION}, {"TLS1_3", TLS1_3_VERSION}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i].name) == 0)
            return t[i].v;
    return -1;
}

/* Versions and ciphers shared by both contexts. A minimum below TLS 1.2 also lowers
 * OpenSSL's security level, as mitmproxy does, or the old suites stay disabled. */
static int setup_common(SSL_CTX *c, const char *vmin, const char *vmax, const char *ciphers, const char *side,
                        char *err, size_t errlen)
{
    int lo = version_of(vmin), hi = version_of(vmax);
    if (lo < 0 || hi < 0) {
        fail(err, errlen, "invalid TLS version for the %s side: %s", side, lo < 0 ? vmin : vmax);
        return -1;
    }
    if (!SSL_CTX_set_min_proto_version(c, lo) || !SSL_CTX_set_max_proto_version(c, hi)) {
        fail(err, errlen, "cannot set the TLS versions of the %s side", side);
        return -1;
    }
    char list[2048];
    bool insecure = lo != 0 && lo < TLS1_2_VERSION;
    snprintf(list, sizeof(list), "%s%s", ciphers ? ciphers : MITM_TLS_DEFAULT_CIPHERS,
             insecure || lo == 0 ? ":@SECLEVEL=0" : "");
    if (!SSL_CTX_set_cipher_list(c, list)) {
        fail(err, errlen, "invalid cipher list for the %s side: %s", side, ciphers ? ciphers : "(default)");
        return -1;
    }
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION);
    /* idle connections give their 34 KiB of record buffers back */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    mitm_keylog_attach(c);
    return 0;
}

struct mitm_tls_config *mitm_tls_config_new(const struct mitm_options *o, struct mitm_cert_store *store,
                                            char *err, size_t errlen)
{
    struct mitm_tls_config *cfg = mitm_calloc(1, sizeof(*cfg));
    cfg->store = store;
    cfg->eager = strcmp(o->connection_strategy, "lazy") != 0;
    cfg->upstream_cert = o->upstream_cert;
    cfg->verify = !o->ssl_insecure;
    ERR_clear_error();

    cfg->client_ctx = SSL_CTX_new(TLS_server_method());
    if (!cfg->client_ctx) {
        fail(err, errlen, "cannot create the client-side TLS context");
        goto bad;
    }
    if (setup_common(cfg->client_ctx, o->tls_version_client_min, o->tls_version_client_max, o->ciphers_client,
                     "client", err, errlen) < 0)
        goto bad;
    SSL_CTX_set_options(cfg->client_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_dh_auto(cfg->client_ctx, 1);
    SSL_CTX_set_alpn_select_cb(cfg->client_ctx, mitm_tls_alpn_select, NULL);
    /* TLS 1.3: one ticket (OpenSSL sends two by default) is enough for resumption; tickets
     * are stateless, so no server-side session cache (it costs a lock and periodic sweeps) */
    SSL_CTX_set_num_tickets(cfg->client_ctx, 1);
    SSL_CTX_set_session_cache_mode(cfg->client_ctx, SSL_SESS_CACHE_OFF);

    cfg->server_ctx = SSL_CTX_new(TLS_client_method());
    if (!cfg->server_ctx) {
        fail(err, errlen, "cannot create the server-side TLS context");
        goto bad;
    }
    if (setup_common(cfg->server_ctx, o->tls_version_server_min, o->tls_version_server_max, o->ciphers_server,
                     "server", err, errlen) < 0)
        goto bad;
    if (cfg->verify) {
        const char *file = o->ssl_verify_upstream_trusted_ca, *dir = o->ssl_verify_upstream_trusted_confdir;
        if (file || dir) {
            if (!SSL_CTX_load_verify_locations(cfg->server_ctx, file, dir)) {
                fail(err, errlen, "cannot load the upstream trust store %s", file ? file : dir);
                goto bad;
            }
        } else if (!SSL_CTX_set_default_verify_paths(cfg->server_ctx)) {
            fail(err, errlen, "cannot load the system trust store");
            goto bad;
        }
        SSL_CTX_set_verify(cfg->server_ctx, SSL_VERIFY_PEER, NULL);
    } else {
        /* mitmproxy's ssl_insecure also allows legacy renegotiation with old servers */
        SSL_CTX_set_verify(cfg->server_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_options(cfg->server_ctx, SSL_OP_LEGACY_SERVER_CONNECT);
    }
    /* resume upstream sessions: OpenSSL's own client cache is keyed by nothing useful
     * (and locked per context), so sessions go to ours through the new-session callback */
    cfg->sessions = mitm_tls_sessions_new(UPSTREAM_SESSION_SLOTS);
    SSL_CTX_set_session_cache_mode(cfg->server_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(cfg->server_ctx, mitm_tls_new_session);
    return cfg;
bad:
    mitm_tls_config_free(cfg);
    return NULL;
}

void mitm_tls_config_free(struct mitm_tls_config *cfg)
{
    if (!cfg)
        return;
    SSL_CTX_free(cfg->client_ctx);
    SSL_CTX_free(cfg->server_ctx);
    mitm_tls_sessions_free(cfg->sessions);
    free(cfg);
}

SSL_CTX *mitm_tls_config_client_ctx(const struct mitm_tls_config *cfg)
{
    return cfg->client_ctx;
}

SSL_CTX *mitm_tls_config_server_ctx(const struct mitm_tls_config *cfg)
{
    return cfg->server_ctx;
}

struct mitm_tls_sessions *mitm_tls_config_sessions(const struct mitm_tls_config *cfg)
{
    return cfg->sessions;
}

struct mitm_cert_store *mitm_tls_config_store(const struct mitm_tls_config *cfg)
{
    return cfg->store;
}

bool mitm_tls_config_eager(const struct mitm_tls_config *cfg)
{
    return cfg->eager;
}

bool mitm_tls_config_upstream_cert(const struct mitm_tls_config *cfg)
{
    return cfg->upstream_cert;
}

bool mitm_tls_config_verify(const struct mitm_tls_config *cfg)
{
    return cfg->verify;
}

bool mitm_tls_is_ip(const char *s)
{
    char tmp[64];
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 >= sizeof(tmp))
            return false;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = 0;
        s = tmp;
    }
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}
