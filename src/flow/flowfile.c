#include "flow/flowfile.h"
#include "base/alloc.h"
#include "base/log.h"
#include "flow/flow.h"
#include "proto/http/http.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ================= migrations (mitmproxy/io/compat.py, versions 4..21) ================= */

static struct mitm_tns *sub(struct mitm_tns *d, const char *key)
{
    struct mitm_tns *v = mitm_tns_get(d, key);
    return v && v->type == MITM_TNS_DICT ? v : NULL;
}

#define NUL_ (mitm_tns_new_null())

static void set_if_dict(struct mitm_tns *d, const char *key, struct mitm_tns *v)
{
    if (d)
        mitm_tns_dict_set(d, key, v);
    else
        mitm_tns_free(v);
}

static void drop(struct mitm_tns *d, const char *key)
{
    mitm_tns_free(mitm_tns_dict_pop(d, key));
}

static void new_id(struct mitm_tns *conn)
{
    char id[MITM_UUID_LEN + 1];
    mitm_uuid4(id);
    set_if_dict(conn, "id", mitm_tns_new_str_copy(id, MITM_UUID_LEN));
}

/* 9 -> 10: connection state, tls flag and list-valued alpn/cipher fields appear. */
static void conv_9_10_conn(struct mitm_tns *c, bool server)
{
    if (!c)
        return;
    if (server) {
        mitm_tns_dict_rename(c, "cert", "certificate_list", NULL);
        mitm_tns_dict_set(c, "cipher_name", NUL_);
        mitm_tns_dict_set(c, "via2", NUL_);
    } else {
        mitm_tns_dict_set(c, "sockname", mitm_tns_new_list());
        struct mitm_tns *sn = mitm_tns_get(c, "sockname");
        mitm_tns_list_append(sn, mitm_tns_new_str("", 0));
        mitm_tns_list_append(sn, mitm_tns_new_int(0));
        mitm_tns_dict_rename(c, "clientcert", "certificate_list", NULL);
    }
    /* certificate_list = [cert] if cert else [] */
    struct mitm_tns *crt = mitm_tns_dict_pop(c, "certificate_list"), *l = mitm_tns_new_list();
    if (mitm_tns_truthy(crt))
        mitm_tns_list_append(l, crt);
    else
        mitm_tns_free(crt);
    mitm_tns_dict_set(c, "certificate_list", l);
    mitm_tns_dict_set(c, "state", mitm_tns_new_int(0));
    mitm_tns_dict_set(c, "error", NUL_);
    struct mitm_tns *te = mitm_tns_get(c, "tls_established");
    mitm_tns_dict_set(c, "tls", te ? mitm_tns_copy(te) : mitm_tns_new_bool(false));
    const char *from[] = {"alpn_proto_negotiated", "cipher_name"}, *to[] = {"alpn_offers", "cipher_list"};
    for (int i = 0; i < 2; i++) {
        struct mitm_tns *v = mitm_tns_get(c, from[i]), *lst = NUL_;
        if (mitm_tns_truthy(v)) {
            lst->type = MITM_TNS_LIST;
            mitm_tns_list_append(lst, mitm_tns_copy(v));
        }
        mitm_tns_dict_set(c, to[i], lst);
    }
}

static void conv_10_11_conn(struct mitm_tns *c)
{
    if (!c)
        return;
    struct mitm_tns *sni = mitm_tns_get(c, "sni");
    if (sni && sni->type == MITM_TNS_BYTES)
        sni->type = MITM_TNS_STR;
    mitm_tns_dict_rename(c, "alpn_proto_negotiated", "alpn", NUL_);
    const char *lists[] = {"alpn_offers", "cipher_list"};
    for (int i = 0; i < 2; i++)
        if (!mitm_tns_truthy(mitm_tns_get(c, lists[i])))
            mitm_tns_dict_set(c, lists[i], mitm_tns_new_list());
}

/* 18 -> 19: the big connection rename (address -> peername, ...). */
static void conv_18_19(struct mitm_tns *d)
{
    struct mitm_tns *cc = sub(d, "client_conn"), *sc = sub(d, "server_conn");
    if (cc) {
        mitm_tns_dict_rename(cc, "address", "peername", NUL_);
        struct mitm_tns *ts = mitm_tns_get(cc, "timestamp_start");
        if (!ts || ts->type == MITM_TNS_NULL)
            mitm_tns_dict_set(cc, "timestamp_start", mitm_tns_new_float(0.0));
        drop(cc, "tls_extensions");
    }
    if (sc) {
        mitm_tns_dict_rename(sc, "ip_address", "peername", NUL_);
        mitm_tns_dict_rename(sc, "source_address", "sockname", NUL_);
        drop(sc, "via");
        mitm_tns_dict_rename(sc, "via2", "via", NUL_);
    }
    struct mitm_tns *conns[] = {cc, sc};
    const char *addrs[] = {"peername", "sockname", "address"};
    for (int i = 0; i < 2; i++) {
        if (!conns[i])
            continue;
        drop(conns[i], "tls_established");
        mitm_tns_dict_rename(conns[i], "cipher_name", "cipher", NUL_);
        if (!mitm_tns_get(conns[i], "transport_protocol"))
            mitm_tns_dict_set(conns[i], "transport_protocol", mitm_tns_new_cstr("tcp"));
        for (int j = 0; j < 3; j++) {
            struct mitm_tns *a = mitm_tns_get(conns[i], addrs[j]);
            if (a && a->type == MITM_TNS_LIST && a->n > 0 && a->items[0]->type == MITM_TNS_BYTES)
                a->items[0]->type = MITM_TNS_STR;
        }
    }
    struct mitm_tns *sni = mitm_tns_get(sc, "sni"), *addr = mitm_tns_get(sc, "address");
    if (sni && sni->type == MITM_TNS_BOOL && sni->v.b && addr && addr->type == MITM_TNS_LIST && addr->n > 0)
        mitm_tns_dict_set(sc, "sni", mitm_tns_copy(addr->items[0]));
}

static void conv_8_9(struct mitm_tns *d)
{
    struct mitm_tns *req = sub(d, "request"), *resp = sub(d, "response");
    if (req) {
        drop(req, "first_line_format");
        mitm_tns_dict_set(req, "authority", mitm_tns_new_bytes("", 0));
    }
    struct mitm_tns *rq = req ? mitm_tns_dict_pop(req, "is_replay") : NULL;
    struct mitm_tns *rs = resp ? mitm_tns_dict_pop(resp, "is_replay") : NULL;
    const char *r = mitm_tns_truthy(rq) ? "request" : mitm_tns_truthy(rs) ? "response" : NULL;
    mitm_tns_dict_set(d, "is_replay", r ? mitm_tns_new_cstr(r) : NUL_);
    mitm_tns_free(rq);
    mitm_tns_free(rs);
}

static void conv_13_14(struct mitm_tns *d)
{
    mitm_tns_dict_set(d, "comment", mitm_tns_new_str("", 0));
    /* mitmproxy#4576: responses written without timestamp_start */
    struct mitm_tns *req = sub(d, "request"), *resp = sub(d, "response");
    struct mitm_tns *ts = mitm_tns_get(resp, "timestamp_start"), *end = mitm_tns_get(req, "timestamp_end");
    if (resp && (!ts || ts->type == MITM_TNS_NULL) && end &&
        (end->type == MITM_TNS_FLOAT || end->type == MITM_TNS_INT)) {
        double e = end->type == MITM_TNS_FLOAT ? end->v.f : (double)end->v.i;
        mitm_tns_dict_set(resp, "timestamp_start", mitm_tns_new_float(e));
        mitm_tns_dict_set(resp, "timestamp_end", mitm_tns_new_float(e + 1));
    }
}

static void conv_14_15(struct mitm_tns *d)
{
    struct mitm_tns *msgs = mitm_tns_get(sub(d, "websocket"), "messages");
    if (msgs && msgs->type == MITM_TNS_LIST)
        for (size_t i = 0; i < msgs->n; i++)
            if (msgs->items[i]->type == MITM_TNS_LIST)
                mitm_tns_list_append(msgs->items[i], mitm_tns_new_bool(false));
}

static void conv_15_16(struct mitm_tns *d)
{
    /* data.get("request", data["client_conn"])["timestamp_start"] */
    struct mitm_tns *src = mitm_tns_get(d, "request") ? sub(d, "request") : sub(d, "client_conn");
    struct mitm_tns *ts = mitm_tns_get(src, "timestamp_start");
    mitm_tns_dict_set(d, "timestamp_created", ts ? mitm_tns_copy(ts) : mitm_tns_new_float(0.0));
}

static void conv_20_21(struct mitm_tns *d)
{
    const char *conns[] = {"client_conn", "server_conn"};
    for (int i = 0; i < 2; i++) {
        struct mitm_tns *c = sub(d, conns[i]), *v = mitm_tns_get(c, "tls_version");
        if (mitm_tns_is_text(v) && mitm_slice_eq(v->v.s, mitm_slice_str("QUIC")))
            mitm_tns_dict_set(c, "tls_version", mitm_tns_new_cstr("QUICv1"));
    }
}

