/* The console's screens (mitmproxy's flowlist.py, flowview.py, eventlog.py, help.py,
 * options.py, keybindings.py, commands.py, grideditor): what each draws and how the
 * console.nav.* commands move in it. The flow list draws from the store's summaries; the
 * flow view loads its one flow from the store and renders it into a document once per
 * change, not per frame. */
#include "base/alloc.h"
#include "base/buf.h"
#include "core/command.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/contentview.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "ui/console/console-int.h"
#include "ui/console/row.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Body lines shown before the cut (mitmproxy's flowview: 512 unless full contents). */
#define VIEW_CUTOFF 512

void screens_free(struct con_screen *s)
{
    doc_clear(&s->doc);
    struct con_grid *g = &s->grid;
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < GRID_COLS; k++)
            free(g->cells[i][k]);
    free(g->cells);
    free(g->title);
    memset(g, 0, sizeof(*g));
}

/* ---- the flow list ---- */

static void draw_row(int y, const struct mitm_row *row)
{
    struct con_seg segs[MITM_ROW_SEGS_MAX];
    for (size_t k = 0; k < row->nsegs; k++)
        segs[k] = (struct con_seg){row->segs[k].off, row->segs[k].len, row->segs[k].style};
    struct con_line l = {(char *)row->text, row->len, segs, row->nsegs};
    con_put_line(y, 0, con_cols(), &l, false);
}

size_t flowlist_row_height(void)
{
    return mitm_row_list_layout(mitm_options.console_flowlist_layout, (size_t)con_cols()) ? 2 : 1;
}

void flowlist_draw(struct console *c, int top, int height)
{
    /* the list's scroll position lives in its own screen (the base of pane 0) */
    struct con_screen *s = con_top(c)->kind == SCR_FLOWLIST ? con_top(c) : &c->stack[0];
    struct mitm_store_view *v = c->m.view;
    if (!v)
        return;
    size_t count = mitm_store_view_count(v), rh = flowlist_row_height();
    ssize_t f = mitm_store_view_focus(v);
    size_t fpos = f >= 0 ? (size_t)mitm_store_view_pos(v, (size_t)f) : 0;
    size_t h = (size_t)height / rh;
    if (!h)
        h = 1;
    if (fpos < s->top)
        s->top = fpos;
    if (fpos >= s->top + h)
        s->top = fpos - h + 1;
    if (s->top + h > count)
        s->top = count > h ? count - h : 0;
    struct mitm_row row, row2;
    for (size_t i = 0; i < h && s->top + i < count; i++) {
        ssize_t idx = mitm_store_view_at(v, s->top + i);
        const struct mitm_store_summary *sm = mitm_store_summary(c->m.store, (size_t)idx);
        if (!sm)
            continue;
        struct mitm_row_opts o = {.focused = idx == f, .intercepted = sm->intercepted};
        if (rh == 2) {
            mitm_row_format_list(sm, &o, (size_t)con_cols(), &row, &row2);
            draw_row(top + 2 * (int)i, &row);
            if (2 * (int)i + 1 < height)
                draw_row(top + 2 * (int)i + 1, &row2);
        } else {
            mitm_row_format(sm, &o, (size_t)con_cols(), &row);
            draw_row(top + (int)i, &row);
        }
    }
}

/* ---- the flow view ---- */

static void stale_in(struct console *c, struct con_screen *st, size_t depth, ssize_t index)
{
    for (size_t i = 0; i < depth; i++)
        if (st[i].kind == SCR_FLOWVIEW &&
            (index < 0 || st[i].doc_index == index || st[i].doc_index != mitm_store_view_focus(c->m.view)))
            st[i].stale = true;
}

void flowview_stale(struct console *c, ssize_t index)
{
    /* both panes: the other one may show the same flow */
    stale_in(c, c->stack, c->depth, index);
    stale_in(c, c->other, c->other_depth, index);
}

static struct mitm_flow *focused_flow(struct console *c, ssize_t *index)
{
    char err[256];
    ssize_t i = c->m.view ? mitm_store_view_focus(c->m.view) : -1;
    *index = i;
    return i >= 0 ? mitm_store_get(c->m.store, (size_t)i, err, sizeof(err)) : NULL;
}

/* The flow view's tabs for the focused flow (flowview.py: HTTP Request, Response,
 * WebSocket Messages, Detail; TCP Stream, Detail). */
enum tab { TAB_REQUEST, TAB_RESPONSE, TAB_WEBSOCKET, TAB_TCP, TAB_DETAIL };

static int tabs_of(const struct mitm_store_summary *sm, enum tab out[4])
{
    int n = 0;
    if (sm && sm->type != MITM_FLOW_HTTP) {
        out[n++] = TAB_TCP;
    } else {
        out[n++] = TAB_REQUEST;
        out[n++] = TAB_RESPONSE;
        if (sm && sm->websocket)
            out[n++] = TAB_WEBSOCKET;
    }
    out[n++] = TAB_DETAIL;
    return n;
}

