/* HTTP/1.x message body framing (RFC 9112 §6) and the chunked decoder (§7.1). */
#include "proto/http1/h1.h"
#include "base/alloc.h"
#include "base/slice.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A chunk-size line (size, extensions, CRLF) longer than this is refused: nothing legitimate
 * needs it, and it bounds how long a peer can keep us in the line states. */
#define MAX_CHUNK_LINE 4096

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool name_is(const struct mitm_header *h, const char *name)
{
    return mitm_slice_ieq(mitm_slice(h->name, h->name_len), name);
}

/* Iterate the elements of a comma-separated list (RFC 9110 §5.6.1) held in one field value,
 * with OWS trimmed; empty elements are reported as empty slices. Returns false at the end. */
struct list_iter {
    const uint8_t *p, *end;
    bool over;
};

static bool list_next(struct list_iter *it, struct mitm_slice *elem)
{
    if (it->over)
        return false;
    const uint8_t *s = it->p, *e = memchr(s, ',', (size_t)(it->end - s));
    if (!e) {
        e = it->end;
        it->over = true;
    }
    it->p = e + (e < it->end);
    while (s < e && is_ows(*s))
        s++;
    while (e > s && is_ows(e[-1]))
        e--;
    *elem = mitm_slice(s, (size_t)(e - s));
    return true;
}

/* RFC 9110 §8.6: Content-Length = 1*DIGIT. Every value of every Content-Length field must
 * be the same number (a proxy may collapse "42, 42"); anything else is unrecoverable framing
 * (RFC 9112 §6.3 rule 5). Returns 1 found, 0 absent, -1 invalid. */
static int content_length(const struct mitm_headers *h, uint64_t *out, const char **reason)
{
    bool found = false;
    uint64_t first = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (!name_is(&h->v[i], "content-length"))
            continue;
        struct list_iter it = {(const uint8_t *)h->v[i].value,
                               (const uint8_t *)h->v[i].value + h->v[i].value_len, false};
        struct mitm_slice e;
        while (list_next(&it, &e)) {
            if (e.len == 0) {
                *reason = "Invalid Content-Length header";
                return -1;
            }
            uint64_t v = 0;
            for (size_t k = 0; k < e.len; k++) {
                uint8_t c = e.base[k];
                if (c < '0' || c > '9') {
                    *reason = "Invalid Content-Length header";
                    return -1;
                }
                if (v > (UINT64_C(0x7fffffffffffffff) - (c - '0')) / 10) {
                    *reason = "Content-Length too large";
                    return -1;
                }
                v = v * 10 + (c - '0');
            }
            if (found && v != first) {
                *reason = "Conflicting Content-Length headers";
                return -1;
            }
            found = true;
            first = v;
        }
    }
    *out = first;
    return found;
}

