/* The core commands of the interactive front ends: see commands.h. Each follows the
 * mitmproxy addon named in its comment: arguments, results and messages. */
#include "ui/commands.h"
#include "ui/browser.h"
#include "addon/clientplayback.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/command.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/export.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/har.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "ui/master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- flow specs (mitmproxy's view.resolve) ------------------------------------------------ */

struct picked {
    struct mitm_flow **v;
    size_t n, cap;
};

static void pick(struct picked *p, struct mitm_flow *f)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = mitm_realloc(p->v, p->cap * sizeof(*p->v));
    }
    p->v[p->n++] = f;
}

/* Store index i into p if keep(i); a flow that cannot be loaded is logged and skipped. */
static void pick_index(struct mitm_master *m, struct picked *p, size_t i)
{
    char err[512];
    struct mitm_flow *f = mitm_store_get(m->store, i, err, sizeof(err));
    if (f)
        pick(p, f);
    else
        mitm_log(MITM_LOG_WARN, NULL, "flow store: %s", err);
}

static bool in_ids(const char *list, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, id, n) == 0)
            return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

int mitm_ui_resolve(void *ud, const char *spec, struct mitm_flow ***out, size_t *nout, char *err,
                    size_t errlen)
{
    struct mitm_master *m = ud;
    struct picked p = {0};
    size_t n = mitm_store_count(m->store);
    if (strcmp(spec, "@focus") == 0) {
        ssize_t i = mitm_store_view_focus(m->view);
        if (i >= 0)
            pick_index(m, &p, (size_t)i);
    } else if (strcmp(spec, "@shown") == 0) {
        for (size_t k = 0; k < mitm_store_view_count(m->view); k++)
            pick_index(m, &p, (size_t)mitm_store_view_at(m->view, k));
    } else if (strcmp(spec, "@all") == 0 || strcmp(spec, "@hidden") == 0 || strcmp(spec, "@marked") == 0 ||
               strcmp(spec, "@unmarked") == 0) {
        for (size_t i = 0; i < n; i++) {
            const struct mitm_store_summary *s = mitm_store_summary(m->store, i);
            if (!s)
                continue; /* removed */
            bool keep = spec[1] == 'a' || (spec[1] == 'h' && mitm_store_view_pos(m->view, i) < 0) ||
                        (spec[1] == 'm' && s->marked) || (spec[1] == 'u' && !s->marked);
            if (keep)
                pick_index(m, &p, i);
        }
    } else if (spec[0] == '@' && strlen(spec) >= 37 &&
               strspn(spec + 1, "0123456789abcdef-,") == strlen(spec + 1)) {
        for (size_t i = 0; i < n; i++) {
            const struct mitm_store_summary *s = mitm_store_summary(m->store, i);
            if (s && in_ids(spec + 1, s->id))
                pick_index(m, &p, i);
        }
    } else {
        char why[400];
        struct mitm_filter *flt = mitm_filter_parse(spec, why, sizeof(why));
        if (!flt) {
            snprintf(err, errlen, "Invalid flow filter: %s", spec);
            return -1;
        }
        char lerr[512];
        for (size_t i = 0; i < n; i++) {
            if (!mitm_store_summary(m->store, i))
                continue; /* removed */
            if (mitm_store_match(m->store, i, flt, lerr, sizeof(lerr)) != 1)
                continue;
            struct mitm_flow *f = mitm_store_get(m->store, i, lerr, sizeof(lerr));
            if (f)
                pick(&p, f);
        }
        mitm_filter_free(flt);
    }
    *out = p.v;
    *nout = p.n;
    return 0;
}

void mitm_ui_update(struct mitm_master *m, const struct mitm_flow *f)
{
    ssize_t i = mitm_store_find(m->store, f->id);
    if (i >= 0)
        mitm_master_update_flow(m, (size_t)i, f);
}

void mitm_ui_backup(struct mitm_master *m, const struct mitm_flow *f)
{
    ssize_t i = mitm_store_find(m->store, f->id);
    if (i >= 0)
        mitm_store_backup(m->store, (size_t)i);
}

