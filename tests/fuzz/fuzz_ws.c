/* Fuzz target: the WebSocket codec (src/proto/ws/). The first input byte picks the mode:
 *   bit 7 set   the rest is two Sec-WebSocket-Extensions values (request '\n' response):
 *               parsed and negotiated; an agreed permessage-deflate configuration must carry a
 *               message through writer and parser in both roles
 *   otherwise   the rest is a frame stream; bit 0 = frames from the client, bit 1 =
 *               permessage-deflate, bit 2 = no context takeover, bits 3-5 = window bits - 8,
 *               bit 6 = tiny caps. The stream is parsed whole and split at a data-derived offset:
 *               both runs must report the same frames, payloads and error (abort otherwise).
 *               The messages it held are written again (masked in the client role, compressed
 *               with deflate) and must parse back to the same messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http.h"
#include "proto/ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c))                                                                                            \
            abort();                                                                                         \
    } while (0)

struct msg {
    uint8_t opcode;
    uint8_t *p;
    size_t len;
};

struct run {
    struct mitm_buf text; /* canonical transcript */
    struct mitm_buf frame;
    struct mitm_ws_assembler as;
    struct msg msgs[64];
    size_t nmsgs;
    bool error;
    uint16_t code;
};

static void run_init(struct run *r)
{
    memset(r, 0, sizeof(*r));
    mitm_buf_init(&r->text, 0);
    mitm_buf_init(&r->frame, 0);
    mitm_ws_assembler_init(&r->as, 0);
}

static void run_free(struct run *r)
{
    mitm_buf_free(&r->text);
    mitm_buf_free(&r->frame);
    mitm_ws_assembler_free(&r->as);
    for (size_t i = 0; i < r->nmsgs; i++)
        free(r->msgs[i].p);
}

static void record(struct run *r, const struct mitm_ws_event *ev)
{
    switch (ev->type) {
    case MITM_WS_EV_NONE:
        return;
    case MITM_WS_EV_DATA:
        CHECK(ev->data.len > 0);
        mitm_buf_append(&r->frame, ev->data.base, ev->data.len);
        break;
    case MITM_WS_EV_FRAME_END:
        mitm_buf_printf(&r->text, "F%u%c%zu:", ev->opcode, ev->message_end ? '$' : '|', r->frame.len);
        mitm_buf_append(&r->text, mitm_buf_data(&r->frame), r->frame.len);
        mitm_buf_consume(&r->frame, r->frame.len);
        break;
    case MITM_WS_EV_CONTROL:
        CHECK(ev->data.len <= MITM_WS_MAX_CONTROL);
        mitm_buf_printf(&r->text, "C%u:%u:%zu:", ev->opcode, ev->close_code, ev->data.len);
        mitm_buf_append(&r->text, ev->data.base, ev->data.len);
        if (ev->opcode == MITM_WS_CLOSE)
            CHECK(mitm_ws_utf8_valid(ev->close_reason.base, ev->close_reason.len));
        break;
    }
    int m = mitm_ws_assembler_feed(&r->as, ev);
    CHECK(m >= 0);
    if (m == 1 && r->nmsgs < 64) {
        struct msg *x = &r->msgs[r->nmsgs++];
        x->opcode = r->as.opcode;
        x->len = r->as.content.len;
        x->p = malloc(x->len + 1);
        memcpy(x->p, mitm_buf_data(&r->as.content), x->len);
        uint64_t sum = 0;
        for (size_t i = 0; i < r->as.nframes; i++)
            sum += r->as.frames[i];
        CHECK(sum == x->len);
        if (x->opcode == MITM_WS_TEXT)
            CHECK(mitm_ws_utf8_valid(x->p, x->len));
    }
}

static void feed(struct mitm_ws_parser *p, struct run *r, const uint8_t *in, size_t len)
{
    size_t off = 0;
    for (size_t guard = 0; !r->error; guard++) {
        CHECK(guard < 4 * len + 1000000);
        struct mitm_ws_event ev;
        ssize_t n = mitm_ws_parse(p, in + off, len - off, &ev);
        if (n == MITM_PARSE_ERROR) {
            CHECK(ev.error && ev.error_code >= 1000);
            r->error = true;
            r->code = ev.error_code;
            return;
        }
        CHECK(n >= 0 && (size_t)n <= len - off);
        off += (size_t)n;
        if (ev.type == MITM_WS_EV_NONE) {
            CHECK(off == len);
            return;
        }
        record(r, &ev);
    }
}

static void parse(bool from_client, const struct mitm_ws_limits *lim, const struct mitm_ws_pmd *pmd,
                  const uint8_t *in, size_t len, size_t split, struct run *r)
{
    struct mitm_ws_parser p;
    mitm_ws_parser_init(&p, from_client, lim, pmd);
    run_init(r);
    feed(&p, r, in, split);
    feed(&p, r, in + split, len - split);
    mitm_ws_parser_free(&p);
}

