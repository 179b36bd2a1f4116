/* The web server's transport: TCP on the main thread's libuv loop, requests read with the
 * project's HTTP/1 codec (proto/http1), /updates spoken with its WebSocket codec (proto/ws).
 * Why not a library: docs/internals/web.md. Every buffer has a cap and every wait a
 * deadline (web-int.h). */
#include "ui/web/web-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "filter/filter.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"
#include "proto/ws/ws.h"

enum conn_state { C_HEAD, C_BODY, C_WS };

struct named_filter {
    char *name;
    struct mitm_filter *filt;
};

struct web_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct web *w;
    struct web_conn *next, **pprev;
    char peer[80];
    enum conn_state state;
    struct mitm_buf in;
    struct mitm_http_request *req;
    struct mitm_h1_body body;
    struct mitm_buf content;
    size_t body_cap;    /* this request's: WEB_BODY_MAX with credentials in its head */
    size_t out_pending; /* bytes handed to uv_write and not written yet */
    bool closing;
    bool close_after; /* Connection: close, or an error answer */
    int handles;      /* tcp and timer still to be closed */
    /* /updates */
    struct mitm_ws_parser wsp;
    struct mitm_ws_assembler wsa;
    struct mitm_buf wsq; /* frames not handed to the socket yet (ws_send) */
    struct named_filter filters[WEB_FILTERS_MAX];
    size_t nfilters;
};

struct wreq {
    uv_write_t req;
    struct web_conn *c;
    size_t len;
    uint8_t *owned; /* a body handed over (web_reply_owned), freed when written */
    uint8_t data[];
};

static void conn_close(struct web_conn *c, const char *why);

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
    struct wreq *wr = (struct wreq *)req;
    struct web_conn *c = wr->c;
    c->out_pending -= wr->len;
    free(wr->owned);
    free(wr);
    if (c->closing)
        return;
    if (status < 0)
        conn_close(c, uv_strerror(status));
    else if (c->close_after && c->out_pending == 0)
        conn_close(c, NULL);
}

/* Write head[0..hn) (copied) and then body[0..bn) (taken over: freed once written; NULL:
 * none) in one uv_write. */
static void conn_write2(struct web_conn *c, const void *head, size_t hn, uint8_t *body, size_t bn)
{
    if (c->closing || hn + bn == 0) {
        free(body);
        return;
    }
    struct wreq *wr = mitm_alloc(sizeof(*wr) + hn);
    if (hn)
        memcpy(wr->data, head, hn);
    wr->c = c;
    wr->len = hn + bn;
    wr->owned = body;
    c->out_pending += wr->len;
    uv_buf_t b[2] = {uv_buf_init((char *)wr->data, (unsigned)hn), uv_buf_init((char *)body, (unsigned)bn)};
    int rc = hn ? uv_write(&wr->req, (uv_stream_t *)&c->tcp, b, body && bn ? 2 : 1, on_written)
                : uv_write(&wr->req, (uv_stream_t *)&c->tcp, b + 1, 1, on_written);
    if (rc < 0) {
        c->out_pending -= wr->len;
        free(wr->owned);
        free(wr);
        conn_close(c, uv_strerror(rc));
    }
}

static void conn_write(struct web_conn *c, const void *p, size_t n)
{
    conn_write2(c, p, n, NULL, 0);
}

/* ---- connections ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct web_conn *c = h->data;
    if (--c->handles > 0)
        return;
    mitm_buf_free(&c->in);
    mitm_buf_free(&c->content);
    mitm_buf_free(&c->wsq);
    mitm_http_request_free(c->req);
    mitm_h1_body_free(&c->body);
    if (c->state == C_WS) {
        mitm_ws_parser_free(&c->wsp);
        mitm_ws_assembler_free(&c->wsa);
    }
    for (size_t i = 0; i < c->nfilters; i++) {
        free(c->filters[i].name);
        mitm_filter_free(c->filters[i].filt);
    }
    free(c);
}

static void conn_close(struct web_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    if (why)
        mitm_log(MITM_LOG_DEBUG, c->peer, "web: closing: %s", why);
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    c->w->nconns--;
    if (c->state == C_WS)
        c->w->nclients--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct web_conn *c = t->data;
    if (c->state == C_HEAD && c->in.len) {
        mitm_log(MITM_LOG_INFO, c->peer, "web: request head not complete after %d s: closing",
                 WEB_HEAD_TIMEOUT_MS / 1000);
        static const char r408[] =
            "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        c->close_after = true;
        conn_write(c, r408, sizeof(r408) - 1);
        return;
    }
    if (c->state == C_BODY)
        mitm_log(MITM_LOG_INFO, c->peer, "web: request body not complete after %d s: closing",
                 WEB_BODY_TIMEOUT_MS / 1000);
    conn_close(c, "idle");
}

static void arm(struct web_conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void reset_request(struct web_conn *c)
{
    mitm_http_request_free(c->req);
    c->req = NULL;
    mitm_h1_body_free(&c->body);
    memset(&c->body, 0, sizeof(c->body));
    mitm_buf_free(&c->content);
    mitm_buf_init(&c->content, WEB_BODY_MAX);
    c->state = C_HEAD;
}

/* ---- answers ---- */

