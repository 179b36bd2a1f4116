/* The version-21 record of a flow written straight into a buffer, without the tnetstring tree
 * of mitm_flowfile_to_tns: building that tree (a malloc per value, a free per value) was the
 * largest user-space cost of the console, which encodes every flow it stores.
 *
 * tnetstring puts a payload's length before the payload, so the same code runs twice: a size
 * pass (no buffer) that records every container's payload size in the order the containers are
 * opened, then a write pass that reads them back in the same order. The output is byte for byte
 * what mitm_tns_write makes of mitm_flowfile_to_tns (tests/unit/flow/test_flowfile_encode.c
 * holds the two together): same keys in the same order, same types, minimal decimal lengths. */
#include "flow/flowfile.h"
#include "base/alloc.h"
#include "flow/flow.h"
#include "proto/http/http.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENC_MAX_DEPTH 8 /* record > conn > via > address is the deepest: 4 */
#define ENC_INLINE    128
#define HOLE_CHUNK    (256 * 1024)

struct enc {
    uint8_t *b;    /* write pass: where the next byte goes; NULL in the size pass */
    size_t n;      /* size pass: bytes so far */
    size_t *sizes; /* payload size of each container, in opening order */
    size_t n_sizes, cap_sizes;
    size_t next; /* write pass: next entry of sizes */
    /* holes (mitm_flowfile_encode_holes): file-backed bodies left out of b, copied by the writer */
    struct mitm_flowfile_hole *holes;
    size_t n_holes;
    uint64_t hole_bytes;
    const uint8_t *start; /* write pass: where the record starts */
    size_t open_slot[ENC_MAX_DEPTH], open_start[ENC_MAX_DEPTH];
    unsigned depth;
    size_t inline_sizes[ENC_INLINE];
};

static void put(struct enc *e, const void *p, size_t n)
{
    if (n) /* p may be NULL for an empty value */
        memcpy(e->b, p, n);
    e->b += n;
}

/* "LEN:", written in place (backwards from its last digit): every value has one. */
static void prefix(struct enc *e, size_t len)
{
    size_t d = len < 10 ? 1 : mitm_tns_digits(len);
    uint8_t *p = e->b + d;
    *p = ':';
    do {
        *--p = (uint8_t)('0' + len % 10);
        len /= 10;
    } while (len);
    e->b += d + 1;
}

static void atom(struct enc *e, const void *p, size_t n, char tag)
{
    if (!e->b) {
        e->n += mitm_tns_digits(n) + n + 2;
        return;
    }
    prefix(e, n);
    put(e, p, n);
    *e->b++ = (uint8_t)tag;
}

static void open_c(struct enc *e)
{
    if (e->b) {
        prefix(e, e->sizes[e->next++]);
        return;
    }
    if (e->n_sizes == e->cap_sizes) {
        size_t cap = e->cap_sizes * 2;
        if (e->sizes == e->inline_sizes) {
            e->sizes = mitm_alloc(cap * sizeof(*e->sizes));
            memcpy(e->sizes, e->inline_sizes, sizeof(e->inline_sizes));
        } else {
            e->sizes = mitm_realloc(e->sizes, cap * sizeof(*e->sizes));
        }
        e->cap_sizes = cap;
    }
    e->open_slot[e->depth] = e->n_sizes++;
    e->open_start[e->depth++] = e->n;
}

static void close_c(struct enc *e, char tag)
{
    if (e->b) {
        *e->b++ = (uint8_t)tag;
        return;
    }
    e->depth--;
    size_t payload = e->n - e->open_start[e->depth];
    e->sizes[e->open_slot[e->depth]] = payload;
    e->n += mitm_tns_digits(payload) + 2;
}

static void str_n(struct enc *e, const void *p, size_t n)
{
    atom(e, p, n, ';');
}

/* A macro, so the compiler folds strlen of the ~60 literal keys of a record (two passes). */
#define str(e, s) str_n((e), (s), strlen(s))

