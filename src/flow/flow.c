#include "flow/flow.h"
#include "base/alloc.h"
#include "proto/http/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* uuid4 needs unpredictable ids, not secrets: a per-thread xoshiro256** seeded from
 * getrandom() once keeps the per-flow cost to a few instructions (no syscall). */
static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next64(void)
{
    if (!rng_seeded) {
        if (getrandom(rng, sizeof(rng), 0) != (ssize_t)sizeof(rng) ||
            (rng[0] | rng[1] | rng[2] | rng[3]) == 0) {
            rng[0] = (uint64_t)(uintptr_t)&rng ^ 0x9e3779b97f4a7c15ull;
            rng[1] = (uint64_t)(uintptr_t)&rng_seeded * 0xff51afd7ed558ccdull;
            rng[2] = 0xbf58476d1ce4e5b9ull;
            rng[3] = 0x94d049bb133111ebull;
        }
        rng_seeded = true;
    }
    uint64_t r = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

void mitm_uuid4(char out[MITM_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t a = next64(), c = next64();
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
}

void mitm_strlist_add(struct mitm_strlist *l, const char *s, size_t n)
{
    l->v = mitm_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->lens = mitm_realloc(l->lens, (l->n + 1) * sizeof(*l->lens));
    l->v[l->n] = mitm_memdup(s, n);
    l->lens[l->n] = n;
    l->n++;
}

void mitm_strlist_clear(struct mitm_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->lens);
    memset(l, 0, sizeof(*l));
}

void mitm_conn_info_init(struct mitm_conn_info *c)
{
    memset(c, 0, sizeof(*c));
    mitm_uuid4(c->id);
}

void mitm_conn_info_clear(struct mitm_conn_info *c)
{
    free(c->peer_host);
    free(c->sock_host);
    free(c->address_host);
    free(c->error);
    mitm_strlist_clear(&c->certificate_list);
    free(c->alpn);
    mitm_strlist_clear(&c->alpn_offers);
    free(c->cipher);
    mitm_strlist_clear(&c->cipher_list);
    free(c->tls_version);
    free(c->sni);
    free(c->mitmcert);
    free(c->proxy_mode);
    free(c->via_scheme);
    free(c->via_host);
    memset(c, 0, sizeof(*c));
}

struct mitm_websocket_data *mitm_websocket_new(void)
{
    struct mitm_websocket_data *ws = mitm_calloc(1, sizeof(*ws));
    ws->closed_by_client = -1;
    ws->close_code = -1;
    return ws;
}

void mitm_websocket_free(struct mitm_websocket_data *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n_messages; i++)
        free(ws->messages[i].content);
    free(ws->messages);
    free(ws->close_reason);
    free(ws);
}

