/* WebSocket frames (RFC 6455 §5): the incremental parser, UTF-8 validation, close payloads and
 * the frame writers. */
#include "proto/ws/ws.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

enum pstate {
    S_HEADER = 0, /* collecting the frame header into hdr */
    S_PAYLOAD,    /* a data frame's payload */
    S_TAIL,       /* a compressed message ended: inflating the 00 00 ff ff tail */
    S_FRAME_END,  /* report FRAME_END */
    S_CONTROL,    /* collecting a control frame's payload into ctl */
    S_CLOSED,     /* a Close frame was reported: everything else is ignored */
    S_FAILED,     /* sticky error */
};

#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

/* ---------------------------------------------------------------- close codes */

bool mitm_ws_close_code_valid(int code)
{
    /* §7.4.2: 0-999 unused; 1000-2999 this protocol (only the defined ones may be sent; 1004 is
     * reserved and 1005, 1006, 1015 are local only); 3000-4999 libraries and applications. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

const char *mitm_ws_close_code_name(int code)
{
    switch (code) {
    case 1000:
        return "NORMAL_CLOSURE";
    case 1001:
        return "GOING_AWAY";
    case 1002:
        return "PROTOCOL_ERROR";
    case 1003:
        return "UNSUPPORTED_DATA";
    case 1005:
        return "NO_STATUS_RCVD";
    case 1006:
        return "ABNORMAL_CLOSURE";
    case 1007:
        return "INVALID_FRAME_PAYLOAD_DATA";
    case 1008:
        return "POLICY_VIOLATION";
    case 1009:
        return "MESSAGE_TOO_BIG";
    case 1010:
        return "MANDATORY_EXT";
    case 1011:
        return "INTERNAL_ERROR";
    case 1012:
        return "SERVICE_RESTART";
    case 1013:
        return "TRY_AGAIN_LATER";
    case 1015:
        return "TLS_HANDSHAKE_FAILED";
    }
    return NULL;
}

/* ---------------------------------------------------------------- UTF-8 */

/* Validator state: 0 between characters, else the continuation bytes still needed (bits 0-1)
 * and the range the next one must fall in (lo in bits 8-15, hi in bits 16-23): the ranges of
 * RFC 3629 §4 that exclude overlong forms, surrogates and code points above U+10FFFF. */
static uint32_t lead(uint8_t b)
{
#define ST(need, lo, hi) ((uint32_t)(need) | ((uint32_t)(lo) << 8) | ((uint32_t)(hi) << 16))
    if (b >= 0xc2 && b <= 0xdf)
        return ST(1, 0x80, 0xbf);
    if (b == 0xe0)
        return ST(2, 0xa0, 0xbf);
    if (b == 0xed)
        return ST(2, 0x80, 0x9f);
    if (b >= 0xe1 && b <= 0xef)
        return ST(2, 0x80, 0xbf);
    if (b == 0xf0)
        return ST(3, 0x90, 0xbf);
    if (b >= 0xf1 && b <= 0xf3)
        return ST(3, 0x80, 0xbf);
    if (b == 0xf4)
        return ST(3, 0x80, 0x8f);
    return UINT32_MAX; /* 0x80-0xc1 (continuation or overlong lead), 0xf5-0xff */
}

bool mitm_ws_utf8_feed(uint32_t *state, const uint8_t *p, size_t n)
{
    uint32_t st = *state;
    size_t i = 0;
    while (i < n) {
        if (st == 0) {
            /* ASCII runs 8 bytes at a time: most text is ASCII */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i == n)
                break;
            uint8_t b = p[i++];
            if (b < 0x80)
                continue;
            st = lead(b);
            if (st == UINT32_MAX)
                return false;
            continue;
        }
        uint8_t b = p[i++], lo = (uint8_t)(st >> 8), hi = (uint8_t)(st >> 16);
        if (b < lo || b > hi)
            return false;
        uint32_t need = (st & 3) - 1;
        st = need ? ST(need, 0x80, 0xbf) : 0;
    }
    *state = st;
    return true;
#undef ST
}