static void bytes(struct enc *e, const void *p, size_t n)
{
    atom(e, p, n, ',');
}

/* bytes of a C string, b"" for NULL (what mitm_flowfile_to_tns's bytes_of does) */
static void cbytes(struct enc *e, const char *s)
{
    bytes(e, s ? s : "", s ? strlen(s) : 0);
}

static void integer(struct enc *e, int64_t i)
{
    char t[24];
    size_t k = 0;
    if (i < 0)
        t[k++] = '-';
    k += mitm_tns_u64_text(i < 0 ? 0 - (uint64_t)i : (uint64_t)i, t + k);
    atom(e, t, k, '#');
}

static void flt(struct enc *e, double f)
{
    char t[64];
    atom(e, t, mitm_tns_format_float(f, t, sizeof(t)), '^');
}

static void boolean(struct enc *e, bool b)
{
    if (b)
        atom(e, "true", 4, '!');
    else
        atom(e, "false", 5, '!');
}

static void null(struct enc *e)
{
    atom(e, "", 0, '~');
}

static void opt_str(struct enc *e, const char *s)
{
    if (s)
        str(e, s);
    else
        null(e);
}

static void opt_float(struct enc *e, double f)
{
    if (f != 0)
        flt(e, f);
    else
        null(e);
}

static void addr(struct enc *e, const char *host, uint16_t port)
{
    if (!host) {
        null(e);
        return;
    }
    open_c(e);
    str(e, host);
    integer(e, port);
    close_c(e, ']');
}

static void strlist(struct enc *e, const struct mitm_strlist *sl, bool as_str)
{
    open_c(e);
    for (size_t i = 0; i < sl->n; i++)
        atom(e, sl->v[i], sl->lens[i], as_str ? ';' : ',');
    close_c(e, ']');
}

static void conn_tls(struct enc *e, const struct mitm_conn_info *ci)
{
    str(e, "tls"), boolean(e, ci->tls);
    str(e, "certificate_list"), strlist(e, &ci->certificate_list, false);
    str(e, "alpn");
    if (ci->alpn)
        bytes(e, ci->alpn, ci->alpn_len);
    else
        null(e);
    str(e, "alpn_offers"), strlist(e, &ci->alpn_offers, false);
    str(e, "cipher"), opt_str(e, ci->cipher);
    str(e, "cipher_list"), strlist(e, &ci->cipher_list, true);
    str(e, "tls_version"), opt_str(e, ci->tls_version);
    str(e, "sni"), opt_str(e, ci->sni);
}

/* conn_tns's keys, in its order */
static void conn(struct enc *e, const struct mitm_conn_info *ci, bool server)
{
    open_c(e);
    if (server) {
        str(e, "address"), addr(e, ci->address_host, ci->address_port);
        str(e, "peername"), addr(e, ci->peer_host, ci->peer_port);
    } else {
        str(e, "peername"), addr(e, ci->peer_host, ci->peer_port);
    }
    str(e, "sockname"), addr(e, ci->sock_host, ci->sock_port);
    str(e, "id"), str(e, ci->id);
    str(e, "transport_protocol"), str(e, "tcp");
    str(e, "error"), opt_str(e, ci->error);
    conn_tls(e, ci);
    str(e, "timestamp_start");
    if (server)
        opt_float(e, ci->timestamp_start);
    else
        flt(e, ci->timestamp_start);
    str(e, "timestamp_end"), opt_float(e, ci->timestamp_end);
    str(e, "timestamp_tls_setup"), opt_float(e, ci->timestamp_tls_setup);
    if (server) {
        str(e, "timestamp_tcp_setup"), opt_float(e, ci->timestamp_tcp_setup);
        str(e, "via");
        if (ci->via_scheme && ci->via_host) {
            open_c(e);
            str(e, ci->via_scheme);
            addr(e, ci->via_host, ci->via_port);
            close_c(e, ']');
        } else {
            null(e);
        }
    } else {
        str(e, "mitmcert");
        if (ci->mitmcert)
            cbytes(e, ci->mitmcert);
        else
            null(e);
        str(e, "proxy_mode"), str(e, ci->proxy_mode ? ci->proxy_mode : "regular");
    }
    close_c(e, '}');
}

