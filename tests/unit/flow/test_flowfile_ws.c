/* WebSocket data in flow files (src/flow/flowfile.c): a real capture of Debian's mitmdump 8.1.1,
 * every version-21 field, the 11 -> 12 merge and the 14 -> 15 "injected" step compared with what
 * mitmproxy 12's own compat.py makes of the same records, and round trips.
 *
 * Files mitmc writes are version 21; Debian's mitmdump 8.1.1 reads up to version 17 and mitmc has
 * no down-conversion, so reading mitmc's output back with 8.1.1 is not tested. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"

extern const char *flow_fixtures_dir;

#define MAX_FLOWS 16

struct loaded {
    struct mitm_flow *f[MAX_FLOWS];
    size_t n;
    int last;
    char err[512];
};

static void loaded_free(struct loaded *l)
{
    for (size_t i = 0; i < l->n; i++)
        mitm_flow_unref(l->f[i]);
    l->n = 0;
}

static void read_reader(struct mitm_flowfile_reader *r, struct loaded *l)
{
    memset(l, 0, sizeof(*l));
    for (;;) {
        struct mitm_flow *f = NULL;
        l->last = mitm_flowfile_next(r, &f, l->err, sizeof(l->err));
        if (l->last != MITM_FLOWFILE_FLOW)
            break;
        cr_assert_lt(l->n, MAX_FLOWS);
        l->f[l->n++] = f;
    }
}

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", flow_fixtures_dir, name);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    return buf;
}

static void read_mem(const void *p, size_t len, struct loaded *l)
{
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(p, len);
    read_reader(r, l);
    mitm_flowfile_close(r);
    cr_assert_eq(l->last, MITM_FLOWFILE_EOF, "%s", l->err);
}

static bool content_is(const struct mitm_websocket_message *m, const char *s, size_t n)
{
    return m->len == n && memcmp(m->content, s, n) == 0;
}
#define CONTENT(m, lit) content_is(m, lit, sizeof(lit) - 1)

/* ---- a capture: python3-websockets through Debian's mitmdump 8.1.1 (make_ws_capture.py) ---- */

Test(flowfile_ws, mitmdump_8_1_1_capture)
{
    size_t len;
    uint8_t *file = slurp("mitmdump-8.1.1-websocket.flows", &len);
    struct loaded l;
    read_mem(file, len, &l);
    cr_assert_eq(l.n, 4);
    const struct mitm_flow *f = l.f[0];
    cr_assert_eq(f->type, MITM_FLOW_HTTP);
    cr_assert_str_eq(f->request->path, "/chat?room=1");
    cr_assert_eq(f->response->status_code, 101);
    const struct mitm_websocket_data *ws = f->websocket;
    cr_assert_not_null(ws);
    cr_assert_eq(ws->n_messages, 12, "six messages, each echoed (the ping is not stored)");
    for (size_t i = 0; i < ws->n_messages; i++) {
        cr_assert_eq(ws->messages[i].from_client, i % 2 == 0);
        cr_assert_not(ws->messages[i].dropped || ws->messages[i].injected);
        cr_assert_gt(ws->messages[i].timestamp, 1.7e9);
        /* the echo is the same message */
        if (i % 2)
            cr_assert(content_is(&ws->messages[i], (const char *)ws->messages[i - 1].content,
                                 ws->messages[i - 1].len));
    }
    cr_assert(CONTENT(&ws->messages[0], "hello"));
    cr_assert(CONTENT(&ws->messages[2], "h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83"));
    cr_assert(CONTENT(&ws->messages[4], ""));
    cr_assert_eq(ws->messages[6].type, 2);
    cr_assert(CONTENT(&ws->messages[6], "\x00\x01\x02"
                                        "binary\xff"));
    cr_assert(CONTENT(&ws->messages[8], "fragmented message"), "three frames, one message");
    cr_assert_eq(ws->messages[8].type, 1);
    cr_assert_eq(ws->closed_by_client, 1);
    cr_assert_eq(ws->close_code, 1000);
    cr_assert_eq(ws->close_reason_len, 3);
    cr_assert_str_eq(ws->close_reason, "bye");
    cr_assert_gt(ws->timestamp_end, ws->messages[11].timestamp);

    ws = l.f[1]->websocket;
    cr_assert_eq(ws->n_messages, 1);
    cr_assert_eq(ws->closed_by_client, 0);
    cr_assert_eq(ws->close_code, 4000);
    cr_assert_str_eq(ws->close_reason, "custom");
    ws = l.f[2]->websocket;
    cr_assert_eq(ws->close_code, 1001);
    cr_assert_str_eq(ws->close_reason, "");
    cr_assert_eq(l.f[3]->type, MITM_FLOW_TCP);
    cr_assert_null(l.f[3]->websocket);
    cr_assert_eq(l.f[3]->n_messages, 4);
    loaded_free(&l);
    free(file);
}

