#include "flow/store.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "filter/filter.h"
#include "flow/bodyfile.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mitm_store_view {
    struct mitm_store *s;
    struct mitm_store_view *next;
    struct mitm_filter *filter; /* NULL = every flow */
    uint32_t *members;          /* store indices, ascending by (order key, index) */
    size_t n, cap;
    ssize_t focus; /* store index of the focused flow, -1 = none */
    enum mitm_store_order order;
    bool reversed;    /* shown positions mirror members[] */
    bool marked_only; /* view.properties.marked.toggle */
    bool follow;
    ssize_t detached_at; /* views_detach .. views_attach: where the flow was shown, -1 */
    size_t load_errors;
};

/* Summary paths live in pages of this size, never one malloc each: no per-string header,
 * and no small long-lived chunks scattered between the large short-lived body buffers of
 * the same heap (which is what keeps a malloc heap from shrinking). */
#define PAGE_BYTES 65536

struct page {
    struct page *next;
    size_t used;
    char data[];
};

struct mitm_store {
    int spool;            /* unlinked temporary file */
    uint64_t spool_end;   /* bytes appended, the write buffer's included */
    struct mitm_buf wbuf; /* the spool's last bytes, not written to the file yet */
    struct mitm_store_summary *sum;
    size_t n, cap;
    struct page *pages; /* summary paths, newest page first */
    size_t n_pages;
    uint64_t *ids;  /* open addressing: the id's hash's low 32 bits << 32 | index + 1, 0 = empty */
    size_t ids_cap; /* power of two */
    char **names;   /* interned strings, open addressing */
    size_t names_n, names_cap;
    size_t names_bytes;
    size_t n_removed; /* tombstones among sum[0..n) */
    struct mitm_store_view *views;
    uint64_t match_loads; /* flows mitm_store_match read back */
};