/* script-src names the hash of web/index.html's inline import map, the one inline script
 * (docs/internals/web-frontend.md; tests/browser checks they agree). */
static const char SECURITY_HEADERS[] = "X-Frame-Options: DENY\r\n"
                                       "X-XSS-Protection: 1; mode=block\r\n"
                                       "X-Content-Type-Options: nosniff\r\n"
                                       "Content-Security-Policy: default-src 'self'; connect-src 'self' ws:; "
                                       "script-src 'self' "
                                       "'sha256-7sb9pZ5cm1YVgatbOIrR8eTeoWu+LcIZPaxVNLI3hKs='; "
                                       "img-src 'self' data:; style-src   'self' 'unsafe-inline'\r\n"
                                       "Referrer-Policy: same-origin\r\n";

/* The head of an answer to r (web_reply's headers) with Content-Length len. */
static void reply_head(struct web_request *r, struct mitm_buf *out, int status, const char *ctype,
                       const char *extra, size_t len)
{
    struct web_conn *c = r->conn;
    mitm_buf_printf(out, "HTTP/1.1 %d %s\r\nServer: mitmc/" MITM_VERSION "\r\n%s", status,
                    mitm_http_reason(status), SECURITY_HEADERS);
    if (ctype)
        mitm_buf_printf(out, "Content-Type: %s\r\n", ctype);
    if (extra)
        mitm_buf_append(out, extra, strlen(extra));
    if (r->set_cookie) {
        char v[80];
        web_auth_cookie(c->w, v);
        mitm_buf_printf(out, "Set-Cookie: %s=%s; Max-Age=34560000; Path=/; HttpOnly; SameSite=Strict\r\n",
                        c->w->cookie_name, v);
    }
    if (status >= 400)
        c->close_after = c->close_after || status == 400 || status == 413 || status == 431;
    mitm_buf_printf(out, "Content-Length: %zu\r\n%s\r\n", len, c->close_after ? "Connection: close\r\n" : "");
}

void web_reply(struct web_request *r, int status, const char *ctype, const char *extra, const void *body,
               size_t len)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    reply_head(r, &out, status, ctype, extra, len);
    if (strcmp(r->method, "HEAD") != 0 && len)
        mitm_buf_append(&out, body, len);
    conn_write(r->conn, mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
}

void web_reply_owned(struct web_request *r, int status, const char *ctype, const char *extra, uint8_t *body,
                     size_t len)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    reply_head(r, &out, status, ctype, extra, len);
    if (strcmp(r->method, "HEAD") == 0) {
        free(body);
        body = NULL;
        len = 0;
    }
    conn_write2(r->conn, mitm_buf_data(&out), out.len, body, len);
    mitm_buf_free(&out);
}

void web_reply_json(struct web_request *r, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    web_reply_owned(r, status, "application/json; charset=UTF-8", NULL, (uint8_t *)s, s ? strlen(s) : 0);
}