/* ---- 11 -> 12: separate WebSocket flows merged into their handshake flow ---- */

/* compat.py keeps a copy of every version-11 handshake flow (metadata "websocket") until the
 * WebSocket flow naming it (metadata "websocket_handshake") arrives, then replaces that flow by
 * the copy plus a "websocket" dict; the handshake flow itself is loaded too, so both appear
 * (metadata "duplicated" says so). The copies live in the reader, encoded as tnetstrings (the
 * parsed record borrows the reader's buffer, which moves on), and are bounded: past the caps the
 * oldest is dropped, and its WebSocket flow gets compat.py's stand-in handshake instead. */
#define WS_CACHE_MAX_ENTRIES 4096
#define WS_CACHE_MAX_BYTES   ((size_t)64 << 20)

struct ws_handshake {
    char *id;
    uint8_t *tns; /* the record at the 11 -> 12 step */
    size_t len;
};

struct migrate_ctx {
    struct ws_handshake *v;
    size_t n, bytes;
    uint8_t *hold; /* the encoded copy a merged record borrows from, until it is converted */
};

static void ws_cache_drop(struct migrate_ctx *mc, size_t i)
{
    mc->bytes -= mc->v[i].len;
    free(mc->v[i].id);
    free(mc->v[i].tns);
    memmove(&mc->v[i], &mc->v[i + 1], (mc->n - i - 1) * sizeof(*mc->v));
    mc->n--;
}

static void migrate_ctx_free(struct migrate_ctx *mc)
{
    while (mc->n)
        ws_cache_drop(mc, mc->n - 1);
    free(mc->v);
    free(mc->hold);
    memset(mc, 0, sizeof(*mc));
}

static void ws_cache_put(struct migrate_ctx *mc, const struct mitm_tns *id, const struct mitm_tns *rec)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (!mitm_tns_is_text(id) || mitm_tns_write(&b, rec) < 0 || b.len > WS_CACHE_MAX_BYTES) {
        mitm_buf_free(&b);
        return;
    }
    while (mc->n && (mc->n == WS_CACHE_MAX_ENTRIES || mc->bytes + b.len > WS_CACHE_MAX_BYTES))
        ws_cache_drop(mc, 0);
    if (mc->n % 64 == 0)
        mc->v = mitm_realloc(mc->v, (mc->n + 64) * sizeof(*mc->v));
    struct ws_handshake *h = &mc->v[mc->n++];
    h->id = mitm_strndup((const char *)id->v.s.base, id->v.s.len);
    h->tns = mitm_buf_steal(&b, &h->len);
    mc->bytes += h->len;
}

/* The cached handshake called id, parsed (its bytes move to mc->hold), or NULL. */
static struct mitm_tns *ws_cache_take(struct migrate_ctx *mc, const struct mitm_tns *id)
{
    if (!mc || !mitm_tns_is_text(id))
        return NULL;
    for (size_t i = mc->n; i-- > 0;) {
        if (strlen(mc->v[i].id) != id->v.s.len || memcmp(mc->v[i].id, id->v.s.base, id->v.s.len) != 0)
            continue;
        struct mitm_tns *t = NULL;
        uint8_t *bytes = mc->v[i].tns;
        size_t len = mc->v[i].len;
        mc->v[i].tns = NULL;
        mc->v[i].len = 0;
        ws_cache_drop(mc, i);
        if (mitm_tns_parse(bytes, len, NULL, &t, NULL) != (ssize_t)len || t->type != MITM_TNS_DICT) {
            mitm_tns_free(t);
            free(bytes);
            return NULL;
        }
        free(mc->hold);
        mc->hold = bytes;
        return t;
    }
    return NULL;
}

static void move_key(struct mitm_tns *to, struct mitm_tns *from, const char *key, struct mitm_tns *dflt)
{
    struct mitm_tns *v = mitm_tns_dict_pop(from, key);
    if (v)
        mitm_tns_free(dflt);
    mitm_tns_dict_set(to, key, v ? v : dflt);
}

/* compat.py's stand-in when the handshake flow is missing ("should never really happen"). */
static struct mitm_tns *dummy_handshake(struct mitm_tns *ws)
{
    struct mitm_tns *d = mitm_tns_new_dict(), *req = mitm_tns_new_dict();
    move_key(d, ws, "client_conn", NUL_);
    move_key(d, ws, "error", NUL_);
    move_key(d, ws, "id", mitm_tns_new_str("", 0));
    move_key(d, ws, "intercepted", mitm_tns_new_bool(false));
    move_key(d, ws, "is_replay", NUL_);
    move_key(d, ws, "marked", mitm_tns_new_bool(false));
    mitm_tns_dict_set(d, "metadata", mitm_tns_new_dict());
    mitm_tns_dict_set(d, "mode", mitm_tns_new_cstr("transparent"));
    mitm_tns_dict_set(req, "authority", mitm_tns_new_bytes("", 0));
    mitm_tns_dict_set(req, "content", NUL_);
    mitm_tns_dict_set(req, "headers", mitm_tns_new_list());
    mitm_tns_dict_set(req, "host", mitm_tns_new_bytes("unknown", 7));
    mitm_tns_dict_set(req, "http_version", mitm_tns_new_bytes("HTTP/1.1", 8));
    mitm_tns_dict_set(req, "method", mitm_tns_new_bytes("GET", 3));
    mitm_tns_dict_set(req, "path", mitm_tns_new_bytes("/", 1));
    mitm_tns_dict_set(req, "port", mitm_tns_new_int(80));
    mitm_tns_dict_set(req, "scheme", mitm_tns_new_bytes("http", 4));
    mitm_tns_dict_set(req, "timestamp_end", mitm_tns_new_int(0));
    mitm_tns_dict_set(req, "timestamp_start", mitm_tns_new_int(0));
    mitm_tns_dict_set(req, "trailers", NUL_);
    mitm_tns_dict_set(d, "request", req);
    mitm_tns_dict_set(d, "response", NUL_);
    move_key(d, ws, "server_conn", NUL_);
    mitm_tns_dict_set(d, "type", mitm_tns_new_cstr("http"));
    return d;
}

/* convert_11_12 on d. Returns d, or the tree that replaces it (a merged WebSocket flow; the
 * caller frees it after conversion, d stays the caller's). */
static struct mitm_tns *merge_websocket(struct mitm_tns *d, struct migrate_ctx *mc)
{
    struct mitm_tns *meta = sub(d, "metadata");
    if (mc && mitm_tns_get(meta, "websocket"))
        ws_cache_put(mc, mitm_tns_get(d, "id"), d);
    if (!mitm_tns_get(meta, "websocket_handshake")) {
        mitm_tns_dict_set(d, "websocket", NUL_);
        return d;
    }
    struct mitm_tns *hs = ws_cache_take(mc, mitm_tns_get(meta, "websocket_handshake"));
    if (!hs)
        hs = dummy_handshake(d);
    struct mitm_tns *hmeta = sub(hs, "metadata");
    if (!hmeta) {
        mitm_tns_dict_set(hs, "metadata", mitm_tns_new_dict());
        hmeta = sub(hs, "metadata");
    }
    mitm_tns_dict_set(
        hmeta, "duplicated",
        mitm_tns_new_cstr("This WebSocket flow has been migrated from an old file format version "
                          "and may appear duplicated."));
    struct mitm_tns *ws = mitm_tns_new_dict(), *sender = mitm_tns_get(d, "close_sender");
    move_key(ws, d, "messages", mitm_tns_new_list());
    mitm_tns_dict_set(
        ws, "closed_by_client",
        mitm_tns_new_bool(mitm_tns_is_text(sender) && mitm_slice_eq(sender->v.s, mitm_slice_str("client"))));
    move_key(ws, d, "close_code", NUL_);
    move_key(ws, d, "close_reason", NUL_);
    struct mitm_tns *te = mitm_tns_get(sub(hs, "server_conn"), "timestamp_end");
    mitm_tns_dict_set(ws, "timestamp_end", te ? mitm_tns_copy(te) : NUL_);
    mitm_tns_dict_set(hs, "websocket", ws);
    return hs;
}