void mitm_ui_changed(struct mitm_master *m, ssize_t index)
{
    if (m->fe.changed)
        m->fe.changed(m->fe.arg, index);
}

int mitm_ui_register_defs(struct mitm_master *m, const struct mitm_cmd_def *defs, size_t n, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (mitm_cmd_register(m->commands, &defs[i], err, errlen) < 0)
            return -1;
    return 0;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = mitm_strdup(v);
}

/* ---- flow.* (addons/core.py, addons/comment.py) ---------------------------------------- */

static int cmd_resume(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        if (!f->intercepted)
            continue;
        /* the stored flow carries what the user edited while it waited */
        f->intercepted = false;
        mitm_ui_update(m, f);
        mitm_master_resume(m, f->id, mitm_flowfile_snapshot(f, false));
    }
    return 0;
}

static int cmd_kill(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    size_t killed = 0;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        /* mitmproxy's killable: live and not already failed */
        if (f->error || !mitm_master_kill(m, f->id))
            continue;
        f->intercepted = false;
        mitm_ui_update(m, f);
        killed++;
    }
    mitm_log(MITM_LOG_ALERT, NULL, "Killed %zu flows.", killed);
    return 0;
}

/* mitmproxy's Marker type: "" or an emoji shortcode (":name:"). */
static bool valid_marker(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return true;
    if (n < 3 || v[0] != ':' || v[n - 1] != ':')
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!(v[i] == '_' || v[i] == '-' || v[i] == '+' || (v[i] >= 'a' && v[i] <= 'z') ||
              (v[i] >= '0' && v[i] <= '9')))
            return false;
    return true;
}

static int cmd_mark(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    /* the key bindings pass booleans (U: flow.mark @all false), as mitmproxy 8 did */
    const char *v = strcmp(a[1].str, "false") == 0  ? ""
                    : strcmp(a[1].str, "true") == 0 ? ":default:"
                                                    : a[1].str;
    if (!valid_marker(v)) {
        snprintf(err, errlen, "invalid marker value");
        return -1;
    }
    for (size_t i = 0; i < a[0].nflows; i++) {
        set_str(&a[0].flows[i]->marked, v);
        mitm_ui_update(m, a[0].flows[i]);
    }
    return 0;
}

static int cmd_mark_toggle(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        set_str(&f->marked, f->marked[0] ? "" : ":default:");
        mitm_ui_update(m, f);
    }
    return 0;
}

static int cmd_comment(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    for (size_t i = 0; i < a[0].nflows; i++) {
        set_str(&a[0].flows[i]->comment, a[1].str);
        mitm_ui_update(m, a[0].flows[i]);
    }
    return 0;
}

/* ---- replay.client (addons/clientplayback.py) ---------------------------------------------- */

static int cmd_replay(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    struct mitm_flow **ok = mitm_calloc(a[0].nflows + 1, sizeof(*ok));
    size_t k = 0;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        if (mitm_master_is_live(m, f->id)) { /* mitmproxy: "Can't replay live flow." */
            mitm_log(MITM_LOG_WARN, NULL, "Can't replay live flow.");
            continue;
        }
        ok[k++] = f;
    }
    long queued = mitm_master_replay(m, ok, k, err, errlen);
    if (queued > 0) {
        /* as mitmproxy prepares a flow for replay: it waits for its new response in place */
        for (size_t i = 0; i < k; i++) {
            struct mitm_flow *f = ok[i];
            if (f->type != MITM_FLOW_HTTP)
                continue;
            mitm_ui_backup(m, f); /* mitmproxy backs a flow up before replaying it */
            set_str(&f->is_replay, "request");
            mitm_http_response_free(f->response);
            f->response = NULL;
            if (f->error) {
                free(f->error->msg);
                free(f->error);
                f->error = NULL;
            }
            mitm_ui_update(m, f);
        }
    }
    free(ok);
    return queued < 0 ? -1 : 0;
}