void web_reply_error(struct web_request *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    web_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

/* A protocol error before a request exists (bad head, too large): answer and close. */
static void fail(struct web_conn *c, int status, const char *reason)
{
    mitm_log(MITM_LOG_INFO, c->peer, "web: bad request: %s", reason);
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"error\": \"%s\"}", reason);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_buf_printf(&out,
                    "HTTP/1.1 %d %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n%s",
                    status, mitm_http_reason(status), SECURITY_HEADERS, n, body);
    c->close_after = true;
    conn_write(c, mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
    c->in.len = 0;
}

/* ---- /updates ---- */

int web_upgrade(struct web_request *r)
{
    struct web_conn *c = r->conn;
    const char *why;
    if (mitm_ws_check_request(&r->req->headers, &why) < 0) {
        web_reply_error(r, 400, "Not a WebSocket handshake: %s", why);
        return -1;
    }
    size_t klen;
    const char *key = mitm_headers_get(&r->req->headers, "Sec-WebSocket-Key", &klen);
    char accept[29];
    mitm_ws_accept_key(key, klen, accept);
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    conn_write(c, head, (size_t)n);
    c->state = C_WS;
    struct mitm_ws_limits lim = {.max_frame = WEB_WS_MSG_MAX, .max_message = WEB_WS_MSG_MAX};
    mitm_ws_parser_init(&c->wsp, true, &lim, NULL);
    mitm_ws_assembler_init(&c->wsa, WEB_WS_MSG_MAX);
    uv_timer_stop(&c->timer);
    c->w->nclients++;
    return 0;
}

/* Hand c's queued frames to the socket in one write. */
static void ws_flush(struct web_conn *c)
{
    if (!c->wsq.len)
        return;
    size_t len;
    uint8_t *p = mitm_buf_steal(&c->wsq, &len);
    conn_write2(c, NULL, 0, p, len);
}

static void on_flush(uv_timer_t *t)
{
    struct web *w = t->data;
    for (struct web_conn *c = w->conns, *n; c; c = n) {
        n = c->next;
        if (c->state == C_WS)
            ws_flush(c);
    }
}

/* Queue a text message for c. Messages are written together WEB_WS_FLUSH_MS later: at
 * thousands of flows a second one write (and one wake-up of the browser) carries many. */
static void ws_send(struct web_conn *c, const char *text, size_t len)
{
    if (c->closing || c->state != C_WS)
        return;
    if (c->out_pending + c->wsq.len + len > WEB_WS_QUEUE_MAX) {
        mitm_log(MITM_LOG_WARN, c->peer, "web: /updates client does not read (%zu bytes queued): dropped",
                 c->out_pending + c->wsq.len);
        conn_close(c, NULL);
        return;
    }
    uint8_t hdr[MITM_WS_MAX_HEADER];
    size_t h = mitm_ws_frame_header(hdr, true, 0, MITM_WS_TEXT, len, NULL);
    mitm_buf_append(&c->wsq, hdr, h);
    mitm_buf_append(&c->wsq, text, len);
    if (!uv_is_active((uv_handle_t *)&c->w->flush))
        uv_timer_start(&c->w->flush, on_flush, WEB_WS_FLUSH_MS, 0);
}

static void ws_send_json(struct web_conn *c, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s)
        ws_send(c, s, strlen(s));
    free(s);
}

void web_broadcast(struct web *w, json_t *msg)
{
    if (w->nclients) {
        char *s = json_dumps(msg, JSON_COMPACT);
        for (struct web_conn *c = w->conns, *n; s && c; c = n) {
            n = c->next;
            if (c->state == C_WS)
                ws_send(c, s, strlen(s));
        }
        free(s);
    }
    json_decref(msg);
}

void web_broadcast_flow(struct web *w, const char *type, const struct mitm_flow *f, ssize_t i)
{
    if (!w->nclients)
        return;
    /* the flow is encoded once; each client's message wraps it with its own filters */
    struct mitm_buf fb;
    mitm_buf_init(&fb, 0);
    web_flow_json(f, i >= 0 && mitm_store_has_backup(w->m.store, (size_t)i), &fb);
    const char *flow = (const char *)mitm_buf_data(&fb);
    size_t flow_len = fb.len;
    struct mitm_buf msg;
    mitm_buf_init(&msg, 0);
    for (struct web_conn *c = w->conns, *n; c; c = n) {
        n = c->next;
        if (c->state != C_WS)
            continue;
        msg.len = 0;
        static const char a[] = "{\"type\":\"",
                          b[] = "\",\"payload\":{\"flow\":", d[] = ",\"matching_filters\":{";
        mitm_buf_append(&msg, a, sizeof(a) - 1); /* appends: printf would scan the flow's text twice */
        mitm_buf_append(&msg, type, strlen(type));
        mitm_buf_append(&msg, b, sizeof(b) - 1);
        mitm_buf_append(&msg, flow, flow_len);
        mitm_buf_append(&msg, d, sizeof(d) - 1);
        for (size_t k = 0; k < c->nfilters; k++) {
            json_t *name = json_string(c->filters[k].name);
            char *ns = json_dumps(name, JSON_ENCODE_ANY);
            mitm_buf_printf(&msg, "%s%s:%s", k ? "," : "", ns ? ns : "\"\"",
                            mitm_filter_match(c->filters[k].filt, f) ? "true" : "false");
            free(ns);
            json_decref(name);
        }
        mitm_buf_append(&msg, "}}}", 3);
        ws_send(c, (const char *)mitm_buf_data(&msg), msg.len);
    }
    mitm_buf_free(&msg);
    mitm_buf_free(&fb);
}