/* One compat.py step: from version v to v + 1, on *dp (which the 11 -> 12 step may replace). */
static void migrate_step(struct mitm_tns **dp, int64_t v, struct migrate_ctx *mc)
{
    struct mitm_tns *d = *dp;
    struct mitm_tns *cc = sub(d, "client_conn"), *sc = sub(d, "server_conn");
    struct mitm_tns *req = sub(d, "request"), *resp = sub(d, "response");
    switch (v) {
    case 4: /* compat.py dedups ids by (timestamp, address) across a file; fresh ids suffice */
        new_id(cc);
        new_id(sc);
        break;
    case 5:
        mitm_tns_dict_rename(cc, "ssl_established", "tls_established", NULL);
        mitm_tns_dict_rename(cc, "timestamp_ssl_setup", "timestamp_tls_setup", NULL);
        mitm_tns_dict_rename(sc, "ssl_established", "tls_established", NULL);
        mitm_tns_dict_rename(sc, "timestamp_ssl_setup", "timestamp_tls_setup", NULL);
        break;
    case 6:
        set_if_dict(cc, "tls_extensions", NUL_);
        break;
    case 7:
        set_if_dict(req, "trailers", NUL_);
        set_if_dict(resp, "trailers", NUL_);
        break;
    case 8:
        conv_8_9(d);
        break;
    case 9:
        conv_9_10_conn(cc, false);
        conv_9_10_conn(sc, true);
        break;
    case 10:
        conv_10_11_conn(cc);
        conv_10_11_conn(sc);
        break;
    case 11:
        d = *dp = merge_websocket(d, mc);
        break;
    case 12: {
        bool m = mitm_tns_truthy(mitm_tns_get(d, "marked"));
        mitm_tns_dict_set(d, "marked", mitm_tns_new_cstr(m ? ":default:" : ""));
        break;
    }
    case 13:
        conv_13_14(d);
        break;
    case 14:
        conv_14_15(d);
        break;
    case 15:
        conv_15_16(d);
        break;
    case 16:
        drop(d, "mode");
        break;
    case 17:
        set_if_dict(cc, "proxy_mode", mitm_tns_new_cstr("regular"));
        break;
    case 18:
        conv_18_19(d);
        break;
    case 19:
        drop(cc, "state");
        drop(sc, "state");
        break;
    case 20:
        conv_20_21(d);
        break;
    }
    mitm_tns_dict_set(d, "version", mitm_tns_new_int(v + 1));
}

/* ================= version-21 dict -> struct mitm_flow ================= */

struct cv {
    char *err;
    size_t errlen;
};

static int bad(struct cv *c, const char *field, const char *what)
{
    if (c->errlen)
        snprintf(c->err, c->errlen, "%s: %s", field, what);
    return -1;
}

static bool is_null(const struct mitm_tns *v)
{
    return !v || v->type == MITM_TNS_NULL;
}

/* A bytes/str field as a C string (NULL for None/absent when nullable). C strings must
 * not hold a NUL: it would silently cut them. */
static int text(struct cv *c, const struct mitm_tns *d, const char *key, const char *name, bool nullable,
                char **out)
{
    const struct mitm_tns *v = mitm_tns_get(d, key);
    *out = NULL;
    if (is_null(v)) {
        if (nullable)
            return 0;
        *out = mitm_strdup("");
        return 0;
    }
    if (!mitm_tns_is_text(v))
        return bad(c, name, "expected bytes or str");
    if (memchr(v->v.s.base, 0, v->v.s.len))
        return bad(c, name, "contains a NUL byte");
    *out = mitm_strndup((const char *)v->v.s.base, v->v.s.len);
    return 0;
}

/* A float or None (0 = None in the flow model; ints are accepted like Python does). */
static int number(struct cv *c, const struct mitm_tns *d, const char *key, const char *name, double *out)
{
    const struct mitm_tns *v = mitm_tns_get(d, key);
    *out = 0;
    if (is_null(v))
        return 0;
    if (v->type == MITM_TNS_FLOAT)
        *out = v->v.f;
    else if (v->type == MITM_TNS_INT)
        *out = (double)v->v.i;
    else
        return bad(c, name, "expected a float");
    return 0;
}

static int boolean(struct cv *c, const struct mitm_tns *d, const char *key, const char *name, bool *out)
{
    const struct mitm_tns *v = mitm_tns_get(d, key);
    *out = false;
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_BOOL)
        return bad(c, name, "expected a bool");
    *out = v->v.b;
    return 0;
}

static int port_of(struct cv *c, const struct mitm_tns *v, const char *name, uint16_t *out)
{
    if (!v || v->type != MITM_TNS_INT || v->v.i < 0 || v->v.i > 65535)
        return bad(c, name, "expected a port number");
    *out = (uint16_t)v->v.i;
    return 0;
}

/* [host, port] (IPv6 peers may carry flowinfo and scope id as 3rd/4th items) or None. */
static int address(struct cv *c, const struct mitm_tns *v, const char *name, char **host, uint16_t *port)
{
    *host = NULL;
    *port = 0;
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_LIST || v->n < 2 || !mitm_tns_is_text(v->items[0]))
        return bad(c, name, "expected [host, port]");
    const struct mitm_slice h = v->items[0]->v.s;
    if (memchr(h.base, 0, h.len))
        return bad(c, name, "contains a NUL byte");
    if (port_of(c, v->items[1], name, port) < 0)
        return -1;
    *host = mitm_strndup((const char *)h.base, h.len);
    return 0;
}

static int strlist(struct cv *c, const struct mitm_tns *d, const char *key, const char *name,
                   struct mitm_strlist *out)
{
    const struct mitm_tns *v = mitm_tns_get(d, key);
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_LIST)
        return bad(c, name, "expected a list");
    for (size_t i = 0; i < v->n; i++) {
        if (!mitm_tns_is_text(v->items[i]))
            return bad(c, name, "expected a list of bytes or str");
        mitm_strlist_add(out, (const char *)v->items[i]->v.s.base, v->items[i]->v.s.len);
    }
    return 0;
}

static int conn(struct cv *c, const struct mitm_tns *d, struct mitm_conn_info *ci, bool server,
                const char *name)
{
    char field[64];
#define F(k) (snprintf(field, sizeof(field), "%s.%s", name, k), field)
    if (!d || d->type != MITM_TNS_DICT)
        return bad(c, name, "expected a dict");
    char *id = NULL;
    if (text(c, d, "id", F("id"), true, &id) < 0)
        return -1;
    if (id && strlen(id) > MITM_UUID_LEN) {
        free(id);
        return bad(c, F("id"), "longer than 36 characters");
    }
    if (id)
        memcpy(ci->id, id, strlen(id) + 1);
    free(id);
    const struct mitm_tns *via = mitm_tns_get(d, "via");
    if (address(c, mitm_tns_get(d, "peername"), F("peername"), &ci->peer_host, &ci->peer_port) < 0 ||
        address(c, mitm_tns_get(d, "sockname"), F("sockname"), &ci->sock_host, &ci->sock_port) < 0 ||
        (server &&
         address(c, mitm_tns_get(d, "address"), F("address"), &ci->address_host, &ci->address_port) < 0) ||
        text(c, d, "error", F("error"), true, &ci->error) < 0 ||
        boolean(c, d, "tls", F("tls"), &ci->tls) < 0 ||
        strlist(c, d, "certificate_list", F("certificate_list"), &ci->certificate_list) < 0 ||
        strlist(c, d, "alpn_offers", F("alpn_offers"), &ci->alpn_offers) < 0 ||
        text(c, d, "cipher", F("cipher"), true, &ci->cipher) < 0 ||
        strlist(c, d, "cipher_list", F("cipher_list"), &ci->cipher_list) < 0 ||
        text(c, d, "tls_version", F("tls_version"), true, &ci->tls_version) < 0 ||
        text(c, d, "sni", F("sni"), true, &ci->sni) < 0 ||
        number(c, d, "timestamp_start", F("timestamp_start"), &ci->timestamp_start) < 0 ||
        number(c, d, "timestamp_end", F("timestamp_end"), &ci->timestamp_end) < 0 ||
        number(c, d, "timestamp_tls_setup", F("timestamp_tls_setup"), &ci->timestamp_tls_setup) < 0 ||
        (server &&
         number(c, d, "timestamp_tcp_setup", F("timestamp_tcp_setup"), &ci->timestamp_tcp_setup) < 0) ||
        (!server && text(c, d, "proxy_mode", F("proxy_mode"), true, &ci->proxy_mode) < 0))
        return -1;
    const struct mitm_tns *alpn = mitm_tns_get(d, "alpn"), *cert = mitm_tns_get(d, "mitmcert");
    if (!is_null(alpn)) {
        if (!mitm_tns_is_text(alpn))
            return bad(c, F("alpn"), "expected bytes");
        ci->alpn = mitm_memdup(alpn->v.s.base, alpn->v.s.len);
        ci->alpn_len = alpn->v.s.len;
    }
    if (!server && !is_null(cert)) {
        if (!mitm_tns_is_text(cert) || memchr(cert->v.s.base, 0, cert->v.s.len))
            return bad(c, F("mitmcert"), "expected PEM bytes");
        ci->mitmcert = mitm_strndup((const char *)cert->v.s.base, cert->v.s.len);
    }
    if (server && !is_null(via)) {
        /* ServerSpec: [scheme, [host, port]] */
        if (via->type != MITM_TNS_LIST || via->n != 2 || !mitm_tns_is_text(via->items[0]) ||
            memchr(via->items[0]->v.s.base, 0, via->items[0]->v.s.len))
            return bad(c, F("via"), "expected [scheme, [host, port]]");
        if (address(c, via->items[1], F("via"), &ci->via_host, &ci->via_port) < 0)
            return -1;
        if (!ci->via_host)
            return bad(c, F("via"), "expected [scheme, [host, port]]");
        ci->via_scheme = mitm_strndup((const char *)via->items[0]->v.s.base, via->items[0]->v.s.len);
    }
#undef F
    return 0;
}