/* ---- version 21 ---- */

Test(flowfile_ws, version_21_every_field)
{
    size_t len;
    uint8_t *file = slurp("websocket-v21.mitm", &len);
    struct loaded l;
    read_mem(file, len, &l);
    cr_assert_eq(l.n, 2);
    const struct mitm_websocket_data *ws = l.f[0]->websocket;
    cr_assert_eq(ws->n_messages, 4);
    const struct mitm_websocket_message *m = ws->messages;
    cr_assert(m[0].type == 1 && m[0].from_client && !m[0].dropped && !m[0].injected);
    cr_assert(CONTENT(&m[0], "text \xe2\x98\x83"));
    cr_assert_eq(m[0].timestamp, 1700000001.5);
    cr_assert(m[1].type == 2 && !m[1].from_client && m[1].dropped && !m[1].injected);
    cr_assert(CONTENT(&m[1], "\x00\x01\x02\xff"));
    cr_assert(m[2].injected && !m[2].dropped);
    cr_assert(m[3].injected && m[3].dropped && m[3].len == 0);
    cr_assert_eq(ws->closed_by_client, 0);
    cr_assert_eq(ws->close_code, 4000);
    cr_assert_str_eq(ws->close_reason, "custom \xe2\x98\x83 reason");
    cr_assert_eq(ws->timestamp_end, 1700000005.5);
    /* every nullable field None */
    ws = l.f[1]->websocket;
    cr_assert_not_null(ws, "an open WebSocket with no messages is still a WebSocket flow");
    cr_assert_eq(ws->n_messages, 0);
    cr_assert_eq(ws->closed_by_client, -1);
    cr_assert_eq(ws->close_code, -1);
    cr_assert_null(ws->close_reason);
    cr_assert_eq(ws->timestamp_end, 0);
    loaded_free(&l);
    free(file);
}

/* Deep equality of two trees. loose: bytes equal str with the same payload and ints equal floats
 * of the same value (mitmproxy's migration keeps the types of old files; mitmc writes the types of
 * version 21), and a None equals a missing key. */
static bool tns_eq(const struct mitm_tns *a, const struct mitm_tns *b, bool loose, const char *path)
{
    if (loose && mitm_tns_is_text(a) && mitm_tns_is_text(b))
        return mitm_slice_eq(a->v.s, b->v.s);
    if (loose && (a->type == MITM_TNS_INT || a->type == MITM_TNS_FLOAT) &&
        (b->type == MITM_TNS_INT || b->type == MITM_TNS_FLOAT)) {
        double x = a->type == MITM_TNS_INT ? (double)a->v.i : a->v.f,
               y = b->type == MITM_TNS_INT ? (double)b->v.i : b->v.f;
        return x == y;
    }
    if (a->type != b->type) {
        cr_log_error("%s: types %d and %d", path, a->type, b->type);
        return false;
    }
    switch (a->type) {
    case MITM_TNS_BYTES:
    case MITM_TNS_STR:
        return mitm_slice_eq(a->v.s, b->v.s);
    case MITM_TNS_INT:
        return a->v.i == b->v.i;
    case MITM_TNS_FLOAT:
        return a->v.f == b->v.f;
    case MITM_TNS_BOOL:
        return a->v.b == b->v.b;
    case MITM_TNS_NULL:
        return true;
    case MITM_TNS_LIST:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if (!tns_eq(a->items[i], b->items[i], loose, path))
                return false;
        return true;
    case MITM_TNS_DICT:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++) {
            char key[256];
            snprintf(key, sizeof(key), "%s.%.*s", path, (int)a->items[2 * i]->v.s.len,
                     a->items[2 * i]->v.s.base);
            const struct mitm_tns *bv = mitm_tns_get(b, key + strlen(path) + 1);
            if (!bv || !tns_eq(a->items[2 * i + 1], bv, loose, key)) {
                cr_log_error("%s differs", key);
                return false;
            }
        }
        return true;
    }
    return false;
}