static void send_filter_update(struct web *w, struct web_conn *c, const char *name,
                               const struct mitm_filter *f)
{
    json_t *ids = f ? web_api_matching_ids(w, f) : json_null();
    ws_send_json(c, json_pack("{s:s,s:{s:s,s:o}}", "type", "flows/filterUpdate", "payload", "name", name,
                              "matching_flow_ids", ids));
}

void web_clients_refilter(struct web *w)
{
    for (struct web_conn *c = w->conns, *n; c; c = n) {
        n = c->next;
        if (c->state != C_WS)
            continue;
        ws_send_json(c, json_pack("{s:s}", "type", "flows/reset"));
        for (size_t k = 0; k < c->nfilters && !c->closing; k++)
            send_filter_update(w, c, c->filters[k].name, c->filters[k].filt);
    }
}

/* A client's message: only flows/updateFilter (mitmproxy's ClientConnection.on_message);
 * anything else closes it with 1011, as mitmproxy does. */
static void ws_message(struct web_conn *c, const uint8_t *p, size_t n)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)p, n, 0, &jerr);
    const char *type = NULL, *name = NULL, *expr = NULL;
    char err[512] = "";
    if (!j ||
        json_unpack_ex(j, &jerr, 0, "{s:s,s:{s:s,s:s}}", "type", &type, "payload", "name", &name, "expr",
                       &expr) < 0 ||
        strcmp(type, "flows/updateFilter") != 0) {
        snprintf(err, sizeof(err), "%s", j && type ? "Unsupported command" : jerr.text);
    } else {
        struct mitm_filter *f = NULL;
        if (*expr && !(f = mitm_filter_parse(expr, err, sizeof(err)))) {
            /* err says why */
        } else {
            size_t k = 0;
            while (k < c->nfilters && strcmp(c->filters[k].name, name) != 0)
                k++;
            if (k < c->nfilters) {
                mitm_filter_free(c->filters[k].filt);
                if (f) {
                    c->filters[k].filt = f;
                } else {
                    free(c->filters[k].name);
                    c->filters[k] = c->filters[--c->nfilters];
                }
            } else if (f && c->nfilters == WEB_FILTERS_MAX) {
                mitm_filter_free(f);
                f = NULL;
                snprintf(err, sizeof(err), "more than %d filters", WEB_FILTERS_MAX);
            } else if (f) {
                c->filters[c->nfilters++] = (struct named_filter){mitm_strdup(name), f};
            }
            if (!*err)
                send_filter_update(c->w, c, name, f);
        }
    }
    json_decref(j);
    if (*err) {
        mitm_log(MITM_LOG_ERROR, c->peer, "Error processing message from /updates client: %s", err);
        struct mitm_buf out;
        mitm_buf_init(&out, 0);
        mitm_ws_write_close(&out, MITM_WS_INTERNAL_ERROR, "Internal server error.", 22, NULL);
        c->close_after = true;
        ws_flush(c);
        conn_write(c, mitm_buf_data(&out), out.len);
        mitm_buf_free(&out);
    }
}

static void ws_input(struct web_conn *c)
{
    size_t off = 0;
    while (!c->closing && !c->close_after) {
        struct mitm_ws_event ev;
        ssize_t used = mitm_ws_parse(&c->wsp, mitm_buf_data(&c->in) + off, c->in.len - off, &ev);
        if (used == MITM_PARSE_ERROR) {
            mitm_log(MITM_LOG_INFO, c->peer, "web: /updates client: %s", ev.error);
            struct mitm_buf out;
            mitm_buf_init(&out, 0);
            mitm_ws_write_close(&out, ev.error_code, NULL, 0, NULL);
            c->close_after = true;
            ws_flush(c);
            conn_write(c, mitm_buf_data(&out), out.len);
            mitm_buf_free(&out);
            break;
        }
        off += (size_t)used;
        if (ev.type == MITM_WS_EV_NONE)
            break;
        if (ev.type == MITM_WS_EV_CONTROL) {
            struct mitm_buf out;
            mitm_buf_init(&out, 0);
            if (ev.opcode == MITM_WS_PING) {
                mitm_ws_write_control(&out, MITM_WS_PONG, ev.data.base, ev.data.len, NULL);
            } else if (ev.opcode == MITM_WS_CLOSE) {
                mitm_ws_write_close(
                    &out, ev.close_code == MITM_WS_NO_STATUS_RCVD ? MITM_WS_NORMAL_CLOSURE : ev.close_code,
                    NULL, 0, NULL);
                c->close_after = true;
            }
            ws_flush(c);
            conn_write(c, mitm_buf_data(&out), out.len);
            mitm_buf_free(&out);
            continue;
        }
        int done = mitm_ws_assembler_feed(&c->wsa, &ev);
        if (done > 0) {
            ws_message(c, mitm_buf_data(&c->wsa.content), c->wsa.content.len);
            mitm_ws_assembler_reset(&c->wsa);
        } else if (done < 0) {
            conn_close(c, "message too big");
        }
    }
    if (!c->closing)
        mitm_buf_consume(&c->in, off);
}