static int headers(struct cv *c, const struct mitm_tns *v, const char *name, struct mitm_headers *h)
{
    if (!v || v->type != MITM_TNS_LIST)
        return bad(c, name, "expected a list of [name, value]");
    for (size_t i = 0; i < v->n; i++) {
        const struct mitm_tns *kv = v->items[i];
        if (kv->type != MITM_TNS_LIST || kv->n != 2 || !mitm_tns_is_text(kv->items[0]) ||
            !mitm_tns_is_text(kv->items[1]))
            return bad(c, name, "expected a list of [name, value]");
        mitm_headers_add(h, (const char *)kv->items[0]->v.s.base, kv->items[0]->v.s.len,
                         (const char *)kv->items[1]->v.s.base, kv->items[1]->v.s.len);
    }
    return 0;
}

/* The parts Request and Response share: headers, content, trailers, timestamps. */
static int message(struct cv *c, const struct mitm_tns *d, const char *name, struct mitm_headers *h,
                   struct mitm_buf *content, bool *missing, struct mitm_headers **trailers, double *ts,
                   double *te)
{
    char field[64];
#define F(k) (snprintf(field, sizeof(field), "%s.%s", name, k), field)
    if (headers(c, mitm_tns_get(d, "headers"), F("headers"), h) < 0)
        return -1;
    const struct mitm_tns *body = mitm_tns_get(d, "content"), *tr = mitm_tns_get(d, "trailers");
    if (is_null(body)) {
        *missing = true;
    } else if (!mitm_tns_is_text(body)) {
        return bad(c, F("content"), "expected bytes");
    } else if (mitm_buf_append(content, body->v.s.base, body->v.s.len) < 0) {
        return bad(c, F("content"), "out of memory");
    }
    if (!is_null(tr)) {
        *trailers = mitm_calloc(1, sizeof(**trailers));
        mitm_headers_init(*trailers);
        if (headers(c, tr, F("trailers"), *trailers) < 0)
            return -1;
    }
    if (number(c, d, "timestamp_start", F("timestamp_start"), ts) < 0 ||
        number(c, d, "timestamp_end", F("timestamp_end"), te) < 0)
        return -1;
#undef F
    return 0;
}

static enum mitm_target_form form_of(const struct mitm_http_request *r)
{
    if (!strcmp(r->method, "CONNECT"))
        return MITM_TARGET_AUTHORITY;
    if (!strcmp(r->path, "*"))
        return MITM_TARGET_ASTERISK;
    return r->authority[0] ? MITM_TARGET_ABSOLUTE : MITM_TARGET_ORIGIN;
}

static int request(struct cv *c, const struct mitm_tns *d, struct mitm_flow *f)
{
    if (!d || d->type != MITM_TNS_DICT)
        return bad(c, "request", "expected a dict");
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    /* the model's fields start NULL or "" depending on http.c: free before filling */
    char **fields[] = {&r->method, &r->scheme, &r->authority, &r->host, &r->path, &r->http_version};
    const char *keys[] = {"method", "scheme", "authority", "host", "path", "http_version"};
    const char *names[] = {"request.method", "request.scheme", "request.authority",
                           "request.host",   "request.path",   "request.http_version"};
    for (int i = 0; i < 6; i++) {
        free(*fields[i]);
        if (text(c, d, keys[i], names[i], false, fields[i]) < 0)
            return -1;
    }
    uint16_t port = 0;
    const struct mitm_tns *p = mitm_tns_get(d, "port");
    if (!is_null(p) && port_of(c, p, "request.port", &port) < 0)
        return -1;
    r->port = port;
    r->form = form_of(r);
    return message(c, d, "request", &r->headers, &r->content, &r->content_missing, &r->trailers,
                   &r->timestamp_start, &r->timestamp_end);
}

static int response(struct cv *c, const struct mitm_tns *d, struct mitm_flow *f)
{
    if (is_null(d))
        return 0;
    if (d->type != MITM_TNS_DICT)
        return bad(c, "response", "expected a dict or None");
    struct mitm_http_response *r = f->response = mitm_http_response_new();
    free(r->http_version);
    free(r->reason);
    r->http_version = r->reason = NULL;
    if (text(c, d, "http_version", "response.http_version", false, &r->http_version) < 0 ||
        text(c, d, "reason", "response.reason", false, &r->reason) < 0)
        return -1;
    const struct mitm_tns *sc = mitm_tns_get(d, "status_code");
    /* any int, as mitmproxy's Response takes (flow.set and scripts can set any): a narrower
     * check here would make a flow the store has written unreadable */
    if (!sc || sc->type != MITM_TNS_INT || sc->v.i < INT_MIN || sc->v.i > INT_MAX)
        return bad(c, "response.status_code", "expected an int");
    r->status_code = (int)sc->v.i;
    return message(c, d, "response", &r->headers, &r->content, &r->content_missing, &r->trailers,
                   &r->timestamp_start, &r->timestamp_end);
}

static int tcp_messages(struct cv *c, const struct mitm_tns *v, struct mitm_flow *f)
{
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_LIST)
        return bad(c, "messages", "expected a list");
    f->messages = v->n ? mitm_calloc(v->n, sizeof(*f->messages)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        const struct mitm_tns *m = v->items[i];
        if (m->type != MITM_TNS_LIST || m->n < 3 || m->items[0]->type != MITM_TNS_BOOL ||
            !mitm_tns_is_text(m->items[1]) ||
            (m->items[2]->type != MITM_TNS_FLOAT && m->items[2]->type != MITM_TNS_INT))
            return bad(c, "messages", "expected [from_client, content, timestamp]");
        struct mitm_tcp_message *t = &f->messages[f->n_messages++];
        t->from_client = m->items[0]->v.b;
        t->content = mitm_memdup(m->items[1]->v.s.base, m->items[1]->v.s.len);
        t->len = m->items[1]->v.s.len;
        t->timestamp = m->items[2]->type == MITM_TNS_FLOAT ? m->items[2]->v.f : (double)m->items[2]->v.i;
    }
    return 0;
}

/* metadata values are kept as their tnetstring encoding (any type round-trips). */
static int metadata(struct cv *c, const struct mitm_tns *v, struct mitm_flow *f)
{
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_DICT)
        return bad(c, "metadata", "expected a dict");
    f->metadata = v->n ? mitm_calloc(v->n, sizeof(*f->metadata)) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        const struct mitm_tns *k = v->items[2 * i];
        /* Python allows int keys; the flow model has text keys only, so those are dropped. */
        if (!mitm_tns_is_text(k) || memchr(k->v.s.base, 0, k->v.s.len))
            continue;
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        if (mitm_tns_write(&b, v->items[2 * i + 1]) < 0) {
            mitm_buf_free(&b);
            return bad(c, "metadata", "value too large or nested too deeply");
        }
        struct mitm_meta *m = &f->metadata[f->n_metadata++];
        m->key = mitm_strndup((const char *)k->v.s.base, k->v.s.len);
        m->tns = mitm_buf_steal(&b, &m->tns_len);
    }
    return 0;
}

/* mitmproxy's wsproto Opcode values: a message type outside them does not load there either. */
static bool ws_opcode(int64_t op)
{
    return op == 0 || op == 1 || op == 2 || op == 8 || op == 9 || op == 10;
}

static bool number_of(const struct mitm_tns *v, double *out)
{
    if (v->type == MITM_TNS_FLOAT)
        *out = v->v.f;
    else if (v->type == MITM_TNS_INT)
        *out = (double)v->v.i;
    else
        return false;
    return true;
}

/* [type, from_client, content, timestamp, dropped, injected] (WebSocketMessage.get_state); the
 * last two may be missing (versions before 15 lack injected, records written by hand both). */
static int ws_message(struct cv *c, const struct mitm_tns *m, size_t i, struct mitm_websocket_data *ws)
{
    char field[64];
    snprintf(field, sizeof(field), "websocket.messages[%zu]", i);
    double ts = 0;
    if (m->type != MITM_TNS_LIST || m->n < 4 || m->n > 6 || m->items[0]->type != MITM_TNS_INT ||
        m->items[1]->type != MITM_TNS_BOOL || !mitm_tns_is_text(m->items[2]) ||
        !number_of(m->items[3], &ts) || (m->n > 4 && m->items[4]->type != MITM_TNS_BOOL) ||
        (m->n > 5 && m->items[5]->type != MITM_TNS_BOOL))
        return bad(c, field, "expected [type, from_client, content, timestamp, dropped, injected]");
    if (!ws_opcode(m->items[0]->v.i))
        return bad(c, field, "not a WebSocket opcode");
    struct mitm_websocket_message *w = mitm_websocket_add(ws, (uint8_t)m->items[0]->v.i, m->items[1]->v.b,
                                                          m->items[2]->v.s.base, m->items[2]->v.s.len, ts);
    w->dropped = m->n > 4 && m->items[4]->v.b;
    w->injected = m->n > 5 && m->items[5]->v.b;
    return 0;
}