static uint64_t hash(const void *p, size_t n)
{
    const uint8_t *b = p; /* FNV-1a: short keys, no adversarial pressure on a local table */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* ================= spool ================= */

/* Records are appended to a write buffer (the encoder writes straight into it) that goes to
 * the file once it holds WBUF_BYTES or more: one pwrite per hundreds of flows instead of one
 * each (the syscall and the filesystem's per-write work were a tenth of the console's main
 * thread at full load). Nothing needs them on disk sooner: the spool is an unlinked file no
 * other process reads, and one a crash takes away anyway. Readers find a record either
 * wholly in the file (below spool_end - wbuf.len) or wholly in the buffer: records are
 * appended whole. The buffer is reserved at twice WBUF_BYTES (untouched pages cost no RAM),
 * so a full one takes the record that crosses the mark without moving. */
#define WBUF_BYTES (256 * 1024)

/* Write [buf, buf + len) at off with pwrite (continued on a short write). On failure the
 * file is cut back to off, so no partial record is ever referenced. */
static int spool_pwrite(struct mitm_store *s, const uint8_t *buf, size_t len, uint64_t off, char *err,
                        size_t errlen)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(s->spool, buf + done, len - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (errlen)
                snprintf(err, errlen, "writing the flow store spool: %s",
                         w < 0 ? strerror(errno) : "short write");
            if (ftruncate(s->spool, (off_t)off) < 0) {
                /* nothing more to do: the bytes past off are never read */
            }
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* The buffered records to the file, those before wbuf[upto..) (the record being added).
 * On failure they stay in the buffer (still readable, written with the next flush). */
static int spool_flush(struct mitm_store *s, size_t upto, char *err, size_t errlen)
{
    if (!s->wbuf.len)
        return 0;
    uint64_t file_end = s->spool_end - upto;
    if (spool_pwrite(s, mitm_buf_data(&s->wbuf), s->wbuf.len, file_end, err, errlen) < 0)
        return -1;
    if (s->wbuf.alloc > 2 * WBUF_BYTES) { /* a large record passed through: give it back */
        mitm_buf_free(&s->wbuf);
        mitm_buf_init(&s->wbuf, 0);
    }
    s->wbuf.len = 0;
    s->wbuf.off = 0;
    return 0;
}

/* wbuf[old..) is a new record, appended by the caller: it is part of the spool from now on,
 * written to the file with the buffer once the buffer is full. On failure (the write of a
 * full buffer) the record is cut off again, the older buffered records stay. */
static int spool_commit(struct mitm_store *s, size_t old, char *err, size_t errlen)
{
    size_t len = s->wbuf.len - old;
    if (s->wbuf.len >= WBUF_BYTES && spool_flush(s, old, err, errlen) < 0) {
        s->wbuf.len = old;
        return -1;
    }
    s->spool_end += len;
    return 0;
}

/* Read the record at [off, off + len) of the spool into buf. */
static int spool_read(struct mitm_store *s, uint8_t *buf, uint64_t off, uint32_t len, const char *id,
                      char *err, size_t errlen)
{
    uint64_t file_end = s->spool_end - s->wbuf.len;
    if (off >= file_end && off + len <= s->spool_end) {
        memcpy(buf, mitm_buf_data(&s->wbuf) + (off - file_end), len);
        return 0;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(s->spool, buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (errlen)
                snprintf(err, errlen, "flow %s: reading the spool: %s", id, r < 0 ? strerror(errno) : "EOF");
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* ================= interned names and the id hash ================= */

static const char *intern(struct mitm_store *s, const char *str)
{
    size_t n = str ? strnlen(str, MITM_STORE_NAME_MAX) : 0;
    if (!str)
        str = "";
    if (2 * (s->names_n + 1) > s->names_cap) {
        size_t cap = s->names_cap ? 2 * s->names_cap : 64;
        char **nv = mitm_calloc(cap, sizeof(*nv));
        for (size_t i = 0; i < s->names_cap; i++) {
            if (!s->names[i])
                continue;
            size_t j = hash(s->names[i], strlen(s->names[i])) & (cap - 1);
            while (nv[j])
                j = (j + 1) & (cap - 1);
            nv[j] = s->names[i];
        }
        free(s->names);
        s->names = nv;
        s->names_cap = cap;
    }
    size_t j = hash(str, n) & (s->names_cap - 1);
    for (; s->names[j]; j = (j + 1) & (s->names_cap - 1)) {
        if (strncmp(s->names[j], str, n) == 0 && s->names[j][n] == 0)
            return s->names[j];
    }
    s->names[j] = mitm_strndup(str, n);
    s->names_n++;
    s->names_bytes += n + 1;
    return s->names[j];
}

/* A slot of the id hash keeps the low 32 bits of the id's hash beside the index: a probe
 * that is not the id is told apart without reading its summary (a cache miss each in a
 * large store; every new flow's lookup misses), and growing the table re-places slots
 * without hashing the ids again. The home position is taken from those 32 bits. */
#define ID_INDEX(slot) ((uint32_t)(slot))
#define ID_TAG(slot)   ((uint32_t)((slot) >> 32))

static void ids_insert(struct mitm_store *s, size_t idx)
{
    if (2 * (s->n + 1) > s->ids_cap) {
        size_t cap = s->ids_cap ? 2 * s->ids_cap : 1024;
        uint64_t *nv = mitm_calloc(cap, sizeof(*nv));
        for (size_t i = 0; i < s->ids_cap; i++) {
            if (!s->ids[i])
                continue;
            size_t j = ID_TAG(s->ids[i]) & (cap - 1);
            while (nv[j])
                j = (j + 1) & (cap - 1);
            nv[j] = s->ids[i];
        }
        free(s->ids);
        s->ids = nv;
        s->ids_cap = cap;
    }
    const char *id = s->sum[idx].id;
    uint32_t tag = (uint32_t)hash(id, strlen(id));
    size_t j = tag & (s->ids_cap - 1);
    while (s->ids[j])
        j = (j + 1) & (s->ids_cap - 1);
    s->ids[j] = (uint64_t)tag << 32 | (uint32_t)(idx + 1);
}

/* The slot of id, removed or not (ids are unique until mitm_store_clear: a removed flow's
 * id cannot be added again). */
static ssize_t find_slot(const struct mitm_store *s, const char *id)
{
    if (!s->ids_cap)
        return -1;
    uint32_t tag = (uint32_t)hash(id, strlen(id));
    for (size_t j = tag & (s->ids_cap - 1); s->ids[j]; j = (j + 1) & (s->ids_cap - 1)) {
        if (ID_TAG(s->ids[j]) == tag && strcmp(s->sum[ID_INDEX(s->ids[j]) - 1].id, id) == 0)
            return (ssize_t)ID_INDEX(s->ids[j]) - 1;
    }
    return -1;
}

ssize_t mitm_store_find(const struct mitm_store *s, const char *id)
{
    ssize_t i = find_slot(s, id);
    return i >= 0 && !s->sum[i].removed ? i : -1;
}

/* ================= summaries ================= */

/* Copy n bytes + NUL into the path pages. An updated flow's old path stays behind as
 * garbage until mitm_store_clear (updates are rare: marks and comments). */
static char *page_strndup(struct mitm_store *s, const char *p, size_t n)
{
    if (!s->pages || s->pages->used + n + 1 > PAGE_BYTES - sizeof(struct page)) {
        struct page *pg = mitm_alloc(PAGE_BYTES);
        pg->next = s->pages;
        pg->used = 0;
        s->pages = pg;
        s->n_pages++;
    }
    char *out = s->pages->data + s->pages->used;
    memcpy(out, p, n);
    out[n] = 0;
    s->pages->used += n + 1;
    return out;
}

static uint8_t count_ctypes(const struct mitm_headers *h)
{
    long i = mitm_headers_find(h, "content-type", 0);
    if (i < 0)
        return 0;
    return mitm_headers_find(h, "content-type", (size_t)i + 1) < 0 ? 1 : 2;
}

/* The flow list shows the media type only (mitmproxy splits the header at ';'); filters
 * (~t, ~ts, ~a) search the whole value. */
static void content_type(struct mitm_store *s, struct mitm_store_summary *sm, const struct mitm_headers *h)
{
    size_t len = 0;
    const char *v = mitm_headers_get(h, "content-type", &len);
    sm->resp_ctypes = count_ctypes(h);
    if (!v)
        return;
    if (sm->resp_ctypes == 1 && len < MITM_STORE_NAME_MAX && !memchr(v, 0, len)) {
        char w[MITM_STORE_NAME_MAX + 1];
        memcpy(w, v, len);
        w[len] = 0;
        sm->ctype_whole = intern(s, w);
    }
    const char *semi = memchr(v, ';', len);
    char t[MITM_STORE_NAME_MAX + 1];
    snprintf(t, sizeof(t), "%.*s", (int)(semi ? (size_t)(semi - v) : len), v);
    sm->content_type = intern(s, t);
}

static void summarize(struct mitm_store *s, struct mitm_store_summary *sm, const struct mitm_flow *f)
{
    snprintf(sm->id, sizeof(sm->id), "%s", f->id);
    sm->type = (uint8_t)f->type;
    sm->error = f->error != NULL;
    sm->marked = f->marked && f->marked[0];
    sm->replay = f->is_replay != NULL;
    sm->intercepted = f->intercepted;
    sm->websocket = f->type == MITM_FLOW_HTTP && f->websocket;
    sm->content_type = intern(s, "");
    sm->timestamp_created = f->timestamp_created;
    sm->timestamp_end = f->error ? f->error->timestamp : 0;
    const char *path = "";
    char client[MITM_STORE_PATH_MAX];
    if (f->type == MITM_FLOW_HTTP && f->request) {
        const struct mitm_http_request *rq = f->request;
        sm->method = intern(s, rq->method);
        sm->scheme = intern(s, rq->scheme);
        sm->host = intern(s, rq->host);
        sm->port = rq->port;
        path = rq->path ? rq->path : "";
        sm->timestamp_start = rq->timestamp_start;
        sm->request_size = rq->content_missing ? 0 : rq->content.len;
        sm->req_ctypes = count_ctypes(&rq->headers);
        mitm_filter_request_facts(rq, MITM_STORE_PATH_MAX, &sm->host_is_pretty, &sm->url_is_pretty);
    } else {
        const struct mitm_conn_info *sc = &f->server_conn;
        sm->method = intern(s, "");
        sm->scheme = intern(s, "");
        sm->host = intern(s, sc->address_host ? sc->address_host : sc->peer_host);
        sm->port = sc->address_host ? sc->address_port : sc->peer_port;
        sm->timestamp_start = f->client_conn.timestamp_start;
        for (size_t i = 0; i < f->n_messages; i++)
            sm->response_size += f->messages[i].len;
        /* the client's address where an HTTP flow has its path (the flow list shows
         * "client <-> server", as mitmproxy's human.format_address writes them) */
        const struct mitm_conn_info *cc = &f->client_conn;
        if (cc->peer_host && cc->peer_host[0]) {
            bool v6 = strchr(cc->peer_host, ':') != NULL;
            snprintf(client, sizeof(client), "%s%s%s:%u", v6 ? "[" : "", cc->peer_host, v6 ? "]" : "",
                     (unsigned)cc->peer_port);
            path = client;
        }
    }
    if (f->type == MITM_FLOW_HTTP && f->response) {
        sm->has_response = true;
        int sc = f->response->status_code;
        sm->status = sc >= 0 && sc < MITM_STORE_STATUS_UNKNOWN ? (uint16_t)sc : MITM_STORE_STATUS_UNKNOWN;
        sm->response_size = f->response->content_missing ? 0 : f->response->content.len;
        content_type(s, sm, &f->response->headers);
        if (f->response->timestamp_end)
            sm->timestamp_end = f->response->timestamp_end;
    }
    size_t plen = strlen(path);
    sm->path_truncated = plen > MITM_STORE_PATH_MAX;
    if (sm->path_truncated)
        plen = MITM_STORE_PATH_MAX;
    sm->path = page_strndup(s, path, plen);
}

/* ================= views: order and membership ================= */

/* Sort keys come from the summaries only, so ordering a million flows never touches the
 * spool. Ties fall back to the store index (arrival order), which makes the order total:
 * a member is found again by binary search, and equal keys keep arrival order as
 * mitmproxy's sorted list does for flows added one by one. */
static const char *method_key(const struct mitm_store_summary *a)
{
    if (a->type == MITM_FLOW_TCP)
        return "TCP"; /* mitmproxy sorts non-HTTP flows by their type's name */
    return a->method;
}

static int cmp3(int c, size_t ia, size_t ib)
{
    if (c)
        return c;
    return ia < ib ? -1 : ia > ib;
}

static int cmp_flows(const struct mitm_store *s, enum mitm_store_order o, size_t ia, size_t ib)
{
    const struct mitm_store_summary *a = &s->sum[ia], *b = &s->sum[ib];
    int c = 0;
    switch (o) {
    case MITM_STORE_ORDER_TIME:
        c = (a->timestamp_created > b->timestamp_created) - (a->timestamp_created < b->timestamp_created);
        break;
    case MITM_STORE_ORDER_METHOD:
        c = strcmp(method_key(a), method_key(b));
        break;
    case MITM_STORE_ORDER_URL:
        /* piecewise scheme, host, port, path: the order of the URL strings except where a
         * default port would be left out of one of them */
        if (!(c = strcmp(a->scheme, b->scheme)) && !(c = strcmp(a->host, b->host)) &&
            !(c = (a->port > b->port) - (a->port < b->port)))
            c = strcmp(a->path, b->path);
        break;
    case MITM_STORE_ORDER_SIZE: {
        uint64_t x = a->request_size + a->response_size, y = b->request_size + b->response_size;
        c = (x > y) - (x < y);
        break;
    }
    }
    return cmp3(c, ia, ib);
}

/* First internal position whose member sorts at or after store index i. */
static size_t lower_bound(const struct mitm_store_view *v, size_t i)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_flows(v->s, v->order, v->members[mid], i) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Internal position of member i, or -1. Uses i's current summary (its sort key). */
static ssize_t member_find(const struct mitm_store_view *v, size_t i)
{
    size_t pos = lower_bound(v, i);
    return pos < v->n && v->members[pos] == i ? (ssize_t)pos : -1;
}

/* Internal position <-> the position a front end sees (reversed order mirrors it). */
static size_t shown(const struct mitm_store_view *v, size_t pos)
{
    return v->reversed ? v->n - 1 - pos : pos;
}

static void member_insert(struct mitm_store_view *v, size_t i)
{
    /* the common case, a new flow in time order, goes at the end without a search */
    size_t pos = v->n && cmp_flows(v->s, v->order, v->members[v->n - 1], i) < 0 ? v->n : lower_bound(v, i);
    if (pos < v->n && v->members[pos] == i)
        return;
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->members = mitm_realloc(v->members, v->cap * sizeof(*v->members));
    }
    memmove(v->members + pos + 1, v->members + pos, (v->n - pos) * sizeof(*v->members));
    v->members[pos] = (uint32_t)i;
    v->n++;
}

/* Drop member i; returns the position it was shown at, or -1 if it was not a member. */
static ssize_t member_remove(struct mitm_store_view *v, size_t i)
{
    ssize_t pos = member_find(v, i);
    if (pos < 0)
        return -1;
    size_t at = shown(v, (size_t)pos);
    memmove(v->members + pos, v->members + pos + 1, (v->n - (size_t)pos - 1) * sizeof(*v->members));
    v->n--;
    return (ssize_t)at;
}

/* The focused flow left the view from shown position at: mitmproxy's Focus moves to the
 * flow now at that position (the next one), or the last one. */
static void focus_after_removal(struct mitm_store_view *v, size_t at)
{
    if (v->n == 0)
        v->focus = -1;
    else
        v->focus = mitm_store_view_at(v, at < v->n ? at : v->n - 1);
}

static bool view_wants(const struct mitm_store_view *v, size_t i, const struct mitm_flow *f)
{
    if (v->marked_only && !v->s->sum[i].marked)
        return false;
    return !v->filter || mitm_filter_match(v->filter, f);
}

/* Before flow i's summary changes (its sort key may move): take it out of every view,
 * remembering where it was shown. */
static void views_detach(struct mitm_store *s, size_t i)
{
    for (struct mitm_store_view *v = s->views; v; v = v->next)
        v->detached_at = member_remove(v, i);
}

/* After flow i (in memory as f, or NULL: removed) got its new summary: put it back where
 * its filter wants it, and move the focus as mitmproxy's view does. */
static void views_attach(struct mitm_store *s, size_t i, const struct mitm_flow *f)
{
    for (struct mitm_store_view *v = s->views; v; v = v->next) {
        bool was = v->detached_at >= 0;
        if (f && view_wants(v, i, f)) {
            member_insert(v, i);
            if (v->focus < 0 || (v->follow && !was))
                v->focus = (ssize_t)i; /* the first flow, or a new member with focus following */
        } else if (was && v->focus == (ssize_t)i) {
            focus_after_removal(v, (size_t)v->detached_at);
        }
        v->detached_at = -1;
    }
}

/* Stable merge sort of members by the view's order (the standard library has no qsort
 * with a context argument). */
static void sort_members(struct mitm_store_view *v)
{
    if (v->n < 2)
        return;
    uint32_t *tmp = mitm_alloc(v->n * sizeof(*tmp));
    uint32_t *src = v->members, *dst = tmp;
    for (size_t w = 1; w < v->n; w *= 2) {
        for (size_t lo = 0; lo < v->n; lo += 2 * w) {
            size_t mid = lo + w < v->n ? lo + w : v->n, hi = lo + 2 * w < v->n ? lo + 2 * w : v->n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                dst[k++] = cmp_flows(v->s, v->order, src[b], src[a]) < 0 ? src[b++] : src[a++];
            while (a < mid)
                dst[k++] = src[a++];
            while (b < hi)
                dst[k++] = src[b++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v->members)
        memcpy(v->members, src, v->n * sizeof(*src));
    free(tmp);
}

/* ================= the store ================= */

struct mitm_store *mitm_store_new(const char *dir, char *err, size_t errlen)
{
    int fd = mitm_tmpfile_open(dir, "the flow store spool", err, errlen);
    if (fd < 0)
        return NULL;
    struct mitm_store *s = mitm_calloc(1, sizeof(*s));
    s->spool = fd;
    mitm_buf_init(&s->wbuf, 0);
    mitm_buf_extend(&s->wbuf,
                    2 * WBUF_BYTES - 1); /* reserved (mitm_buf keeps a byte spare): see WBUF_BYTES */
    s->wbuf.len = 0;
    return s;
}

static void free_summaries(struct mitm_store *s)
{
    while (s->pages) {
        struct page *next = s->pages->next;
        free(s->pages);
        s->pages = next;
    }
    s->n_pages = 0;
    free(s->sum);
    s->sum = NULL;
    s->n = s->cap = 0;
    free(s->ids);
    s->ids = NULL;
    s->ids_cap = 0;
    for (size_t i = 0; i < s->names_cap; i++)
        free(s->names[i]);
    free(s->names);
    s->names = NULL;
    s->names_n = s->names_cap = s->names_bytes = 0;
    s->n_removed = 0;
}

void mitm_store_free(struct mitm_store *s)
{
    if (!s)
        return;
    while (s->views)
        mitm_store_view_free(s->views);
    free_summaries(s);
    close(s->spool); /* the buffered records go with it: nobody reads them any more */
    mitm_buf_free(&s->wbuf);
    free(s);
}

void mitm_store_clear(struct mitm_store *s)
{
    free_summaries(s);
    if (ftruncate(s->spool, 0) < 0)
        mitm_log(MITM_LOG_WARN, NULL, "flow store: truncating the spool: %s", strerror(errno));
    s->spool_end = 0;
    s->wbuf.len = s->wbuf.off = 0;
    for (struct mitm_store_view *v = s->views; v; v = v->next) {
        v->n = 0;
        v->focus = -1;
    }
}

static bool slot_ok(const struct mitm_store *s, size_t i, char *err, size_t errlen)
{
    if (i < s->n && !s->sum[i].removed)
        return true;
    if (errlen && i < s->n)
        snprintf(err, errlen, "flow %s was removed", s->sum[i].id);
    else if (errlen)
        snprintf(err, errlen, "no flow at index %zu", i);
    return false;
}

/* Point slot i at the record [off, off + len) holding f, keeping its backup unless
 * drop_backup, and re-place it in every view. */
static void repoint(struct mitm_store *s, size_t i, bool fresh, const struct mitm_flow *f, uint64_t off,
                    uint32_t len, bool drop_backup)
{
    struct mitm_store_summary *sm = &s->sum[i];
    uint64_t boff = drop_backup ? 0 : sm->backup_off;
    uint32_t blen = drop_backup ? 0 : sm->backup_len;
    if (!fresh) /* a fresh slot has no sort key yet and is in no view */
        views_detach(s, i);
    memset(sm, 0, sizeof(*sm));
    summarize(s, sm, f);
    sm->spool_off = off;
    sm->spool_len = len;
    sm->backup_off = boff;
    sm->backup_len = blen;
    views_attach(s, i, f);
}

/* The record of f is wbuf[old..) (just appended, not committed): commit it and point slot i
 * (a new one if fresh) at it. On failure the record is cut off and the store is unchanged. */
static void place(struct mitm_store *s, size_t i, bool fresh, const struct mitm_flow *f, uint64_t off,
                  uint32_t len);

static int put(struct mitm_store *s, size_t i, bool fresh, const struct mitm_flow *f, size_t old, char *err,
               size_t errlen)
{
    size_t len = s->wbuf.len - old;
    if (len == 0 || len > UINT32_MAX) {
        s->wbuf.len = old;
        if (errlen)
            snprintf(err, errlen, "flow %s: a record of %zu bytes cannot be stored", f->id, len);
        return -1;
    }
    uint64_t off = s->spool_end;
    if (spool_commit(s, old, err, errlen) < 0)
        return -1;
    place(s, i, fresh, f, off, (uint32_t)len);
    return 0;
}

/* A record with holes (file-backed bodies) at wbuf[old..): the buffered records before it go
 * to the file, then the record itself straight to the file, its bodies copied file to file.
 * On failure the file is cut back to where the record began. */
static int put_holes(struct mitm_store *s, size_t i, bool fresh, const struct mitm_flow *f, size_t old,
                     const struct mitm_flowfile_hole *holes, size_t n_holes, char *err, size_t errlen)
{
    uint64_t total = s->wbuf.len - old;
    for (size_t k = 0; k < n_holes; k++)
        total += holes[k].len;
    if (total > UINT32_MAX) {
        s->wbuf.len = old;
        if (errlen)
            snprintf(err, errlen, "flow %s: a record of %llu bytes cannot be stored", f->id,
                     (unsigned long long)total);
        return -1;
    }
    uint64_t file_end = s->spool_end - old; /* spool_end counts the buffered records */
    if (old && spool_pwrite(s, mitm_buf_data(&s->wbuf), old, file_end, err, errlen) < 0) {
        s->wbuf.len = old;
        return -1;
    }
    uint64_t off = s->spool_end, pos = off;
    char why[256];
    int rc = mitm_flowfile_write_holes(s->spool, &pos, mitm_buf_data(&s->wbuf) + old, s->wbuf.len - old,
                                       holes, n_holes, why, sizeof(why));
    s->wbuf.len = s->wbuf.off = 0;
    if (rc < 0) {
        if (ftruncate(s->spool, (off_t)off) < 0) {
            /* the bytes past off are never read */
        }
        if (errlen)
            snprintf(err, errlen, "writing the flow store spool: %s", why);
        return -1;
    }
    s->spool_end = off + total;
    place(s, i, fresh, f, off, (uint32_t)total);
    return 0;
}

static void place(struct mitm_store *s, size_t i, bool fresh, const struct mitm_flow *f, uint64_t off,
                  uint32_t len)
{
    if (fresh) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1024;
            s->sum = mitm_realloc(s->sum, s->cap * sizeof(*s->sum));
        }
        memset(&s->sum[i], 0, sizeof(s->sum[i]));
        snprintf(s->sum[i].id, sizeof(s->sum[i].id), "%s", f->id);
        s->n++;
        ids_insert(s, i);
    }
    repoint(s, i, fresh, f, off, len, false);
}

/* Where f goes: *i, a new slot if *fresh. Returns 0, or -1 (the store is full) or
 * MITM_STORE_REMOVED with err set. */
static int slot_for(struct mitm_store *s, const struct mitm_flow *f, size_t *i, bool *fresh, char *err,
                    size_t errlen)
{
    if (s->n >= UINT32_MAX - 1) {
        if (errlen)
            snprintf(err, errlen, "the flow store is full (%zu flows)", s->n);
        return -1;
    }
    ssize_t old = find_slot(s, f->id);
    if (old >= 0 && s->sum[old].removed) {
        if (errlen)
            snprintf(err, errlen, "flow %s was removed", f->id);
        return MITM_STORE_REMOVED;
    }
    *fresh = old < 0;
    *i = old >= 0 ? (size_t)old : s->n;
    return 0;
}

ssize_t mitm_store_add_record(struct mitm_store *s, const struct mitm_flow *f, const uint8_t *rec, size_t len,
                              char *err, size_t errlen)
{
    size_t i;
    bool fresh;
    int rc = slot_for(s, f, &i, &fresh, err, errlen);
    if (rc < 0)
        return rc;
    size_t start = s->wbuf.len;
    if (len)
        mitm_buf_append(&s->wbuf, rec, len);
    if (put(s, i, fresh, f, start, err, errlen) < 0)
        return -1;
    return (ssize_t)i;
}

/* Add (i < 0) or update slot i: the record is encoded straight into the write buffer, with
 * no buffer of its own and no copy. */
static ssize_t encode_and(struct mitm_store *s, ssize_t i, const struct mitm_flow *f, char *err,
                          size_t errlen)
{
    size_t slot = (size_t)i;
    bool fresh = false;
    if (i < 0) {
        int rc = slot_for(s, f, &slot, &fresh, err, errlen);
        if (rc < 0)
            return rc;
    }
    size_t start = s->wbuf.len;
    struct mitm_flowfile_hole holes[MITM_FLOWFILE_MAX_HOLES];
    size_t n_holes = 0;
    if (mitm_flowfile_encode_holes(f, &s->wbuf, holes, &n_holes, err, errlen) < 0) {
        s->wbuf.len = start;
        return -1;
    }
    int rc = n_holes ? put_holes(s, slot, fresh, f, start, holes, n_holes, err, errlen)
                     : put(s, slot, fresh, f, start, err, errlen);
    return rc < 0 ? -1 : (ssize_t)slot;
}

ssize_t mitm_store_add(struct mitm_store *s, const struct mitm_flow *f, char *err, size_t errlen)
{
    return encode_and(s, -1, f, err, errlen);
}

int mitm_store_update(struct mitm_store *s, size_t i, const struct mitm_flow *f, char *err, size_t errlen)
{
    if (!slot_ok(s, i, err, errlen))
        return -1;
    if (strcmp(s->sum[i].id, f->id) != 0) {
        if (errlen)
            snprintf(err, errlen, "flow %zu is not flow %s", i, f->id);
        return -1;
    }
    return encode_and(s, (ssize_t)i, f, err, errlen) < 0 ? -1 : 0;
}

int mitm_store_remove(struct mitm_store *s, size_t i)
{
    if (!slot_ok(s, i, NULL, 0))
        return -1;
    views_detach(s, i);
    s->sum[i].removed = true;
    s->n_removed++;
    views_attach(s, i, NULL);
    return 0;
}

size_t mitm_store_count(const struct mitm_store *s)
{
    return s->n;
}

size_t mitm_store_live_count(const struct mitm_store *s)
{
    return s->n - s->n_removed;
}

const struct mitm_store_summary *mitm_store_summary(const struct mitm_store *s, size_t i)
{
    return i < s->n && !s->sum[i].removed ? &s->sum[i] : NULL;
}

/* Load the flow recorded at [off, off + len) of the spool. */
static struct mitm_flow *load(struct mitm_store *s, const char *id, uint64_t off, uint32_t len, char *err,
                              size_t errlen)
{
    uint8_t *buf = mitm_try_alloc(len);
    if (!buf) {
        if (errlen)
            snprintf(err, errlen, "flow %s: out of memory for %u bytes", id, len);
        return NULL;
    }
    if (spool_read(s, buf, off, len, id, err, errlen) < 0) {
        free(buf);
        return NULL;
    }
    struct mitm_flowfile_reader *rd = mitm_flowfile_open_mem(buf, len);
    struct mitm_flow *f = NULL;
    char msg[256];
    if (mitm_flowfile_next(rd, &f, msg, sizeof(msg)) != MITM_FLOWFILE_FLOW && errlen)
        snprintf(err, errlen, "flow %s: spool record unreadable: %s", id, msg);
    mitm_flowfile_close(rd);
    free(buf);
    return f;
}

struct mitm_flow *mitm_store_get(struct mitm_store *s, size_t i, char *err, size_t errlen)
{
    if (!slot_ok(s, i, err, errlen))
        return NULL;
    const struct mitm_store_summary *sm = &s->sum[i];
    return load(s, sm->id, sm->spool_off, sm->spool_len, err, errlen);
}

/* A summary string the store holds whole: interned strings are cut at MITM_STORE_NAME_MAX. */
static const char *whole_name(const char *v)
{
    return v && strlen(v) < MITM_STORE_NAME_MAX ? v : NULL;
}

static void facts_of(const struct mitm_store_summary *sm, struct mitm_filter_facts *x)
{
    *x = (struct mitm_filter_facts){
        .type = sm->type,
        .has_response = sm->has_response,
        .error = sm->error,
        .marked = sm->marked,
        .replay = sm->replay,
        .websocket = sm->websocket,
        .method = whole_name(sm->method),
        .host = whole_name(sm->host),
        .host_is_pretty = sm->host_is_pretty,
        .scheme = whole_name(sm->scheme),
        .port = sm->port,
        .path = sm->path_truncated ? NULL : sm->path,
        .url_is_pretty = sm->url_is_pretty,
        .status = sm->status == MITM_STORE_STATUS_UNKNOWN ? -1 : sm->status,
        .req_ctypes = sm->req_ctypes,
        .resp_ctypes = sm->resp_ctypes,
        .resp_ctype = sm->ctype_whole,
    };
}

int mitm_store_match(struct mitm_store *s, size_t i, const struct mitm_filter *f, char *err, size_t errlen)
{
    if (!slot_ok(s, i, err, errlen))
        return -1;
    struct mitm_filter_facts x;
    facts_of(&s->sum[i], &x);
    int r = mitm_filter_match_facts(f, &x);
    if (r >= 0)
        return r;
    s->match_loads++;
    struct mitm_flow *fl = mitm_store_get(s, i, err, errlen);
    if (!fl)
        return -1;
    r = mitm_filter_match(f, fl);
    mitm_flow_unref(fl);
    return r;
}

uint64_t mitm_store_match_loads(const struct mitm_store *s)
{
    return s->match_loads;
}

int mitm_store_backup(struct mitm_store *s, size_t i)
{
    if (!slot_ok(s, i, NULL, 0))
        return -1;
    struct mitm_store_summary *sm = &s->sum[i];
    if (!sm->backup_len) { /* the record stays in the spool: keeping it costs no copy */
        sm->backup_off = sm->spool_off;
        sm->backup_len = sm->spool_len;
    }
    return 0;
}

bool mitm_store_has_backup(const struct mitm_store *s, size_t i)
{
    return i < s->n && !s->sum[i].removed && s->sum[i].backup_len;
}

int mitm_store_revert(struct mitm_store *s, size_t i, char *err, size_t errlen)
{
    if (!slot_ok(s, i, err, errlen))
        return -1;
    struct mitm_store_summary *sm = &s->sum[i];
    if (!sm->backup_len)
        return 0;
    struct mitm_flow *f = load(s, sm->id, sm->backup_off, sm->backup_len, err, errlen);
    if (!f)
        return -1;
    repoint(s, i, false, f, sm->backup_off, sm->backup_len, true);
    mitm_flow_unref(f);
    return 1;
}

uint64_t mitm_store_spool_bytes(const struct mitm_store *s)
{
    return s->spool_end;
}

size_t mitm_store_ram_bytes(const struct mitm_store *s)
{
    size_t n = s->cap * sizeof(*s->sum) + s->n_pages * PAGE_BYTES + s->names_bytes;
    n += s->ids_cap * sizeof(*s->ids) + s->names_cap * sizeof(*s->names);
    for (const struct mitm_store_view *v = s->views; v; v = v->next)
        n += v->cap * sizeof(*v->members);
    return n;
}

/* ================= views ================= */

struct mitm_store_view *mitm_store_view_new(struct mitm_store *s)
{
    struct mitm_store_view *v = mitm_calloc(1, sizeof(*v));
    v->s = s;
    v->detached_at = -1;
    v->cap = s->n > 256 ? s->n : 256;
    v->members = mitm_alloc(v->cap * sizeof(*v->members));
    for (size_t i = 0; i < s->n; i++)
        if (!s->sum[i].removed)
            v->members[v->n++] = (uint32_t)i;
    sort_members(v); /* flows read from files may have arrived out of time order */
    v->focus = v->n ? (ssize_t)v->members[0] : -1;
    v->next = s->views;
    s->views = v;
    return v;
}

void mitm_store_view_free(struct mitm_store_view *v)
{
    if (!v)
        return;
    for (struct mitm_store_view **pp = &v->s->views; *pp; pp = &(*pp)->next) {
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    }
    mitm_filter_free(v->filter);
    free(v->members);
    free(v);
}

/* Rebuild the members from every stored flow (filter and marked mode), sort them, and
 * keep the focus on the same flow, else the nearest in order (mitmproxy's refresh). */
static void refilter(struct mitm_store_view *v)
{
    struct mitm_store *s = v->s;
    ssize_t focused = v->focus;
    v->n = 0;
    v->load_errors = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->sum[i].removed || (v->marked_only && !s->sum[i].marked))
            continue;
        if (v->filter) {
            char msg[256];
            int in = mitm_store_match(s, i, v->filter, msg, sizeof(msg));
            if (in < 0) {
                mitm_log(MITM_LOG_WARN, NULL, "flow store: %s", msg);
                v->load_errors++;
            }
            if (in <= 0)
                continue;
        }
        if (v->n == v->cap) {
            v->cap = v->cap ? 2 * v->cap : 256;
            v->members = mitm_realloc(v->members, v->cap * sizeof(*v->members));
        }
        v->members[v->n++] = (uint32_t)i;
    }
    sort_members(v);
    if (v->n == 0)
        v->focus = -1;
    else if (focused < 0)
        v->focus = mitm_store_view_at(v, 0);
    else if (member_find(v, (size_t)focused) < 0) {
        size_t pos = lower_bound(v, (size_t)focused);
        v->focus = (ssize_t)v->members[pos < v->n ? pos : v->n - 1];
    }
}

int mitm_store_view_set_filter(struct mitm_store_view *v, const char *expr, char *err, size_t errlen)
{
    struct mitm_filter *nf = NULL;
    if (expr && *expr && !(nf = mitm_filter_parse(expr, err, errlen)))
        return -1;
    mitm_filter_free(v->filter);
    v->filter = nf;
    refilter(v);
    return 0;
}

const char *mitm_store_view_filter(const struct mitm_store_view *v)
{
    return v->filter ? mitm_filter_pattern(v->filter) : NULL;
}

void mitm_store_view_set_marked_only(struct mitm_store_view *v, bool on)
{
    if (v->marked_only == on)
        return;
    v->marked_only = on;
    refilter(v);
}

bool mitm_store_view_marked_only(const struct mitm_store_view *v)
{
    return v->marked_only;
}

static const char *const order_names[] = {"time", "method", "url", "size"};

int mitm_store_order_parse(const char *name)
{
    for (size_t k = 0; k < sizeof(order_names) / sizeof(order_names[0]); k++)
        if (strcmp(name, order_names[k]) == 0)
            return (int)k;
    return -1;
}

const char *mitm_store_order_name(enum mitm_store_order o)
{
    return order_names[o];
}

void mitm_store_view_set_order(struct mitm_store_view *v, enum mitm_store_order o)
{
    if (v->order == o)
        return;
    v->order = o;
    sort_members(v);
}

enum mitm_store_order mitm_store_view_order(const struct mitm_store_view *v)
{
    return v->order;
}

void mitm_store_view_set_reversed(struct mitm_store_view *v, bool on)
{
    v->reversed = on;
}

bool mitm_store_view_reversed(const struct mitm_store_view *v)
{
    return v->reversed;
}

size_t mitm_store_view_load_errors(const struct mitm_store_view *v)
{
    return v->load_errors;
}

size_t mitm_store_view_count(const struct mitm_store_view *v)
{
    return v->n;
}

ssize_t mitm_store_view_at(const struct mitm_store_view *v, size_t pos)
{
    return pos < v->n ? (ssize_t)v->members[shown(v, pos)] : -1;
}

ssize_t mitm_store_view_pos(const struct mitm_store_view *v, size_t i)
{
    if (i >= v->s->n || v->s->sum[i].removed)
        return -1;
    ssize_t pos = member_find(v, i);
    return pos < 0 ? -1 : (ssize_t)shown(v, (size_t)pos);
}

ssize_t mitm_store_view_focus(const struct mitm_store_view *v)
{
    return v->focus;
}

int mitm_store_view_set_focus(struct mitm_store_view *v, size_t i)
{
    if (mitm_store_view_pos(v, i) < 0)
        return -1;
    v->focus = (ssize_t)i;
    return 0;
}

ssize_t mitm_store_view_focus_next(struct mitm_store_view *v)
{
    if (v->focus >= 0) {
        size_t pos = (size_t)mitm_store_view_pos(v, (size_t)v->focus);
        if (pos + 1 < v->n)
            v->focus = mitm_store_view_at(v, pos + 1);
    }
    return v->focus;
}

ssize_t mitm_store_view_focus_prev(struct mitm_store_view *v)
{
    if (v->focus >= 0) {
        size_t pos = (size_t)mitm_store_view_pos(v, (size_t)v->focus);
        if (pos > 0)
            v->focus = mitm_store_view_at(v, pos - 1);
    }
    return v->focus;
}

void mitm_store_view_set_follow(struct mitm_store_view *v, bool on)
{
    v->follow = on;
    if (on && v->n)
        v->focus = mitm_store_view_at(v, v->n - 1);
}
