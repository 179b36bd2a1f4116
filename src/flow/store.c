#include "flow/store.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "filter/filter.h"
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
    uint32_t *members;          /* store indices, ascending (= arrival order) */
    size_t n, cap;
    ssize_t focus; /* position in members, -1 = none */
    bool follow;
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
    int spool;          /* unlinked temporary file */
    uint64_t spool_end; /* bytes written */
    struct mitm_store_summary *sum;
    size_t n, cap;
    struct page *pages; /* summary paths, newest page first */
    size_t n_pages;
    uint32_t *ids;  /* open addressing: index + 1, 0 = empty */
    size_t ids_cap; /* power of two */
    char **names;   /* interned strings, open addressing */
    size_t names_n, names_cap;
    size_t names_bytes;
    struct mitm_store_view *views;
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

static int open_spool(const char *dir, char *err, size_t errlen)
{
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    /* O_TMPFILE: the file never has a name, so no crash can leave it behind. */
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/mitmc-spool-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) {
        unlink(path);
        return fd;
    }
    if (errlen)
        snprintf(err, errlen, "cannot create the flow store spool in %s: %s", dir, strerror(errno));
    return -1;
}

/* Append rec at the end of the spool with one pwrite (continued on a short write). On
 * failure the spool is cut back, so no partial record is ever referenced. */
static int spool_append(struct mitm_store *s, const uint8_t *rec, size_t len, char *err, size_t errlen)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(s->spool, rec + done, len - done, (off_t)(s->spool_end + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (errlen)
                snprintf(err, errlen, "writing the flow store spool: %s",
                         w < 0 ? strerror(errno) : "short write");
            if (ftruncate(s->spool, (off_t)s->spool_end) < 0) {
                /* nothing more to do: the bytes past spool_end are never referenced */
            }
            return -1;
        }
        done += (size_t)w;
    }
    s->spool_end += len;
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

static void ids_insert(struct mitm_store *s, size_t idx)
{
    if (2 * (s->n + 1) > s->ids_cap) {
        size_t cap = s->ids_cap ? 2 * s->ids_cap : 1024;
        uint32_t *nv = mitm_calloc(cap, sizeof(*nv));
        for (size_t i = 0; i < s->ids_cap; i++) {
            if (!s->ids[i])
                continue;
            const char *id = s->sum[s->ids[i] - 1].id;
            size_t j = hash(id, strlen(id)) & (cap - 1);
            while (nv[j])
                j = (j + 1) & (cap - 1);
            nv[j] = s->ids[i];
        }
        free(s->ids);
        s->ids = nv;
        s->ids_cap = cap;
    }
    const char *id = s->sum[idx].id;
    size_t j = hash(id, strlen(id)) & (s->ids_cap - 1);
    while (s->ids[j])
        j = (j + 1) & (s->ids_cap - 1);
    s->ids[j] = (uint32_t)(idx + 1);
}