/* flow.websocket: WebSocketData.get_state() or None. */
static int websocket(struct cv *c, const struct mitm_tns *v, struct mitm_flow *f)
{
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_DICT)
        return bad(c, "websocket", "expected a dict or None");
    struct mitm_websocket_data *ws = f->websocket = mitm_websocket_new();
    const struct mitm_tns *msgs = mitm_tns_get(v, "messages"), *cbc = mitm_tns_get(v, "closed_by_client");
    const struct mitm_tns *code = mitm_tns_get(v, "close_code"), *reason = mitm_tns_get(v, "close_reason");
    if (!is_null(msgs) && msgs->type != MITM_TNS_LIST)
        return bad(c, "websocket.messages", "expected a list");
    for (size_t i = 0; msgs && i < msgs->n; i++)
        if (ws_message(c, msgs->items[i], i, ws) < 0)
            return -1;
    if (!is_null(cbc)) {
        if (cbc->type != MITM_TNS_BOOL)
            return bad(c, "websocket.closed_by_client", "expected a bool or None");
        ws->closed_by_client = cbc->v.b ? 1 : 0;
    }
    if (!is_null(code)) {
        if (code->type != MITM_TNS_INT || code->v.i < 0 || code->v.i > INT32_MAX)
            return bad(c, "websocket.close_code", "expected an int or None");
        ws->close_code = (int32_t)code->v.i;
    }
    if (!is_null(reason)) {
        if (!mitm_tns_is_text(reason))
            return bad(c, "websocket.close_reason", "expected a str or None");
        ws->close_reason = mitm_memdup(reason->v.s.base, reason->v.s.len);
        ws->close_reason_len = reason->v.s.len;
    }
    return number(c, v, "timestamp_end", "websocket.timestamp_end", &ws->timestamp_end);
}

static int flow_error(struct cv *c, const struct mitm_tns *v, struct mitm_flow *f)
{
    if (is_null(v))
        return 0;
    if (v->type != MITM_TNS_DICT)
        return bad(c, "error", "expected a dict or None");
    f->error = mitm_calloc(1, sizeof(*f->error));
    if (text(c, v, "msg", "error.msg", false, &f->error->msg) < 0 ||
        number(c, v, "timestamp", "error.timestamp", &f->error->timestamp) < 0)
        return -1;
    return 0;
}

static int top_fields(struct cv *c, const struct mitm_tns *d, struct mitm_flow *f)
{
    char *id = NULL;
    if (text(c, d, "id", "id", false, &id) < 0)
        return -1;
    size_t n = strlen(id);
    if (n > MITM_UUID_LEN || n == 0) {
        free(id);
        return bad(c, "id", n ? "longer than 36 characters" : "empty");
    }
    memcpy(f->id, id, n + 1);
    free(id);
    free(f->marked);
    free(f->comment);
    f->marked = f->comment = NULL;
    const struct mitm_tns *marked = mitm_tns_get(d, "marked");
    if (marked && marked->type == MITM_TNS_BOOL) /* defensive: a v12 bool left behind */
        f->marked = mitm_strdup(marked->v.b ? ":default:" : "");
    else if (text(c, d, "marked", "marked", false, &f->marked) < 0)
        return -1;
    if (text(c, d, "comment", "comment", false, &f->comment) < 0 ||
        text(c, d, "is_replay", "is_replay", true, &f->is_replay) < 0 ||
        boolean(c, d, "intercepted", "intercepted", &f->intercepted) < 0 ||
        number(c, d, "timestamp_created", "timestamp_created", &f->timestamp_created) < 0 ||
        flow_error(c, mitm_tns_get(d, "error"), f) < 0 || metadata(c, mitm_tns_get(d, "metadata"), f) < 0)
        return -1;
    /* fresh ids stay if a record lacks them */
    mitm_conn_info_clear(&f->client_conn);
    mitm_conn_info_clear(&f->server_conn);
    mitm_conn_info_init(&f->client_conn);
    mitm_conn_info_init(&f->server_conn);
    if (conn(c, mitm_tns_get(d, "client_conn"), &f->client_conn, false, "client_conn") < 0 ||
        conn(c, mitm_tns_get(d, "server_conn"), &f->server_conn, true, "server_conn") < 0)
        return -1;
    return 0;
}

/* Version as compat.py sees it: an int, or a (major, minor, ...) tuple for files
 * before 4 (mitmproxy 0.11 .. 3.x). */
static int version_of(struct cv *c, const struct mitm_tns *d, int64_t *v)
{
    const struct mitm_tns *ver = mitm_tns_get(d, "version");
    if (ver && ver->type == MITM_TNS_INT) {
        *v = ver->v.i;
        if (*v > MITM_FLOWFILE_VERSION) {
            snprintf(c->err, c->errlen, "flow file version %lld is newer than this mitmc supports (up to %d)",
                     (long long)*v, MITM_FLOWFILE_VERSION);
            return -1;
        }
        if (*v >= MITM_FLOWFILE_OLDEST)
            return 0;
    }
    if (ver && ver->type == MITM_TNS_LIST && ver->n >= 2 && ver->items[0]->type == MITM_TNS_INT &&
        ver->items[1]->type == MITM_TNS_INT) {
        snprintf(
            c->err, c->errlen,
            "flow file version (%lld, %lld) is too old: mitmc reads versions %d to %d (mitmproxy 4.0 and "
            "later); convert it with mitmproxy first",
            (long long)ver->items[0]->v.i, (long long)ver->items[1]->v.i, MITM_FLOWFILE_OLDEST,
            MITM_FLOWFILE_VERSION);
        return -1;
    }
    if (ver && ver->type == MITM_TNS_INT) {
        snprintf(c->err, c->errlen, "flow file version %lld is too old: mitmc reads versions %d to %d",
                 (long long)*v, MITM_FLOWFILE_OLDEST, MITM_FLOWFILE_VERSION);
        return -1;
    }
    return bad(c, "version", "missing or not an int: not a mitmproxy flow");
}

/* The version-21 dict d -> a flow. Returns 1 (*out set), 0 (type skipped, c->err says why), -1. */
static int convert(struct cv *c, const struct mitm_tns *d, struct mitm_flow **out)
{
    const struct mitm_tns *t = mitm_tns_get(d, "type");
    enum mitm_flow_type type;
    if (mitm_tns_is_text(t) && mitm_slice_eq(t->v.s, mitm_slice_str("http")))
        type = MITM_FLOW_HTTP;
    else if (mitm_tns_is_text(t) && mitm_slice_eq(t->v.s, mitm_slice_str("tcp")))
        type = MITM_FLOW_TCP;
    else if (mitm_tns_is_text(t)) {
        snprintf(c->err, c->errlen, "skipped a %.*s flow: mitmc does not load this flow type yet",
                 (int)(t->v.s.len > 32 ? 32 : t->v.s.len), (const char *)t->v.s.base);
        return 0;
    } else
        return bad(c, "type", "missing or not a str");
    struct mitm_flow *f = mitm_flow_new(type, 0);
    int rc = top_fields(c, d, f);
    if (rc == 0 && type == MITM_FLOW_HTTP)
        rc = request(c, mitm_tns_get(d, "request"), f) < 0 ||
                     response(c, mitm_tns_get(d, "response"), f) < 0 ||
                     websocket(c, mitm_tns_get(d, "websocket"), f) < 0
                 ? -1
                 : 0;
    if (rc == 0 && type == MITM_FLOW_TCP)
        rc = tcp_messages(c, mitm_tns_get(d, "messages"), f);
    if (rc < 0) {
        mitm_flow_unref(f);
        return -1;
    }
    *out = f;
    return 1;
}

/* mitm_flowfile_from_tns with the reader's migration state (NULL: none kept). */
static int from_tns(struct mitm_tns *rec, struct migrate_ctx *mc, struct mitm_flow **out, char *err,
                    size_t errlen)
{
    char dummy[1];
    struct cv c = {errlen ? err : dummy, errlen ? errlen : sizeof(dummy)};
    int64_t v;
    *out = NULL;
    c.err[0] = 0;
    if (!rec || rec->type != MITM_TNS_DICT)
        return bad(&c, "record", "not a dict: not a mitmproxy flow");
    if (version_of(&c, rec, &v) < 0)
        return -1;
    struct mitm_tns *cur = rec;
    for (; v < MITM_FLOWFILE_VERSION; v++)
        migrate_step(&cur, v, mc);
    int rc = convert(&c, cur, out);
    if (cur != rec)
        mitm_tns_free(cur); /* a merged WebSocket flow (it may borrow mc->hold) */
    if (mc) {
        free(mc->hold);
        mc->hold = NULL;
    }
    return rc;
}