/* The writer's records are the fixture's records exactly (types included). */
Test(flowfile_ws, writer_matches_the_version_21_layout)
{
    size_t len, off = 0;
    uint8_t *file = slurp("websocket-v21.mitm", &len);
    struct loaded l;
    read_mem(file, len, &l);
    for (size_t i = 0; i < l.n; i++) {
        struct mitm_tns *want, *got;
        ssize_t n = mitm_tns_parse(file + off, len - off, NULL, &want, NULL);
        cr_assert_gt(n, 0);
        off += (size_t)n;
        char err[256];
        got = mitm_flowfile_to_tns(l.f[i], err, sizeof(err));
        cr_assert_not_null(got, "%s", err);
        cr_assert(tns_eq(got, want, false, ""), "record %zu", i);
        mitm_tns_free(got);
        mitm_tns_free(want);
    }
    loaded_free(&l);
    free(file);
}

/* ---- old versions: the same result as mitmproxy 12's compat.py ---- */

Test(flowfile_ws, migrations_match_mitmproxy_12)
{
    size_t len, rlen, off = 0;
    uint8_t *file = slurp("websocket-old.mitm", &len);
    uint8_t *ref = slurp("websocket-old.v21.mitm", &rlen); /* make_ws_old.py with MITMPROXY_SRC */
    struct loaded l;
    read_mem(file, len, &l);
    cr_assert_eq(l.n, 6, "handshake, plain, merged, merged into a stand-in twice, v14: %s", l.err);
    static const char *const keys[] = {"id",      "type",      "metadata",    "websocket", "marked",
                                       "comment", "is_replay", "intercepted", "error"};
    for (size_t i = 0; i < l.n; i++) {
        struct mitm_tns *want;
        ssize_t n = mitm_tns_parse(ref + off, rlen - off, NULL, &want, NULL);
        cr_assert_gt(n, 0);
        off += (size_t)n;
        char err[256];
        struct mitm_tns *got = mitm_flowfile_to_tns(l.f[i], err, sizeof(err));
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            const struct mitm_tns *a = mitm_tns_get(got, keys[k]), *b = mitm_tns_get(want, keys[k]);
            cr_assert(a && b && tns_eq(a, b, true, keys[k]), "record %zu: %s differs from mitmproxy 12's", i,
                      keys[k]);
        }
        /* the request the stand-in handshake makes up */
        const struct mitm_tns *a = mitm_tns_get(mitm_tns_get(got, "request"), "path"),
                              *b = mitm_tns_get(mitm_tns_get(want, "request"), "path");
        cr_assert(tns_eq(a, b, true, "request.path"), "record %zu", i);
        cr_assert_eq(mitm_tns_get(got, "response")->type == MITM_TNS_NULL,
                     mitm_tns_get(want, "response")->type == MITM_TNS_NULL);
        mitm_tns_free(got);
        mitm_tns_free(want);
    }
    cr_assert_eq(off, rlen);

    /* spot checks of what that comparison covers */
    const struct mitm_flow *hs = l.f[0], *merged = l.f[2], *stand_in = l.f[3], *v14 = l.f[5];
    cr_assert_null(hs->websocket, "the handshake flow is loaded as it was");
    cr_assert_str_eq(merged->id, hs->id, "the merged flow is a copy of its handshake flow");
    cr_assert_str_eq(merged->request->path, "/ws");
    cr_assert_eq(merged->n_metadata, 3); /* websocket, websocket_flow, duplicated */
    const struct mitm_websocket_data *ws = merged->websocket;
    cr_assert_eq(ws->n_messages, 3);
    cr_assert(ws->messages[2].dropped, "killed -> dropped");
    cr_assert_not(ws->messages[2].injected, "14 -> 15");
    cr_assert_eq(ws->messages[2].timestamp, 1600000002.0);
    cr_assert(CONTENT(&ws->messages[1], "h\xc3\xa9llo"), "a str content of an old file");
    cr_assert_eq(ws->closed_by_client, 0, "close_sender server");
    cr_assert_eq(ws->close_code, 1001);
    cr_assert_str_eq(ws->close_reason, "going away");
    cr_assert_eq(ws->timestamp_end, 1600000010.0, "the handshake's server_conn.timestamp_end");
    cr_assert_str_eq(stand_in->request->host, "unknown");
    cr_assert_str_eq(stand_in->client_conn.proxy_mode, "regular");
    cr_assert_eq(stand_in->websocket->closed_by_client, 1);
    cr_assert_eq(l.f[4]->websocket->close_code, 1005);
    cr_assert_eq(v14->websocket->n_messages, 2);
    cr_assert(v14->websocket->messages[1].dropped && !v14->websocket->messages[1].injected);
    cr_assert_eq(v14->websocket->close_code, 1006);
    loaded_free(&l);
    free(file);
    free(ref);
}