static const struct mitm_store_summary *focus_summary(struct console *c)
{
    ssize_t i = c->m.view ? mitm_store_view_focus(c->m.view) : -1;
    return i >= 0 ? mitm_store_summary(c->m.store, (size_t)i) : NULL;
}

int flowview_tabs(struct console *c)
{
    enum tab t[4];
    return tabs_of(focus_summary(c), t);
}

const char *flowview_tab_name(struct console *c, int tab, bool *intercepted)
{
    enum tab t[4];
    const struct mitm_store_summary *sm = focus_summary(c);
    int n = tabs_of(sm, t);
    *intercepted = false;
    if (tab < 0 || tab >= n)
        return "";
    switch (t[tab]) {
    case TAB_REQUEST:
        *intercepted = sm && sm->intercepted && !sm->has_response;
        return *intercepted ? "Request intercepted" : "Request";
    case TAB_RESPONSE:
        *intercepted = sm && sm->intercepted && sm->has_response;
        return *intercepted ? "Response intercepted" : "Response";
    case TAB_WEBSOCKET:
        return "WebSocket Messages";
    case TAB_TCP:
        return "TCP Stream";
    case TAB_DETAIL:
        return "Detail";
    }
    return "";
}

static bool full_contents(struct console *c)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[256];
    const char *argv[] = {"@focus", "fullcontents", "false"};
    bool on = mitm_cmd_call(c->m.commands, "view.settings.getval", argv, 3, &out, err, sizeof(err)) == 0 &&
              out.len == 4 && memcmp(mitm_buf_data(&out), "true", 4) == 0;
    mitm_buf_free(&out);
    return on;
}

static const char *view_mode(struct console *c)
{
    return c->flowview_mode ? c->flowview_mode : mitm_options.console_default_contentview;
}

static void add_headers(struct con_doc *d, const struct mitm_headers *h)
{
    size_t w = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].name_len > w)
            w = h->v[i].name_len;
    if (w > 30)
        w = 30;
    for (size_t i = 0; i < h->n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s:", (int)(h->v[i].name_len > 60 ? 60 : h->v[i].name_len),
                 h->v[i].name);
        doc_line(d, name, strlen(name), MITM_ST_HEADER);
        for (size_t k = strlen(name); k < w + 2; k++)
            doc_add(d, " ", 1, MITM_ST_TEXT);
        doc_add(d, h->v[i].value, h->v[i].value_len, MITM_ST_TEXT);
    }
}

static enum mitm_con_style cv_style(enum mitm_cv_style s)
{
    switch (s) {
    case MITM_CV_KEY:
        return MITM_ST_HEADER;
    case MITM_CV_HIGHLIGHT:
        return MITM_ST_HIGHLIGHT;
    case MITM_CV_OFFSET:
        return MITM_ST_HIGHLIGHT;
    case MITM_CV_STRING:
        return MITM_ST_STRING;
    case MITM_CV_NUMBER:
        return MITM_ST_NUMBER;
    case MITM_CV_BOOLEAN:
        return MITM_ST_BOOLEAN;
    case MITM_CV_ERROR:
        return MITM_ST_ERROR;
    default:
        return MITM_ST_TEXT;
    }
}

static void add_rendering(struct con_doc *d, const struct mitm_cv_result *r)
{
    for (size_t i = 0; i < r->nlines; i++) {
        const struct mitm_cv_line *l = &r->lines[i];
        doc_line(d, "", 0, MITM_ST_TEXT);
        for (size_t k = 0; k < l->n; k++) {
            const struct mitm_cv_seg *sg = &r->segs[l->first + k];
            doc_add(d, (const char *)mitm_buf_data(&r->text) + sg->off, sg->len, cv_style(sg->style));
        }
    }
}

static void add_body(struct console *c, struct con_doc *d, const struct mitm_headers *h,
                     const struct mitm_buf *body, bool missing, const struct mitm_http_request *rq)
{
    if (!missing && body->len == 0) {
        doc_line(d, "", 0, MITM_ST_TEXT);
        doc_line(d, "No content", 10, MITM_ST_HIGHLIGHT);
        return;
    }
    bool full = full_contents(c);
    struct mitm_cv_result r = {0};
    mitm_cv_render_message(view_mode(c), h, body, missing, rq, full ? (size_t)-1 : VIEW_CUTOFF, &r);
    doc_line(d, "", 0, MITM_ST_TEXT);
    doc_printf(d, MITM_ST_HEADING, "%s", r.description);
    add_rendering(d, &r);
    if (r.cut)
        doc_printf(d, MITM_ST_HIGHLIGHT,
                   "Stopped displaying after %d lines. Press f to show the full contents.", VIEW_CUTOFF);
    mitm_cv_result_free(&r);
}