ssize_t mitm_store_find(const struct mitm_store *s, const char *id)
{
    if (!s->ids_cap)
        return -1;
    size_t j = hash(id, strlen(id)) & (s->ids_cap - 1);
    for (; s->ids[j]; j = (j + 1) & (s->ids_cap - 1)) {
        if (strcmp(s->sum[s->ids[j] - 1].id, id) == 0)
            return (ssize_t)s->ids[j] - 1;
    }
    return -1;
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

/* The flow list shows the media type only (mitmproxy splits the header at ';'). */
static void content_type(struct mitm_store *s, struct mitm_store_summary *sm, const struct mitm_headers *h)
{
    size_t len = 0;
    const char *v = mitm_headers_get(h, "content-type", &len);
    if (!v)
        return;
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
    if (f->type == MITM_FLOW_HTTP && f->request) {
        const struct mitm_http_request *rq = f->request;
        sm->method = intern(s, rq->method);
        sm->scheme = intern(s, rq->scheme);
        sm->host = intern(s, rq->host);
        sm->port = rq->port;
        path = rq->path ? rq->path : "";
        sm->timestamp_start = rq->timestamp_start;
        sm->request_size = rq->content_missing ? 0 : rq->content.len;
    } else {
        const struct mitm_conn_info *sc = &f->server_conn;
        sm->method = intern(s, "");
        sm->scheme = intern(s, "");
        sm->host = intern(s, sc->address_host ? sc->address_host : sc->peer_host);
        sm->port = sc->address_host ? sc->address_port : sc->peer_port;
        sm->timestamp_start = f->client_conn.timestamp_start;
        for (size_t i = 0; i < f->n_messages; i++)
            sm->response_size += f->messages[i].len;
    }
    if (f->type == MITM_FLOW_HTTP && f->response) {
        sm->has_response = true;
        sm->status = (uint16_t)f->response->status_code;
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

/* ================= views: membership ================= */

/* First position whose member is >= i. */
static size_t lower_bound(const struct mitm_store_view *v, size_t i)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->members[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void member_insert(struct mitm_store_view *v, size_t i)
{
    size_t pos = lower_bound(v, i);
    if (pos < v->n && v->members[pos] == i)
        return;
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->members = mitm_realloc(v->members, v->cap * sizeof(*v->members));
    }
    memmove(v->members + pos + 1, v->members + pos, (v->n - pos) * sizeof(*v->members));
    v->members[pos] = (uint32_t)i;
    v->n++;
    if (v->focus < 0 || (v->follow && pos == v->n - 1))
        v->focus = (ssize_t)pos; /* the first flow, or a new arrival with focus following */
    else if ((size_t)v->focus >= pos)
        v->focus++; /* an earlier flow re-entered the view: keep the same flow focused */
}

static void member_remove(struct mitm_store_view *v, size_t i)
{
    size_t pos = lower_bound(v, i);
    if (pos >= v->n || v->members[pos] != i)
        return;
    memmove(v->members + pos, v->members + pos + 1, (v->n - pos - 1) * sizeof(*v->members));
    v->n--;
    /* mitmproxy's Focus: stay at the same position (the next flow), or the last one */
    if (v->focus > (ssize_t)pos || v->focus >= (ssize_t)v->n)
        v->focus--;
}

/* Evaluate flow i (in memory as f) for every view. */
static void views_update(struct mitm_store *s, size_t i, const struct mitm_flow *f)
{
    for (struct mitm_store_view *v = s->views; v; v = v->next) {
        if (!v->filter || mitm_filter_match(v->filter, f))
            member_insert(v, i);
        else
            member_remove(v, i);
    }
}

/* ================= the store ================= */

struct mitm_store *mitm_store_new(const char *dir, char *err, size_t errlen)
{
    int fd = open_spool(dir, err, errlen);
    if (fd < 0)
        return NULL;
    struct mitm_store *s = mitm_calloc(1, sizeof(*s));
    s->spool = fd;
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
}

void mitm_store_free(struct mitm_store *s)
{
    if (!s)
        return;
    while (s->views)
        mitm_store_view_free(s->views);
    free_summaries(s);
    close(s->spool);
    free(s);
}

void mitm_store_clear(struct mitm_store *s)
{
    free_summaries(s);
    if (ftruncate(s->spool, 0) < 0)
        mitm_log(MITM_LOG_WARN, NULL, "flow store: truncating the spool: %s", strerror(errno));
    s->spool_end = 0;
    for (struct mitm_store_view *v = s->views; v; v = v->next) {
        v->n = 0;
        v->focus = -1;
    }
}

static int put(struct mitm_store *s, size_t i, bool fresh, const struct mitm_flow *f, const uint8_t *rec,
               size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > UINT32_MAX) {
        if (errlen)
            snprintf(err, errlen, "flow %s: a record of %zu bytes cannot be stored", f->id, len);
        return -1;
    }
    uint64_t off = s->spool_end;
    if (spool_append(s, rec, len, err, errlen) < 0)
        return -1;
    if (fresh) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1024;
            s->sum = mitm_realloc(s->sum, s->cap * sizeof(*s->sum));
        }
        memset(&s->sum[i], 0, sizeof(s->sum[i]));
        s->n++;
    } else {
        memset(&s->sum[i], 0, sizeof(s->sum[i]));
    }
    summarize(s, &s->sum[i], f);
    s->sum[i].spool_off = off;
    s->sum[i].spool_len = (uint32_t)len;
    if (fresh)
        ids_insert(s, i);
    views_update(s, i, f);
    return 0;
}

ssize_t mitm_store_add_record(struct mitm_store *s, const struct mitm_flow *f, const uint8_t *rec, size_t len,
                              char *err, size_t errlen)
{
    if (s->n >= UINT32_MAX - 1) {
        if (errlen)
            snprintf(err, errlen, "the flow store is full (%zu flows)", s->n);
        return -1;
    }
    ssize_t old = mitm_store_find(s, f->id);
    size_t i = old >= 0 ? (size_t)old : s->n;
    if (put(s, i, old < 0, f, rec, len, err, errlen) < 0)
        return -1;
    return (ssize_t)i;
}

static ssize_t encode_and(struct mitm_store *s, ssize_t i, const struct mitm_flow *f, char *err,
                          size_t errlen)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    ssize_t rc = mitm_flowfile_encode(f, &b, err, errlen);
    if (rc == 0 && i < 0)
        rc = mitm_store_add_record(s, f, mitm_buf_data(&b), b.len, err, errlen);
    else if (rc == 0)
        rc = put(s, (size_t)i, false, f, mitm_buf_data(&b), b.len, err, errlen);
    mitm_buf_free(&b);
    return rc;
}

ssize_t mitm_store_add(struct mitm_store *s, const struct mitm_flow *f, char *err, size_t errlen)
{
    return encode_and(s, -1, f, err, errlen);
}

int mitm_store_update(struct mitm_store *s, size_t i, const struct mitm_flow *f, char *err, size_t errlen)
{
    if (i >= s->n || strcmp(s->sum[i].id, f->id) != 0) {
        if (errlen)
            snprintf(err, errlen, i >= s->n ? "no flow at index %zu" : "flow %zu is not flow %s", i, f->id);
        return -1;
    }
    return encode_and(s, (ssize_t)i, f, err, errlen) < 0 ? -1 : 0;
}