struct mitm_websocket_message *mitm_websocket_add(struct mitm_websocket_data *ws, uint8_t type,
                                                  bool from_client, const void *content, size_t len,
                                                  double timestamp)
{
    if (ws->n_messages == ws->cap_messages) {
        ws->cap_messages = ws->cap_messages ? ws->cap_messages * 2 : 8;
        ws->messages = mitm_realloc(ws->messages, ws->cap_messages * sizeof(*ws->messages));
    }
    struct mitm_websocket_message *m = &ws->messages[ws->n_messages++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from_client = from_client;
    m->content = mitm_memdup(content ? content : "", len);
    m->len = len;
    m->timestamp = timestamp;
    return m;
}

struct mitm_websocket_data *mitm_websocket_copy(const struct mitm_websocket_data *ws)
{
    if (!ws)
        return NULL;
    struct mitm_websocket_data *c = mitm_websocket_new();
    for (size_t i = 0; i < ws->n_messages; i++) {
        const struct mitm_websocket_message *m = &ws->messages[i];
        struct mitm_websocket_message *n =
            mitm_websocket_add(c, m->type, m->from_client, m->content, m->len, m->timestamp);
        n->dropped = m->dropped;
        n->injected = m->injected;
    }
    c->closed_by_client = ws->closed_by_client;
    c->close_code = ws->close_code;
    if (ws->close_reason) {
        c->close_reason = mitm_memdup(ws->close_reason, ws->close_reason_len);
        c->close_reason_len = ws->close_reason_len;
    }
    c->timestamp_end = ws->timestamp_end;
    return c;
}

void mitm_websocket_set_close(struct mitm_websocket_data *ws, bool by_client, int code, const char *reason,
                              size_t reason_len, double timestamp_end)
{
    ws->closed_by_client = by_client ? 1 : 0;
    ws->close_code = code < 0 ? -1 : code;
    free(ws->close_reason);
    ws->close_reason = reason ? mitm_memdup(reason, reason_len) : NULL;
    ws->close_reason_len = reason ? reason_len : 0;
    ws->timestamp_end = timestamp_end;
}

struct mitm_flow *mitm_flow_new(enum mitm_flow_type type, double now)
{
    struct mitm_flow *f = mitm_calloc(1, sizeof(*f));
    f->refs = 1;
    f->type = type;
    mitm_uuid4(f->id);
    mitm_conn_info_init(&f->client_conn);
    mitm_conn_info_init(&f->server_conn);
    f->marked = mitm_strdup("");
    f->comment = mitm_strdup("");
    f->timestamp_created = now;
    return f;
}

struct mitm_flow *mitm_flow_ref(struct mitm_flow *f)
{
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
    return f;
}

void mitm_flow_set_error(struct mitm_flow *f, const char *msg, double now)
{
    if (!f->error)
        f->error = mitm_calloc(1, sizeof(*f->error));
    free(f->error->msg);
    f->error->msg = mitm_strdup(msg);
    f->error->timestamp = now;
}

void mitm_flow_meta_set(struct mitm_flow *f, const char *key, const void *tns, size_t len)
{
    struct mitm_meta *m = NULL;
    for (size_t i = 0; i < f->n_metadata && !m; i++)
        if (strcmp(f->metadata[i].key, key) == 0)
            m = &f->metadata[i];
    if (!m) {
        f->metadata = mitm_realloc(f->metadata, (f->n_metadata + 1) * sizeof(*f->metadata));
        m = &f->metadata[f->n_metadata++];
        m->key = mitm_strdup(key);
    } else {
        free(m->tns);
    }
    m->tns = mitm_memdup(tns, len);
    m->tns_len = len;
}

const struct mitm_meta *mitm_flow_meta_get(const struct mitm_flow *f, const char *key)
{
    for (size_t i = 0; i < f->n_metadata; i++)
        if (strcmp(f->metadata[i].key, key) == 0)
            return &f->metadata[i];
    return NULL;
}

void mitm_flow_unref(struct mitm_flow *f)
{
    if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    mitm_conn_info_clear(&f->client_conn);
    mitm_conn_info_clear(&f->server_conn);
    if (f->error) {
        free(f->error->msg);
        free(f->error);
    }
    free(f->is_replay);
    free(f->marked);
    free(f->comment);
    for (size_t i = 0; i < f->n_metadata; i++) {
        free(f->metadata[i].key);
        free(f->metadata[i].tns);
    }
    free(f->metadata);
    mitm_http_request_free(f->request);
    mitm_http_response_free(f->response);
    mitm_websocket_free(f->websocket);
    for (size_t i = 0; i < f->n_messages; i++)
        free(f->messages[i].content);
    free(f->messages);
    free(f);
}

#define SWAP(a, b)                                                                                           \
    do {                                                                                                     \
        __typeof__(a) tmp_ = (a);                                                                            \
        (a) = (b);                                                                                           \
        (b) = tmp_;                                                                                          \
    } while (0)

void mitm_flow_apply_edits(struct mitm_flow *f, struct mitm_flow *e)
{
    struct mitm_http_request *a = f->request, *b = e->request;
    if (a && b) {
        SWAP(a->method, b->method);
        SWAP(a->scheme, b->scheme);
        SWAP(a->authority, b->authority);
        SWAP(a->host, b->host);
        SWAP(a->port, b->port);
        SWAP(a->path, b->path);
        SWAP(a->http_version, b->http_version);
        SWAP(a->headers, b->headers);
        SWAP(a->content, b->content);
        SWAP(a->trailers, b->trailers);
    }
    struct mitm_http_response *r = f->response, *q = e->response;
    if (!r && q && f->type == MITM_FLOW_HTTP) { /* the user made one: the request is answered
                                                 * with it, as when a script sets it */
        f->response = q;
        e->response = NULL;
    } else if (r && q) {
        SWAP(r->http_version, q->http_version);
        SWAP(r->status_code, q->status_code);
        SWAP(r->reason, q->reason);
        SWAP(r->headers, q->headers);
        SWAP(r->content, q->content);
        SWAP(r->trailers, q->trailers);
    }
    if (f->websocket && e->websocket && f->websocket->n_messages &&
        f->websocket->n_messages == e->websocket->n_messages) {
        struct mitm_websocket_message *m = &f->websocket->messages[f->websocket->n_messages - 1];
        struct mitm_websocket_message *n = &e->websocket->messages[e->websocket->n_messages - 1];
        SWAP(m->content, n->content);
        SWAP(m->len, n->len);
    }
    if (f->n_messages && f->n_messages == e->n_messages) {
        SWAP(f->messages[f->n_messages - 1].content, e->messages[e->n_messages - 1].content);
        SWAP(f->messages[f->n_messages - 1].len, e->messages[e->n_messages - 1].len);
    }
    SWAP(f->marked, e->marked);
    SWAP(f->comment, e->comment);
}

static void flow_payload_free(void *p)
{
    mitm_flow_unref(p);
}

static const struct mitm_payload_vt flow_payload_vt = {.name = "flow", .free = flow_payload_free};

struct mitm_payload mitm_flow_payload(struct mitm_flow *f)
{
    struct mitm_payload p = {.vt = &flow_payload_vt, .p = mitm_flow_ref(f)};
    return p;
}

struct mitm_flow *mitm_payload_flow(const struct mitm_payload *p)
{
    return p->vt == &flow_payload_vt ? p->p : NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? mitm_strdup(s) : NULL;
}

struct mitm_flow *mitm_flow_message_snapshot(const struct mitm_flow *f)
{
    struct mitm_flow *c = mitm_flow_new(f->type, f->timestamp_created);
    memcpy(c->id, f->id, sizeof(c->id));
    c->client_conn.peer_host = dup_or_null(f->client_conn.peer_host);
    c->client_conn.peer_port = f->client_conn.peer_port;
    c->client_conn.tls_version = dup_or_null(f->client_conn.tls_version);
    c->server_conn.address_host = dup_or_null(f->server_conn.address_host);
    c->server_conn.address_port = f->server_conn.address_port;
    if (f->n_messages) {
        const struct mitm_tcp_message *m = &f->messages[f->n_messages - 1];
        c->messages = mitm_calloc(1, sizeof(*c->messages));
        c->messages[0] = *m;
        c->messages[0].content = mitm_memdup(m->content, m->len ? m->len : 1);
        c->n_messages = 1;
    }
    return c;
}