static void add_time(struct con_doc *d, const char *label, double ts)
{
    if (!ts)
        return;
    time_t secs = (time_t)ts;
    struct tm tm;
    char t[64] = "";
    if (localtime_r(&secs, &tm))
        strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
    doc_printf(d, MITM_ST_TEXT, "  %-28s%s.%03d", label, t, (int)((ts - (double)secs) * 1000));
}

static void add_conn(struct con_doc *d, const char *title, const struct mitm_conn_info *ci, bool server)
{
    doc_printf(d, MITM_ST_HEAD, "%s", title);
    const char *host = server && ci->address_host ? ci->address_host : ci->peer_host;
    uint16_t port = server && ci->address_host ? ci->address_port : ci->peer_port;
    if (host)
        doc_printf(d, MITM_ST_TEXT, "  %-28s%s:%u", "Address", host, port);
    if (server && ci->peer_host)
        doc_printf(d, MITM_ST_TEXT, "  %-28s%s:%u", "Resolved Address", ci->peer_host, ci->peer_port);
    if (ci->tls_version)
        doc_printf(d, MITM_ST_TEXT, "  %-28s%s", "TLS Version", ci->tls_version);
    if (ci->sni)
        doc_printf(d, MITM_ST_TEXT, "  %-28s%s", "Server Name Indication", ci->sni);
    if (ci->alpn)
        doc_printf(d, MITM_ST_TEXT, "  %-28s%.*s", "ALPN", (int)ci->alpn_len, ci->alpn);
    if (ci->cipher)
        doc_printf(d, MITM_ST_TEXT, "  %-28s%s", "Cipher Name", ci->cipher);
    doc_line(d, "", 0, MITM_ST_TEXT);
}

static void build_detail(struct con_doc *d, const struct mitm_flow *f)
{
    add_conn(d, "Server Connection:", &f->server_conn, true);
    add_conn(d, "Client Connection:", &f->client_conn, false);
    doc_printf(d, MITM_ST_HEAD, "Timing:");
    add_time(d, "Client conn. established", f->client_conn.timestamp_start);
    add_time(d, "Server conn. initiated", f->server_conn.timestamp_start);
    add_time(d, "Server conn. TCP handshake", f->server_conn.timestamp_tcp_setup);
    add_time(d, "Server conn. TLS handshake", f->server_conn.timestamp_tls_setup);
    add_time(d, "Client conn. TLS handshake", f->client_conn.timestamp_tls_setup);
    if (f->request) {
        add_time(d, "First request byte", f->request->timestamp_start);
        add_time(d, "Request complete", f->request->timestamp_end);
    }
    if (f->response) {
        add_time(d, "First response byte", f->response->timestamp_start);
        add_time(d, "Response complete", f->response->timestamp_end);
    }
    if (f->error) {
        doc_line(d, "", 0, MITM_ST_TEXT);
        doc_printf(d, MITM_ST_ERROR, "Error: %s", f->error->msg);
    }
    if (f->comment && *f->comment) {
        doc_line(d, "", 0, MITM_ST_TEXT);
        doc_printf(d, MITM_ST_HEAD, "Comment:");
        doc_printf(d, MITM_ST_TEXT, "  %s", f->comment);
    }
}

static void add_message(struct console *c, struct con_doc *d, bool from_client, const uint8_t *p, size_t n)
{
    doc_line(d, from_client ? "\xe2\x87\x92 " : "\xe2\x87\x90 ", 4,
             from_client ? MITM_ST_FROM_CLIENT : MITM_ST_TO_CLIENT);
    doc_add(d, from_client ? "from client" : "to client", from_client ? 11 : 9,
            from_client ? MITM_ST_FROM_CLIENT : MITM_ST_TO_CLIENT);
    struct mitm_cv_result r = {0};
    mitm_cv_render(view_mode(c), p, n, NULL, full_contents(c) ? (size_t)-1 : VIEW_CUTOFF, &r);
    add_rendering(d, &r);
    mitm_cv_result_free(&r);
}