static void headers(struct enc *e, const struct mitm_headers *h)
{
    open_c(e);
    for (size_t i = 0; i < h->n; i++) {
        open_c(e);
        bytes(e, h->v[i].name, h->v[i].name_len);
        bytes(e, h->v[i].value, h->v[i].value_len);
        close_c(e, ']');
    }
    close_c(e, ']');
}

/* A body kept in a file (flow/bodyfile.h): with holes on, its bytes are left to the writer,
 * which copies them file to file; the record's framing is the same. */
static bool hole(struct enc *e, const struct mitm_buf *content)
{
    if (!e->holes || !content->ext || content->ext->fd < 0 || content->len < MITM_FLOWFILE_HOLE_MIN ||
        e->n_holes == MITM_FLOWFILE_MAX_HOLES)
        return false;
    if (!e->b) {
        e->n += mitm_tns_digits(content->len) + content->len + 2;
        e->hole_bytes += content->len;
        e->n_holes++;
        return true;
    }
    prefix(e, content->len);
    e->holes[e->n_holes++] =
        (struct mitm_flowfile_hole){.at = (size_t)(e->b - e->start),
                                    .fd = content->ext->fd,
                                    .off = (uint64_t)(mitm_buf_data(content) - content->ext->base),
                                    .len = content->len};
    *e->b++ = ',';
    return true;
}

static void message(struct enc *e, const char *http_version, const struct mitm_headers *h,
                    const struct mitm_buf *content, bool missing, const struct mitm_headers *trailers,
                    double ts, double te)
{
    str(e, "http_version"), cbytes(e, http_version);
    str(e, "headers"), headers(e, h);
    str(e, "content");
    if (missing)
        null(e);
    else if (!hole(e, content))
        bytes(e, mitm_buf_data(content), content->len);
    str(e, "trailers");
    if (trailers)
        headers(e, trailers);
    else
        null(e);
    str(e, "timestamp_start"), flt(e, ts);
    str(e, "timestamp_end"), opt_float(e, te);
}

static void request(struct enc *e, const struct mitm_http_request *r)
{
    open_c(e);
    message(e, r->http_version, &r->headers, &r->content, r->content_missing, r->trailers, r->timestamp_start,
            r->timestamp_end);
    str(e, "host"), str(e, r->host ? r->host : "");
    str(e, "port"), integer(e, r->port);
    str(e, "method"), cbytes(e, r->method);
    str(e, "scheme"), cbytes(e, r->scheme);
    str(e, "authority"), cbytes(e, r->authority);
    str(e, "path"), cbytes(e, r->path);
    close_c(e, '}');
}

static void response(struct enc *e, const struct mitm_http_response *r)
{
    if (!r) {
        null(e);
        return;
    }
    open_c(e);
    message(e, r->http_version, &r->headers, &r->content, r->content_missing, r->trailers, r->timestamp_start,
            r->timestamp_end);
    str(e, "status_code"), integer(e, r->status_code);
    str(e, "reason"), cbytes(e, r->reason);
    close_c(e, '}');
}