/* ---- requests ---- */

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* A path's %XX escapes decoded ('+' stays: that is a query's rule). NUL-terminated, caller
 * frees. */
static char *pct_decode(const char *p, size_t n)
{
    char *s = mitm_alloc(n + 1), *o = s;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 && (lo = hexval(p[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = 0;
    return s;
}

static void dispatch(struct web_conn *c)
{
    struct web_request r = {.conn = c, .req = c->req, .method = c->req->method};
    const char *p = c->req->path ? c->req->path : "/";
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    r.path = pct_decode(p, plen);
    r.query = mitm_strdup(q ? q + 1 : "");
    r.body = mitm_buf_data(&c->content);
    r.body_len = c->content.len;
    size_t vl;
    const char *conn = mitm_headers_get(&c->req->headers, "Connection", &vl);
    if ((conn && vl == 5 && strncasecmp(conn, "close", 5) == 0) ||
        (c->req->http_version && strcmp(c->req->http_version, "HTTP/1.0") == 0 &&
         !(conn && vl == 10 && strncasecmp(conn, "keep-alive", 10) == 0)))
        c->close_after = true;
    web_api_handle(c->w, &r);
    free(r.path);
    free(r.query);
    if (c->state != C_WS) {
        reset_request(c);
        if (!c->closing)
            arm(c, WEB_IDLE_TIMEOUT_MS);
    }
}

static void process(struct web_conn *c)
{
    while (!c->closing && !c->close_after) {
        if (c->state == C_WS) {
            ws_input(c);
            return;
        }
        if (c->state == C_HEAD) {
            if (!c->in.len)
                return;
            if (!c->req)
                c->req = mitm_http_request_new();
            struct mitm_h1_limits lim = {
                .max_line = WEB_HEAD_MAX, .max_head = WEB_HEAD_MAX, .validate = true};
            int status = 400;
            const char *reason = "malformed request";
            ssize_t n =
                mitm_h1_parse_request_head(mitm_buf_data(&c->in), c->in.len, &lim, c->req, &status, &reason);
            if (n == MITM_INCOMPLETE) {
                mitm_http_request_free(c->req);
                c->req = NULL;
                return;
            }
            if (n == MITM_PARSE_ERROR || c->req->form != MITM_TARGET_ORIGIN) {
                fail(c, n == MITM_PARSE_ERROR ? status : 400,
                     n == MITM_PARSE_ERROR ? reason : "the web server takes origin-form requests only");
                return;
            }
            mitm_buf_consume(&c->in, (size_t)n);
            if (mitm_h1_request_framing(c->req, &lim, &c->body, &reason) < 0) {
                fail(c, 400, reason);
                return;
            }
            /* nobody buffers a large body without credentials (the login form is small) */
            c->body_cap = web_api_head_authenticated(c->w, c->req) ? WEB_BODY_MAX : WEB_UNAUTH_BODY_MAX;
            if (c->body.kind == MITM_H1_BODY_LENGTH && c->body.remaining > c->body_cap) {
                fail(c, 413, "request body too large");
                return;
            }
            c->state = C_BODY;
            arm(c, WEB_BODY_TIMEOUT_MS);
        }
        /* C_BODY */
        bool done = c->body.kind == MITM_H1_BODY_NONE;
        size_t off = 0;
        while (!done) { /* once even without bytes: a Content-Length of 0 ends at once */
            struct mitm_slice data;
            const char *reason = NULL;
            ssize_t n = mitm_h1_body_decode(&c->body, mitm_buf_data(&c->in) + off, c->in.len - off, &data,
                                            &done, &reason);
            if (n == MITM_PARSE_ERROR) {
                fail(c, 400, reason);
                return;
            }
            if (data.len && (c->content.len + data.len > c->body_cap ||
                             mitm_buf_append(&c->content, data.base, data.len) < 0)) {
                fail(c, 413, "request body too large");
                return;
            }
            off += (size_t)n;
            if (n == 0)
                break;
        }
        mitm_buf_consume(&c->in, off);
        if (!done)
            return;
        dispatch(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct web_conn *c = h->data;
    size_t want = 64 * 1024;
    uint8_t *p = mitm_buf_extend(&c->in, want);
    if (!p) { /* the cap: nothing more is read; process() answers */
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    c->in.len -= want;
    *buf = uv_buf_init((char *)p, (unsigned)want);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct web_conn *c = s->data;
    (void)buf;
    if (n == UV_ENOBUFS) {
        fail(c, c->state == C_HEAD ? 431 : 413, "request too large");
        return;
    }
    if (n < 0) {
        conn_close(c, n == UV_EOF ? NULL : uv_strerror((int)n));
        return;
    }
    if (c->closing || c->close_after)
        return;
    bool was_empty = c->in.len == 0;
    c->in.len += (size_t)n;
    if (c->state == C_HEAD && was_empty && n > 0)
        arm(c, WEB_HEAD_TIMEOUT_MS); /* one deadline per head, however slowly it trickles */
    process(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    struct web *w = srv->data;
    if (status < 0)
        return;
    struct web_conn *c = mitm_calloc(1, sizeof(*c));
    c->w = w;
    uv_tcp_init(w->loop, &c->tcp);
    uv_timer_init(w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    /* the input cap: a head, plus the body buffered while it is decoded */
    mitm_buf_init(&c->in, WEB_HEAD_MAX + 64 * 1024 + 64 * 1024);
    mitm_buf_init(&c->content, WEB_BODY_MAX);
    c->next = w->conns;
    c->pprev = &w->conns;
    if (w->conns)
        w->conns->pprev = &c->next;
    w->conns = c;
    w->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, "accept failed");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    if (w->nconns > WEB_CONNS_MAX) { /* each may buffer a body: bounded memory needs a bound here */
        mitm_log(MITM_LOG_WARN, c->peer, "web: more than %d connections, refused", WEB_CONNS_MAX);
        conn_close(c, "too many connections");
        return;
    }
    arm(c, WEB_IDLE_TIMEOUT_MS);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int web_server_listen(struct web *w, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%ld", mitm_options.web_port);
    const char *host = mitm_options.web_host && *mitm_options.web_host ? mitm_options.web_host : NULL;
    if (mitm_options.web_port < 0 || mitm_options.web_port > 65535) {
        snprintf(err, errlen, "Invalid web_port: %ld", mitm_options.web_port);
        return -1;
    }
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "Web server failed to listen on %s:%s with %s", host ? host : "*", port,
                 gai_strerror(rc));
        return -1;
    }
    uv_tcp_init(w->loop, &w->listener);
    w->listener.data = w;
    uv_timer_init(w->loop, &w->flush);
    w->flush.data = w;
    rc = uv_tcp_bind(&w->listener, res->ai_addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&w->listener, 128, on_connection);
    freeaddrinfo(res);
    w->listening = true;
    if (rc < 0) {
        snprintf(err, errlen, "Web server failed to listen on %s:%s with %s%s", host ? host : "*", port,
                 uv_strerror(rc),
                 rc == UV_EADDRINUSE ? "\nTry specifying a different port by using `--set web_port=...`."
                                     : "");
        return -1;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&w->listener, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, w->host, sizeof(w->host));
        w->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, w->host, sizeof(w->host));
        w->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return 0;
}

void web_server_close(struct web *w)
{
    if (w->listening) {
        w->listening = false;
        uv_close((uv_handle_t *)&w->listener, NULL);
        uv_close((uv_handle_t *)&w->flush, NULL);
    }
    while (w->conns)
        conn_close(w->conns, NULL);
}

char *web_query_arg(const char *query, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len >= nl && strncmp(p, name, nl) == 0 && (len == nl || p[nl] == '=')) {
            struct mitm_buf b;
            mitm_buf_init(&b, 0);
            if (len > nl)
                mitm_buf_unquote_plus(&b, p + nl + 1, len - nl - 1);
            size_t stolen;
            return (char *)mitm_buf_steal(&b, &stolen);
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}