static void build_flowview(struct console *c, struct con_screen *s)
{
    doc_clear(&s->doc);
    s->stale = false;
    ssize_t index;
    struct mitm_flow *f = focused_flow(c, &index);
    if (index != s->doc_index)
        s->top = 0;
    s->doc_index = index;
    struct con_doc *d = &s->doc;
    if (!f) {
        doc_line(d, "No flow", 7, MITM_ST_HIGHLIGHT);
        return;
    }
    enum tab t[4];
    const struct mitm_store_summary *sm = mitm_store_summary(c->m.store, (size_t)index);
    int n = tabs_of(sm, t);
    if (s->tab >= n)
        s->tab = n - 1;
    switch (t[s->tab]) {
    case TAB_REQUEST:
        if (f->request) {
            const struct mitm_http_request *rq = f->request;
            char url[4096];
            mitm_http_request_url(rq, mitm_options.showhost, url, sizeof(url));
            doc_printf(d, MITM_ST_HEAD, "%s %s %s", rq->method, url, rq->http_version);
            add_headers(d, &rq->headers);
            add_body(c, d, &rq->headers, &rq->content, rq->content_missing, rq);
        }
        break;
    case TAB_RESPONSE:
        if (f->response) {
            const struct mitm_http_response *rs = f->response;
            doc_printf(d, MITM_ST_HEAD, "%s %d %s", rs->http_version, rs->status_code, rs->reason);
            add_headers(d, &rs->headers);
            add_body(c, d, &rs->headers, &rs->content, rs->content_missing, NULL);
        } else if (f->error) {
            doc_printf(d, MITM_ST_ERROR, "%s", f->error->msg);
        } else {
            doc_line(d, "", 0, MITM_ST_TEXT); /* nothing yet: mitmproxy shows an empty tab */
        }
        break;
    case TAB_WEBSOCKET:
        for (size_t i = 0; f->websocket && i < f->websocket->n_messages; i++) {
            const struct mitm_websocket_message *msg = &f->websocket->messages[i];
            add_message(c, d, msg->from_client, msg->content, msg->len);
        }
        break;
    case TAB_TCP:
        for (size_t i = 0; i < f->n_messages; i++)
            add_message(c, d, f->messages[i].from_client, f->messages[i].content, f->messages[i].len);
        if (!f->n_messages)
            doc_line(d, "No messages.", 12, MITM_ST_HIGHLIGHT);
        break;
    case TAB_DETAIL:
        build_detail(d, f);
        break;
    }
    mitm_flow_unref(f);
}

static void flowview_draw(struct console *c, struct con_screen *s, int top, int height)
{
    if (s->stale || s->doc_index != mitm_store_view_focus(c->m.view))
        build_flowview(c, s);
    /* the flow's list row, then the tab bar */
    const struct mitm_store_summary *sm = focus_summary(c);
    if (sm && height > 2) {
        struct mitm_row row;
        struct mitm_row_opts o = {.focused = false, .intercepted = sm->intercepted};
        mitm_row_format(sm, &o, (size_t)con_cols(), &row);
        draw_row(top, &row);
        top++;
        height--;
    }
    struct con_doc bar = {0};
    doc_line(&bar, "", 0, MITM_ST_HEADING_INACTIVE);
    int n = flowview_tabs(c);
    for (int i = 0; i < n; i++) {
        bool icpt;
        const char *name = flowview_tab_name(c, i, &icpt);
        enum mitm_con_style st = i == s->tab ? MITM_ST_HEADING : MITM_ST_HEADING_INACTIVE;
        doc_add(&bar, " ", 1, st);
        doc_add(&bar, name, strlen(name), icpt && i == s->tab ? MITM_ST_HEADING : st);
        doc_add(&bar, " ", 1, st);
        doc_add(&bar, " ", 1, MITM_ST_TEXT);
    }
    con_put_line(top, 0, con_cols(), &bar.v[0], false);
    doc_clear(&bar);
    top++;
    height--;
    size_t h = height > 0 ? (size_t)height : 0;
    if (s->top + h > s->doc.n)
        s->top = s->doc.n > h ? s->doc.n - h : 0;
    for (size_t i = 0; i < h && s->top + i < s->doc.n; i++)
        con_put_line(top + (int)i, 0, con_cols(), &s->doc.v[s->top + i], false);
}

/* ---- documents: event log, help, options, key bindings, commands ---- */

/* Only the lines on screen are drawn, straight from the ring: a busy log (debug at
 * thousands of flows a second) costs a screenful per frame, not the whole ring. */
static void eventlog_draw(struct console *c, struct con_screen *s, int top, int height)
{
    size_t h = (size_t)height;
    pthread_mutex_lock(&c->log_mu);
    size_t n = c->ev_n;
    if (s->follow || s->top + h > n)
        s->top = n > h ? n - h : 0;
    for (size_t i = 0; i < h && s->top + i < n; i++) {
        const struct con_event *e = &c->events[(c->ev_head + s->top + i) % EVENTLOG_MAX];
        enum mitm_con_style st = e->lvl == MITM_LOG_ERROR   ? MITM_ST_ERROR
                                 : e->lvl == MITM_LOG_WARN  ? MITM_ST_WARN
                                 : e->lvl == MITM_LOG_ALERT ? MITM_ST_ALERT
                                 : e->lvl == MITM_LOG_DEBUG ? MITM_ST_HIGHLIGHT
                                                            : MITM_ST_TEXT;
        con_put(top + (int)i, 0, con_cols(), e->text, strlen(e->text), st);
    }
    pthread_mutex_unlock(&c->log_mu);
}