static int cmd_replay_count(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    (void)data, (void)a, (void)n, (void)err, (void)errlen;
    char t[32];
    int len = snprintf(t, sizeof(t), "%zu", mitm_clientplayback_count());
    mitm_buf_append(out, t, (size_t)len);
    return 0;
}

static int cmd_replay_stop(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)data, (void)a, (void)n, (void)out, (void)err, (void)errlen;
    mitm_clientplayback_stop();
    mitm_log(MITM_LOG_ALERT, NULL, "Client replay queue cleared.");
    return 0;
}

/* ---- inject.websocket, inject.tcp (addons/proxyserver.py) --------------------------------- */

/* mitmproxy's bytes argument: the text with Python's escapes (\n, \x00, ...). */
static int message_bytes(const char *text, struct mitm_buf *out, char *err, size_t errlen)
{
    char why[200];
    if (mitm_py_unescape(text, strlen(text), out, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "Invalid value for argument message: %s", why);
        return -1;
    }
    return 0;
}

static int inject_msg(struct mitm_master *m, const struct mitm_flow *f, bool to_client, bool is_text,
                      const char *text, char *err, size_t errlen)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (message_bytes(text, &b, err, errlen) < 0) {
        mitm_buf_free(&b);
        return -1;
    }
    if (!mitm_master_inject_message(m, f->id, to_client, is_text, mitm_buf_data(&b), b.len))
        mitm_log(MITM_LOG_WARN, NULL, "Flow is not from a live connection.");
    mitm_buf_free(&b);
    return 0;
}

static int cmd_inject_ws(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                         size_t errlen)
{
    (void)out;
    const struct mitm_flow *f = a[0].flows[0];
    if (f->type != MITM_FLOW_HTTP || !f->websocket) {
        mitm_log(MITM_LOG_WARN, NULL, "Cannot inject WebSocket messages into non-WebSocket flows.");
        return 0;
    }
    bool is_text = n < 4 || a[3].nrest == 0 || strcmp(a[3].rest[0], "false") != 0;
    if (n >= 4 && a[3].nrest && strcmp(a[3].rest[0], "true") != 0 && strcmp(a[3].rest[0], "false") != 0) {
        snprintf(err, errlen, "Invalid value for argument is_text: Booleans are 'true' or 'false', got %s",
                 a[3].rest[0]);
        return -1;
    }
    return inject_msg(data, f, a[1].b, is_text, a[2].str, err, errlen);
}

static int cmd_inject_tcp(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)n, (void)out;
    const struct mitm_flow *f = a[0].flows[0];
    if (f->type != MITM_FLOW_TCP) {
        mitm_log(MITM_LOG_WARN, NULL, "Cannot inject TCP messages into non-TCP flows.");
        return 0;
    }
    return inject_msg(data, f, a[1].b, false, a[2].str, err, errlen);
}

/* ---- save.file (addons/save.py) ---------------------------------------------------------- */

