/* The view.* commands of mitmproxy's addons/view.py beyond focus and filter (commands.c):
 * removing, duplicating, creating and loading flows, the order, the marked-only mode, and
 * the per-flow settings store. Main thread only. */
#include "addon/httputil.h"
#include "addon/serverplayback.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/command.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "ui/commands.h"
#include "ui/browser.h"
#include "ui/master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- view.settings: a key/value store per flow (mitmproxy's Settings) --------------------- */

/* A few entries at most (the console's "fullcontents" of the flows a user expanded): a flat
 * array searched linearly is enough. */
struct setting {
    char id[MITM_UUID_LEN + 1];
    char *key, *value;
};

struct mitm_ui_settings {
    struct setting *v;
    size_t n, cap;
};

static struct setting *setting_find(struct mitm_master *m, const char *id, const char *key)
{
    struct mitm_ui_settings *st = m->settings;
    for (size_t i = 0; st && i < st->n; i++)
        if (strcmp(st->v[i].id, id) == 0 && strcmp(st->v[i].key, key) == 0)
            return &st->v[i];
    return NULL;
}

static void setting_put(struct mitm_master *m, const char *id, const char *key, const char *value)
{
    struct setting *e = setting_find(m, id, key);
    if (e) {
        free(e->value);
        e->value = mitm_strdup(value);
        return;
    }
    if (!m->settings)
        m->settings = mitm_calloc(1, sizeof(*m->settings));
    struct mitm_ui_settings *st = m->settings;
    if (st->n == st->cap) {
        st->cap = st->cap ? 2 * st->cap : 16;
        st->v = mitm_realloc(st->v, st->cap * sizeof(*st->v));
    }
    e = &st->v[st->n++];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->key = mitm_strdup(key);
    e->value = mitm_strdup(value);
}

void mitm_ui_settings_prune(struct mitm_master *m)
{
    struct mitm_ui_settings *st = m->settings;
    size_t k = 0;
    for (size_t i = 0; st && i < st->n; i++) {
        if (m->store && mitm_store_find(m->store, st->v[i].id) >= 0) {
            st->v[k++] = st->v[i];
            continue;
        }
        free(st->v[i].key);
        free(st->v[i].value);
    }
    if (st)
        st->n = k;
}

void mitm_ui_commands_free(struct mitm_master *m)
{
    mitm_ui_browser_free(m);
    struct mitm_ui_settings *st = m->settings;
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++) {
        free(st->v[i].key);
        free(st->v[i].value);
    }
    free(st->v);
    free(st);
    m->settings = NULL;
}

static void out_str(struct mitm_buf *out, const char *s)
{
    mitm_buf_append(out, s, strlen(s));
}

static void out_bool(struct mitm_buf *out, bool b)
{
    out_str(out, b ? "true" : "false");
}

static int cmd_getval(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)err, (void)errlen;
    const struct setting *e = setting_find(data, a[0].flows[0]->id, a[1].str);
    out_str(out, e ? e->value : a[2].str);
    return 0;
}

static int cmd_setval(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < a[0].nflows; i++) {
        setting_put(m, a[0].flows[i]->id, a[1].str, a[2].str);
        mitm_ui_changed(m, mitm_store_find(m->store, a[0].flows[i]->id));
    }
    return 0;
}

static int cmd_setval_toggle(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < a[0].nflows; i++) {
        const struct setting *e = setting_find(m, a[0].flows[i]->id, a[1].str);
        bool on = e && strcmp(e->value, "true") == 0;
        setting_put(m, a[0].flows[i]->id, a[1].str, on ? "false" : "true");
        mitm_ui_changed(m, mitm_store_find(m->store, a[0].flows[i]->id));
    }
    return 0;
}

/* ---- view.flows.* ------------------------------------------------------------------------ */

static int cmd_remove(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        ssize_t idx = mitm_store_find(m->store, f->id);
        if (idx < 0)
            continue;
        if (!f->error && mitm_master_is_live(m, f->id)) /* mitmproxy kills a killable flow first */
            mitm_master_kill(m, f->id);
        mitm_store_remove(m->store, (size_t)idx);
    }
    if (a[0].nflows > 1)
        mitm_log(MITM_LOG_ALERT, NULL, "Removed %zu flows", a[0].nflows);
    mitm_ui_settings_prune(m);
    mitm_ui_changed(m, -1);
    return 0;
}