size_t help_build(struct console *c, struct con_doc *d)
{
    doc_clear(d);
    /* the context is the screen below the help */
    unsigned ctx = MITM_KCTX_GLOBAL;
    if (c->depth >= 2) {
        enum con_screen_kind k = c->stack[c->depth - 2].kind;
        ctx = k == SCR_FLOWLIST      ? MITM_KCTX_FLOWLIST
              : k == SCR_FLOWVIEW    ? MITM_KCTX_FLOWVIEW
              : k == SCR_OPTIONS     ? MITM_KCTX_OPTIONS
              : k == SCR_EVENTLOG    ? MITM_KCTX_EVENTLOG
              : k == SCR_KEYBINDINGS ? MITM_KCTX_KEYBINDINGS
              : k == SCR_GRID        ? MITM_KCTX_GRIDEDITOR
                                     : MITM_KCTX_GLOBAL;
    }
    unsigned ctxs[2] = {ctx, MITM_KCTX_GLOBAL};
    for (int pass = 0; pass < (ctx == MITM_KCTX_GLOBAL ? 1 : 2); pass++) {
        size_t n = mitm_keymap_list(c->keys, ctxs[pass], NULL, 0);
        const struct mitm_key_binding **v = mitm_calloc(n + 1, sizeof(*v));
        mitm_keymap_list(c->keys, ctxs[pass], v, n);
        char name[32];
        mitm_key_ctx_format(ctxs[pass], name, sizeof(name));
        name[0] = (char)(name[0] - 32);
        doc_printf(d, MITM_ST_HEAD, "%s Keys", name);
        for (size_t i = 0; i < n; i++) {
            doc_printf(d, MITM_ST_KEY, "    %10s", v[i]->key);
            doc_add(d, "  ", 2, MITM_ST_TEXT);
            doc_add(d, v[i]->help, strlen(v[i]->help), MITM_ST_TEXT);
        }
        doc_line(d, "", 0, MITM_ST_TEXT);
        free(v);
    }
    doc_printf(d, MITM_ST_HEAD, "Filtering Expressions");
    size_t n;
    const struct mitm_filter_help *fh = mitm_filter_help(&n);
    for (size_t i = 0; i < n; i++) {
        doc_printf(d, MITM_ST_KEY, "    %10s", fh[i].syntax);
        doc_add(d, "  ", 2, MITM_ST_TEXT);
        doc_add(d, fh[i].help, strlen(fh[i].help), MITM_ST_TEXT);
    }
    doc_line(d, "", 0, MITM_ST_TEXT);
    doc_printf(d, MITM_ST_TEXT, "    Regexes are Python-style. Regexes can be specified as quoted strings.");
    doc_printf(d, MITM_ST_TEXT,
               "    Header matching (~h, ~hq, ~hs) is against a string of the form \"name: value\".");
    doc_printf(d, MITM_ST_TEXT, "    Expressions with no operators are regex matches against URL.");
    doc_printf(d, MITM_ST_TEXT, "    Default binary operator is &.");
    doc_line(d, "", 0, MITM_ST_TEXT);
    doc_printf(d, MITM_ST_HEAD, "Examples");
    doc_printf(d, MITM_ST_TEXT, "    %-24s%s", "google\\.com", "Url containing \"google.com\"");
    doc_printf(d, MITM_ST_TEXT, "    %-24s%s", "~q ~b test", "Requests where body contains \"test\"");
    doc_printf(d, MITM_ST_TEXT, "    %-24s%s", "!(~q & ~t \"text/html\")",
               "Anything but requests with a text/html content type.");
    return d->n;
}

static void option_value(const struct mitm_opt_info *in, const void *field, char *out, size_t cap)
{
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        snprintf(out, cap, "%s", *(const bool *)field ? "true" : "false");
        break;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT: {
        long v = *(const long *)field;
        if (v == MITM_OPT_NONE)
            snprintf(out, cap, "None");
        else
            snprintf(out, cap, "%ld", v);
        break;
    }
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE: {
        const char *v = *(char *const *)field;
        snprintf(out, cap, "%s", v ? v : "None");
        break;
    }
    case MITM_OPT_TYPE_STRLIST: {
        const struct mitm_strvec *v = field;
        size_t len = 0;
        out[0] = 0;
        snprintf(out, cap, "[");
        len = 1;
        for (size_t i = 0; i < v->n && len < cap; i++) {
            int w = snprintf(out + len, cap - len, "%s'%s'", i ? ", " : "", v->v[i]);
            if (w < 0)
                break;
            len += (size_t)w;
        }
        if (len < cap)
            snprintf(out + len, cap - len, "]");
        break;
    }
    }
}

static int cmp_opt(const void *a, const void *b)
{
    return strcmp((*(const struct mitm_opt_info *const *)a)->name,
                  (*(const struct mitm_opt_info *const *)b)->name);
}

/* The options sorted by name, as mitmproxy's options editor lists them: the table's and
 * those the scripts added (a reload can add some, so the list is made again each time).
 * The caller frees the array. */
