/* The upstream TLS session cache (see sessions.h). */
#include "proto/tls/sessions.h"
#include "base/alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *key; /* NULL: empty */
    SSL_SESSION *s[MITM_TLS_SESSIONS_PER_KEY];
    size_t n; /* s[0] is the oldest */
};

struct mitm_tls_sessions {
    pthread_mutex_t lock;
    struct slot *slots;
    size_t mask;
    size_t count;
};

struct mitm_tls_sessions *mitm_tls_sessions_new(size_t slots)
{
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    struct mitm_tls_sessions *c = mitm_calloc(1, sizeof(*c));
    c->slots = mitm_calloc(n, sizeof(*c->slots));
    c->mask = n - 1;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void slot_clear(struct mitm_tls_sessions *c, struct slot *sl)
{
    for (size_t i = 0; i < sl->n; i++)
        SSL_SESSION_free(sl->s[i]);
    c->count -= sl->n;
    sl->n = 0;
    free(sl->key);
    sl->key = NULL;
}

void mitm_tls_sessions_free(struct mitm_tls_sessions *c)
{
    if (!c)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        slot_clear(c, &c->slots[i]);
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

bool mitm_tls_sessions_key(char *out, size_t cap, const char *host, uint16_t port, const char *sni,
                           const char *name, const uint8_t *alpn, size_t alpn_len)
{
    sni = sni ? sni : "";
    name = name ? name : "";
    int n = snprintf(out, cap, "%zu:%s|%u|%zu:%s|%zu:%s|", strlen(host), host, (unsigned)port, strlen(sni),
                     sni, strlen(name), name);
    if (n < 0 || (size_t)n + 2 * alpn_len >= cap)
        return false;
    static const char hex[] = "0123456789abcdef";
    char *p = out + n;
    for (size_t i = 0; i < alpn_len; i++) {
        *p++ = hex[alpn[i] >> 4];
        *p++ = hex[alpn[i] & 15];
    }
    *p = 0;
    return true;
}

static struct slot *slot_of(struct mitm_tls_sessions *c, const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return &c->slots[h & c->mask];
}

void mitm_tls_sessions_put(struct mitm_tls_sessions *c, const char *key, SSL_SESSION *sess)
{
    if (!SSL_SESSION_is_resumable(sess)) {
        SSL_SESSION_free(sess);
        return;
    }
    pthread_mutex_lock(&c->lock);
    struct slot *sl = slot_of(c, key);
    if (!sl->key || strcmp(sl->key, key) != 0) {
        slot_clear(c, sl);
        sl->key = mitm_strdup(key);
    }
    if (sl->n == MITM_TLS_SESSIONS_PER_KEY) {
        SSL_SESSION_free(sl->s[0]);
        memmove(&sl->s[0], &sl->s[1], (sl->n - 1) * sizeof(sl->s[0]));
        sl->n--;
        c->count--;
    }
    sl->s[sl->n++] = sess;
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

SSL_SESSION *mitm_tls_sessions_take(struct mitm_tls_sessions *c, const char *key, time_t now)
{
    SSL_SESSION *found = NULL, *stale[MITM_TLS_SESSIONS_PER_KEY];
    size_t nstale = 0;
    pthread_mutex_lock(&c->lock);
    struct slot *sl = slot_of(c, key);
    if (sl->key && strcmp(sl->key, key) == 0) {
        while (sl->n && !found) {
            SSL_SESSION *s = sl->s[sl->n - 1];
            bool fresh = (time_t)(SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s)) > now &&
                         SSL_SESSION_is_resumable(s);
            if (fresh && SSL_SESSION_get_protocol_version(s) < TLS1_3_VERSION) {
                /* TLS 1.2: resuming does not bring a new session, so it stays for the next */
                SSL_SESSION_up_ref(s);
                found = s;
                break;
            }
            sl->n--;
            c->count--;
            if (fresh)
                found = s;
            else
                stale[nstale++] = s;
        }
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < nstale; i++) /* outside the lock */
        SSL_SESSION_free(stale[i]);
    return found;
}

size_t mitm_tls_sessions_count(struct mitm_tls_sessions *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