static void websocket(struct enc *e, const struct mitm_websocket_data *ws)
{
    if (!ws) {
        null(e);
        return;
    }
    open_c(e);
    str(e, "messages");
    open_c(e);
    for (size_t i = 0; i < ws->n_messages; i++) {
        const struct mitm_websocket_message *m = &ws->messages[i];
        open_c(e);
        integer(e, m->type);
        boolean(e, m->from_client);
        bytes(e, m->content, m->len);
        flt(e, m->timestamp);
        boolean(e, m->dropped);
        boolean(e, m->injected);
        close_c(e, ']');
    }
    close_c(e, ']');
    str(e, "closed_by_client");
    if (ws->closed_by_client < 0)
        null(e);
    else
        boolean(e, ws->closed_by_client > 0);
    str(e, "close_code");
    if (ws->close_code < 0)
        null(e);
    else
        integer(e, ws->close_code);
    str(e, "close_reason");
    if (ws->close_reason)
        str_n(e, ws->close_reason, ws->close_reason_len);
    else
        null(e);
    str(e, "timestamp_end"), opt_float(e, ws->timestamp_end);
    close_c(e, '}');
}

/* The tree's dict_set keeps a repeated key once, at its first place, with its last value. */
static void metadata(struct enc *e, const struct mitm_flow *f)
{
    open_c(e);
    for (size_t i = 0; i < f->n_metadata; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(f->metadata[j].key, f->metadata[i].key) == 0;
        if (seen)
            continue;
        const struct mitm_meta *m = &f->metadata[i];
        for (size_t j = i + 1; j < f->n_metadata; j++)
            if (strcmp(f->metadata[j].key, m->key) == 0)
                m = &f->metadata[j];
        str(e, m->key);
        if (e->b)
            put(e, m->tns, m->tns_len);
        else
            e->n += m->tns_len;
    }
    close_c(e, '}');
}

static void tcp_messages(struct enc *e, const struct mitm_flow *f)
{
    open_c(e);
    for (size_t i = 0; i < f->n_messages; i++) {
        open_c(e);
        boolean(e, f->messages[i].from_client);
        bytes(e, f->messages[i].content, f->messages[i].len);
        flt(e, f->messages[i].timestamp);
        close_c(e, ']');
    }
    close_c(e, ']');
}

/* mitm_flowfile_to_tns's keys, in its order */
static void record(struct enc *e, const struct mitm_flow *f)
{
    open_c(e);
    str(e, "version"), integer(e, MITM_FLOWFILE_VERSION);
    str(e, "type"), str(e, f->type == MITM_FLOW_TCP ? "tcp" : "http");
    str(e, "id"), str(e, f->id);
    str(e, "error");
    if (f->error) {
        open_c(e);
        str(e, "msg"), str(e, f->error->msg ? f->error->msg : "");
        str(e, "timestamp"), flt(e, f->error->timestamp);
        close_c(e, '}');
    } else {
        null(e);
    }
    str(e, "client_conn"), conn(e, &f->client_conn, false);
    str(e, "server_conn"), conn(e, &f->server_conn, true);
    str(e, "intercepted"), boolean(e, f->intercepted);
    str(e, "is_replay"), opt_str(e, f->is_replay);
    str(e, "marked"), str(e, f->marked ? f->marked : "");
    str(e, "metadata"), metadata(e, f);
    str(e, "comment"), str(e, f->comment ? f->comment : "");
    str(e, "timestamp_created"), flt(e, f->timestamp_created);
    str(e, "backup"), null(e);
    if (f->type == MITM_FLOW_HTTP) {
        str(e, "request");
        if (f->request)
            request(e, f->request);
        else
            null(e);
        str(e, "response"), response(e, f->response);
        str(e, "websocket"), websocket(e, f->websocket);
    } else {
        str(e, "messages"), tcp_messages(e, f);
    }
    close_c(e, '}');
}

/* What mitm_flowfile_to_tns refuses: a metadata value that is not one tnetstring. Only the
 * frame is checked; every writer of metadata (the decoder, mitm_flow_meta_set's callers, the
 * Lua binding) stores mitm_tns_write output. */
static int check_metadata(const struct mitm_flow *f, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->n_metadata; i++) {
        const struct mitm_meta *m = &f->metadata[i];
        if (mitm_tns_frame_size(m->tns, m->tns_len, 0, NULL) != (ssize_t)m->tns_len) {
            if (errlen)
                snprintf(err, errlen, "metadata[%s]: value is not one tnetstring", m->key);
            return -1;
        }
    }
    return 0;
}

