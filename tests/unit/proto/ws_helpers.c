#include "ws_helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void esc(struct mitm_buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '|' && p[i] != '$')
            mitm_buf_append(b, &p[i], 1);
        else
            mitm_buf_printf(b, "\\x%02x", p[i]);
    }
}

struct tstate {
    struct mitm_buf frame; /* payload of the data frame in progress */
    bool failed;
};

static void record(struct tstate *t, const struct mitm_ws_event *ev, struct mitm_buf *out)
{
    switch (ev->type) {
    case MITM_WS_EV_NONE:
        break;
    case MITM_WS_EV_DATA:
        cr_assert_gt(ev->data.len, 0, "empty DATA event");
        cr_assert_not_null(ev->frame);
        mitm_buf_append(&t->frame, ev->data.base, ev->data.len);
        break;
    case MITM_WS_EV_FRAME_END:
        mitm_buf_printf(out, "T%u%s:", ev->opcode, ev->compressed ? "z" : "");
        esc(out, mitm_buf_data(&t->frame), t->frame.len);
        mitm_buf_append(out, ev->message_end ? "$" : "|", 1);
        mitm_buf_consume(&t->frame, t->frame.len);
        break;
    case MITM_WS_EV_CONTROL:
        if (ev->opcode == MITM_WS_CLOSE) {
            mitm_buf_printf(out, "C8:%u:", ev->close_code);
            esc(out, ev->close_reason.base, ev->close_reason.len);
        } else {
            mitm_buf_printf(out, "C%u:", ev->opcode);
            esc(out, ev->data.base, ev->data.len);
        }
        mitm_buf_append(out, "|", 1);
        break;
    }
}

/* Feed one piece: loop until the parser wants more bytes. */
static void feed(struct mitm_ws_parser *p, struct tstate *t, const uint8_t *in, size_t len,
                 struct mitm_buf *out)
{
    size_t off = 0;
    for (int guard = 0; !t->failed; guard++) {
        cr_assert_lt(guard, 10000000, "parser does not make progress");
        struct mitm_ws_event ev;
        ssize_t n = mitm_ws_parse(p, in + off, len - off, &ev);
        if (n == MITM_PARSE_ERROR) {
            cr_assert_not_null(ev.error);
            cr_assert(ev.error_code >= 1000);
            mitm_buf_printf(out, "E%u:%s", ev.error_code, ev.error);
            t->failed = true;
            /* sticky */
            struct mitm_ws_event again;
            cr_assert_eq(mitm_ws_parse(p, (const uint8_t *)"x", 1, &again), MITM_PARSE_ERROR);
            cr_assert_eq(again.error_code, ev.error_code);
            return;
        }
        cr_assert_geq(n, 0);
        cr_assert_leq((size_t)n, len - off);
        off += (size_t)n;
        if (ev.type == MITM_WS_EV_NONE) {
            cr_assert_eq(off, len, "NONE before all input was consumed");
            return;
        }
        if (ev.type == MITM_WS_EV_DATA && (ev.data.base < in || ev.data.base >= in + len))
            cr_assert_leq(ev.data.len, MITM_WS_CHUNK, "a copied DATA piece is larger than MITM_WS_CHUNK");
        record(t, &ev, out);
    }
}

void ws_transcript(const struct ws_conf *c, const uint8_t *in, size_t len, size_t split, struct mitm_buf *out)
{
    struct mitm_ws_parser p;
    struct tstate t = {.failed = false};
    mitm_buf_init(&t.frame, 0);
    mitm_ws_parser_init(&p, c->from_client, c->lim, c->pmd);
    if (split == SIZE_MAX) {
        for (size_t i = 0; i < len && !t.failed; i++)
            feed(&p, &t, in + i, 1, out);
    } else {
        feed(&p, &t, in, split, out);
        feed(&p, &t, in + split, len - split, out);
    }
    if (!t.failed && t.frame.len) { /* payload of an unfinished frame */
        mitm_buf_append(out, "...", 3);
        esc(out, mitm_buf_data(&t.frame), t.frame.len);
    }
    mitm_buf_free(&t.frame);
    mitm_ws_parser_free(&p);
}

char *ws_transcript_all_splits(const struct ws_conf *c, const uint8_t *in, size_t len)
{
    struct mitm_buf whole, other;
    mitm_buf_init(&whole, 0);
    ws_transcript(c, in, len, len, &whole);
    for (size_t s = 0; s <= len + 1; s++) {
        mitm_buf_init(&other, 0);
        ws_transcript(c, in, len, s <= len ? s : SIZE_MAX, &other);
        cr_assert(mitm_slice_eq(mitm_buf_slice(&whole), mitm_buf_slice(&other)),
                  "split %zu differs:\n  whole: %.*s\n  split: %.*s", s, (int)whole.len,
                  (const char *)mitm_buf_data(&whole), (int)other.len, (const char *)mitm_buf_data(&other));
        mitm_buf_free(&other);
    }
    size_t n;
    return (char *)mitm_buf_steal(&whole, &n);
}

uint8_t *ws_hex(const char *hex, size_t *len)
{
    size_t n = 0, cap = strlen(hex) / 2 + 1;
    uint8_t *b = malloc(cap);
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        unsigned v;
        cr_assert_eq(sscanf(hex, "%2x", &v), 1, "bad hex at %s", hex);
        b[n++] = (uint8_t)v;
        hex += 2;
    }
    *len = n;
    return b;
}