static const struct mitm_opt_info **sorted_options(struct console *c, size_t *n)
{
    size_t count = mitm_master_options(&c->m, NULL, 0);
    const struct mitm_opt_info **v = mitm_calloc(count + 1, sizeof(*v));
    count = mitm_master_options(&c->m, v, count);
    qsort(v, count, sizeof(*v), cmp_opt);
    *n = count;
    return v;
}

static size_t options_count(struct console *c)
{
    return mitm_master_options(&c->m, NULL, 0);
}

const char *options_focus(struct console *c)
{
    struct con_screen *s = con_top(c);
    size_t n;
    const struct mitm_opt_info **all = sorted_options(c, &n);
    const char *name = s->kind == SCR_OPTIONS && s->cursor < n ? all[s->cursor]->name : NULL;
    free(all);
    return name;
}

static void options_draw(struct console *c, struct con_screen *s, int top, int height)
{
    size_t n;
    const struct mitm_opt_info **all = sorted_options(c, &n);
    size_t h = (size_t)(height > 4 ? height - 3 : height);
    if (s->cursor < s->top)
        s->top = s->cursor;
    if (s->cursor >= s->top + h)
        s->top = s->cursor - h + 1;
    for (size_t i = 0; i < h && s->top + i < n; i++) {
        const struct mitm_opt_info *in = all[s->top + i];
        const void *cur, *def;
        mitm_master_option(&c->m, in->name, &cur, &def);
        char val[1024], dval[1024];
        option_value(in, cur, val, sizeof(val));
        option_value(in, def, dval, sizeof(dval));
        bool changed = strcmp(val, dval) != 0, sel = s->top + i == s->cursor;
        int row = top + (int)i;
        con_put(row, 0, 40, in->name, strlen(in->name), sel ? MITM_ST_OPTION_SELECTED : MITM_ST_TEXT);
        con_put(row, 40, con_cols() - 40, val, strlen(val),
                changed ? MITM_ST_OPTION_ACTIVE : (sel ? MITM_ST_OPTION_SELECTED : MITM_ST_TEXT));
    }
    if (s->cursor < n && height > 4) {
        const struct mitm_opt_info *in = all[s->cursor];
        con_fill(top + height - 3, MITM_ST_HEADING_INACTIVE);
        char t[256];
        snprintf(t, sizeof(t), "%s (%s%s%s)", in->name, mitm_options_type_name(in->type),
                 in->choices ? ": " : "", in->choices ? in->choices : "");
        con_put(top + height - 3, 0, con_cols(), t, strlen(t), MITM_ST_HEADING_INACTIVE);
        con_put(top + height - 2, 0, con_cols(), in->help, strlen(in->help), MITM_ST_TEXT);
    }
    free(all);
}

const struct mitm_key_binding *keybindings_focus(struct console *c)
{
    struct con_screen *s = con_top(c);
    size_t n = mitm_keymap_list(c->keys, 0, NULL, 0);
    if (s->kind != SCR_KEYBINDINGS || s->cursor >= n)
        return NULL;
    const struct mitm_key_binding **v = mitm_calloc(n + 1, sizeof(*v));
    mitm_keymap_list(c->keys, 0, v, n);
    const struct mitm_key_binding *b = v[s->cursor];
    free(v);
    return b;
}

static void list_draw(struct con_screen *s, struct con_doc *d, int top, int height, bool cursor)
{
    size_t h = (size_t)height;
    if (cursor) {
        if (s->cursor >= d->n && d->n)
            s->cursor = d->n - 1;
        if (s->cursor < s->top)
            s->top = s->cursor;
        if (s->cursor >= s->top + h)
            s->top = s->cursor - h + 1;
    } else if (s->top + h > d->n) {
        s->top = d->n > h ? d->n - h : 0;
    }
    for (size_t i = 0; i < h && s->top + i < d->n; i++)
        con_put_line(top + (int)i, 0, con_cols(), &d->v[s->top + i], cursor && s->top + i == s->cursor);
}

static void build_keybindings(struct console *c, struct con_doc *d)
{
    doc_clear(d);
    size_t n = mitm_keymap_list(c->keys, 0, NULL, 0);
    const struct mitm_key_binding **v = mitm_calloc(n + 1, sizeof(*v));
    mitm_keymap_list(c->keys, 0, v, n);
    for (size_t i = 0; i < n; i++) {
        char ctx[256];
        mitm_key_ctx_format(v[i]->ctx, ctx, sizeof(ctx));
        doc_printf(d, MITM_ST_KEY, "%-12s", v[i]->key);
        char t[512];
        snprintf(t, sizeof(t), "%-26s", ctx);
        doc_add(d, t, strlen(t), MITM_ST_TEXT);
        for (const char *p = v[i]->cmd; *p; p++) /* a multi-line binding on one line */
            doc_add(d, *p == '\n' ? " " : p, 1, MITM_ST_COMMANDER_COMMAND);
    }
    free(v);
}

