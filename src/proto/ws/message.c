/* WebSocket messages: assembling them from parser events with their frame boundaries, and
 * cutting them into frames again (mitmproxy's Fragmentizer, layers/websocket.py). */
#include "proto/ws/ws.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

void mitm_ws_assembler_init(struct mitm_ws_assembler *a, size_t cap)
{
    memset(a, 0, sizeof(*a));
    mitm_buf_init(&a->content, cap);
}

void mitm_ws_assembler_free(struct mitm_ws_assembler *a)
{
    mitm_buf_free(&a->content);
    free(a->frames);
    memset(a, 0, sizeof(*a));
}

void mitm_ws_assembler_reset(struct mitm_ws_assembler *a)
{
    mitm_buf_consume(&a->content, a->content.len);
    a->nframes = 0;
    a->cur = 0;
    a->opcode = 0;
    a->complete = false;
}

int mitm_ws_assembler_feed(struct mitm_ws_assembler *a, const struct mitm_ws_event *ev)
{
    if (ev->type != MITM_WS_EV_DATA && ev->type != MITM_WS_EV_FRAME_END)
        return 0;
    if (a->complete)
        mitm_ws_assembler_reset(a);
    if (ev->type == MITM_WS_EV_DATA) {
        if (mitm_buf_append(&a->content, ev->data.base, ev->data.len) < 0)
            return -1;
        a->cur += ev->data.len;
        return 0;
    }
    if (a->nframes == a->cap_frames) {
        a->cap_frames = a->cap_frames ? a->cap_frames * 2 : 8;
        a->frames = mitm_realloc(a->frames, a->cap_frames * sizeof(*a->frames));
    }
    a->frames[a->nframes++] = a->cur;
    a->cur = 0;
    if (!ev->message_end)
        return 0;
    a->opcode = ev->opcode;
    a->complete = true;
    return 1;
}

void mitm_ws_fragments_init(struct mitm_ws_fragments *it, const uint64_t *frames, size_t nframes,
                            uint64_t len)
{
    memset(it, 0, sizeof(*it));
    it->frames = frames;
    it->nframes = nframes;
    it->len = len;
    uint64_t sum = 0;
    for (size_t i = 0; i < nframes; i++)
        sum += frames[i];
    it->same = nframes > 0 && sum == len;
}

bool mitm_ws_fragments_next(struct mitm_ws_fragments *it, uint64_t *off, uint64_t *n, bool *fin)
{
    if (it->done)
        return false;
    *off = it->off;
    if (it->same) {
        /* the original lengths; the last frame takes whatever is left */
        bool last = it->i + 1 >= it->nframes;
        *n = last ? it->len - it->off : it->frames[it->i];
        it->i++;
        *fin = last;
    } else {
        /* Fragmentizer: FRAGMENT_SIZE pieces while more than that is left, then the rest */
        bool last = it->len - it->off <= MITM_WS_FRAGMENT_SIZE;
        *n = last ? it->len - it->off : MITM_WS_FRAGMENT_SIZE;
        *fin = last;
    }
    it->off += *n;
    it->done = *fin;
    return true;
}
