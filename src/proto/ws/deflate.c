/* Sec-WebSocket-Extensions (RFC 6455 §9.1) and permessage-deflate (RFC 7692) on zlib. */
#include "proto/ws/deflate.h"
#include "base/alloc.h"
#include "proto/http/http.h"
#include "proto/ws/ws.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---------------------------------------------------------------- header grammar */

/* RFC 9110 §5.6.2 tchar. */
static bool tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t skip_ows(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

static size_t token_end(const char *s, size_t n, size_t i)
{
    while (i < n && tchar((uint8_t)s[i]))
        i++;
    return i;
}

static bool is_token(const char *s, size_t n)
{
    return n > 0 && token_end(s, n, 0) == n;
}

void mitm_ws_extensions_free(struct mitm_ws_extensions *e)
{
    for (size_t i = 0; i < e->n; i++) {
        for (size_t j = 0; j < e->v[i].nparams; j++) {
            free(e->v[i].params[j].name);
            free(e->v[i].params[j].value);
        }
        free(e->v[i].params);
        free(e->v[i].name);
    }
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

/* A parameter value at s[*i]: a token, or a quoted-string whose content (escapes removed) must
 * be a token (§9.1). Returns the value (owned) or NULL with *reason. */
static char *param_value(const char *s, size_t n, size_t *i, const char **reason)
{
    size_t at = *i;
    if (at < n && s[at] == '"') {
        struct mitm_buf v;
        mitm_buf_init(&v, 0);
        for (at++; at < n && s[at] != '"'; at++) {
            if (s[at] == '\\' && at + 1 < n)
                at++;
            mitm_buf_append(&v, &s[at], 1);
        }
        if (at >= n) {
            mitm_buf_free(&v);
            *reason = "unterminated quoted string in Sec-WebSocket-Extensions";
            return NULL;
        }
        *i = at + 1;
        size_t len;
        char *out = (char *)mitm_buf_steal(&v, &len);
        if (!is_token(out, len) || strlen(out) != len) {
            free(out);
            *reason = "quoted extension parameter value is not a token";
            return NULL;
        }
        return out;
    }
    size_t e = token_end(s, n, at);
    if (e == at) {
        *reason = "extension parameter value is not a token";
        return NULL;
    }
    *i = e;
    return mitm_strndup(s + at, e - at);
}

/* One extension element (name and parameters) at s[*i]. */
static int element(const char *s, size_t n, size_t *i, struct mitm_ws_ext *x, const char **reason)
{
    size_t at = *i, e = token_end(s, n, at);
    if (e == at) {
        *reason = "extension name is not a token";
        return -1;
    }
    x->name = mitm_strndup(s + at, e - at);
    at = skip_ows(s, n, e);
    while (at < n && s[at] == ';') {
        at = skip_ows(s, n, at + 1);
        e = token_end(s, n, at);
        if (e == at) {
            *reason = "extension parameter name is not a token";
            return -1;
        }
        if (x->nparams == MITM_WS_MAX_EXT_PARAMS) {
            *reason = "too many extension parameters";
            return -1;
        }
        struct mitm_ws_ext_param *p = &x->params[x->nparams++];
        p->name = mitm_strndup(s + at, e - at);
        p->value = NULL;
        at = skip_ows(s, n, e);
        if (at < n && s[at] == '=') {
            at = skip_ows(s, n, at + 1);
            p->value = param_value(s, n, &at, reason);
            if (!p->value)
                return -1;
            at = skip_ows(s, n, at);
        }
    }
    *i = at;
    return 0;
}

static int parse_field(const char *s, size_t n, struct mitm_ws_extensions *out, const char **reason)
{
    size_t i = 0;
    for (;;) {
        /* RFC 9110 §5.6.1: empty list elements are ignored */
        while (i < n && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n)
            return 0;
        if (out->n == MITM_WS_MAX_EXTENSIONS) {
            *reason = "too many extensions in Sec-WebSocket-Extensions";
            return -1;
        }
        if (out->n % 8 == 0)
            out->v = mitm_realloc(out->v, (out->n + 8) * sizeof(*out->v));
        struct mitm_ws_ext *x = &out->v[out->n++];
        memset(x, 0, sizeof(*x));
        x->params = mitm_calloc(MITM_WS_MAX_EXT_PARAMS, sizeof(*x->params));
        if (element(s, n, &i, x, reason) < 0)
            return -1;
        if (i < n && s[i] != ',') {
            *reason = "unexpected character in Sec-WebSocket-Extensions";
            return -1;
        }
    }
}

int mitm_ws_extensions_parse(const struct mitm_headers *h, struct mitm_ws_extensions *out,
                             const char **reason)
{
    out->v = NULL;
    out->n = 0;
    for (long i = mitm_headers_find(h, "sec-websocket-extensions", 0); i >= 0;
         i = mitm_headers_find(h, "sec-websocket-extensions", (size_t)i + 1)) {
        if (parse_field(h->v[i].value, h->v[i].value_len, out, reason) < 0) {
            mitm_ws_extensions_free(out);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- permessage-deflate parameters */

/* §7.1.2.1: "a decimal integer value without leading zeroes between 8 and 15, inclusive". */
static int window_bits(const char *v)
{
    if (!v)
        return -1;
    if (v[0] >= '8' && v[0] <= '9' && v[1] == 0)
        return v[0] - '0';
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == 0)
        return 10 + v[1] - '0';
    return -1;
}

int mitm_ws_pmd_parse(const struct mitm_ws_ext *e, bool offer, struct mitm_ws_pmd *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(e->name, MITM_WS_PMD_NAME) != 0) {
        *reason = "not permessage-deflate";
        return -1;
    }
    bool seen[4] = {false, false, false, false};
    for (size_t i = 0; i < e->nparams; i++) {
        const struct mitm_ws_ext_param *p = &e->params[i];
        int k;
        if (!strcmp(p->name, "server_no_context_takeover"))
            k = 0;
        else if (!strcmp(p->name, "client_no_context_takeover"))
            k = 1;
        else if (!strcmp(p->name, "server_max_window_bits"))
            k = 2;
        else if (!strcmp(p->name, "client_max_window_bits"))
            k = 3;
        else {
            *reason = "unknown permessage-deflate parameter";
            return -1;
        }
        if (seen[k]) {
            *reason = "repeated permessage-deflate parameter";
            return -1;
        }
        seen[k] = true;
        if (k < 2 && p->value) {
            *reason = "permessage-deflate no_context_takeover parameter with a value";
            return -1;
        }
        if (k == 0)
            out->server_no_context_takeover = true;
        else if (k == 1)
            out->client_no_context_takeover = true;
        else if (k == 3 && !p->value && offer)
            out->client_max_window_bits = MITM_WS_PMD_BITS_NO_VALUE; /* §7.1.2.2 */
        else {
            int b = window_bits(p->value);
            if (b < 0) {
                *reason = "permessage-deflate max_window_bits is not a number from 8 to 15";
                return -1;
            }
            if (k == 2)
                out->server_max_window_bits = (uint8_t)b;
            else
                out->client_max_window_bits = (uint8_t)b;
        }
    }
    return 0;
}

/* Is resp an acceptance of offer? NULL if so, else why not. */
static const char *accepts(const struct mitm_ws_pmd *offer, const struct mitm_ws_pmd *resp)
{
    if (offer->server_no_context_takeover && !resp->server_no_context_takeover)
        return "permessage-deflate response lacks the server_no_context_takeover that was asked for";
    if (offer->server_max_window_bits) {
        if (!resp->server_max_window_bits)
            return "permessage-deflate response lacks the server_max_window_bits that was asked for";
        if (resp->server_max_window_bits > offer->server_max_window_bits)
            return "permessage-deflate response has a larger server_max_window_bits than offered";
    }
    if (resp->client_max_window_bits) {
        if (!offer->client_max_window_bits)
            return "permessage-deflate response has client_max_window_bits that was not offered";
        if (offer->client_max_window_bits != MITM_WS_PMD_BITS_NO_VALUE &&
            resp->client_max_window_bits > offer->client_max_window_bits)
            return "permessage-deflate response has a larger client_max_window_bits than offered";
    }
    return NULL;
}

int mitm_ws_pmd_check_response(const struct mitm_ws_extensions *offers, const struct mitm_ws_pmd *resp,
                               const char **reason)
{
    const char *why = "permessage-deflate accepted but not offered";
    for (size_t i = 0; i < offers->n; i++) {
        struct mitm_ws_pmd o;
        const char *r;
        if (strcmp(offers->v[i].name, MITM_WS_PMD_NAME) != 0 ||
            mitm_ws_pmd_parse(&offers->v[i], true, &o, &r) < 0)
            continue;
        why = accepts(&o, resp);
        if (!why)
            return 0;
    }
    *reason = why;
    return -1;
}

int mitm_ws_negotiate(const struct mitm_headers *req, const struct mitm_headers *resp,
                      struct mitm_ws_negotiated *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    out->pmd_index = SIZE_MAX;
    if (mitm_ws_extensions_parse(resp, &out->ext, reason) < 0)
        return -1;
    for (size_t i = 0; i < out->ext.n; i++) {
        if (strcmp(out->ext.v[i].name, MITM_WS_PMD_NAME) != 0)
            continue;
        if (out->pmd_index != SIZE_MAX) {
            *reason = "permessage-deflate accepted twice";
            goto Fail;
        }
        if (mitm_ws_pmd_parse(&out->ext.v[i], false, &out->params, reason) < 0)
            goto Fail;
        out->pmd_index = i;
    }
    if (out->pmd_index != SIZE_MAX) {
        struct mitm_ws_extensions offers;
        const char *ignored;
        if (mitm_ws_extensions_parse(req, &offers, &ignored) < 0)
            offers.n = 0;
        int rc = mitm_ws_pmd_check_response(&offers, &out->params, reason);
        mitm_ws_extensions_free(&offers);
        if (rc < 0)
            goto Fail;
        out->pmd = true;
    }
    return 0;
Fail:
    mitm_ws_negotiated_free(out);
    return -1;
}

void mitm_ws_negotiated_free(struct mitm_ws_negotiated *n)
{
    mitm_ws_extensions_free(&n->ext);
    n->pmd = false;
    n->pmd_index = SIZE_MAX;
}

/* ---------------------------------------------------------------- inflater */

struct mitm_ws_inflater {
    z_stream zs;
    bool no_context_takeover;
    bool ended;       /* the sender ended the DEFLATE stream (BFINAL) inside this message */
    bool more;        /* finishing: the last inflate produced output, more may follow */
    uint8_t tail_pos; /* finishing: tail bytes fed */
    uint8_t out[MITM_WS_CHUNK];
};

struct mitm_ws_inflater *mitm_ws_inflater_new(int window_bits, bool no_context_takeover)
{
    struct mitm_ws_inflater *z = mitm_try_alloc(sizeof(*z));
    if (!z)
        return NULL;
    memset(z, 0, sizeof(*z));
    z->no_context_takeover = no_context_takeover;
    if (window_bits < 8 || window_bits > 15)
        window_bits = 15;
    if (inflateInit2(&z->zs, -window_bits) != Z_OK) { /* negative: raw deflate, no zlib header */
        free(z);
        return NULL;
    }
    return z;
}

void mitm_ws_inflater_free(struct mitm_ws_inflater *z)
{
    if (!z)
        return;
    inflateEnd(&z->zs);
    free(z);
}

ssize_t mitm_ws_inflate(struct mitm_ws_inflater *z, const uint8_t *in, size_t len, struct mitm_slice *out,
                        uint16_t *code, const char **reason)
{
    *out = mitm_slice(z->out, 0);
    if (z->ended)
        return (ssize_t)len; /* after BFINAL: ignored, like Python's decompressobj.unused_data */
    /* zlib counts in uInt: feed at most 1 GiB per call */
    size_t n = len > ((size_t)1 << 30) ? (size_t)1 << 30 : len;
    z->zs.next_in = (Bytef *)(uintptr_t)in;
    z->zs.avail_in = (uInt)n;
    z->zs.next_out = z->out;
    z->zs.avail_out = sizeof(z->out);
    int rc = inflate(&z->zs, Z_SYNC_FLUSH);
    size_t consumed = n - z->zs.avail_in;
    out->len = sizeof(z->out) - z->zs.avail_out;
    /* Output decoded before bad data is reported first; zlib stays in its error state, so the
     * next call reports the error. The outcome then does not depend on how input was split. */
    if (out->len > 0 && (rc == Z_DATA_ERROR || rc == Z_NEED_DICT))
        return (ssize_t)consumed;
    switch (rc) {
    case Z_OK:
    case Z_BUF_ERROR: /* no progress possible: needs input, not an error */
        return (ssize_t)consumed;
    case Z_STREAM_END:
        z->ended = true;
        return (ssize_t)len;
    case Z_MEM_ERROR:
        *code = MITM_WS_INTERNAL_ERROR;
        *reason = "out of memory while inflating";
        return MITM_PARSE_ERROR;
    default: /* Z_DATA_ERROR, Z_NEED_DICT */
        *code = MITM_WS_INVALID_FRAME_PAYLOAD_DATA;
        *reason = "compressed message is not valid DEFLATE data";
        return MITM_PARSE_ERROR;
    }
}

int mitm_ws_inflate_finish(struct mitm_ws_inflater *z, struct mitm_slice *out, uint16_t *code,
                           const char **reason)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    *out = mitm_slice(z->out, 0);
    if (!z->ended && (z->tail_pos < 4 || z->more)) {
        ssize_t c = mitm_ws_inflate(z, tail + z->tail_pos, 4u - z->tail_pos, out, code, reason);
        if (c < 0)
            return MITM_PARSE_ERROR;
        z->tail_pos = (uint8_t)(z->tail_pos + c);
        z->more = out->len > 0;
        if (out->len > 0)
            return 1;
    }
    /* RFC 7692 §7.2.2: without context takeover each message starts a new stream; a stream the
     * sender ended with BFINAL cannot be continued either. */
    if (z->no_context_takeover || z->ended)
        inflateReset(&z->zs);
    z->ended = false;
    z->more = false;
    z->tail_pos = 0;
    return 0;
}

/* Append one piece of inflated output, within max bytes in all. */
static int append_piece(struct mitm_buf *out, struct mitm_slice piece, uint64_t max, uint64_t *total,
                        uint16_t *code, const char **reason)
{
    if (piece.len > max - *total || mitm_buf_append(out, piece.base, piece.len) < 0) {
        *code = MITM_WS_MESSAGE_TOO_BIG;
        *reason = "message inflates to more than the limit";
        return -1;
    }
    *total += piece.len;
    return 0;
}

int mitm_ws_inflate_message(struct mitm_ws_inflater *z, const uint8_t *in, size_t len, uint64_t max,
                            struct mitm_buf *out, uint16_t *code, const char **reason)
{
    uint64_t total = 0;
    struct mitm_slice piece;
    size_t off = 0;
    for (;;) {
        ssize_t c = mitm_ws_inflate(z, in + off, len - off, &piece, code, reason);
        if (c < 0)
            return -1;
        off += (size_t)c;
        if (piece.len == 0 && (off == len || c == 0))
            break;
        if (append_piece(out, piece, max, &total, code, reason) < 0)
            return -1;
    }
    int r;
    while ((r = mitm_ws_inflate_finish(z, &piece, code, reason)) > 0)
        if (append_piece(out, piece, max, &total, code, reason) < 0)
            return -1;
    return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- deflater */

struct mitm_ws_deflater {
    z_stream zs;
    bool no_context_takeover;
};

struct mitm_ws_deflater *mitm_ws_deflater_new(int window_bits, bool no_context_takeover)
{
    struct mitm_ws_deflater *z = mitm_try_alloc(sizeof(*z));
    if (!z)
        return NULL;
    memset(z, 0, sizeof(*z));
    z->no_context_takeover = no_context_takeover;
    if (window_bits < 9 || window_bits > 15)
        window_bits = window_bits == 8 ? 9 : 15; /* zlib refuses raw 8 (see deflate.h) */
    /* memLevel 8 and the default level: what Python's zlib.compressobj (wsproto) uses */
    if (deflateInit2(&z->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void mitm_ws_deflater_free(struct mitm_ws_deflater *z)
{
    if (!z)
        return;
    deflateEnd(&z->zs);
    free(z);
}

int mitm_ws_deflate(struct mitm_ws_deflater *z, const uint8_t *in, size_t len, bool fin, struct mitm_buf *out)
{
    uint8_t buf[16384];
    size_t start = out->len;
    do {
        size_t n = len > ((size_t)1 << 30) ? (size_t)1 << 30 : len;
        /* every frame ends in a sync flush, so the receiver can inflate all of it at once and
         * sees the frame boundaries we were given (a relayed message keeps its fragmentation) */
        int flush = n == len ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        z->zs.next_in = (Bytef *)(uintptr_t)in;
        z->zs.avail_in = (uInt)n;
        do {
            z->zs.next_out = buf;
            z->zs.avail_out = sizeof(buf);
            int rc = deflate(&z->zs, flush);
            if (rc == Z_STREAM_ERROR)
                return -1;
            if (mitm_buf_append(out, buf, sizeof(buf) - z->zs.avail_out) < 0)
                return -1;
        } while (z->zs.avail_out == 0);
        in += n - z->zs.avail_in;
        len -= n - z->zs.avail_in;
    } while (len > 0);
    if (!fin)
        return 0;
    const uint8_t *d = mitm_buf_data(out);
    if (out->len == start) {
        /* Nothing new since the previous frame's flush: zlib writes nothing. End the message with
         * the header byte of an empty stored block; the receiver's 00 00 ff ff completes it. */
        if (mitm_buf_append(out, "\x00", 1) < 0)
            return -1;
    } else if (out->len - start >= 4 && memcmp(d + out->len - 4, "\x00\x00\xff\xff", 4) == 0) {
        out->len -= 4; /* RFC 7692 §7.2.1: drop the end of the sync flush's empty stored block */
    } else {
        return -1;
    }
    if (z->no_context_takeover)
        deflateReset(&z->zs);
    return 0;
}