int mitm_flowfile_from_tns(struct mitm_tns *rec, struct mitm_flow **out, char *err, size_t errlen)
{
    return from_tns(rec, NULL, out, err, errlen);
}

/* ================= struct mitm_flow -> version-21 dict ================= */

static struct mitm_tns *opt_str(const char *s)
{
    return s ? mitm_tns_new_cstr(s) : mitm_tns_new_null();
}

static struct mitm_tns *opt_float(double f)
{
    return f != 0 ? mitm_tns_new_float(f) : mitm_tns_new_null();
}

static struct mitm_tns *addr_tns(const char *host, uint16_t port)
{
    if (!host)
        return mitm_tns_new_null();
    struct mitm_tns *l = mitm_tns_new_list();
    mitm_tns_list_append(l, mitm_tns_new_cstr(host));
    mitm_tns_list_append(l, mitm_tns_new_int(port));
    return l;
}

static struct mitm_tns *list_tns(const struct mitm_strlist *sl, bool str)
{
    struct mitm_tns *l = mitm_tns_new_list();
    for (size_t i = 0; i < sl->n; i++)
        mitm_tns_list_append(l, str ? mitm_tns_new_str(sl->v[i], sl->lens[i])
                                    : mitm_tns_new_bytes(sl->v[i], sl->lens[i]));
    return l;
}

/* Key order of mitmproxy's Connection dataclasses (readers do not depend on it). */
static struct mitm_tns *conn_tns(const struct mitm_conn_info *ci, bool server)
{
    struct mitm_tns *d = mitm_tns_new_dict();
    mitm_tns_dict_set(d, server ? "address" : "peername",
                      server ? addr_tns(ci->address_host, ci->address_port)
                             : addr_tns(ci->peer_host, ci->peer_port));
    if (server)
        mitm_tns_dict_set(d, "peername", addr_tns(ci->peer_host, ci->peer_port));
    mitm_tns_dict_set(d, "sockname", addr_tns(ci->sock_host, ci->sock_port));
    mitm_tns_dict_set(d, "id", mitm_tns_new_cstr(ci->id));
    mitm_tns_dict_set(d, "transport_protocol", mitm_tns_new_cstr("tcp"));
    mitm_tns_dict_set(d, "error", opt_str(ci->error));
    mitm_tns_dict_set(d, "tls", mitm_tns_new_bool(ci->tls));
    mitm_tns_dict_set(d, "certificate_list", list_tns(&ci->certificate_list, false));
    mitm_tns_dict_set(d, "alpn", ci->alpn ? mitm_tns_new_bytes(ci->alpn, ci->alpn_len) : mitm_tns_new_null());
    mitm_tns_dict_set(d, "alpn_offers", list_tns(&ci->alpn_offers, false));
    mitm_tns_dict_set(d, "cipher", opt_str(ci->cipher));
    mitm_tns_dict_set(d, "cipher_list", list_tns(&ci->cipher_list, true));
    mitm_tns_dict_set(d, "tls_version", opt_str(ci->tls_version));
    mitm_tns_dict_set(d, "sni", opt_str(ci->sni));
    /* Client.timestamp_start is a float, never None; Server's may be None. */
    mitm_tns_dict_set(d, "timestamp_start",
                      server ? opt_float(ci->timestamp_start) : mitm_tns_new_float(ci->timestamp_start));
    mitm_tns_dict_set(d, "timestamp_end", opt_float(ci->timestamp_end));
    mitm_tns_dict_set(d, "timestamp_tls_setup", opt_float(ci->timestamp_tls_setup));
    if (server) {
        mitm_tns_dict_set(d, "timestamp_tcp_setup", opt_float(ci->timestamp_tcp_setup));
        struct mitm_tns *via = mitm_tns_new_null();
        if (ci->via_scheme && ci->via_host) {
            via->type = MITM_TNS_LIST;
            mitm_tns_list_append(via, mitm_tns_new_cstr(ci->via_scheme));
            mitm_tns_list_append(via, addr_tns(ci->via_host, ci->via_port));
        }
        mitm_tns_dict_set(d, "via", via);
    } else {
        mitm_tns_dict_set(d, "mitmcert",
                          ci->mitmcert ? mitm_tns_new_bytes(ci->mitmcert, strlen(ci->mitmcert))
                                       : mitm_tns_new_null());
        mitm_tns_dict_set(d, "proxy_mode", mitm_tns_new_cstr(ci->proxy_mode ? ci->proxy_mode : "regular"));
    }
    return d;
}

static struct mitm_tns *bytes_of(const char *s)
{
    return s ? mitm_tns_new_bytes(s, strlen(s)) : mitm_tns_new_bytes("", 0);
}

static struct mitm_tns *headers_tns(const struct mitm_headers *h)
{
    struct mitm_tns *l = mitm_tns_new_list();
    for (size_t i = 0; i < h->n; i++) {
        struct mitm_tns *kv = mitm_tns_new_list();
        mitm_tns_list_append(kv, mitm_tns_new_bytes(h->v[i].name, h->v[i].name_len));
        mitm_tns_list_append(kv, mitm_tns_new_bytes(h->v[i].value, h->v[i].value_len));
        mitm_tns_list_append(l, kv);
    }
    return l;
}

static void message_tns(struct mitm_tns *d, const char *http_version, const struct mitm_headers *h,
                        const struct mitm_buf *content, bool missing, const struct mitm_headers *trailers,
                        double ts, double te)
{
    mitm_tns_dict_set(d, "http_version", bytes_of(http_version));
    mitm_tns_dict_set(d, "headers", headers_tns(h));
    mitm_tns_dict_set(d, "content",
                      missing ? mitm_tns_new_null()
                              : mitm_tns_new_bytes(mitm_buf_data(content), content->len));
    mitm_tns_dict_set(d, "trailers", trailers ? headers_tns(trailers) : mitm_tns_new_null());
    mitm_tns_dict_set(d, "timestamp_start", mitm_tns_new_float(ts));
    mitm_tns_dict_set(d, "timestamp_end", opt_float(te));
}

static struct mitm_tns *request_tns(const struct mitm_http_request *r)
{
    struct mitm_tns *d = mitm_tns_new_dict();
    message_tns(d, r->http_version, &r->headers, &r->content, r->content_missing, r->trailers,
                r->timestamp_start, r->timestamp_end);
    mitm_tns_dict_set(d, "host", mitm_tns_new_cstr(r->host ? r->host : ""));
    mitm_tns_dict_set(d, "port", mitm_tns_new_int(r->port));
    mitm_tns_dict_set(d, "method", bytes_of(r->method));
    mitm_tns_dict_set(d, "scheme", bytes_of(r->scheme));
    mitm_tns_dict_set(d, "authority", bytes_of(r->authority));
    mitm_tns_dict_set(d, "path", bytes_of(r->path));
    return d;
}

static struct mitm_tns *response_tns(const struct mitm_http_response *r)
{
    if (!r)
        return mitm_tns_new_null();
    struct mitm_tns *d = mitm_tns_new_dict();
    message_tns(d, r->http_version, &r->headers, &r->content, r->content_missing, r->trailers,
                r->timestamp_start, r->timestamp_end);
    mitm_tns_dict_set(d, "status_code", mitm_tns_new_int(r->status_code));
    mitm_tns_dict_set(d, "reason", bytes_of(r->reason));
    return d;
}

/* WebSocketData.get_state(): messages as [type, from_client, content, timestamp, dropped,
 * injected]; the close fields None while unset. */
static struct mitm_tns *websocket_tns(const struct mitm_websocket_data *ws)
{
    if (!ws)
        return mitm_tns_new_null();
    struct mitm_tns *d = mitm_tns_new_dict(), *l = mitm_tns_new_list();
    for (size_t i = 0; i < ws->n_messages; i++) {
        const struct mitm_websocket_message *m = &ws->messages[i];
        struct mitm_tns *t = mitm_tns_new_list();
        mitm_tns_list_append(t, mitm_tns_new_int(m->type));
        mitm_tns_list_append(t, mitm_tns_new_bool(m->from_client));
        mitm_tns_list_append(t, mitm_tns_new_bytes(m->content, m->len));
        mitm_tns_list_append(t, mitm_tns_new_float(m->timestamp));
        mitm_tns_list_append(t, mitm_tns_new_bool(m->dropped));
        mitm_tns_list_append(t, mitm_tns_new_bool(m->injected));
        mitm_tns_list_append(l, t);
    }
    mitm_tns_dict_set(d, "messages", l);
    mitm_tns_dict_set(d, "closed_by_client",
                      ws->closed_by_client < 0 ? mitm_tns_new_null()
                                               : mitm_tns_new_bool(ws->closed_by_client > 0));
    mitm_tns_dict_set(d, "close_code",
                      ws->close_code < 0 ? mitm_tns_new_null() : mitm_tns_new_int(ws->close_code));
    mitm_tns_dict_set(d, "close_reason",
                      ws->close_reason ? mitm_tns_new_str(ws->close_reason, ws->close_reason_len)
                                       : mitm_tns_new_null());
    mitm_tns_dict_set(d, "timestamp_end", opt_float(ws->timestamp_end));
    return d;
}