static int cmd_save(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    (void)data, (void)n, (void)out;
    const char *path = a[1].str;
    bool append = path[0] == '+';
    if (append)
        path++;
    char *full = mitm_options_expanduser(path);
    int fd = open(full, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) {
        snprintf(err, errlen, "Error while writing to %s: %s", full, strerror(errno));
        free(full);
        return -1;
    }
    struct mitm_buf rec;
    mitm_buf_init(&rec, 0);
    int rc = 0;
    int version = mitm_flowfile_version_for(mitm_options.save_flow_format);
    for (size_t i = 0; i < a[0].nflows && rc == 0; i++) {
        rec.len = 0;
        char why[256];
        if (mitm_flowfile_encode_version(a[0].flows[i], version, &rec, why, sizeof(why)) < 0) {
            mitm_log(MITM_LOG_WARN, NULL, "cannot save flow %s: %s", a[0].flows[i]->id, why);
            continue;
        }
        for (size_t off = 0; off < rec.len;) {
            ssize_t w = write(fd, mitm_buf_data(&rec) + off, rec.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(err, errlen, "Error while writing to %s: %s", full, strerror(errno));
                rc = -1;
                break;
            }
            off += (size_t)w;
        }
    }
    mitm_buf_free(&rec);
    if (close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "Error while writing to %s: %s", full, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        mitm_log(MITM_LOG_ALERT, NULL, "Saved %zu flows.", a[0].nflows);
    free(full);
    return rc;
}

/* ---- set (addons/core.py) ---------------------------------------------------------------- */

static int cmd_set(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                   size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    const char *name = a[0].str;
    const struct mitm_opt_info *in = mitm_master_option(m, name, NULL, NULL);
    if (!in) {
        snprintf(err, errlen, "Unknown option: %s", name);
        return -1;
    }
    size_t nv = a[1].nrest;
    const char *const *v = a[1].rest;
    if (nv == 0) /* booleans become true; the others None, their default or empty */
        return in->type == MITM_OPT_TYPE_BOOL ? mitm_master_set_option(m, name, "true", err, errlen)
                                              : mitm_master_set_option(m, name, NULL, err, errlen);
    if (in->type != MITM_OPT_TYPE_STRLIST && nv > 1) {
        snprintf(err, errlen, "Received multiple values for %s.", name);
        return -1;
    }
    if (in->type != MITM_OPT_TYPE_STRLIST)
        return mitm_master_set_option(m, name, v[0], err, errlen);
    struct mitm_buf joined; /* one item per line */
    mitm_buf_init(&joined, 0);
    for (size_t i = 0; i < nv; i++) {
        if (i)
            mitm_buf_append(&joined, "\n", 1);
        mitm_buf_append(&joined, v[i], strlen(v[i]));
    }
    mitm_buf_append(&joined, "", 1);
    int rc = mitm_master_set_option(m, name, (const char *)mitm_buf_data(&joined), err, errlen);
    mitm_buf_free(&joined);
    return rc;
}

/* ---- view.* (addons/view.py) -------------------------------------------------------------- */

static int cmd_view_clear(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)a, (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    mitm_store_clear(m->store);
    mitm_ui_settings_prune(m);
    mitm_ui_changed(m, -1);
    return 0;
}

static int cmd_filter_set(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)n, (void)out;
    return mitm_master_set_option(data, "view_filter", a[0].str[0] ? a[0].str : NULL, err, errlen);
}

static void focus_changed(struct mitm_master *m)
{
    if (m->fe.changed)
        m->fe.changed(m->fe.arg, mitm_store_view_focus(m->view));
}

static int cmd_focus_next(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)a, (void)n, (void)out, (void)err, (void)errlen;
    mitm_store_view_focus_next(((struct mitm_master *)data)->view);
    focus_changed(data);
    return 0;
}

static int cmd_focus_prev(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)a, (void)n, (void)out, (void)err, (void)errlen;
    mitm_store_view_focus_prev(((struct mitm_master *)data)->view);
    focus_changed(data);
    return 0;
}

static int cmd_focus_go(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    long cnt = (long)mitm_store_view_count(m->view), off = a[0].i;
    if (off < 0) /* mitmproxy: negative offsets count from the end */
        off += cnt;
    if (off < 0 || off >= cnt) {
        snprintf(err, errlen, "Invalid flow index: %ld", a[0].i);
        return -1;
    }
    mitm_store_view_set_focus(m->view, (size_t)mitm_store_view_at(m->view, (size_t)off));
    focus_changed(m);
    return 0;
}

static int cmd_view_length(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)a, (void)n, (void)err, (void)errlen;
    char t[32];
    int len = snprintf(t, sizeof(t), "%zu", mitm_store_view_count(((struct mitm_master *)data)->view));
    mitm_buf_append(out, t, (size_t)len);
    return 0;
}

/* ---- registration ------------------------------------------------------------------------- */