static int cmd_duplicate(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                         size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    ssize_t first = -1;
    size_t dups = 0;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *c = mitm_flowfile_snapshot(a[0].flows[i], false);
        if (!c)
            continue;
        mitm_uuid4(c->id); /* flow.copy(): a new id, not live */
        ssize_t idx = mitm_master_add_flow(m, c);
        mitm_flow_unref(c);
        if (idx >= 0 && first < 0)
            first = idx;
        dups += idx >= 0;
    }
    if (dups) {
        mitm_store_view_set_focus(m->view, (size_t)first);
        mitm_ui_changed(m, first);
        mitm_log(MITM_LOG_ALERT, NULL, "Duplicated %zu flows", dups);
    }
    return 0;
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* view.flows.create: an unsent request (http.Request.make) on a connection that never was. */
static int cmd_create(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    double now = now_wall();
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, now);
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    char why[256];
    if (mitm_addon_set_url(r, a[1].str, strlen(a[1].str), why, sizeof(why)) < 0) {
        snprintf(err, errlen, "Invalid URL: %s", why);
        mitm_flow_unref(f);
        return -1;
    }
    char *method = mitm_strdup(a[0].str);
    for (char *p = method; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    mitm_str_set(&r->method, method, strlen(method));
    free(method);
    if (!r->authority)
        mitm_str_set(&r->authority, "", 0);
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    r->timestamp_start = r->timestamp_end = now;
    mitm_headers_set(&r->headers, "Host", r->host, strlen(r->host));
    mitm_str_set(&f->client_conn.peer_host, "", 0);
    mitm_str_set(&f->client_conn.sock_host, "", 0);
    mitm_str_set(&f->client_conn.proxy_mode, "regular", 7);
    f->client_conn.timestamp_start = now - 0.0001;
    mitm_str_set(&f->server_conn.address_host, r->host, strlen(r->host));
    f->server_conn.address_port = r->port;
    mitm_master_add_flow(m, f);
    mitm_flow_unref(f);
    return 0;
}

/* view.flows.load: new copies (fresh ids, so a file loads any number of times) straight
 * into the store, no addons; errors are logged, not raised, as mitmproxy does. */
static int cmd_load(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    struct mitm_flowvec flows = {0};
    char why[512];
    if (mitm_serverplayback_read_file(a[0].str, &flows, why, sizeof(why)) < 0)
        mitm_log(MITM_LOG_ERROR, NULL, "%s", why);
    for (size_t i = 0; i < flows.n; i++) {
        mitm_uuid4(flows.v[i]->id);
        mitm_master_add_flow(m, flows.v[i]);
    }
    mitm_serverplayback_flows_free(&flows);
    return 0;
}

static int cmd_resolve(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    (void)n;
    struct mitm_flow **v = NULL;
    size_t nv = 0;
    if (mitm_ui_resolve(data, a[0].str, &v, &nv, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < nv; i++) { /* a flow[] result: one id a line */
        if (i)
            mitm_buf_append(out, "\n", 1);
        out_str(out, v[i]->id);
        mitm_flow_unref(v[i]);
    }
    free(v);
    return 0;
}

static int cmd_clear_unmarked(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                              char *err, size_t errlen)
{
    (void)a, (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < mitm_store_count(m->store); i++) {
        const struct mitm_store_summary *sm = mitm_store_summary(m->store, i);
        if (sm && !sm->marked)
            mitm_store_remove(m->store, i);
    }
    mitm_ui_settings_prune(m);
    mitm_ui_changed(m, -1);
    return 0;
}

/* ---- view.order* and view.properties.* --------------------------------------------------- */

static int cmd_order(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                     size_t errlen)
{
    (void)a, (void)n, (void)err, (void)errlen;
    out_str(out, mitm_store_order_name(mitm_store_view_order(((struct mitm_master *)data)->view)));
    return 0;
}

static int cmd_order_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)data, (void)a, (void)n, (void)err, (void)errlen;
    out_str(out, "method\nsize\ntime\nurl"); /* sorted, as mitmproxy lists them */
    return 0;
}

/* Both go through the view_order options so the option and the view never disagree. */
static int cmd_order_set(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                         size_t errlen)
{
    (void)n, (void)out;
    if (mitm_store_order_parse(a[0].str) < 0) {
        snprintf(err, errlen, "Unknown flow order: %s", a[0].str);
        return -1;
    }
    return mitm_master_set_option(data, "view_order", a[0].str, err, errlen);
}