/* Write the messages again and parse them back: the same messages must come out. */
static void rewrite(bool client, const struct mitm_ws_pmd *pmd, const struct run *r)
{
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    struct mitm_ws_writer w;
    mitm_ws_writer_init(&w, client, pmd);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    for (size_t i = 0; i < r->nmsgs; i++) {
        const struct msg *m = &r->msgs[i];
        struct mitm_ws_fragments it;
        uint64_t half[2] = {m->len / 2, m->len - m->len / 2};
        mitm_ws_fragments_init(&it, half, 2, m->len);
        uint64_t off, n;
        bool fin;
        while (mitm_ws_fragments_next(&it, &off, &n, &fin))
            CHECK(mitm_ws_writer_data(&w, &out, m->opcode, m->p + off, (size_t)n, fin, key) == 0);
    }
    struct mitm_ws_limits unlimited = {UINT64_MAX, UINT64_MAX};
    struct run back;
    parse(client, &unlimited, pmd, mitm_buf_data(&out), out.len, out.len / 3, &back);
    CHECK(!back.error && back.nmsgs == r->nmsgs);
    for (size_t i = 0; i < r->nmsgs; i++)
        CHECK(back.msgs[i].opcode == r->msgs[i].opcode && back.msgs[i].len == r->msgs[i].len &&
              memcmp(back.msgs[i].p, r->msgs[i].p, r->msgs[i].len) == 0);
    run_free(&back);
    mitm_buf_free(&out);
    mitm_ws_writer_free(&w);
}

static void frames(uint8_t mode, const uint8_t *in, size_t len)
{
    bool from_client = mode & 1;
    struct mitm_ws_pmd pmd = {0};
    uint8_t bits = (uint8_t)(8 + ((mode >> 3) & 7));
    pmd.client_no_context_takeover = pmd.server_no_context_takeover = (mode & 4) != 0;
    pmd.client_max_window_bits = pmd.server_max_window_bits = bits == 15 ? 0 : bits;
    const struct mitm_ws_pmd *pm = mode & 2 ? &pmd : NULL;
    struct mitm_ws_limits tiny = {64, 256}, *lim = mode & 0x40 ? &tiny : NULL;
    size_t split = len ? ((size_t)mode * 2654435761u + len) % (len + 1) : 0;
    struct run whole, parts;
    parse(from_client, lim, pm, in, len, len, &whole);
    parse(from_client, lim, pm, in, len, split, &parts);
    CHECK(whole.error == parts.error && whole.code == parts.code);
    CHECK(mitm_slice_eq(mitm_buf_slice(&whole.text), mitm_buf_slice(&parts.text)));
    CHECK(whole.nmsgs == parts.nmsgs);
    if (whole.nmsgs)
        rewrite(from_client, pm, &whole);
    run_free(&whole);
    run_free(&parts);
}

static void extensions(const uint8_t *in, size_t len)
{
    const uint8_t *nl = memchr(in, '\n', len);
    size_t rl = nl ? (size_t)(nl - in) : len;
    struct mitm_headers req, resp;
    mitm_headers_init(&req);
    mitm_headers_init(&resp);
    mitm_headers_add(&req, "Sec-WebSocket-Extensions", 24, (const char *)in, rl);
    if (nl)
        mitm_headers_add(&resp, "Sec-WebSocket-Extensions", 24, (const char *)nl + 1, len - rl - 1);
    struct mitm_ws_extensions e;
    const char *reason;
    if (mitm_ws_extensions_parse(&req, &e, &reason) == 0) {
        for (size_t i = 0; i < e.n; i++) {
            struct mitm_ws_pmd p;
            CHECK(e.v[i].name && e.v[i].name[0]);
            if (mitm_ws_pmd_parse(&e.v[i], true, &p, &reason) == 0)
                CHECK(mitm_ws_pmd_window_bits(&p, true) >= 8 && mitm_ws_pmd_window_bits(&p, false) <= 15);
        }
        mitm_ws_extensions_free(&e);
    } else {
        CHECK(reason && e.n == 0);
    }
    struct mitm_ws_negotiated n;
    if (mitm_ws_negotiate(&req, &resp, &n, &reason) == 0) {
        CHECK(n.pmd == (n.pmd_index != SIZE_MAX));
        if (n.pmd) {
            /* a message through both roles with the agreed parameters */
            struct run r;
            run_init(&r);
            r.msgs[0] = (struct msg){MITM_WS_TEXT, (uint8_t *)strdup("negotiated \xe2\x98\x83 text"), 19};
            r.msgs[1] = (struct msg){MITM_WS_BINARY, (uint8_t *)strdup(""), 0};
            r.nmsgs = 2;
            rewrite(true, &n.params, &r);
            rewrite(false, &n.params, &r);
            run_free(&r);
        }
        mitm_ws_negotiated_free(&n);
    } else {
        CHECK(reason && n.ext.n == 0);
    }
    mitm_headers_free(&req);
    mitm_headers_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 0x80)
        extensions(data + 1, size - 1);
    else
        frames(data[0], data + 1, size - 1);
    return 0;
}