static const struct mitm_cmd_param p_flows[] = {{"flows", MITM_ARG_FLOWS, NULL}};
static const struct mitm_cmd_param p_mark[] = {{"flows", MITM_ARG_FLOWS, NULL},
                                               {"marker", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_comment[] = {{"flow", MITM_ARG_FLOWS, NULL},
                                                  {"comment", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_save[] = {{"flows", MITM_ARG_FLOWS, NULL},
                                               {"path", MITM_ARG_PATH, NULL}};
static const struct mitm_cmd_param p_set[] = {{"option", MITM_ARG_STR, NULL}, {"value", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_filter[] = {{"filter_expr", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_offset[] = {{"offset", MITM_ARG_INT, NULL}};
/* is_text is optional (default true) in mitmproxy: the rest of the arguments here */
static const struct mitm_cmd_param p_inject_ws[] = {{"flow", MITM_ARG_FLOW, NULL},
                                                    {"to_client", MITM_ARG_BOOL, NULL},
                                                    {"message", MITM_ARG_STR, NULL},
                                                    {"is_text", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_inject_tcp[] = {
    {"flow", MITM_ARG_FLOW, NULL}, {"to_client", MITM_ARG_BOOL, NULL}, {"message", MITM_ARG_STR, NULL}};

int mitm_ui_commands_register(struct mitm_master *m, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"flow.comment", p_comment, 2, NULL, "Add a comment to a flow", cmd_comment, m},
        {"flow.kill", p_flows, 1, NULL, "Kill running flows.", cmd_kill, m},
        {"flow.mark", p_mark, 2, NULL, "Mark flows.", cmd_mark, m},
        {"flow.mark.toggle", p_flows, 1, NULL, "Toggle mark for flows.", cmd_mark_toggle, m},
        {"flow.resume", p_flows, 1, NULL, "Resume flows if they are intercepted.", cmd_resume, m},
        {"inject.tcp", p_inject_tcp, 3, NULL, "Inject data into a live TCP flow.", cmd_inject_tcp, m},
        {"inject.websocket", p_inject_ws, 4, NULL, "Inject a WebSocket message into a live flow.",
         cmd_inject_ws, m},
        {"replay.client", p_flows, 1, NULL,
         "Add flows to the replay queue, skipping flows that can't be replayed.", cmd_replay, m},
        {"replay.client.count", NULL, 0, "int", "Approximate number of flows queued for replay.",
         cmd_replay_count, m},
        {"replay.client.stop", NULL, 0, NULL, "Clear the replay queue.", cmd_replay_stop, m},
        {"save.file", p_save, 2, NULL,
         "Save flows to a file. If the path starts with a +, flows are appended.", cmd_save, m},
        {"set", p_set, 2, NULL, "Set an option.", cmd_set, m},
        {"view.clear", NULL, 0, NULL, "Clears both the store and view.", cmd_view_clear, m},
        {"view.filter.set", p_filter, 1, NULL, "Sets the current view filter.", cmd_filter_set, m},
        {"view.focus.go", p_offset, 1, NULL,
         "Go to a specified offset. Positive offests are from the beginning of "
         "the view, negative from the end of the view.",
         cmd_focus_go, m},
        {"view.focus.next", NULL, 0, NULL, "Set focus to the next flow.", cmd_focus_next, m},
        {"view.focus.prev", NULL, 0, NULL, "Set focus to the previous flow.", cmd_focus_prev, m},
        {"view.properties.length", NULL, 0, "int", "Returns view length.", cmd_view_length, m},
    };
    if (mitm_ui_register_defs(m, defs, sizeof(defs) / sizeof(defs[0]), err, errlen) < 0 ||
        mitm_ui_viewcmds_register(m, err, errlen) < 0 || mitm_ui_flowcmds_register(m, err, errlen) < 0 ||
        mitm_ui_cut_register(m, err, errlen) < 0 || mitm_ui_browser_register(m, err, errlen) < 0 ||
        mitm_export_register_commands(m->commands, err, errlen) < 0 ||
        mitm_har_register_commands(m->commands, err, errlen) < 0)
        return -1;
    mitm_cmd_set_resolver(m->commands, mitm_ui_resolve, m);
    return 0;
}