static struct mitm_tns *metadata_tns(const struct mitm_flow *f, char *err, size_t errlen)
{
    struct mitm_tns *d = mitm_tns_new_dict();
    for (size_t i = 0; i < f->n_metadata; i++) {
        struct mitm_tns *v;
        ssize_t r = mitm_tns_parse(f->metadata[i].tns, f->metadata[i].tns_len, NULL, &v, NULL);
        if (r != (ssize_t)f->metadata[i].tns_len) {
            mitm_tns_free(v);
            mitm_tns_free(d);
            if (errlen)
                snprintf(err, errlen, "metadata[%s]: value is not one tnetstring", f->metadata[i].key);
            return NULL;
        }
        mitm_tns_dict_set(d, f->metadata[i].key, v);
    }
    return d;
}

struct mitm_tns *mitm_flowfile_to_tns(const struct mitm_flow *f, char *err, size_t errlen)
{
    struct mitm_tns *meta = metadata_tns(f, err, errlen);
    if (!meta)
        return NULL;
    struct mitm_tns *d = mitm_tns_new_dict();
    mitm_tns_dict_set(d, "version", mitm_tns_new_int(MITM_FLOWFILE_VERSION));
    mitm_tns_dict_set(d, "type", mitm_tns_new_cstr(f->type == MITM_FLOW_TCP ? "tcp" : "http"));
    mitm_tns_dict_set(d, "id", mitm_tns_new_cstr(f->id));
    struct mitm_tns *e = mitm_tns_new_null();
    if (f->error) {
        e->type = MITM_TNS_DICT;
        mitm_tns_dict_set(e, "msg", mitm_tns_new_cstr(f->error->msg ? f->error->msg : ""));
        mitm_tns_dict_set(e, "timestamp", mitm_tns_new_float(f->error->timestamp));
    }
    mitm_tns_dict_set(d, "error", e);
    mitm_tns_dict_set(d, "client_conn", conn_tns(&f->client_conn, false));
    mitm_tns_dict_set(d, "server_conn", conn_tns(&f->server_conn, true));
    mitm_tns_dict_set(d, "intercepted", mitm_tns_new_bool(f->intercepted));
    mitm_tns_dict_set(d, "is_replay", opt_str(f->is_replay));
    mitm_tns_dict_set(d, "marked", mitm_tns_new_cstr(f->marked ? f->marked : ""));
    mitm_tns_dict_set(d, "metadata", meta);
    mitm_tns_dict_set(d, "comment", mitm_tns_new_cstr(f->comment ? f->comment : ""));
    mitm_tns_dict_set(d, "timestamp_created", mitm_tns_new_float(f->timestamp_created));
    mitm_tns_dict_set(d, "backup", mitm_tns_new_null());
    if (f->type == MITM_FLOW_HTTP) {
        mitm_tns_dict_set(d, "request", f->request ? request_tns(f->request) : mitm_tns_new_null());
        mitm_tns_dict_set(d, "response", response_tns(f->response));
        mitm_tns_dict_set(d, "websocket", websocket_tns(f->websocket));
    } else {
        struct mitm_tns *l = mitm_tns_new_list();
        for (size_t i = 0; i < f->n_messages; i++) {
            struct mitm_tns *m = mitm_tns_new_list();
            mitm_tns_list_append(m, mitm_tns_new_bool(f->messages[i].from_client));
            mitm_tns_list_append(m, mitm_tns_new_bytes(f->messages[i].content, f->messages[i].len));
            mitm_tns_list_append(m, mitm_tns_new_float(f->messages[i].timestamp));
            mitm_tns_list_append(l, m);
        }
        mitm_tns_dict_set(d, "messages", l);
    }
    return d;
}

/* Version 21 connection dicts as version 17 wants them (mitmproxy's convert_17_18 ..
 * convert_20_21 backwards). mitmproxy 8's Client and Server read their keys by name and
 * ignore the others, so what 17 lacks is left out only to keep the record clean. */
static void downgrade_conn(struct mitm_tns *c, bool server)
{
    if (!c || c->type != MITM_TNS_DICT)
        return;
    struct mitm_tns *tv = mitm_tns_get(c, "tls_version");
    bool tls_done = tv && tv->type != MITM_TNS_NULL;
    if (tv && mitm_tns_is_text(tv) && tv->v.s.len == 6 && memcmp(tv->v.s.base, "QUICv1", 6) == 0)
        mitm_tns_dict_set(c, "tls_version", mitm_tns_new_cstr("QUIC"));
    mitm_tns_dict_set(c, "state", mitm_tns_new_int(0));
    mitm_tns_free(mitm_tns_dict_pop(c, "transport_protocol"));
    mitm_tns_dict_rename(c, "cipher", "cipher_name", mitm_tns_new_null());
    mitm_tns_dict_set(c, "tls_established", mitm_tns_new_bool(tls_done));
    if (server) {
        mitm_tns_dict_rename(c, "peername", "ip_address", mitm_tns_new_null());
        mitm_tns_dict_rename(c, "sockname", "source_address", mitm_tns_new_null());
        mitm_tns_dict_rename(c, "via", "via2", mitm_tns_new_null());
        mitm_tns_dict_set(c, "via", mitm_tns_new_null());
    } else {
        mitm_tns_dict_rename(c, "peername", "address", mitm_tns_new_null());
        mitm_tns_dict_set(c, "tls_extensions", mitm_tns_new_list());
        mitm_tns_free(mitm_tns_dict_pop(c, "proxy_mode"));
    }
}

int mitm_flowfile_encode_version(const struct mitm_flow *f, int version, struct mitm_buf *out, char *err,
                                 size_t errlen)
{
    if (version == MITM_FLOWFILE_VERSION)
        return mitm_flowfile_encode(f, out, err, errlen);
    if (version != MITM_FLOWFILE_VERSION_OLD) {
        if (errlen)
            snprintf(err, errlen, "cannot write flow format version %d (only %d and %d)", version,
                     MITM_FLOWFILE_VERSION_OLD, MITM_FLOWFILE_VERSION);
        return -1;
    }
    if (f->type == MITM_FLOW_HTTP && !f->request) {
        if (errlen)
            snprintf(err, errlen, "flow %s has no request", f->id);
        return -1;
    }
    struct mitm_tns *d = mitm_flowfile_to_tns(f, err, errlen);
    if (!d)
        return -1;
    mitm_tns_dict_set(d, "version", mitm_tns_new_int(MITM_FLOWFILE_VERSION_OLD));
    downgrade_conn(mitm_tns_get(d, "client_conn"), false);
    downgrade_conn(mitm_tns_get(d, "server_conn"), true);
    int rc = mitm_tns_write(out, d);
    mitm_tns_free(d);
    if (rc < 0 && errlen)
        snprintf(err, errlen, "flow %s: record larger than the buffer cap", f->id);
    return rc;
}

int mitm_flowfile_write(int fd, const struct mitm_flow *f, char *err, size_t errlen)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    int rc = mitm_flowfile_encode(f, &b, err, errlen);
    const uint8_t *p = mitm_buf_data(&b);
    size_t left = rc == 0 ? b.len : 0;
    while (left > 0) {
        ssize_t n = write(fd, p, left); /* one call for the whole record in the normal case */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (errlen)
                snprintf(err, errlen, "writing flow %s: %s", f->id, n < 0 ? strerror(errno) : "short write");
            rc = -1;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    mitm_buf_free(&b);
    return rc;
}

/* ================= the incremental reader ================= */

enum rstate { R_START, R_RECORDS, R_DONE, R_FAILED };

struct mitm_flowfile_reader {
    int fd;             /* -1 for memory readers */
    const uint8_t *mem; /* memory reader: the whole input */
    size_t mem_len;
    uint8_t *buf; /* fd reader: buf[start .. start+len) read but not yet consumed */
    size_t start, len, cap;
    bool eof;
    size_t offset; /* file offset of buf[0] (= end of the last consumed record) */
    size_t max_record;
    size_t count, skipped;
    enum rstate state;
    char failure[256];     /* sticky message once R_FAILED */
    struct migrate_ctx mc; /* state compat.py keeps across the records of a file */
};

struct mitm_flowfile_reader *mitm_flowfile_open(int fd)
{
    struct mitm_flowfile_reader *r = mitm_calloc(1, sizeof(*r));
    r->fd = fd;
    r->max_record = MITM_FLOWFILE_DEFAULT_CAP;
    return r;
}