static void build_commands(struct console *c, struct con_doc *d)
{
    doc_clear(d);
    size_t n;
    const struct mitm_cmd_def *const *defs = mitm_cmd_list(c->m.commands, &n);
    for (size_t i = 0; i < n; i++) {
        struct mitm_buf sig;
        mitm_buf_init(&sig, 0);
        mitm_cmd_signature(defs[i], &sig);
        doc_line(d, (const char *)mitm_buf_data(&sig), sig.len, MITM_ST_COMMANDER_COMMAND);
        mitm_buf_free(&sig);
        doc_printf(d, MITM_ST_TEXT, "    %s", defs[i]->help ? defs[i]->help : "");
    }
}

/* Column k's width: its widest cell, between 10 and 40 columns; the last takes the rest. */
static int grid_width(const struct con_grid *g, size_t k, int x)
{
    if (k + 1 == g->ncols)
        return con_cols() - x;
    size_t w = 0;
    for (size_t i = 0; i < g->n; i++) {
        size_t cw = mitm_text_width(g->cells[i][k], strlen(g->cells[i][k]));
        if (cw > w)
            w = cw;
    }
    return (int)(w < 10 ? 10 : w > 40 ? 40 : w) + 2;
}

static void grid_draw(struct con_screen *s, int top, int height)
{
    struct con_grid *g = &s->grid;
    int xs[GRID_COLS + 1] = {0};
    for (size_t k = 0; k < g->ncols; k++) {
        xs[k + 1] = xs[k] + grid_width(g, k, xs[k]);
        con_put(top, xs[k], xs[k + 1] - xs[k], g->heads[k], strlen(g->heads[k]), MITM_ST_HEAD);
    }
    size_t h = height > 1 ? (size_t)height - 1 : 0;
    if (s->cursor < s->top)
        s->top = s->cursor;
    if (s->cursor >= s->top + h)
        s->top = s->cursor - h + 1;
    for (size_t i = 0; i < h && s->top + i < g->n; i++) {
        size_t r = s->top + i;
        bool sel = r == s->cursor;
        for (size_t k = 0; k < g->ncols; k++) {
            const char *v = g->cells[r][k];
            enum mitm_con_style st = sel && k == g->col ? MITM_ST_FOCUSFIELD : MITM_ST_TEXT;
            /* a column's last cell of space stays blank between cells */
            int w = xs[k + 1] - xs[k] - (k + 1 < g->ncols ? 1 : 0);
            con_put(top + 1 + (int)i, xs[k], w, v, strlen(v), st);
        }
    }
    if (!g->n)
        con_put(top + 1, 0, con_cols(), "[no rows: a adds one]", 21, MITM_ST_HIGHLIGHT);
}

void screens_draw(struct console *c, int top, int height)
{
    struct con_screen *s = con_top(c);
    switch (s->kind) {
    case SCR_FLOWLIST:
        flowlist_draw(c, top, height);
        break;
    case SCR_FLOWVIEW:
        flowview_draw(c, s, top, height);
        break;
    case SCR_EVENTLOG:
        eventlog_draw(c, s, top, height);
        break;
    case SCR_HELP:
        if (s->stale) {
            help_build(c, &s->doc);
            s->stale = false;
        }
        list_draw(s, &s->doc, top, height, false);
        break;
    case SCR_OPTIONS:
        options_draw(c, s, top, height);
        break;
    case SCR_KEYBINDINGS:
        build_keybindings(c, &s->doc);
        list_draw(s, &s->doc, top, height, true);
        break;
    case SCR_COMMANDS:
        if (s->stale) {
            build_commands(c, &s->doc);
            s->stale = false;
        }
        list_draw(s, &s->doc, top, height, true);
        break;
    case SCR_GRID:
        grid_draw(s, top, height);
        break;
    }
}

/* ---- navigation (console.nav.*) ---- */

size_t screens_lines(struct console *c)
{
    struct con_screen *s = con_top(c);
    switch (s->kind) {
    case SCR_FLOWLIST:
        return c->m.view ? mitm_store_view_count(c->m.view) : 0;
    case SCR_OPTIONS:
        return options_count(c);
    case SCR_KEYBINDINGS:
        return mitm_keymap_list(c->keys, 0, NULL, 0);
    case SCR_GRID:
        return s->grid.n;
    case SCR_EVENTLOG: {
        pthread_mutex_lock(&c->log_mu);
        size_t n = c->ev_n;
        pthread_mutex_unlock(&c->log_mu);
        return n;
    }
    default:
        return s->doc.n;
    }
}

static size_t page(struct console *c)
{
    int h = c->rows - 4 - (mitm_options.console_quickhelp_visible ? 1 : 0);
    return h > 1 ? (size_t)h : 1;
}

/* Enter in the options editor, as mitmproxy's: a boolean flips, an option with choices
 * offers them, anything else goes to the prompt as "set NAME 'value'". */
