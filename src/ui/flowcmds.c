/* More commands of mitmproxy's core addons for the interactive front ends: flow.revert,
 * flow.set, flow.encode/decode (addons/core.py), options.load/save/reset (core.py),
 * replay.server* (addons/serverplayback.py), and the clipboard commands, which mitmc cannot
 * serve. Messages are mitmproxy's. Main thread only. */
#include "addon/httputil.h"
#include "addon/serverplayback.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/command.h"
#include "core/options.h"
#include "flow/encoding.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "ui/commands.h"
#include "ui/master.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bodies decoded or encoded by a command: as large as a flow file record may hold. */
#define BODY_CAP ((size_t)UINT32_MAX)

/* ---- flow.revert -------------------------------------------------------------------------- */

static int cmd_revert(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    size_t reverted = 0;
    for (size_t i = 0; i < a[0].nflows; i++) {
        ssize_t idx = mitm_store_find(m->store, a[0].flows[i]->id);
        if (idx < 0 || !mitm_store_has_backup(m->store, (size_t)idx))
            continue;
        if (mitm_store_revert(m->store, (size_t)idx, err, errlen) < 0)
            return -1;
        reverted++;
        mitm_ui_changed(m, idx);
    }
    mitm_log(MITM_LOG_ALERT, NULL, "Reverted %zu flows.", reverted);
    return 0;
}

/* ---- flow.set ----------------------------------------------------------------------------- */

static const char set_options[] = "host|status_code|method|path|url|reason";

static int set_request(struct mitm_http_request *r, const char *attr, const char *val, char *err,
                       size_t errlen)
{
    if (strcmp(attr, "method") == 0)
        mitm_str_set(&r->method, val, strlen(val));
    else if (strcmp(attr, "host") == 0) {
        mitm_str_set(&r->host, val, strlen(val));
        mitm_addon_update_host_and_authority(r); /* the Host header follows, as in mitmproxy */
    } else if (strcmp(attr, "path") == 0)
        mitm_str_set(&r->path, val, strlen(val));
    else if (strcmp(attr, "url") == 0) {
        char why[256];
        if (mitm_addon_set_url(r, val, strlen(val), why, sizeof(why)) < 0) {
            snprintf(err, errlen, "URL '%s' is invalid: %s", val, why);
            return -1;
        }
    }
    return 0;
}

static int cmd_flow_set(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)n, (void)out;
    struct mitm_master *m = data;
    const char *attr = a[1].str, *val = a[2].str;
    long code = 0;
    if (strcmp(attr, "status_code") == 0 &&
        (mitm_cmd_parse_int(val, &code) < 0 || code < INT_MIN || code > INT_MAX)) {
        snprintf(err, errlen, "Status code is not an integer: %s", val);
        return -1;
    }
    size_t updated = 0;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        if (f->request && set_request(f->request, attr, val, err, errlen) < 0)
            return -1;
        struct mitm_http_response *rs = f->response;
        if (rs && strcmp(attr, "status_code") == 0) {
            rs->status_code = (int)code;
            const char *reason = mitm_http_reason((int)code);
            if (reason && *reason) /* only codes mitmproxy knows get their reason */
                mitm_str_set(&rs->reason, reason, strlen(reason));
        } else if (rs && strcmp(attr, "reason") == 0) {
            mitm_str_set(&rs->reason, val, strlen(val));
        }
        /* mitmproxy counts every flow here, changed or not */
        mitm_ui_update(m, f);
        updated++;
    }
    mitm_log(MITM_LOG_ALERT, NULL, "Set %s on  %zu flows.", attr, updated);
    return 0;
}

static int cmd_lines(struct mitm_buf *out, const char *choices)
{
    for (const char *p = choices; *p; p++)
        mitm_buf_append(out, *p == '|' ? "\n" : p, 1);
    return 0;
}

static int cmd_set_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)data, (void)a, (void)n, (void)err, (void)errlen;
    return cmd_lines(out, set_options);
}

/* ---- flow.encode / flow.decode ------------------------------------------------------------- */

static const char encode_options[] = "gzip|deflate|br|zstd";

struct part {
    struct mitm_headers *headers;
    struct mitm_buf *content;
};