/* Without a reader (mitm_flowfile_from_tns alone) no handshake is remembered: a WebSocket flow
 * always gets the stand-in. */
Test(flowfile_ws, stateless_conversion_uses_the_stand_in)
{
    size_t len;
    uint8_t *file = slurp("websocket-old.mitm", &len);
    size_t off = 0;
    int flows = 0;
    while (off < len) {
        struct mitm_tns *rec;
        ssize_t n = mitm_tns_parse(file + off, len - off, NULL, &rec, NULL);
        cr_assert_gt(n, 0);
        off += (size_t)n;
        struct mitm_flow *f;
        char err[256];
        cr_assert_eq(mitm_flowfile_from_tns(rec, &f, err, sizeof(err)), 1, "%s", err);
        if (flows == 2) {
            cr_assert_str_eq(f->id, "b0b0b0b0-b0b0-40b0-80b0-b0b0b0b0b0b0");
            cr_assert_str_eq(f->request->host, "unknown");
            cr_assert_eq(f->websocket->n_messages, 3);
        }
        mitm_flow_unref(f);
        mitm_tns_free(rec);
        flows++;
    }
    cr_assert_eq(flows, 6);
    free(file);
}

/* ---- round trips ---- */

static void round_trip(const char *name, size_t want)
{
    size_t len;
    uint8_t *file = slurp(name, &len);
    struct loaded a, b;
    read_mem(file, len, &a);
    cr_assert_eq(a.n, want);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[256];
    for (size_t i = 0; i < a.n; i++)
        cr_assert_eq(mitm_flowfile_encode(a.f[i], &out, err, sizeof(err)), 0, "%s", err);
    read_mem(mitm_buf_data(&out), out.len, &b);
    cr_assert_eq(b.n, a.n);
    struct mitm_buf again;
    mitm_buf_init(&again, 0);
    for (size_t i = 0; i < b.n; i++) {
        cr_assert_eq(mitm_flowfile_encode(b.f[i], &again, err, sizeof(err)), 0);
        const struct mitm_websocket_data *x = a.f[i]->websocket, *y = b.f[i]->websocket;
        cr_assert_eq(!x, !y);
        if (x)
            cr_assert_eq(x->n_messages, y->n_messages);
    }
    cr_assert(mitm_slice_eq(mitm_buf_slice(&out), mitm_buf_slice(&again)), "%s: second write differs", name);
    mitm_buf_free(&out);
    mitm_buf_free(&again);
    loaded_free(&a);
    loaded_free(&b);
    free(file);
}

Test(flowfile_ws, round_trips)
{
    round_trip("mitmdump-8.1.1-websocket.flows", 4);
    round_trip("websocket-v21.mitm", 2);
    round_trip("websocket-old.mitm", 6);
}

/* ---- the model ---- */