static bool known_coding(struct mitm_slice c)
{
    static const char *const known[] = {"gzip", "x-gzip", "deflate", "compress", "x-compress"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (mitm_slice_ieq(c, known[i]))
            return true;
    return false;
}

enum te_result { TE_ABSENT, TE_CHUNKED, TE_NOT_CHUNKED, TE_INVALID };

/* Transfer-Encoding (RFC 9112 §6.1): the codings of all fields, in order, case-insensitive.
 * "chunked" must be final and only once. *unknown is set when a coding other than the
 * registered compressions appears (transfer-parameters after ';' are ignored). */
static enum te_result transfer_encoding(const struct mitm_headers *h, bool *unknown, const char **reason)
{
    bool present = false, chunked_last = false;
    int nchunked = 0;
    *unknown = false;
    for (size_t i = 0; i < h->n; i++) {
        if (!name_is(&h->v[i], "transfer-encoding"))
            continue;
        present = true;
        struct list_iter it = {(const uint8_t *)h->v[i].value,
                               (const uint8_t *)h->v[i].value + h->v[i].value_len, false};
        struct mitm_slice e;
        while (list_next(&it, &e)) {
            if (e.len == 0) {
                /* RFC 9110 §5.6.1 lets recipients ignore empty elements, but not every server
                 * does: refused, as mitmproxy refuses "chunked," or ",chunked", so that no
                 * upstream can read a different framing than ours. */
                *reason = "Invalid Transfer-Encoding header: empty list element";
                return TE_INVALID;
            }
            const uint8_t *semi = memchr(e.base, ';', e.len);
            struct mitm_slice name = mitm_slice(e.base, semi ? (size_t)(semi - e.base) : e.len);
            while (name.len && is_ows(name.base[name.len - 1]))
                name.len--;
            for (size_t k = 0; k < name.len; k++) {
                uint8_t c = name.base[k];
                bool ok = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                          strchr("!#$%&'*+-.^_`|~", c) != NULL;
                if (!ok || c == 0) {
                    *reason = "Invalid Transfer-Encoding header";
                    return TE_INVALID;
                }
            }
            if (name.len == 0) {
                *reason = "Invalid Transfer-Encoding header";
                return TE_INVALID;
            }
            chunked_last = mitm_slice_ieq(name, "chunked");
            nchunked += chunked_last;
            if (!chunked_last && !known_coding(name))
                *unknown = true;
        }
    }
    if (!present)
        return TE_ABSENT;
    if (nchunked > 1 || (nchunked == 1 && !chunked_last)) {
        /* RFC 9112 §6.1: chunked applied more than once, or not as the final coding. */
        *reason = "Transfer-Encoding: chunked must be the final coding, once";
        return nchunked > 1 ? TE_INVALID : TE_NOT_CHUNKED;
    }
    return chunked_last ? TE_CHUNKED : TE_NOT_CHUNKED;
}

bool mitm_h1_te_chunked(const struct mitm_headers *h)
{
    bool unknown;
    const char *reason;
    return transfer_encoding(h, &unknown, &reason) == TE_CHUNKED;
}

static void body_init(struct mitm_h1_body *b, const struct mitm_h1_limits *lim, enum mitm_h1_body_kind kind,
                      uint64_t remaining)
{
    memset(b, 0, sizeof(*b));
    b->kind = kind;
    b->remaining = kind == MITM_H1_BODY_LENGTH ? remaining : 0;
    b->validate = lim ? lim->validate : true;
    b->max_trailer = lim && lim->max_head ? lim->max_head : MITM_H1_DEFAULT_MAX_HEAD;
    mitm_buf_init(&b->tbuf, b->max_trailer);
}

int mitm_h1_request_framing(const struct mitm_http_request *req, const struct mitm_h1_limits *lim,
                            struct mitm_h1_body *b, const char **reason)
{
    bool validate = lim ? lim->validate : true, unknown;
    uint64_t cl = 0;
    int has_cl = content_length(&req->headers, &cl, reason);
    enum te_result te = transfer_encoding(&req->headers, &unknown, reason);
    if (te != TE_ABSENT) {
        if (req->http_version && strcmp(req->http_version, "HTTP/1.0") == 0) {
            /* RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing. */
            *reason = "Transfer-Encoding in an HTTP/1.0 request";
            return -1;
        }
        if (has_cl != 0 && validate) {
            /* RFC 9112 §6.3 rule 3: both present is a smuggling attempt; reject. */
            *reason = "Content-Length and Transfer-Encoding both present";
            return -1;
        }
        if (te == TE_INVALID)
            return -1;
        if (te == TE_NOT_CHUNKED) {
            /* RFC 9112 §6.3 rule 4: a request body must end in chunked. */
            *reason = "Request Transfer-Encoding must end in chunked";
            return -1;
        }
        if (unknown) {
            *reason = "Unknown transfer coding in request";
            return -1;
        }
        body_init(b, lim, MITM_H1_BODY_CHUNKED, 0);
        return 0;
    }
    if (has_cl < 0)
        return -1;
    body_init(b, lim, has_cl ? MITM_H1_BODY_LENGTH : MITM_H1_BODY_NONE, cl);
    return 0;
}

int mitm_h1_response_framing(const char *req_method, const struct mitm_http_response *resp,
                             const struct mitm_h1_limits *lim, struct mitm_h1_body *b, const char **reason)
{
    bool validate = lim ? lim->validate : true, unknown;
    int code = resp->status_code;
    /* RFC 9112 §6.3 rules 1-2: these responses never have content, whatever they say. */
    if ((req_method && strcmp(req_method, "HEAD") == 0) || (code >= 100 && code < 200) || code == 204 ||
        code == 304 || (req_method && strcmp(req_method, "CONNECT") == 0 && code >= 200 && code < 300)) {
        body_init(b, lim, MITM_H1_BODY_NONE, 0);
        return 0;
    }
    uint64_t cl = 0;
    int has_cl = content_length(&resp->headers, &cl, reason);
    enum te_result te = transfer_encoding(&resp->headers, &unknown, reason);
    if (te != TE_ABSENT) {
        if (has_cl != 0 && validate) {
            *reason = "Content-Length and Transfer-Encoding both present";
            return -1;
        }
        if (te == TE_INVALID)
            return -1;
        /* RFC 9112 §6.1: in HTTP/1.0 the framing is faulty; read until close. §6.3 rule 4: a
         * response whose final coding is not chunked is read until close. */
        bool v10 = resp->http_version && strcmp(resp->http_version, "HTTP/1.0") == 0;
        body_init(b, lim, te == TE_CHUNKED && !v10 ? MITM_H1_BODY_CHUNKED : MITM_H1_BODY_CLOSE, 0);
        return 0;
    }
    if (has_cl < 0)
        return -1;
    body_init(b, lim, has_cl ? MITM_H1_BODY_LENGTH : MITM_H1_BODY_CLOSE, cl);
    return 0;
}

void mitm_h1_body_free(struct mitm_h1_body *b)
{
    if (b->trailers) {
        mitm_headers_free(b->trailers);
        free(b->trailers);
        b->trailers = NULL;
    }
    mitm_buf_free(&b->tbuf);
}

/* Chunked decoder states (RFC 9112 §7.1):
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * Byte-at-a-time for the framing, memcpy-free for the data, so any split works. */
enum {
    CH_SIZE0 = 0, /* expecting the first hex digit of a size */
    CH_SIZE,      /* in the hex digits */
    CH_BWS,       /* whitespace after the size (BWS before ';') */
    CH_EXT,       /* in chunk extensions, until CR/LF */
    CH_LF,        /* saw CR at the end of the size line */
    CH_DATA,      /* remaining bytes of chunk data */
    CH_DATA_CR,   /* expecting CRLF after the data */
    CH_DATA_LF,
    CH_TRAILER, /* trailer section, buffered in tbuf (tstate below) */
    CH_DONE,
    CH_ERROR,
};

/* Trailer line scanner states. */
enum { TL_START = 0, TL_LINE, TL_CR_LINE, TL_CR_START };

static ssize_t fail(struct mitm_h1_body *b, const char **reason, const char *why)
{
    b->state = CH_ERROR;
    *reason = why;
    return MITM_PARSE_ERROR;
}

/* The trailer section is over (its final empty line consumed): parse what was buffered. */
static int finish_trailers(struct mitm_h1_body *b, const char **reason)
{
    if (b->tbuf.len > 0) {
        struct mitm_headers *t = mitm_calloc(1, sizeof(*t));
        mitm_headers_init(t);
        if (mitm_h1_parse_fields(mitm_buf_data(&b->tbuf), b->tbuf.len, b->validate, false, t, reason) < 0) {
            mitm_headers_free(t);
            free(t);
            return -1;
        }
        b->trailers = t;
    }
    mitm_buf_free(&b->tbuf);
    return 0;
}

/* Scan trailer bytes from in[0..len): returns bytes consumed, or -1. Lines are copied into
 * tbuf (capped); the final empty line is not. */
static ssize_t scan_trailers(struct mitm_h1_body *b, const uint8_t *in, size_t len, const char **reason)
{
    size_t i = 0;
    while (i < len && b->state == CH_TRAILER) {
        uint8_t c = in[i++];
        switch (b->tstate) {
        case TL_START:
            b->tstate = c == '\r' ? TL_CR_START : c == '\n' ? TL_START : TL_LINE;
            if (c == '\n')
                b->state = CH_DONE;
            break;
        case TL_LINE:
            b->tstate = c == '\r' ? TL_CR_LINE : c == '\n' ? TL_START : TL_LINE;
            break;
        case TL_CR_LINE:
            if (c != '\n')
                return fail(b, reason, "Bare CR in trailer section");
            b->tstate = TL_START;
            break;
        case TL_CR_START:
            if (c != '\n')
                return fail(b, reason, "Bare CR in trailer section");
            b->state = CH_DONE;
            break;
        }
        if (b->state != CH_DONE && b->tstate != TL_CR_START && mitm_buf_append(&b->tbuf, &c, 1) < 0)
            return fail(b, reason, "Trailer section too large");
    }
    if (b->state == CH_DONE && finish_trailers(b, reason) < 0) {
        b->state = CH_ERROR;
        return MITM_PARSE_ERROR;
    }
    return (ssize_t)i;
}

/* One byte of a chunk-size line or of the CRLF after chunk data. */
static int size_line_byte(struct mitm_h1_body *b, uint8_t c, const char **reason)
{
    int d;
    if (b->state <= CH_LF && ++b->line_len > MAX_CHUNK_LINE)
        return (int)fail(b, reason, "Chunk size line too long");
    switch (b->state) {
    case CH_SIZE0:
        if ((d = mitm_hexval((unsigned char)c)) < 0)
            return (int)fail(b, reason, c == '\r' || c == '\n' ? "Empty chunk size" : "Invalid chunk size");
        b->remaining = (uint64_t)d;
        b->state = CH_SIZE;
        return 0;
    case CH_SIZE:
        if ((d = mitm_hexval((unsigned char)c)) >= 0) {
            if (b->remaining >> 59)
                return (int)fail(b, reason, "Chunk size too large");
            b->remaining = b->remaining << 4 | (uint64_t)d;
            return 0;
        }
        if (is_ows(c)) {
            b->state = CH_BWS;
            return 0;
        }
        break;
    case CH_BWS:
        if (is_ows(c))
            return 0;
        break;
    case CH_EXT:
        /* RFC 9112 §7.1.1: extensions are tokens and quoted strings; we forward none and only
         * refuse what could confuse another parser (CTLs, a bare CR). */
        if (c == '\r' || c == '\n')
            break;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return (int)fail(b, reason, "Invalid character in chunk extension");
        return 0;
    case CH_LF:
        if (c != '\n')
            return (int)fail(b, reason, "Bare CR in chunk size line");
        goto eol;
    case CH_DATA_CR:
        if (c == '\r') {
            b->state = CH_DATA_LF;
            return 0;
        }
        if (c == '\n')
            goto next_chunk;
        return (int)fail(b, reason, "Missing CRLF after chunk data");
    case CH_DATA_LF:
        if (c != '\n')
            return (int)fail(b, reason, "Missing CRLF after chunk data");
        goto next_chunk;
    }
    /* CH_SIZE, CH_BWS, CH_EXT: end of size, start of extension or end of line */
    if (c == ';') {
        b->state = CH_EXT;
        return 0;
    }
    if (c == '\r') {
        b->state = CH_LF;
        return 0;
    }
    if (c == '\n')
        goto eol;
    return (int)fail(b, reason, "Invalid chunk size");
eol:
    b->state = b->remaining ? CH_DATA : CH_TRAILER;
    b->tstate = TL_START;
    return 0;
next_chunk:
    b->state = CH_SIZE0;
    b->line_len = 0;
    return 0;
}

static ssize_t decode_chunked(struct mitm_h1_body *b, const uint8_t *in, size_t len, struct mitm_slice *data,
                              const char **reason)
{
    size_t i = 0;
    bool have_data = false;
    while (i < len) {
        switch (b->state) {
        case CH_DONE:
            return (ssize_t)i;
        case CH_ERROR:
            *reason = "Chunked body already failed";
            return MITM_PARSE_ERROR;
        case CH_DATA: {
            if (have_data)
                return (ssize_t)i; /* one slice per call */
            size_t n = len - i;
            if ((uint64_t)n > b->remaining)
                n = (size_t)b->remaining;
            *data = mitm_slice(in + i, n);
            have_data = true;
            i += n;
            b->remaining -= n;
            if (b->remaining == 0)
                b->state = CH_DATA_CR;
            break;
        }
        case CH_TRAILER: {
            ssize_t r = scan_trailers(b, in + i, len - i, reason);
            if (r < 0)
                return r;
            i += (size_t)r;
            break;
        }
        default:
            if (size_line_byte(b, in[i], reason) < 0)
                return MITM_PARSE_ERROR;
            i++;
        }
    }
    return (ssize_t)i;
}

ssize_t mitm_h1_body_decode(struct mitm_h1_body *b, const uint8_t *in, size_t len, struct mitm_slice *data,
                            bool *done, const char **reason)
{
    *data = mitm_slice(in, 0);
    *done = false;
    switch (b->kind) {
    case MITM_H1_BODY_NONE:
        *done = true;
        return 0;
    case MITM_H1_BODY_CLOSE:
        *data = mitm_slice(in, len);
        return (ssize_t)len;
    case MITM_H1_BODY_LENGTH: {
        size_t n = len;
        if ((uint64_t)n > b->remaining)
            n = (size_t)b->remaining;
        *data = mitm_slice(in, n);
        b->remaining -= n;
        *done = b->remaining == 0;
        return (ssize_t)n;
    }
    case MITM_H1_BODY_CHUNKED:
        break;
    }
    if (b->state == CH_ERROR) {
        *reason = "Chunked body already failed";
        return MITM_PARSE_ERROR;
    }
    ssize_t r = decode_chunked(b, in, len, data, reason);
    if (r >= 0)
        *done = b->state == CH_DONE;
    return r;
}