size_t mitm_store_count(const struct mitm_store *s)
{
    return s->n;
}

const struct mitm_store_summary *mitm_store_summary(const struct mitm_store *s, size_t i)
{
    return i < s->n ? &s->sum[i] : NULL;
}

struct mitm_flow *mitm_store_get(struct mitm_store *s, size_t i, char *err, size_t errlen)
{
    if (i >= s->n) {
        if (errlen)
            snprintf(err, errlen, "no flow at index %zu", i);
        return NULL;
    }
    const struct mitm_store_summary *sm = &s->sum[i];
    uint8_t *buf = mitm_try_alloc(sm->spool_len);
    if (!buf) {
        if (errlen)
            snprintf(err, errlen, "flow %s: out of memory for %u bytes", sm->id, sm->spool_len);
        return NULL;
    }
    size_t got = 0;
    while (got < sm->spool_len) {
        ssize_t r = pread(s->spool, buf + got, sm->spool_len - got, (off_t)(sm->spool_off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (errlen)
                snprintf(err, errlen, "flow %s: reading the spool: %s", sm->id,
                         r < 0 ? strerror(errno) : "EOF");
            free(buf);
            return NULL;
        }
        got += (size_t)r;
    }
    struct mitm_flowfile_reader *rd = mitm_flowfile_open_mem(buf, sm->spool_len);
    struct mitm_flow *f = NULL;
    char msg[256];
    if (mitm_flowfile_next(rd, &f, msg, sizeof(msg)) != MITM_FLOWFILE_FLOW && errlen)
        snprintf(err, errlen, "flow %s: spool record unreadable: %s", sm->id, msg);
    mitm_flowfile_close(rd);
    free(buf);
    return f;
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
    v->focus = -1;
    v->cap = s->n > 256 ? s->n : 256;
    v->members = mitm_alloc(v->cap * sizeof(*v->members));
    for (size_t i = 0; i < s->n; i++)
        v->members[i] = (uint32_t)i;
    v->n = s->n;
    v->focus = v->n ? 0 : -1;
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

int mitm_store_view_set_filter(struct mitm_store_view *v, const char *expr, char *err, size_t errlen)
{
    struct mitm_filter *nf = NULL;
    if (expr && *expr && !(nf = mitm_filter_parse(expr, err, errlen)))
        return -1;
    struct mitm_store *s = v->s;
    ssize_t focused = mitm_store_view_focus(v);
    mitm_filter_free(v->filter);
    v->filter = nf;
    v->n = 0;
    v->load_errors = 0;
    for (size_t i = 0; i < s->n; i++) {
        bool in = true;
        if (nf) {
            char msg[256];
            struct mitm_flow *f = mitm_store_get(s, i, msg, sizeof(msg));
            if (!f) {
                mitm_log(MITM_LOG_WARN, NULL, "flow store: %s", msg);
                v->load_errors++;
            }
            in = f && mitm_filter_match(nf, f);
            mitm_flow_unref(f);
        }
        if (!in)
            continue;
        if (v->n == v->cap) {
            v->cap = v->cap ? 2 * v->cap : 256;
            v->members = mitm_realloc(v->members, v->cap * sizeof(*v->members));
        }
        v->members[v->n++] = (uint32_t)i;
    }
    if (v->n == 0)
        v->focus = -1;
    else if (focused < 0)
        v->focus = 0;
    else {
        size_t pos = lower_bound(v, (size_t)focused);
        v->focus = (ssize_t)(pos < v->n ? pos : v->n - 1);
    }
    return 0;
}

const char *mitm_store_view_filter(const struct mitm_store_view *v)
{
    return v->filter ? mitm_filter_pattern(v->filter) : NULL;
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
    return pos < v->n ? (ssize_t)v->members[pos] : -1;
}

ssize_t mitm_store_view_pos(const struct mitm_store_view *v, size_t i)
{
    size_t pos = lower_bound(v, i);
    return pos < v->n && v->members[pos] == i ? (ssize_t)pos : -1;
}

ssize_t mitm_store_view_focus(const struct mitm_store_view *v)
{
    return v->focus >= 0 ? (ssize_t)v->members[v->focus] : -1;
}

int mitm_store_view_set_focus(struct mitm_store_view *v, size_t i)
{
    ssize_t pos = mitm_store_view_pos(v, i);
    if (pos < 0)
        return -1;
    v->focus = pos;
    return 0;
}

ssize_t mitm_store_view_focus_next(struct mitm_store_view *v)
{
    if (v->focus >= 0 && (size_t)v->focus + 1 < v->n)
        v->focus++;
    return mitm_store_view_focus(v);
}

ssize_t mitm_store_view_focus_prev(struct mitm_store_view *v)
{
    if (v->focus > 0)
        v->focus--;
    return mitm_store_view_focus(v);
}

void mitm_store_view_set_follow(struct mitm_store_view *v, bool on)
{
    v->follow = on;
    if (on && v->n)
        v->focus = (ssize_t)(v->n - 1);
}