Test(flowfile_ws, copy_and_free)
{
    struct mitm_websocket_data *ws = mitm_websocket_new();
    cr_assert_eq(ws->closed_by_client, -1);
    cr_assert_eq(ws->close_code, -1);
    for (int i = 0; i < 20; i++)
        mitm_websocket_add(ws, 1 + i % 2, i % 3 == 0, "abc", (size_t)(i % 4), 1.0 + i)->injected = i == 7;
    mitm_websocket_set_close(ws, true, 1000, "x\0y", 3, 99.5);
    struct mitm_websocket_data *c = mitm_websocket_copy(ws);
    cr_assert_eq(c->n_messages, 20);
    cr_assert(c->messages[7].injected && !c->messages[8].injected);
    cr_assert_eq(c->messages[3].len, 3);
    cr_assert_eq(c->close_reason_len, 3);
    cr_assert_eq(memcmp(c->close_reason, "x\0y", 3), 0);
    cr_assert_eq(c->closed_by_client, 1);
    cr_assert_eq(c->timestamp_end, 99.5);
    mitm_websocket_set_close(c, false, -1, NULL, 0, 0);
    cr_assert_null(c->close_reason);
    cr_assert_eq(c->close_code, -1);
    mitm_websocket_free(ws);
    mitm_websocket_free(c);
    mitm_websocket_free(NULL);
    cr_assert_null(mitm_websocket_copy(NULL));
}

/* ---- bad records: one field named, the next record still read ---- */

static const char *load_error(const char *websocket_tns)
{
    /* a minimal version-21 http record with the given websocket value */
    static char err[256];
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    struct mitm_tns *d = mitm_tns_new_dict(), *req = mitm_tns_new_dict(), *ws;
    mitm_tns_dict_set(d, "version", mitm_tns_new_int(21));
    mitm_tns_dict_set(d, "type", mitm_tns_new_cstr("http"));
    mitm_tns_dict_set(d, "id", mitm_tns_new_cstr("00000000-0000-4000-8000-000000000000"));
    mitm_tns_dict_set(req, "headers", mitm_tns_new_list());
    mitm_tns_dict_set(d, "request", req);
    mitm_tns_dict_set(d, "client_conn", mitm_tns_new_dict());
    mitm_tns_dict_set(d, "server_conn", mitm_tns_new_dict());
    cr_assert_eq(mitm_tns_parse((const uint8_t *)websocket_tns, strlen(websocket_tns), NULL, &ws, NULL),
                 (ssize_t)strlen(websocket_tns));
    mitm_tns_dict_set(d, "websocket", ws);
    struct mitm_flow *f = NULL;
    int rc = mitm_flowfile_from_tns(d, &f, err, sizeof(err));
    mitm_flow_unref(f);
    mitm_tns_free(d);
    mitm_buf_free(&b);
    return rc == 1 ? "ok" : err;
}

Test(flowfile_ws, bad_fields)
{
    cr_assert_str_eq(load_error("0:~"), "ok");
    cr_assert_str_eq(load_error("0:}"), "ok");
    cr_assert_str_eq(load_error("0:]"), "websocket: expected a dict or None");
    cr_assert_str_eq(load_error("14:8:messages;0:,}"), "websocket.messages: expected a list");
    /* [type, from_client, content, timestamp] is the least a message needs */
    cr_assert_str_eq(load_error("40:8:messages;25:21:1:1#4:true!1:a,3:1.0^]]}"), "ok");
    cr_assert_str_eq(
        load_error("34:8:messages;19:15:1:1#4:true!1:a,]]}"),
        "websocket.messages[0]: expected [type, from_client, content, timestamp, dropped, injected]");
    cr_assert_str_eq(load_error("40:8:messages;25:21:1:3#4:true!1:a,3:1.0^]]}"),
                     "websocket.messages[0]: not a WebSocket opcode");
    cr_assert_str_eq(load_error("24:16:closed_by_client;1:1#}"),
                     "websocket.closed_by_client: expected a bool or None");
    cr_assert_str_eq(load_error("20:10:close_code;3:abc,}"), "websocket.close_code: expected an int or None");
    cr_assert_str_eq(load_error("19:10:close_code;2:-1#}"), "websocket.close_code: expected an int or None");
    cr_assert_str_eq(load_error("20:12:close_reason;1:1#}"),
                     "websocket.close_reason: expected a str or None");
    cr_assert_str_eq(load_error("21:13:timestamp_end;1:x,}"), "websocket.timestamp_end: expected a float");
}