static int encode(const struct mitm_flow *f, struct mitm_buf *out, struct mitm_flowfile_hole *holes,
                  size_t *n_holes, char *err, size_t errlen)
{
    if (f->type == MITM_FLOW_HTTP && !f->request) {
        if (errlen)
            snprintf(err, errlen, "flow %s has no request", f->id);
        return -1;
    }
    if (check_metadata(f, err, errlen) < 0)
        return -1;
    struct enc e = {.cap_sizes = ENC_INLINE, .holes = holes};
    e.sizes = e.inline_sizes;
    record(&e, f);
    /* the size pass knows the record's length: one cap check and one growth, then plain copies */
    size_t n_out = e.n - (size_t)e.hole_bytes;
    uint8_t *start = mitm_buf_extend(out, n_out);
    int rc = start ? 0 : -1;
    if (start) {
        e.b = start;
        e.start = start;
        e.n_holes = 0;
        record(&e, f);
        assert((size_t)(e.b - start) == n_out);
        if (n_holes)
            *n_holes = e.n_holes;
    }
    if (e.sizes != e.inline_sizes)
        free(e.sizes);
    if (rc < 0 && errlen)
        snprintf(err, errlen, "flow %s: record larger than the buffer cap", f->id);
    return rc;
}

int mitm_flowfile_encode(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen)
{
    return encode(f, out, NULL, NULL, err, errlen);
}

int mitm_flowfile_encode_holes(const struct mitm_flow *f, struct mitm_buf *out,
                               struct mitm_flowfile_hole holes[MITM_FLOWFILE_MAX_HOLES], size_t *n_holes,
                               char *err, size_t errlen)
{
    *n_holes = 0;
    return encode(f, out, holes, n_holes, err, errlen);
}

/* n bytes at pos (pwrite) or, pos NULL, at the file's offset (write). */
static int write_all(int fd, uint64_t *pos, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        ssize_t k = pos ? pwrite(fd, p, n, (off_t)*pos) : write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (errlen)
                snprintf(err, errlen, "%s", k < 0 ? strerror(errno) : "short write");
            return -1;
        }
        p += k;
        n -= (size_t)k;
        if (pos)
            *pos += (uint64_t)k;
    }
    return 0;
}

int mitm_flowfile_write_holes(int fd, uint64_t *pos, const uint8_t *rec, size_t len,
                              const struct mitm_flowfile_hole *holes, size_t n_holes, char *err,
                              size_t errlen)
{
    size_t done = 0;
    uint8_t *chunk = NULL;
    int rc = 0;
    for (size_t k = 0; k <= n_holes && rc == 0; k++) {
        size_t upto = k < n_holes ? holes[k].at : len;
        rc = write_all(fd, pos, rec + done, upto - done, err, errlen);
        done = upto;
        if (rc < 0 || k == n_holes)
            break;
        /* the body from its file through a small buffer: pread leaves the body's mapping
         * untouched, so the copy adds nothing to the process's memory */
        if (!chunk)
            chunk = mitm_alloc(HOLE_CHUNK);
        for (uint64_t off = 0; off < holes[k].len && rc == 0;) {
            size_t want = holes[k].len - off < HOLE_CHUNK ? (size_t)(holes[k].len - off) : HOLE_CHUNK;
            ssize_t r = pread(holes[k].fd, chunk, want, (off_t)(holes[k].off + off));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                if (errlen)
                    snprintf(err, errlen, "reading a body file: %s",
                             r < 0 ? strerror(errno) : "it is shorter");
                rc = -1;
                break;
            }
            rc = write_all(fd, pos, chunk, (size_t)r, err, errlen);
            off += (uint64_t)r;
        }
    }
    free(chunk);
    return rc;
}