static void options_select(struct console *c)
{
    const char *name = options_focus(c);
    const void *curval = NULL;
    const struct mitm_opt_info *in = name ? mitm_master_option(&c->m, name, &curval, NULL) : NULL;
    if (!in)
        return;
    char line[256];
    if (in->type == MITM_OPT_TYPE_BOOL) {
        snprintf(line, sizeof(line), "set %s toggle", name);
        con_run(c, line);
    } else if (in->choices) {
        size_t n = 0;
        char **items = NULL;
        for (const char *p = in->choices; *p;) {
            size_t k = strcspn(p, "|");
            items = mitm_realloc(items, (n + 1) * sizeof(*items));
            items[n++] = mitm_strndup(p, k);
            p += k + (p[k] ? 1 : 0);
        }
        const char *args[] = {name, "{choice}"};
        chooser_open(c, name, items, n, "set", args, 2);
        bool str = in->type == MITM_OPT_TYPE_STR || in->type == MITM_OPT_TYPE_OPT_STR;
        const char *cur = str ? *(char *const *)curval : NULL;
        for (size_t i = 0; cur && i < n; i++) /* the chooser starts on the current value */
            if (strcmp(items[i], cur) == 0)
                c->chooser.cursor = i;
    } else {
        snprintf(line, sizeof(line), "console.command.set %s", name);
        con_run(c, line);
    }
}

static void flowlist_nav(struct console *c, const char *what)
{
    struct mitm_store_view *v = c->m.view;
    size_t n = mitm_store_view_count(v);
    if (!n)
        return;
    ssize_t f = mitm_store_view_focus(v);
    size_t pos = f >= 0 ? (size_t)mitm_store_view_pos(v, (size_t)f) : 0;
    if (strcmp(what, "up") == 0)
        pos = pos ? pos - 1 : 0;
    else if (strcmp(what, "down") == 0)
        pos = pos + 1 < n ? pos + 1 : n - 1;
    else if (strcmp(what, "start") == 0)
        pos = 0;
    else if (strcmp(what, "end") == 0)
        pos = n - 1;
    else if (strcmp(what, "pageup") == 0)
        pos = pos > page(c) ? pos - page(c) : 0;
    else if (strcmp(what, "pagedown") == 0)
        pos = pos + page(c) < n ? pos + page(c) : n - 1;
    else if (strcmp(what, "select") == 0) {
        con_run(c, "console.view.flow @focus");
        return;
    } else
        return;
    mitm_store_view_set_focus(v, (size_t)mitm_store_view_at(v, pos));
}

void screens_nav(struct console *c, const char *what)
{
    struct con_screen *s = con_top(c);
    con_dirty(c);
    if (s->kind == SCR_FLOWLIST) {
        flowlist_nav(c, what);
        return;
    }
    if (s->kind == SCR_FLOWVIEW) {
        int n = flowview_tabs(c);
        if (strcmp(what, "left") == 0 || strcmp(what, "right") == 0 || strcmp(what, "next") == 0) {
            s->tab = (s->tab + (what[0] == 'l' ? n - 1 : 1)) % n;
            s->stale = true;
            s->top = 0;
            return;
        }
    }
    if (s->kind == SCR_GRID && (strcmp(what, "left") == 0 || strcmp(what, "right") == 0 ||
                                strcmp(what, "next") == 0 || strcmp(what, "select") == 0)) {
        grid_key(c, what);
        return;
    }
    if (s->kind == SCR_OPTIONS && strcmp(what, "select") == 0) {
        options_select(c);
        return;
    }
    if (s->kind == SCR_KEYBINDINGS && strcmp(what, "select") == 0) {
        con_run(c, "console.key.edit.focus");
        return;
    }
    /* documents scroll their top line; lists move their cursor */
    bool doc = s->kind == SCR_FLOWVIEW || s->kind == SCR_EVENTLOG || s->kind == SCR_HELP;
    size_t *p = doc ? &s->top : &s->cursor, n = screens_lines(c);
    if (s->kind == SCR_COMMANDS)
        n = s->doc.n;
    size_t last = n ? n - 1 : 0;
    if (strcmp(what, "up") == 0)
        *p = *p ? *p - 1 : 0;
    else if (strcmp(what, "down") == 0)
        *p = *p < last ? *p + 1 : last;
    else if (strcmp(what, "start") == 0)
        *p = 0;
    else if (strcmp(what, "end") == 0)
        *p = last;
    else if (strcmp(what, "pageup") == 0)
        *p = *p > page(c) ? *p - page(c) : 0;
    else if (strcmp(what, "pagedown") == 0)
        *p = *p + page(c) < last ? *p + page(c) : last;
    if (s->kind == SCR_EVENTLOG)
        s->follow = strcmp(what, "end") == 0 || *p + page(c) >= n;
}