static int cmd_order_reverse(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)n, (void)out;
    return mitm_master_set_option(data, "view_order_reversed", a[0].b ? "true" : "false", err, errlen);
}

static int cmd_inbounds(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)n, (void)err, (void)errlen;
    out_bool(out, a[0].i >= 0 && (size_t)a[0].i < mitm_store_view_count(((struct mitm_master *)data)->view));
    return 0;
}

static int cmd_marked(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)a, (void)n, (void)err, (void)errlen;
    out_bool(out, mitm_store_view_marked_only(((struct mitm_master *)data)->view));
    return 0;
}

static int cmd_marked_toggle(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)a, (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    mitm_store_view_set_marked_only(m->view, !mitm_store_view_marked_only(m->view));
    mitm_ui_changed(m, -1);
    return 0;
}

/* ---- registration ------------------------------------------------------------------------- */

static const struct mitm_cmd_param p_flows[] = {{"flows", MITM_ARG_FLOWS, NULL}};
static const struct mitm_cmd_param p_create[] = {{"method", MITM_ARG_STR, NULL}, {"url", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_path[] = {{"path", MITM_ARG_PATH, NULL}};
static const struct mitm_cmd_param p_spec[] = {{"flow_spec", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_order[] = {{"order_key", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_bool[] = {{"boolean", MITM_ARG_BOOL, NULL}};
static const struct mitm_cmd_param p_index[] = {{"index", MITM_ARG_INT, NULL}};
static const struct mitm_cmd_param p_getval[] = {
    {"flow", MITM_ARG_FLOW, NULL}, {"key", MITM_ARG_STR, NULL}, {"default", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_setval[] = {
    {"flows", MITM_ARG_FLOWS, NULL}, {"key", MITM_ARG_STR, NULL}, {"value", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_toggle[] = {{"flows", MITM_ARG_FLOWS, NULL},
                                                 {"key", MITM_ARG_STR, NULL}};

int mitm_ui_viewcmds_register(struct mitm_master *m, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"view.clear_unmarked", NULL, 0, NULL, "Clears only the unmarked flows.", cmd_clear_unmarked, m},
        {"view.flows.create", p_create, 2, NULL, "Create a new flow.", cmd_create, m},
        {"view.flows.duplicate", p_flows, 1, NULL,
         "Duplicates the specified flows, and sets the focus to the first duplicate.", cmd_duplicate, m},
        {"view.flows.load", p_path, 1, NULL, "Load flows into the view, without processing them with addons.",
         cmd_load, m},
        {"view.flows.remove", p_flows, 1, NULL, "Removes the flow from the underlying store and the view.",
         cmd_remove, m},
        {"view.flows.resolve", p_spec, 1, "flow[]",
         "Resolve a flow list specification to an actual list of flows.", cmd_resolve, m},
        {"view.order", NULL, 0, "str", "Returns the current view order.", cmd_order, m},
        {"view.order.options", NULL, 0, "str[]", "Choices supported by the view_order option.",
         cmd_order_options, m},
        {"view.order.reverse", p_bool, 1, NULL, "Reverse the view order.", cmd_order_reverse, m},
        {"view.order.set", p_order, 1, NULL, "Sets the current view order.", cmd_order_set, m},
        {"view.properties.inbounds", p_index, 1, "bool", "Is this 0 <= index < len(self)?", cmd_inbounds, m},
        {"view.properties.marked", NULL, 0, "bool", "Returns true if view is in marked mode.", cmd_marked, m},
        {"view.properties.marked.toggle", NULL, 0, NULL, "Toggle whether to show marked views only.",
         cmd_marked_toggle, m},
        {"view.settings.getval", p_getval, 3, "str",
         "Get a value from the settings store for the specified flow.", cmd_getval, m},
        {"view.settings.setval", p_setval, 3, NULL,
         "Set a value in the settings store for the specified flows.", cmd_setval, m},
        {"view.settings.setval.toggle", p_toggle, 2, NULL,
         "Toggle a boolean value in the settings store, setting the value to the string \"true\" or "
         "\"false\".",
         cmd_setval_toggle, m},
    };
    return mitm_ui_register_defs(m, defs, sizeof(defs) / sizeof(defs[0]), err, errlen);
}