bool mitm_ws_utf8_valid(const uint8_t *p, size_t n)
{
    uint32_t st = 0;
    return mitm_ws_utf8_feed(&st, p, n) && st == 0;
}

/* ---------------------------------------------------------------- parser */

void mitm_ws_parser_init(struct mitm_ws_parser *p, bool from_client, const struct mitm_ws_limits *lim,
                         const struct mitm_ws_pmd *pmd)
{
    memset(p, 0, sizeof(*p));
    p->from_client = from_client;
    p->lim.max_frame = lim && lim->max_frame ? lim->max_frame : MITM_WS_DEFAULT_MAX_FRAME;
    p->lim.max_message = lim && lim->max_message ? lim->max_message : MITM_WS_DEFAULT_MAX_MESSAGE;
    p->state = S_HEADER;
    if (pmd) {
        p->inf = mitm_ws_inflater_new(mitm_ws_pmd_window_bits(pmd, from_client),
                                      mitm_ws_pmd_no_context_takeover(pmd, from_client));
        if (!p->inf) {
            /* reported by the first parse call: init itself cannot fail */
            p->state = S_FAILED;
            p->err_code = MITM_WS_INTERNAL_ERROR;
            p->err = "cannot allocate the permessage-deflate decompressor";
        }
    }
}

void mitm_ws_parser_free(struct mitm_ws_parser *p)
{
    mitm_ws_inflater_free(p->inf);
    free(p->scratch);
    p->inf = NULL;
    p->scratch = NULL;
}

bool mitm_ws_parser_closed(const struct mitm_ws_parser *p)
{
    return p->state == S_CLOSED;
}

static ssize_t fail(struct mitm_ws_parser *p, struct mitm_ws_event *ev, uint16_t code, const char *why)
{
    p->state = S_FAILED;
    p->err_code = code;
    p->err = why;
    ev->type = MITM_WS_EV_NONE;
    ev->error_code = code;
    ev->error = why;
    return MITM_PARSE_ERROR;
}