/* The handshake copies compat.py keeps are bounded: past 4096 of them the oldest is forgotten
 * and its WebSocket flow gets the stand-in handshake (it is still loaded). */
Test(flowfile_ws, handshake_cache_is_bounded)
{
    struct mitm_buf file;
    mitm_buf_init(&file, 0);
    char id[64];
    for (int i = 0; i <= 4096; i++) {
        struct mitm_tns *d = mitm_tns_new_dict(), *meta = mitm_tns_new_dict(), *req = mitm_tns_new_dict();
        snprintf(id, sizeof(id), "%08d-0000-4000-8000-000000000000", i);
        mitm_tns_dict_set(d, "version", mitm_tns_new_int(11));
        mitm_tns_dict_set(d, "type", mitm_tns_new_cstr("http"));
        mitm_tns_dict_set(d, "id", mitm_tns_new_cstr(id));
        mitm_tns_dict_set(meta, "websocket", mitm_tns_new_bool(true));
        mitm_tns_dict_set(d, "metadata", meta);
        mitm_tns_dict_set(req, "headers", mitm_tns_new_list());
        mitm_tns_dict_set(req, "path", mitm_tns_new_bytes("/hs", 3));
        mitm_tns_dict_set(d, "request", req);
        mitm_tns_dict_set(d, "client_conn", mitm_tns_new_dict());
        mitm_tns_dict_set(d, "server_conn", mitm_tns_new_dict());
        cr_assert_eq(mitm_tns_write(&file, d), 0);
        mitm_tns_free(d);
    }
    /* WebSocket flows for handshake 0 (evicted) and 4096 (kept) */
    for (int k = 0; k < 2; k++) {
        struct mitm_tns *d = mitm_tns_new_dict(), *meta = mitm_tns_new_dict();
        snprintf(id, sizeof(id), "%08d-0000-4000-8000-000000000000", k ? 4096 : 0);
        mitm_tns_dict_set(d, "version", mitm_tns_new_int(11));
        mitm_tns_dict_set(d, "type", mitm_tns_new_cstr("websocket"));
        mitm_tns_dict_set(d, "id",
                          mitm_tns_new_cstr(k ? "ws000001-0000-4000-8000-000000000000"
                                              : "ws000000-0000-4000-8000-000000000000"));
        mitm_tns_dict_set(meta, "websocket_handshake", mitm_tns_new_str_copy(id, strlen(id)));
        mitm_tns_dict_set(d, "metadata", meta);
        mitm_tns_dict_set(d, "messages", mitm_tns_new_list());
        mitm_tns_dict_set(d, "close_sender", mitm_tns_new_cstr("client"));
        mitm_tns_dict_set(d, "client_conn", mitm_tns_new_dict());
        mitm_tns_dict_set(d, "server_conn", mitm_tns_new_dict());
        cr_assert_eq(mitm_tns_write(&file, d), 0);
        mitm_tns_free(d);
    }
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(mitm_buf_data(&file), file.len);
    struct mitm_flow *f;
    char err[256];
    for (int i = 0; i <= 4096; i++) {
        cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_FLOW, "%s", err);
        mitm_flow_unref(f);
    }
    cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_FLOW, "%s", err);
    cr_assert_str_eq(f->request->path, "/", "handshake 0 was evicted: stand-in");
    cr_assert_str_eq(f->id, "ws000000-0000-4000-8000-000000000000");
    mitm_flow_unref(f);
    cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_FLOW, "%s", err);
    cr_assert_str_eq(f->request->path, "/hs");
    cr_assert_str_eq(f->id, "00004096-0000-4000-8000-000000000000");
    cr_assert_not_null(f->websocket);
    mitm_flow_unref(f);
    cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_EOF);
    mitm_flowfile_close(r);
    mitm_buf_free(&file);
}