/* getattr(flow, part): "request" or "response" of an HTTP flow, else nothing. */
static bool get_part(struct mitm_flow *f, const char *name, struct part *p)
{
    if (f->type != MITM_FLOW_HTTP)
        return false;
    if (strcmp(name, "request") == 0 && f->request && !f->request->content_missing) {
        *p = (struct part){&f->request->headers, &f->request->content};
        return true;
    }
    if (strcmp(name, "response") == 0 && f->response && !f->response->content_missing) {
        *p = (struct part){&f->response->headers, &f->response->content};
        return true;
    }
    return false;
}

/* Message.content = body: the raw content replaced, Content-Length updated unless the
 * message is chunked. */
static void set_raw(struct part *p, struct mitm_buf *body)
{
    mitm_buf_free(p->content);
    *p->content = *body;
    mitm_buf_init(body, 0);
    if (mitm_headers_find(p->headers, "transfer-encoding", 0) < 0) {
        char len[32];
        int k = snprintf(len, sizeof(len), "%zu", p->content->len);
        mitm_headers_set(p->headers, "content-length", len, (size_t)k);
    }
}

static const char *current_encoding(const struct part *p)
{
    size_t len;
    const char *v = mitm_headers_get(p->headers, "content-encoding", &len);
    return v && len ? v : "identity";
}

/* Message.decode(): the body decoded, Content-Encoding removed. */
static int decode_part(struct part *p, char *err, size_t errlen)
{
    struct mitm_buf body;
    char why[256];
    size_t len;
    const char *ce = mitm_headers_get(p->headers, "content-encoding", &len);
    if (!ce) /* nothing to undo */
        return 0;
    char *coding = mitm_strndup(ce, len);
    int rc =
        mitm_decode(coding, mitm_buf_data(p->content), p->content->len, BODY_CAP, &body, why, sizeof(why));
    free(coding);
    if (rc < 0) {
        snprintf(err, errlen, "Decoding failed: %s", why);
        return -1;
    }
    mitm_headers_remove(p->headers, "content-encoding");
    set_raw(p, &body);
    return 0;
}

/* Message.encode(coding): Content-Encoding set, the (decoded) body encoded with it. */
static int encode_part(struct part *p, const char *coding, char *err, size_t errlen)
{
    if (decode_part(p, err, errlen) < 0)
        return -1;
    struct mitm_buf body;
    char why[256];
    if (mitm_encode(coding, mitm_buf_data(p->content), p->content->len, BODY_CAP, &body, why, sizeof(why)) <
        0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    mitm_headers_set(p->headers, "content-encoding", coding, strlen(coding));
    set_raw(p, &body);
    return 0;
}

enum coding_op { OP_DECODE, OP_ENCODE, OP_TOGGLE };

static int recode(struct mitm_master *m, const struct mitm_cmd_arg *a, enum coding_op op, char *err,
                  size_t errlen)
{
    size_t updated = 0;
    for (size_t i = 0; i < a[0].nflows; i++) {
        struct mitm_flow *f = a[0].flows[i];
        struct part p;
        if (!get_part(f, a[1].str, &p))
            continue;
        bool identity = strcmp(current_encoding(&p), "identity") == 0;
        if (op == OP_ENCODE && !identity) /* flow.encode leaves encoded bodies alone */
            continue;
        mitm_ui_backup(m, f);
        int rc = op == OP_DECODE || (op == OP_TOGGLE && !identity) ? decode_part(&p, err, errlen)
                 : op == OP_TOGGLE                                 ? encode_part(&p, "deflate", err, errlen)
                                                                   : encode_part(&p, a[2].str, err, errlen);
        if (rc < 0)
            return -1;
        mitm_ui_update(m, f);
        updated++;
    }
    mitm_log(MITM_LOG_ALERT, NULL,
             op == OP_DECODE   ? "Decoded %zu flows."
             : op == OP_ENCODE ? "Encoded %zu flows."
                               : "Toggled encoding on %zu flows.",
             updated);
    return 0;
}

static int cmd_decode(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out;
    return recode(data, a, OP_DECODE, err, errlen);
}

static int cmd_encode(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out;
    return recode(data, a, OP_ENCODE, err, errlen);
}

static int cmd_encode_toggle(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)n, (void)out;
    return recode(data, a, OP_TOGGLE, err, errlen);
}