/* XOR n bytes of payload starting at payload offset pos with the key (§5.3). */
static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], uint64_t pos)
{
    size_t i = 0;
    uint8_t k[4];
    for (int j = 0; j < 4; j++)
        k[j] = key[(pos + (uint64_t)j) & 3];
    if (n >= 8) {
        uint64_t kw;
        uint8_t k8[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
        memcpy(&kw, k8, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= kw;
            memcpy(dst + i, &w, 8);
        }
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ k[i & 3];
}

/* Header size announced by the first two bytes. */
static uint8_t header_size(const uint8_t *h)
{
    uint8_t n = 2, l = h[1] & 0x7f;
    if (l == 126)
        n += 2;
    else if (l == 127)
        n += 8;
    if (h[1] & 0x80)
        n += 4;
    return n;
}

/* Checks that need only the first two bytes (so they fire before the rest of the header). */
static const char *check_start(const struct mitm_ws_parser *p, const uint8_t *h)
{
    uint8_t op = h[0] & 0x0f, rsv = h[0] & 0x70, len7 = h[1] & 0x7f;
    bool control = op & 0x08;
    if (op != MITM_WS_CONTINUATION && op != MITM_WS_TEXT && op != MITM_WS_BINARY && op != MITM_WS_CLOSE &&
        op != MITM_WS_PING && op != MITM_WS_PONG)
        return "reserved opcode"; /* §5.2 */
    if (control && !(h[0] & 0x80))
        return "fragmented control frame"; /* §5.5 */
    if (control && len7 > MITM_WS_MAX_CONTROL)
        return "control frame payload longer than 125 bytes"; /* §5.5 */
    if (rsv & (RSV2 | RSV3))
        return "RSV2 or RSV3 set without an extension that defines them"; /* §5.2 */
    if (rsv & RSV1) {
        if (!p->inf)
            return "RSV1 set without permessage-deflate";
        if (control)
            return "RSV1 set on a control frame"; /* RFC 7692 §6.1 */
        if (op == MITM_WS_CONTINUATION)
            return "RSV1 set on a continuation frame"; /* RFC 7692 §6.1 */
    }
    bool masked = h[1] & 0x80;
    if (p->from_client && !masked)
        return "unmasked frame from the client"; /* §5.1 */
    if (!p->from_client && masked)
        return "masked frame from the server"; /* §5.1 */
    if (!control && op == MITM_WS_CONTINUATION && !p->in_message)
        return "continuation frame without a message to continue"; /* §5.4 */
    if (!control && op != MITM_WS_CONTINUATION && p->in_message)
        return "new data frame inside a fragmented message"; /* §5.4 */
    return NULL;
}

/* The whole header is in hdr: decode it, apply the length rules and caps, set up the payload. */
static ssize_t begin_frame(struct mitm_ws_parser *p, struct mitm_ws_event *ev)
{
    const uint8_t *h = p->hdr;
    struct mitm_ws_frame *f = &p->frame;
    uint8_t len7 = h[1] & 0x7f, at = 2;
    f->fin = h[0] & 0x80;
    f->rsv = h[0] & 0x70;
    f->opcode = h[0] & 0x0f;
    f->masked = h[1] & 0x80;
    if (len7 == 126) {
        f->length = (uint64_t)h[2] << 8 | h[3];
        at = 4;
        if (f->length < 126)
            return fail(p, ev, MITM_WS_PROTOCOL_ERROR, "16-bit payload length below 126 (not minimal)");
    } else if (len7 == 127) {
        f->length = 0;
        for (int i = 0; i < 8; i++)
            f->length = f->length << 8 | h[2 + i];
        at = 10;
        if (f->length >> 63)
            return fail(p, ev, MITM_WS_PROTOCOL_ERROR, "64-bit payload length with the top bit set");
        if (f->length <= 0xffff)
            return fail(p, ev, MITM_WS_PROTOCOL_ERROR, "64-bit payload length below 65536 (not minimal)");
    } else {
        f->length = len7;
    }
    if (f->masked)
        memcpy(f->mask, h + at, 4);
    else
        memset(f->mask, 0, 4);
    p->pos = 0;
    p->hlen = 0;
    if (f->opcode & 0x08) {
        p->state = S_CONTROL;
        return 0;
    }
    if (f->length > p->lim.max_frame)
        return fail(p, ev, MITM_WS_MESSAGE_TOO_BIG, "frame larger than the frame size limit");
    if (f->opcode != MITM_WS_CONTINUATION) {
        p->in_message = true;
        p->msg_opcode = f->opcode;
        p->msg_compressed = (f->rsv & RSV1) != 0;
        p->msg_len = 0;
        p->utf8 = 0;
    }
    if (!p->msg_compressed && f->length > p->lim.max_message - p->msg_len)
        return fail(p, ev, MITM_WS_MESSAGE_TOO_BIG, "message larger than the message size limit");
    p->inf_pending = false;
    if (f->masked && !p->scratch)
        p->scratch = mitm_alloc(MITM_WS_CHUNK);
    p->state = S_PAYLOAD;
    return 0;
}

/* Collect header bytes; returns bytes taken, or MITM_PARSE_ERROR. */
static ssize_t take_header(struct mitm_ws_parser *p, const uint8_t *in, size_t len, struct mitm_ws_event *ev)
{
    size_t used = 0;
    while (used < len) {
        uint8_t need = p->hlen < 2 ? 2 : header_size(p->hdr);
        if (p->hlen == need)
            break;
        size_t n = need - p->hlen;
        if (n > len - used)
            n = len - used;
        memcpy(p->hdr + p->hlen, in + used, n);
        p->hlen = (uint8_t)(p->hlen + n);
        used += n;
        if (p->hlen == 2) {
            const char *why = check_start(p, p->hdr);
            if (why)
                return fail(p, ev, MITM_WS_PROTOCOL_ERROR, why);
        }
    }
    if (p->hlen >= 2 && p->hlen == header_size(p->hdr)) {
        ssize_t r = begin_frame(p, ev);
        if (r < 0)
            return r;
    }
    return (ssize_t)used;
}

static void set_frame_event(const struct mitm_ws_parser *p, struct mitm_ws_event *ev,
                            enum mitm_ws_event_type t)
{
    ev->type = t;
    ev->frame = &p->frame;
    ev->opcode = p->msg_opcode;
    ev->compressed = p->msg_compressed;
}

/* Decoded payload bytes of the current message: UTF-8 and cap, then a DATA event. The error
 * reported is the one at the earliest byte, so it does not depend on how the input was split:
 * bytes within the cap are validated first. */
static ssize_t deliver(struct mitm_ws_parser *p, struct mitm_ws_event *ev, const uint8_t *d, size_t n)
{
    uint64_t room = p->lim.max_message - p->msg_len;
    size_t ok = !p->msg_compressed || n <= room ? n : (size_t)room;
    if (p->msg_opcode == MITM_WS_TEXT && !mitm_ws_utf8_feed(&p->utf8, d, ok))
        return fail(p, ev, MITM_WS_INVALID_FRAME_PAYLOAD_DATA, "text message is not valid UTF-8");
    if (ok < n)
        return fail(p, ev, MITM_WS_MESSAGE_TOO_BIG, "message inflates to more than the message size limit");
    p->msg_len += n;
    set_frame_event(p, ev, MITM_WS_EV_DATA);
    ev->data = mitm_slice(d, n);
    return 0;
}

/* Payload of a data frame. Returns bytes consumed and sets ev when there is an event; the state
 * moves on when the payload is done. */
static ssize_t payload(struct mitm_ws_parser *p, const uint8_t *in, size_t len, struct mitm_ws_event *ev)
{
    const struct mitm_ws_frame *f = &p->frame;
    uint64_t left = f->length - p->pos;
    size_t avail = left < len ? (size_t)left : len;
    const uint8_t *src = in;
    if (f->masked) {
        if (avail > MITM_WS_CHUNK)
            avail = MITM_WS_CHUNK;
        unmask(p->scratch, in, avail, f->mask, p->pos);
        src = p->scratch;
    }
    if (!p->msg_compressed) {
        if (left == 0) {
            p->state = S_FRAME_END;
            return 0;
        }
        if (avail == 0)
            return 0;
        p->pos += avail;
        ssize_t r = deliver(p, ev, src, avail);
        return r < 0 ? r : (ssize_t)avail;
    }
    /* the inflater may still hold output for bytes it already took: drain it first */
    if (left == 0 && !p->inf_pending) {
        p->state = f->fin ? S_TAIL : S_FRAME_END;
        return 0;
    }
    if (avail == 0 && left > 0 && !p->inf_pending)
        return 0;
    struct mitm_slice out;
    uint16_t code;
    const char *why;
    ssize_t c = mitm_ws_inflate(p->inf, src, avail, &out, &code, &why);
    if (c < 0)
        return fail(p, ev, code, why);
    p->pos += (uint64_t)c;
    p->inf_pending = out.len > 0;
    if (out.len > 0) {
        ssize_t r = deliver(p, ev, out.base, out.len);
        if (r < 0)
            return r;
    } else if (p->pos == f->length) {
        p->state = f->fin ? S_TAIL : S_FRAME_END; /* payload done and drained */
    }
    return c;
}

static ssize_t tail(struct mitm_ws_parser *p, struct mitm_ws_event *ev)
{
    struct mitm_slice out;
    uint16_t code;
    const char *why;
    int r = mitm_ws_inflate_finish(p->inf, &out, &code, &why);
    if (r < 0)
        return fail(p, ev, code, why);
    if (r == 0) {
        p->state = S_FRAME_END;
        return 0;
    }
    return deliver(p, ev, out.base, out.len);
}

static ssize_t frame_end(struct mitm_ws_parser *p, struct mitm_ws_event *ev)
{
    const struct mitm_ws_frame *f = &p->frame;
    if (f->fin && p->msg_opcode == MITM_WS_TEXT && p->utf8 != 0)
        return fail(p, ev, MITM_WS_INVALID_FRAME_PAYLOAD_DATA, "text message ends inside a UTF-8 sequence");
    set_frame_event(p, ev, MITM_WS_EV_FRAME_END);
    ev->message_end = f->fin;
    if (f->fin)
        p->in_message = false;
    p->state = S_HEADER;
    return 0;
}

/* §5.5.1: an empty Close payload or a 2-byte code plus a UTF-8 reason. */
static ssize_t close_frame(struct mitm_ws_parser *p, struct mitm_ws_event *ev)
{
    size_t n = (size_t)p->frame.length;
    if (n == 1)
        return fail(p, ev, MITM_WS_PROTOCOL_ERROR, "close frame with a 1-byte payload");
    ev->close_code = MITM_WS_NO_STATUS_RCVD;
    ev->close_reason = mitm_slice(p->ctl, 0);
    if (n >= 2) {
        uint16_t code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
        if (!mitm_ws_close_code_valid(code))
            return fail(p, ev, MITM_WS_PROTOCOL_ERROR, "close frame with an invalid close code");
        if (!mitm_ws_utf8_valid(p->ctl + 2, n - 2))
            return fail(p, ev, MITM_WS_INVALID_FRAME_PAYLOAD_DATA, "close reason is not valid UTF-8");
        ev->close_code = code;
        ev->close_reason = mitm_slice(p->ctl + 2, n - 2);
    }
    p->state = S_CLOSED;
    return 0;
}

static ssize_t control(struct mitm_ws_parser *p, const uint8_t *in, size_t len, struct mitm_ws_event *ev)
{
    const struct mitm_ws_frame *f = &p->frame;
    size_t left = (size_t)(f->length - p->pos), n = left < len ? left : len;
    if (f->masked)
        unmask(p->ctl + p->pos, in, n, f->mask, p->pos);
    else
        memcpy(p->ctl + p->pos, in, n);
    p->pos += n;
    if (p->pos < f->length)
        return (ssize_t)n;
    ev->type = MITM_WS_EV_CONTROL;
    ev->frame = f;
    ev->opcode = f->opcode;
    ev->data = mitm_slice(p->ctl, (size_t)f->length);
    p->state = S_HEADER;
    if (f->opcode == MITM_WS_CLOSE) {
        ssize_t r = close_frame(p, ev);
        if (r < 0)
            return r;
    }
    return (ssize_t)n;
}

ssize_t mitm_ws_parse(struct mitm_ws_parser *p, const uint8_t *in, size_t len, struct mitm_ws_event *ev)
{
    size_t off = 0;
    memset(ev, 0, sizeof(*ev));
    for (;;) { /* bounded: every pass consumes bytes, changes state or returns */
        ssize_t r = 0;
        enum pstate before = (enum pstate)p->state;
        switch (before) {
        case S_FAILED:
            ev->error_code = p->err_code;
            ev->error = p->err;
            return MITM_PARSE_ERROR;
        case S_CLOSED:
            return (ssize_t)len; /* §1.4: nothing after Close means anything (wsproto ignores it) */
        case S_HEADER:
            if (off == len)
                return (ssize_t)off;
            r = take_header(p, in + off, len - off, ev);
            break;
        case S_PAYLOAD:
            r = payload(p, in + off, len - off, ev);
            break;
        case S_TAIL:
            r = tail(p, ev);
            break;
        case S_FRAME_END:
            r = frame_end(p, ev);
            break;
        case S_CONTROL:
            if (off == len && p->pos < p->frame.length)
                return (ssize_t)off;
            r = control(p, in + off, len - off, ev);
            break;
        }
        if (r < 0)
            return r;
        off += (size_t)r;
        if (ev->type != MITM_WS_EV_NONE)
            return (ssize_t)off;
        if (r == 0 && p->state == before && off == len)
            return (ssize_t)off;
    }
}

/* ---------------------------------------------------------------- writers */

size_t mitm_ws_frame_header(uint8_t out[MITM_WS_MAX_HEADER], bool fin, uint8_t rsv, uint8_t opcode,
                            uint64_t len, const uint8_t *mask)
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 0x70) | (opcode & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (len <= 125) {
        out[1] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

int mitm_ws_write_frame(struct mitm_buf *out, bool fin, uint8_t rsv, uint8_t opcode, const uint8_t *payload,
                        size_t len, const uint8_t *mask)
{
    uint8_t h[MITM_WS_MAX_HEADER];
    size_t hn = mitm_ws_frame_header(h, fin, rsv, opcode, len, mask);
    if (mitm_buf_append(out, h, hn) < 0 || mitm_buf_append(out, payload, len) < 0)
        return -1;
    if (mask && len) {
        uint8_t *p = out->mem + out->off + out->len - len; /* the bytes just appended */
        unmask(p, p, len, mask, 0);
    }
    return 0;
}

int mitm_ws_write_control(struct mitm_buf *out, uint8_t opcode, const uint8_t *payload, size_t len,
                          const uint8_t *mask)
{
    if ((opcode != MITM_WS_PING && opcode != MITM_WS_PONG && opcode != MITM_WS_CLOSE) ||
        len > MITM_WS_MAX_CONTROL)
        return -1;
    return mitm_ws_write_frame(out, true, 0, opcode, payload, len, mask);
}

int mitm_ws_write_close(struct mitm_buf *out, uint16_t code, const char *reason, size_t reason_len,
                        const uint8_t *mask)
{
    uint8_t pl[MITM_WS_MAX_CONTROL];
    size_t n = 0;
    if (code == MITM_WS_ABNORMAL_CLOSURE || code == MITM_WS_TLS_HANDSHAKE_FAILED)
        code = MITM_WS_NORMAL_CLOSURE; /* local-only codes must not be sent (§7.4.1) */
    if (code != 0 && code != MITM_WS_NO_STATUS_RCVD) {
        pl[0] = (uint8_t)(code >> 8);
        pl[1] = (uint8_t)code;
        size_t r = reason ? reason_len : 0;
        if (r > MITM_WS_MAX_CONTROL - 2) {
            r = MITM_WS_MAX_CONTROL - 2;
            /* do not cut a character in two */
            while (r > 0 && ((uint8_t)reason[r] & 0xc0) == 0x80)
                r--;
        }
        if (r)
            memcpy(pl + 2, reason, r);
        n = 2 + r;
    }
    return mitm_ws_write_frame(out, true, 0, MITM_WS_CLOSE, pl, n, mask);
}

void mitm_ws_writer_init(struct mitm_ws_writer *w, bool client, const struct mitm_ws_pmd *pmd)
{
    memset(w, 0, sizeof(*w));
    w->client = client;
    /* Without a deflater (zlib out of memory) messages go out uncompressed, which RFC 7692 §6
     * allows: RSV1 clear means "not compressed". */
    if (pmd)
        w->def = mitm_ws_deflater_new(mitm_ws_pmd_window_bits(pmd, client),
                                      mitm_ws_pmd_no_context_takeover(pmd, client));
}

void mitm_ws_writer_free(struct mitm_ws_writer *w)
{
    mitm_ws_deflater_free(w->def);
    w->def = NULL;
}

int mitm_ws_writer_data(struct mitm_ws_writer *w, struct mitm_buf *out, uint8_t opcode,
                        const uint8_t *payload, size_t len, bool fin, const uint8_t *mask)
{
    if (w->client && !mask)
        return -1;
    const uint8_t *m = w->client ? mask : NULL;
    uint8_t op = w->in_message ? MITM_WS_CONTINUATION : opcode;
    uint8_t rsv = 0;
    int rc;
    if (w->def) {
        struct mitm_buf z;
        mitm_buf_init(&z, 0);
        rc = mitm_ws_deflate(w->def, payload, len, fin, &z);
        if (rc == 0) {
            rsv = w->in_message ? 0 : RSV1;
            rc = mitm_ws_write_frame(out, fin, rsv, op, mitm_buf_data(&z), z.len, m);
        }
        mitm_buf_free(&z);
    } else {
        rc = mitm_ws_write_frame(out, fin, rsv, op, payload, len, m);
    }
    if (rc == 0)
        w->in_message = !fin;
    return rc;
}