struct mitm_flowfile_reader *mitm_flowfile_open_mem(const void *p, size_t len)
{
    struct mitm_flowfile_reader *r = mitm_flowfile_open(-1);
    r->mem = p;
    r->mem_len = len;
    r->eof = true;
    return r;
}

void mitm_flowfile_set_max_record(struct mitm_flowfile_reader *r, size_t max)
{
    r->max_record = max;
}

size_t mitm_flowfile_offset(const struct mitm_flowfile_reader *r)
{
    return r->offset;
}

size_t mitm_flowfile_count(const struct mitm_flowfile_reader *r)
{
    return r->count;
}

size_t mitm_flowfile_skipped(const struct mitm_flowfile_reader *r)
{
    return r->skipped;
}

void mitm_flowfile_close(struct mitm_flowfile_reader *r)
{
    if (!r)
        return;
    migrate_ctx_free(&r->mc);
    free(r->buf);
    free(r);
}

static const uint8_t *data(const struct mitm_flowfile_reader *r)
{
    return r->mem ? r->mem + r->offset : r->buf + r->start;
}

static size_t avail(const struct mitm_flowfile_reader *r)
{
    return r->mem ? r->mem_len - r->offset : r->len;
}

/* Read until at least want bytes are buffered or EOF. The buffer grows only when it is
 * full, so a record that merely declares a huge size costs no memory until its bytes
 * arrive; unconsumed bytes move to the front only when the tail is full (amortised:
 * no per-record memmove). Returns 0, or -1 on a read error (errno set). */
static int fill(struct mitm_flowfile_reader *r, size_t want)
{
    while (!r->eof && r->len < want) {
        if (r->start + r->len == r->cap && r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->len);
            r->start = 0;
        }
        if (r->len == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 65536;
            uint8_t *nb = realloc(r->buf, cap);
            if (!nb) {
                errno = ENOMEM;
                return -1;
            }
            r->buf = nb;
            r->cap = cap;
        }
        ssize_t n = read(r->fd, r->buf + r->start + r->len, r->cap - r->start - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            r->eof = true;
        r->len += (size_t)n;
    }
    return 0;
}

static void consume(struct mitm_flowfile_reader *r, size_t n)
{
    if (!r->mem) {
        r->start += n;
        r->len -= n;
        if (r->len == 0)
            r->start = 0;
    }
    r->offset += n;
}

static int failed(struct mitm_flowfile_reader *r, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int failed(struct mitm_flowfile_reader *r, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failure, sizeof(r->failure), fmt, ap);
    va_end(ap);
    r->state = R_FAILED;
    if (errlen)
        snprintf(err, errlen, "%s", r->failure);
    return MITM_FLOWFILE_ERROR;
}

static int truncated(struct mitm_flowfile_reader *r, char *err, size_t errlen)
{
    if (errlen)
        snprintf(err, errlen,
                 "file truncated at byte %zu: the last record is incomplete; %zu flows were read",
                 r->offset + avail(r), r->count);
    r->state = R_DONE;
    return MITM_FLOWFILE_TRUNCATED;
}

/* mitmproxy's FlowReader: a UTF-8 BOM followed by '{', or '{', means HAR. */
static bool is_har(const uint8_t *p, size_t n)
{
    if (n >= 4 && memcmp(p, "\xef\xbb\xbf{", 4) == 0)
        return true;
    return n >= 1 && p[0] == '{';
}

/* Frame and parse the record at the front. Returns the record size, 0 at a clean EOF,
 * or a MITM_FLOWFILE_* error code (already reported). */
static ssize_t next_record(struct mitm_flowfile_reader *r, struct mitm_tns **tree, char *err, size_t errlen)
{
    struct mitm_tns_error e = {"", 0};
    if (!r->mem && fill(r, 32) < 0)
        return failed(r, err, errlen, "reading the flow file at byte %zu: %s", r->offset, strerror(errno));
    if (avail(r) == 0)
        return 0;
    ssize_t size = mitm_tns_frame_size(data(r), avail(r), r->max_record, &e);
    if (size == MITM_INCOMPLETE)
        return truncated(r, err, errlen);
    if (size < 0)
        return failed(r, err, errlen, "flow file corrupt at byte %zu: %s", r->offset + e.offset, e.reason);
    if (!r->mem && fill(r, (size_t)size) < 0)
        return failed(r, err, errlen, "reading the flow file at byte %zu: %s", r->offset, strerror(errno));
    if (avail(r) < (size_t)size)
        return truncated(r, err, errlen);
    struct mitm_tns_limits lim = {r->max_record, MITM_TNS_DEFAULT_MAX_DEPTH};
    ssize_t n = mitm_tns_parse(data(r), (size_t)size, &lim, tree, &e);
    if (n < 0)
        return failed(r, err, errlen, "flow file corrupt at byte %zu: %s", r->offset + e.offset, e.reason);
    if ((*tree)->type != MITM_TNS_DICT) {
        mitm_tns_free(*tree);
        *tree = NULL;
        return failed(r, err, errlen, "flow file corrupt at byte %zu: the record is not a dict", r->offset);
    }
    return n;
}

int mitm_flowfile_next(struct mitm_flowfile_reader *r, struct mitm_flow **out, char *err, size_t errlen)
{
    char msg[256];
    *out = NULL;
    if (errlen)
        err[0] = 0;
    if (r->state == R_FAILED)
        return errlen ? (snprintf(err, errlen, "%s", r->failure), MITM_FLOWFILE_ERROR) : MITM_FLOWFILE_ERROR;
    if (r->state == R_DONE)
        return MITM_FLOWFILE_EOF;
    if (r->state == R_START) {
        if (!r->mem && fill(r, 4) < 0)
            return failed(r, err, errlen, "reading the flow file: %s", strerror(errno));
        r->state = R_RECORDS;
        if (is_har(data(r), avail(r))) {
            r->state = R_DONE;
            return MITM_FLOWFILE_HAR;
        }
    }
    for (;;) { /* bounded: every pass consumes a record or returns */
        struct mitm_tns *tree = NULL;
        ssize_t size = next_record(r, &tree, err, errlen);
        if (size == 0) {
            r->state = R_DONE;
            return MITM_FLOWFILE_EOF;
        }
        if (size < 0)
            return (int)size;
        size_t at = r->offset;
        int rc = from_tns(tree, &r->mc, out, msg, sizeof(msg));
        mitm_tns_free(tree); /* before consume: the tree borrows the buffer */
        consume(r, (size_t)size);
        if (rc == 1) {
            r->count++;
            return MITM_FLOWFILE_FLOW;
        }
        if (rc < 0) {
            if (errlen)
                snprintf(err, errlen, "flow record at byte %zu: %s", at, msg);
            return MITM_FLOWFILE_ERROR;
        }
        r->skipped++;
        mitm_log(MITM_LOG_WARN, NULL, "flow file, record at byte %zu: %s", at, msg);
    }
}

struct mitm_flow *mitm_flowfile_snapshot(const struct mitm_flow *f, bool last_message)
{
    struct mitm_flow tmp = *f; /* shallow: the encoder only reads */
    struct mitm_websocket_data ws;
    if (last_message && f->websocket) {
        ws = *f->websocket;
        if (ws.n_messages) {
            ws.messages = &f->websocket->messages[ws.n_messages - 1];
            ws.n_messages = 1;
        }
        tmp.websocket = &ws;
    }
    /* a body kept in a file (flow/bodyfile.h) is shared, not copied: the copy borrows the
     * same read-only mapping */
    struct mitm_http_request rq;
    struct mitm_http_response rs;
    const struct mitm_buf *shared_rq = NULL, *shared_rs = NULL;
    if (f->request && f->request->content.ext) {
        rq = *f->request;
        mitm_buf_init(&rq.content, 0);
        tmp.request = &rq;
        shared_rq = &f->request->content;
    }
    if (f->response && f->response->content.ext) {
        rs = *f->response;
        mitm_buf_init(&rs.content, 0);
        tmp.response = &rs;
        shared_rs = &f->response->content;
    }
    char err[256];
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    struct mitm_flow *copy = NULL;
    if (mitm_flowfile_encode(&tmp, &b, err, sizeof(err)) == 0) {
        struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(mitm_buf_data(&b), b.len);
        if (mitm_flowfile_next(r, &copy, err, sizeof(err)) != MITM_FLOWFILE_FLOW)
            copy = NULL;
        mitm_flowfile_close(r);
    }
    mitm_buf_free(&b);
    if (copy && shared_rq && copy->request)
        mitm_buf_borrow(&copy->request->content, shared_rq->ext, mitm_buf_data(shared_rq), shared_rq->len);
    if (copy && shared_rs && copy->response)
        mitm_buf_borrow(&copy->response->content, shared_rs->ext, mitm_buf_data(shared_rs), shared_rs->len);
    return copy;
}