static int cmd_encode_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                              char *err, size_t errlen)
{
    (void)data, (void)a, (void)n, (void)err, (void)errlen;
    return cmd_lines(out, encode_options);
}

/* ---- options.* ---------------------------------------------------------------------------- */

/* Apply every option of next that differs from the current ones through the master, so the
 * front end and the workers hear of each. Stops at the first refusal (err set). */
static int apply_options(struct mitm_master *m, const struct mitm_options *next, char *err, size_t errlen)
{
    size_t n;
    const struct mitm_opt_info *all = mitm_options_all(&n);
    for (size_t i = 0; i < n; i++) {
        if (mitm_options_equal(&all[i], next, &mitm_options))
            continue;
        char *v = mitm_options_value_text(&all[i], next);
        int rc = mitm_master_set_option(m, all[i].name, v, err, errlen);
        free(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int cmd_options_load(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    (void)n, (void)out;
    struct mitm_options next;
    mitm_options_copy(&next, &mitm_options);
    char why[512];
    int rc = mitm_options_load_yaml(&next, a[0].str, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "Could not load options - %s", why);
    else if (apply_options(data, &next, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "Could not load options - %s", why);
        rc = -1;
    }
    mitm_options_free(&next);
    return rc;
}

/* The file is opened again after reading it: an existing one is updated, not replaced. */
static int save_error(const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "Could not save options - [Errno %d] %s: '%s'", errno, strerror(errno), path);
    return -1;
}

static int cmd_options_save(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    (void)data, (void)n, (void)out;
    struct mitm_options kept = {0};
    mitm_options_init(&kept);
    int rc = mitm_options_load_yaml(&kept, a[0].str, err, errlen);
    FILE *fp = rc == 0 ? fopen(a[0].str, "w") : NULL;
    if (rc == 0 && !fp)
        rc = save_error(a[0].str, err, errlen);
    if (fp) {
        mitm_options_save_changed(&mitm_options, &kept, fp);
        if (fclose(fp) != 0)
            rc = save_error(a[0].str, err, errlen);
    }
    mitm_options_free(&kept);
    return rc;
}

static int cmd_options_reset(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)a, (void)n, (void)out;
    struct mitm_master *m = data;
    struct mitm_options d = {0}; /* init frees what it finds */
    mitm_options_init(&d);
    int rc = apply_options(m, &d, err, errlen);
    mitm_options_free(&d);
    /* and the scripts' options */
    size_t total = mitm_master_options(m, NULL, 0), ntable;
    mitm_options_all(&ntable);
    const struct mitm_opt_info **all = mitm_calloc(total + 1, sizeof(*all));
    total = mitm_master_options(m, all, total);
    for (size_t i = ntable; i < total && rc == 0; i++) {
        const void *cur, *def;
        mitm_master_option(m, all[i]->name, &cur, &def);
        char *a = mitm_options_field_text(all[i], cur), *b = mitm_options_field_text(all[i], def);
        bool same = (!a && !b) || (a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
        if (!same)
            rc = mitm_master_set_option(m, all[i]->name, NULL, err, errlen);
    }
    free(all);
    return rc;
}

static int cmd_options_reset_one(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                 char *err, size_t errlen)
{
    (void)n, (void)out;
    if (!mitm_master_option(data, a[0].str, NULL, NULL)) {
        snprintf(err, errlen, "No such option: %s", a[0].str);
        return -1;
    }
    return mitm_master_set_option(data, a[0].str, NULL, err, errlen);
}

/* ---- replay.server* (addons/serverplayback.py) ---------------------------------------------- */

static int sp_add(struct mitm_master *m, struct mitm_flow *const *flows, size_t n, bool replace)
{
    if (replace)
        mitm_serverplayback_clear(m->sp);
    mitm_serverplayback_add(m->sp, flows, n);
    mitm_ui_changed(m, -1);
    return 0;
}

static int cmd_sp(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                  size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    return sp_add(data, a[0].flows, a[0].nflows, true);
}

static int cmd_sp_add(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    return sp_add(data, a[0].flows, a[0].nflows, false);
}

static int cmd_sp_file(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    (void)n, (void)out;
    struct mitm_flowvec flows = {0};
    if (mitm_serverplayback_read_file(a[0].str, &flows, err, errlen) < 0)
        return -1;
    sp_add(data, flows.v, flows.n, true);
    mitm_serverplayback_flows_free(&flows);
    return 0;
}

static int cmd_sp_stop(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    (void)a, (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    mitm_serverplayback_clear(m->sp);
    mitm_ui_changed(m, -1);
    return 0;
}

static int cmd_sp_count(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)a, (void)n, (void)err, (void)errlen;
    mitm_buf_printf(out, "%zu", mitm_serverplayback_count(((struct mitm_master *)data)->sp));
    return 0;
}

/* ---- no clipboard ------------------------------------------------------------------------- */

static int cmd_no_clipboard(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    (void)data, (void)a, (void)n, (void)out;
    snprintf(err, errlen,
             "No clipboard: mitmc has no clipboard access; use cut.save or export.file instead.");
    return -1;
}

/* ---- registration ------------------------------------------------------------------------- */

static const struct mitm_cmd_param p_flows[] = {{"flows", MITM_ARG_FLOWS, NULL}};
static const struct mitm_cmd_param p_set[] = {
    {"flows", MITM_ARG_FLOWS, NULL}, {"attr", MITM_ARG_CHOICE, set_options}, {"value", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_part[] = {{"flows", MITM_ARG_FLOWS, NULL}, {"part", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_encode[] = {{"flows", MITM_ARG_FLOWS, NULL},
                                                 {"part", MITM_ARG_STR, NULL},
                                                 {"encoding", MITM_ARG_CHOICE, encode_options}};
static const struct mitm_cmd_param p_path[] = {{"path", MITM_ARG_PATH, NULL}};
static const struct mitm_cmd_param p_name[] = {{"name", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_cutclip[] = {{"flows", MITM_ARG_FLOWS, NULL},
                                                  {"cuts", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_exportclip[] = {{"format", MITM_ARG_STR, NULL},
                                                     {"flow", MITM_ARG_FLOW, NULL}};

int mitm_ui_flowcmds_register(struct mitm_master *m, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"cut.clip", p_cutclip, 2, NULL, "Send cuts to the clipboard.", cmd_no_clipboard, m},
        {"export.clip", p_exportclip, 2, NULL, "Export a flow to the system clipboard.", cmd_no_clipboard, m},
        {"flow.decode", p_part, 2, NULL, "Decode flows.", cmd_decode, m},
        {"flow.encode", p_encode, 3, NULL, "Encode flows with a specified encoding.", cmd_encode, m},
        {"flow.encode.options", NULL, 0, "str[]", "The possible values for an encoding specification.",
         cmd_encode_options, m},
        {"flow.encode.toggle", p_part, 2, NULL,
         "Toggle flow encoding on and off, using deflate for encoding.", cmd_encode_toggle, m},
        {"flow.revert", p_flows, 1, NULL, "Revert flow changes.", cmd_revert, m},
        {"flow.set", p_set, 3, NULL, "Quickly set a number of common values on flows.", cmd_flow_set, m},
        {"flow.set.options", NULL, 0, "str[]", "The attributes flow.set can set.", cmd_set_options, m},
        {"options.load", p_path, 1, NULL, "Load options from a file.", cmd_options_load, m},
        {"options.reset", NULL, 0, NULL, "Reset all options to defaults.", cmd_options_reset, m},
        {"options.reset.one", p_name, 1, NULL, "Reset one option to its default value.",
         cmd_options_reset_one, m},
        {"options.save", p_path, 1, NULL, "Save options to a file.", cmd_options_save, m},
        {"replay.server", p_flows, 1, NULL, "Replay server responses from flows.", cmd_sp, m},
        {"replay.server.add", p_flows, 1, NULL, "Add responses from flows to server replay list.", cmd_sp_add,
         m},
        {"replay.server.count", NULL, 0, "int", "Number of flows queued for server replay.", cmd_sp_count, m},
        {"replay.server.file", p_path, 1, NULL, "Replay server responses from a flow file.", cmd_sp_file, m},
        {"replay.server.stop", NULL, 0, NULL, "Stop server replay.", cmd_sp_stop, m},
    };
    return mitm_ui_register_defs(m, defs, sizeof(defs) / sizeof(defs[0]), err, errlen);
}
