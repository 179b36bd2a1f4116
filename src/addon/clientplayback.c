/* Client replay: see clientplayback.h. Behaviour follows mitmproxy's
 * addons/clientplayback.py (check(), start_replay(), the concurrency option). */
#include "addon/clientplayback.h"
#include "core/options.h"
#include "addon/serverplayback.h"
#include "base/alloc.h"
#include "base/log.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- serialisation ---------------------------------------------------------------------- */

static int reject(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Host header value for a request that has none: its authority, else host[:port] (the port
 * left out when it is the scheme's default; IPv6 in brackets). */
static void add_host(struct mitm_http_request *c, const struct mitm_http_request *r)
{
    char v[600];
    if (r->authority && r->authority[0]) {
        snprintf(v, sizeof(v), "%s", r->authority);
    } else {
        bool v6 = strchr(r->host, ':') != NULL;
        bool dflt = (r->port == 80 && strcmp(r->scheme, "http") == 0) ||
                    (r->port == 443 && strcmp(r->scheme, "https") == 0);
        snprintf(v, sizeof(v), "%s%s%s", v6 ? "[" : "", r->host, v6 ? "]" : "");
        if (!dflt)
            snprintf(v + strlen(v), sizeof(v) - strlen(v), ":%u", r->port);
    }
    struct mitm_headers h;
    mitm_headers_init(&h);
    mitm_headers_add(&h, "Host", 4, v, strlen(v));
    for (size_t i = 0; i < c->headers.n; i++)
        mitm_headers_add(&h, c->headers.v[i].name, c->headers.v[i].name_len, c->headers.v[i].value,
                         c->headers.v[i].value_len);
    mitm_headers_free(&c->headers);
    c->headers = h;
}

/* The head to send: the recorded request in absolute form, framed by Content-Length. */
static struct mitm_http_request *replay_head(const struct mitm_http_request *r)
{
    struct mitm_http_request *c = mitm_http_request_new();
    c->method = mitm_strdup(r->method);
    c->scheme = mitm_strdup(r->scheme && r->scheme[0] ? r->scheme : "http");
    c->authority = mitm_strdup(""); /* the writer then uses host:port, the destination */
    c->host = mitm_strdup(r->host);
    c->port = r->port;
    c->path = mitm_strdup(r->path && r->path[0] ? r->path : "/");
    c->http_version =
        mitm_strdup(r->http_version && strcmp(r->http_version, "HTTP/1.0") == 0 ? "HTTP/1.0" : "HTTP/1.1");
    c->form = MITM_TARGET_ABSOLUTE;
    mitm_headers_free(&c->headers);
    mitm_headers_copy(&c->headers, &r->headers);
    if (mitm_headers_count(&c->headers, "host") == 0)
        add_host(c, r);
    /* RFC 9112 §6.1-6.3: the body is sent whole, so Content-Length frames it; a
     * Transfer-Encoding of the original (already decoded when it was stored) must go. */
    bool framed = mitm_headers_remove(&c->headers, "transfer-encoding") > 0 ||
                  mitm_headers_count(&c->headers, "content-length") > 0 || r->content.len > 0;
    if (framed) {
        char cl[32];
        int n = snprintf(cl, sizeof(cl), "%zu", r->content.len);
        mitm_headers_set(&c->headers, "content-length", cl, (size_t)n);
    }
    return c;
}

/* Parse the serialised head back with the proxy's parser: what it refuses, the replay
 * would turn into a 400 without a flow of its own. */
static int check_head(const uint8_t *head, size_t head_len, char *err, size_t errlen)
{
    struct mitm_http_request *p = mitm_http_request_new();
    struct mitm_h1_limits lim = MITM_H1_LIMITS_DEFAULT;
    int status = 0;
    const char *reason = NULL;
    ssize_t n = mitm_h1_parse_request_head(head, head_len, &lim, p, &status, &reason);
    struct mitm_h1_body b;
    int rc = 0;
    if (n != (ssize_t)head_len) {
        snprintf(err, errlen, "Can't replay flow: %s",
                 n == MITM_PARSE_ERROR && reason ? reason : "bad request");
        rc = -1;
    } else if (mitm_h1_request_framing(p, &lim, &b, &reason) < 0) {
        snprintf(err, errlen, "Can't replay flow: %s", reason);
        rc = -1;
    } else {
        mitm_h1_body_free(&b);
    }
    mitm_http_request_free(p);
    return rc;
}

int mitm_clientplayback_serialize(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen)
{
    if (f->type != MITM_FLOW_HTTP)
        return reject(err, errlen, "Can only replay HTTP flows.");
    const struct mitm_http_request *r = f->request;
    if (!r || !r->method || !r->host)
        return reject(err, errlen, "Can't replay flow with missing request.");
    if (f->intercepted)
        return reject(err, errlen, "Can't replay intercepted flow.");
    if (r->content_missing)
        return reject(err, errlen, "Can't replay flow with missing content.");
    if (strcmp(r->method, "CONNECT") == 0 || r->form == MITM_TARGET_AUTHORITY)
        return reject(err, errlen, "Can't replay CONNECT requests.");
    if (r->path && r->path[0] && r->path[0] != '/')
        return reject(err, errlen, "Can't replay a request whose target is not a path.");
    struct mitm_http_request *c = replay_head(r);
    size_t start = out->len;
    mitm_h1_write_request_head(out, c, MITM_TARGET_ABSOLUTE);
    mitm_http_request_free(c);
    size_t head_len = out->len - start;
    if (check_head(mitm_buf_data(out) + start, head_len, err, errlen) < 0)
        return -1;
    if (mitm_buf_append(out, mitm_buf_data(&r->content), r->content.len) < 0)
        return reject(err, errlen, "Can't replay flow: request too large");
    return 0;
}

/* ---- the replay queue ---------------------------------------------------------------------- */

struct request {
    uint8_t *data;
    size_t len;
    char id[MITM_UUID_LEN + 1];
};

static struct {
    pthread_mutex_t lock;
    bool started;
    bool all_at_once; /* client_replay_concurrency -1 */
    struct request *queue;
    size_t head, n; /* queue[head..n) not sent yet */
    size_t inflight;
    mitm_clientplayback_inject_fn inject;
    void *arg;
} cp = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void clear_locked(void)
{
    for (size_t i = cp.head; i < cp.n; i++)
        free(cp.queue[i].data);
    free(cp.queue);
    cp.queue = NULL;
    cp.head = cp.n = cp.inflight = 0;
    cp.started = false;
}

void mitm_clientplayback_stop(void)
{
    pthread_mutex_lock(&cp.lock);
    clear_locked();
    pthread_mutex_unlock(&cp.lock);
}

/* Under the lock: hand the next queued request to the driver. */
static void send_next_locked(void)
{
    struct request *q = &cp.queue[cp.head++];
    cp.inflight++;
    cp.inject(cp.arg, q->data, q->len, q->id);
    q->data = NULL;
}

/* Serialise the replayable flows of flows[0..nf) into a new queue (*q, *n). */
static void build_queue(struct mitm_flow *const *flows, size_t nf, struct request **q, size_t *n)
{
    *q = mitm_calloc(nf ? nf : 1, sizeof(**q));
    *n = 0;
    for (size_t i = 0; i < nf; i++) {
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        char why[256];
        if (mitm_clientplayback_serialize(flows[i], &b, why, sizeof(why)) < 0) {
            mitm_log(MITM_LOG_WARN, NULL, "%s", why);
            mitm_buf_free(&b);
            continue;
        }
        struct request *r = &(*q)[(*n)++];
        r->data = mitm_buf_steal(&b, &r->len);
        snprintf(r->id, sizeof(r->id), "%s", flows[i]->id);
    }
}

int mitm_clientplayback_start_with(mitm_clientplayback_inject_fn inject, void *arg,
                                   const struct mitm_options *o, char *err, size_t errlen)
{
    if (o->client_replay_concurrency != 1 && o->client_replay_concurrency != -1) {
        snprintf(err, errlen, "Currently the only valid client_replay_concurrency values are -1 and 1.");
        return -1;
    }
    mitm_clientplayback_stop();
    if (!o->client_replay.n)
        return 0;
    struct mitm_flowvec flows = {0};
    for (size_t i = 0; i < o->client_replay.n; i++)
        if (mitm_serverplayback_read_file(o->client_replay.v[i], &flows, err, errlen) < 0) {
            mitm_serverplayback_flows_free(&flows);
            return -1;
        }
    struct request *q;
    size_t n;
    build_queue(flows.v, flows.n, &q, &n);
    mitm_serverplayback_flows_free(&flows);
    pthread_mutex_lock(&cp.lock);
    cp.queue = q;
    cp.n = n;
    cp.started = true;
    cp.all_at_once = o->client_replay_concurrency == -1;
    cp.inject = inject;
    cp.arg = arg;
    while (cp.head < cp.n && (cp.all_at_once || cp.inflight == 0))
        send_next_locked();
    pthread_mutex_unlock(&cp.lock);
    return 0;
}

size_t mitm_clientplayback_add(mitm_clientplayback_inject_fn inject, void *arg, long concurrency,
                               struct mitm_flow *const *flows, size_t nf)
{
    struct request *q;
    size_t n;
    build_queue(flows, nf, &q, &n);
    pthread_mutex_lock(&cp.lock);
    if (cp.head == cp.n) { /* nothing waiting: start over */
        free(cp.queue);
        cp.queue = NULL;
        cp.head = cp.n = 0;
    }
    cp.queue = mitm_realloc(cp.queue, (cp.n + n + 1) * sizeof(*cp.queue));
    memcpy(cp.queue + cp.n, q, n * sizeof(*q));
    cp.n += n;
    cp.started = true;
    cp.all_at_once = concurrency == -1;
    cp.inject = inject;
    cp.arg = arg;
    while (cp.head < cp.n && (cp.all_at_once || cp.inflight == 0))
        send_next_locked();
    pthread_mutex_unlock(&cp.lock);
    free(q);
    return n;
}

/* A flow of a replay: marked "request" by the driver; server replay may have re-marked it
 * "response", but then it came from a virtual client, which has no peer address. */
static bool ours(const struct mitm_flow *f)
{
    if (!f->is_replay)
        return false;
    if (strcmp(f->is_replay, "request") == 0)
        return true;
    return strcmp(f->is_replay, "response") == 0 &&
           (!f->client_conn.peer_host || !f->client_conn.peer_host[0]);
}

void mitm_clientplayback_on_flow(const struct mitm_flow *f)
{
    pthread_mutex_lock(&cp.lock);
    if (cp.started && cp.inflight > 0 && ours(f)) {
        cp.inflight--;
        if (cp.head < cp.n && (cp.all_at_once || cp.inflight == 0))
            send_next_locked();
    }
    pthread_mutex_unlock(&cp.lock);
}

size_t mitm_clientplayback_count(void)
{
    pthread_mutex_lock(&cp.lock);
    size_t n = cp.n - cp.head + cp.inflight;
    pthread_mutex_unlock(&cp.lock);
    return n;
}

bool mitm_clientplayback_done(void)
{
    return mitm_clientplayback_count() == 0;
}
