/* Editing the focused flow (mitmproxy's console.edit.focus): single values through a prompt,
 * headers in the grid editor, bodies in $EDITOR. Every edit loads the stored flow, changes
 * it and writes it back with mitm_master_update_flow, so an intercepted flow resumes with
 * what the user changed (flow.resume sends the stored flow). */
#include "addon/cookies.h"
#include "addon/mimetypes.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "core/options.h"
#include "flow/contentview.h"
#include "flow/encoding.h"
#include "flow/export.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "io/io.h"
#include "proto/http/http.h"
#include "ui/console/console-int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bodies handed to the editor: at most this many bytes decoded. */
#define EDIT_MAX ((size_t)64 << 20)

/* The stored flow with this id (a new reference), or NULL with a message shown. */
static struct mitm_flow *load(struct console *c, const char *id, ssize_t *index)
{
    char err[256];
    *index = mitm_store_find(c->m.store, id);
    struct mitm_flow *f = *index >= 0 ? mitm_store_get(c->m.store, (size_t)*index, err, sizeof(err)) : NULL;
    if (!f)
        con_message(c, MITM_ST_ERROR, "The flow is gone.");
    return f;
}

static void store(struct console *c, ssize_t index, struct mitm_flow *f)
{
    mitm_master_update_flow(&c->m, (size_t)index, f);
    mitm_flow_unref(f);
    con_dirty(c);
}

void edit_options(struct console *c, struct mitm_buf *out)
{
    ssize_t i = mitm_store_view_focus(c->m.view);
    const struct mitm_store_summary *sm = i >= 0 ? mitm_store_summary(c->m.store, (size_t)i) : NULL;
    /* mitmproxy's order, comment last */
    struct mitm_buf *b = out;
    bool first = true;
#define ADD(s)                                                                                               \
    do {                                                                                                     \
        if (!first)                                                                                          \
            mitm_buf_append(b, "\n", 1);                                                                     \
        mitm_buf_append(b, s, strlen(s));                                                                    \
        first = false;                                                                                       \
    } while (0)
    if (sm && sm->type == MITM_FLOW_HTTP) {
        /* all of them, with or without a response: editing a response part of a flow that
         * has none gives it an empty 200 first, as mitmproxy's console */
        static const char *const parts[] = {"cookies",          "urlencoded form",
                                            "multipart form",   "path",
                                            "method",           "query",
                                            "reason",           "request-headers",
                                            "response-headers", "request-body",
                                            "response-body",    "status_code",
                                            "set-cookies",      "url"};
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
            ADD(parts[i]);
    }
    ADD("comment");
#undef ADD
}

/* ---- one value through the prompt ---- */

struct field_edit {
    char id[MITM_UUID_LEN + 1];
    char part[32];
};

/* mitmproxy's url setter: scheme://host[:port]path. Returns 0 or -1. */
static int set_url(struct mitm_http_request *rq, const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return -1;
    char scheme[16];
    if ((size_t)(sep - url) >= sizeof(scheme))
        return -1;
    snprintf(scheme, sizeof(scheme), "%.*s", (int)(sep - url), url);
    if (strcmp(scheme, "http") && strcmp(scheme, "https"))
        return -1;
    const char *auth = sep + 3, *path = strchr(auth, '/');
    size_t alen = path ? (size_t)(path - auth) : strlen(auth);
    char host[256];
    long port = strcmp(scheme, "https") == 0 ? 443 : 80;
    const char *colon = NULL;
    if (alen && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close)
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(close - auth - 1), auth + 1);
        colon = close + 1 < auth + alen && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(auth, ':', alen);
        size_t hl = colon ? (size_t)(colon - auth) : alen;
        if (hl >= sizeof(host))
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)hl, auth);
    }
    if (!host[0])
        return -1;
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (end != auth + alen || port < 1 || port > 65535)
            return -1;
    }
    mitm_str_set(&rq->scheme, scheme, strlen(scheme));
    mitm_str_set(&rq->host, host, strlen(host));
    rq->port = (uint16_t)port;
    mitm_str_set(&rq->path, path ? path : "/", strlen(path ? path : "/"));
    if (rq->authority && *rq->authority) {
        char a[300];
        snprintf(a, sizeof(a), "%s:%ld", host, port);
        mitm_str_set(&rq->authority, a, strlen(a));
    }
    if (mitm_headers_get(&rq->headers, "host", NULL)) {
        char h[300];
        bool dflt = port == (strcmp(scheme, "https") == 0 ? 443 : 80);
        if (dflt)
            snprintf(h, sizeof(h), "%s", host);
        else
            snprintf(h, sizeof(h), "%s:%ld", host, port);
        mitm_headers_set(&rq->headers, "Host", h, strlen(h));
    }
    return 0;
}

static void field_done(struct console *c, const char *text, void *arg)
{
    struct field_edit *fe = arg;
    ssize_t idx;
    struct mitm_flow *f = load(c, fe->id, &idx);
    if (!f)
        return;
    const char *p = fe->part;
    struct mitm_http_request *rq = f->request;
    struct mitm_http_response *rs = f->response;
    bool ok = true;
    if (strcmp(p, "comment") == 0) {
        free(f->comment);
        f->comment = mitm_strdup(text);
    } else if (!rq) {
        ok = false;
    } else if (strcmp(p, "method") == 0) {
        ok = *text && !strpbrk(text, " \t");
        if (ok)
            mitm_str_set(&rq->method, text, strlen(text));
    } else if (strcmp(p, "path") == 0) {
        ok = !strpbrk(text, " \t");
        if (ok)
            mitm_str_set(&rq->path, text, strlen(text));
    } else if (strcmp(p, "url") == 0) {
        ok = set_url(rq, text) == 0;
    } else if (strcmp(p, "status_code") == 0 && rs) {
        char *end;
        long v = strtol(text, &end, 10);
        ok = *text && !*end && v >= 100 && v <= 999;
        if (ok)
            rs->status_code = (int)v;
    } else if (strcmp(p, "reason") == 0 && rs) {
        mitm_str_set(&rs->reason, text, strlen(text));
    } else {
        ok = false;
    }
    if (!ok) {
        con_message(c, MITM_ST_ERROR, "Invalid %s: %s (nothing changed)", p, text);
        mitm_flow_unref(f);
        return;
    }
    store(c, idx, f);
}

static void prompt_field(struct console *c, const struct mitm_flow *f, const char *part)
{
    char cur[4096] = "";
    const struct mitm_http_request *rq = f->request;
    const struct mitm_http_response *rs = f->response;
    if (strcmp(part, "comment") == 0)
        snprintf(cur, sizeof(cur), "%s", f->comment);
    else if (strcmp(part, "method") == 0 && rq)
        snprintf(cur, sizeof(cur), "%s", rq->method);
    else if (strcmp(part, "path") == 0 && rq)
        snprintf(cur, sizeof(cur), "%s", rq->path);
    else if (strcmp(part, "url") == 0 && rq)
        mitm_http_request_url(rq, false, cur, sizeof(cur));
    else if (strcmp(part, "status_code") == 0 && rs)
        snprintf(cur, sizeof(cur), "%d", rs->status_code);
    else if (strcmp(part, "reason") == 0 && rs)
        snprintf(cur, sizeof(cur), "%s", rs->reason);
    struct field_edit *fe = mitm_calloc(1, sizeof(*fe));
    snprintf(fe->id, sizeof(fe->id), "%s", f->id);
    snprintf(fe->part, sizeof(fe->part), "%s", part);
    char label[64];
    snprintf(label, sizeof(label), "%s: ", part);
    prompt_text(c, label, cur, field_done, fe, free);
}

/* ---- bodies in $EDITOR ---- */

/* Run prog (a command line: the shell splits it) on path with the terminal handed over.
 * Returns its exit status, or -1 if it could not run. */
static int run_on_file(struct console *c, const char *ed, const char *path)
{
    con_suspend(c);
    pid_t pid = fork();
    if (pid == 0) {
        /* the editor may be a command line ("code -w"): the shell splits it */
        execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", ed, path, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    con_resume(c);
    if (pid < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_file(const char *path, struct mitm_buf *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    uint8_t chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        if (mitm_buf_append(out, chunk, r) < 0) {
            fclose(fp);
            return -1;
        }
    int bad = ferror(fp);
    fclose(fp);
    return bad ? -1 : 0;
}

/* Set a message's body from the edited (decoded) bytes: encoded again per its
 * Content-Encoding, Content-Length updated unless the message is chunked. */
static int set_body(struct mitm_headers *h, struct mitm_buf *content, bool *missing,
                    const struct mitm_buf *edited, char *err, size_t errlen)
{
    size_t celen = 0;
    const char *ce = mitm_headers_get(h, "content-encoding", &celen);
    struct mitm_buf enc;
    mitm_buf_init(&enc, 0);
    const uint8_t *p = mitm_buf_data(edited);
    size_t n = edited->len;
    if (ce && celen && !(celen == 8 && strncmp(ce, "identity", 8) == 0)) {
        char coding[64];
        snprintf(coding, sizeof(coding), "%.*s", (int)celen, ce);
        if (mitm_encode(coding, p, n, EDIT_MAX * 2, &enc, err, errlen) < 0)
            return -1;
        p = mitm_buf_data(&enc);
        n = enc.len;
    }
    mitm_buf_free(content);
    mitm_buf_init(content, 0);
    mitm_buf_append(content, p, n);
    mitm_buf_free(&enc);
    *missing = false;
    if (!mitm_headers_get(h, "transfer-encoding", NULL)) {
        char cl[32];
        snprintf(cl, sizeof(cl), "%zu", n);
        mitm_headers_set(h, "content-length", cl, strlen(cl));
    }
    return 0;
}

static void edit_body(struct console *c, struct mitm_flow *f, ssize_t idx, bool response)
{
    struct mitm_headers *h = response ? &f->response->headers : &f->request->headers;
    struct mitm_buf *content = response ? &f->response->content : &f->request->content;
    bool *missing = response ? &f->response->content_missing : &f->request->content_missing;
    struct mitm_buf storage, edited;
    mitm_buf_init(&storage, 0);
    mitm_buf_init(&edited, 0);
    struct mitm_slice body = {0};
    mitm_encoding_message_content(h, content, *missing, EDIT_MAX, &storage, &body);
    char path[] = "/tmp/mitmc-edit-XXXXXX";
    int fd = mkstemp(path);
    char err[256];
    if (fd < 0 || write_all(fd, body.base, body.len) < 0) {
        con_message(c, MITM_ST_ERROR, "Cannot write a temporary file: %s", strerror(errno));
        goto Exit;
    }
    close(fd);
    fd = -1;
    const char *ed = getenv("MITMPROXY_EDITOR");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    int rc = run_on_file(c, ed && *ed ? ed : "vi", path);
    if (rc != 0) {
        con_message(c, MITM_ST_ERROR, "The editor exited with status %d: nothing changed.", rc);
        goto Exit;
    }
    if (read_file(path, &edited) < 0) {
        con_message(c, MITM_ST_ERROR, "Cannot read the edited file: nothing changed.");
        goto Exit;
    }
    if (mitm_options.console_strip_trailing_newlines)
        while (edited.len && (mitm_buf_data(&edited)[edited.len - 1] == '\n' ||
                              mitm_buf_data(&edited)[edited.len - 1] == '\r'))
            edited.len--;
    if (set_body(h, content, missing, &edited, err, sizeof(err)) < 0) {
        con_message(c, MITM_ST_ERROR, "%s: nothing changed.", err);
        goto Exit;
    }
    mitm_master_update_flow(&c->m, (size_t)idx, f);
Exit:
    if (fd >= 0)
        close(fd);
    unlink(path);
    mitm_buf_free(&storage);
    mitm_buf_free(&edited);
}

int edit_bodyview(struct console *c, const struct mitm_flow *f, const char *part, char *err, size_t errlen)
{
    bool resp = strcmp(part, "response") == 0;
    if (!resp && strcmp(part, "request") != 0) {
        snprintf(err, errlen, "Invalid part: %s (request or response)", part);
        return -1;
    }
    if (f->type != MITM_FLOW_HTTP || !f->request || (resp && !f->response)) {
        snprintf(err, errlen, "The flow has no %s.", part);
        return -1;
    }
    const struct mitm_headers *h = resp ? &f->response->headers : &f->request->headers;
    const struct mitm_buf *content = resp ? &f->response->content : &f->request->content;
    bool missing = resp ? f->response->content_missing : f->request->content_missing;
    struct mitm_buf storage;
    mitm_buf_init(&storage, 0);
    struct mitm_slice body = {0};
    mitm_encoding_message_content(h, content, missing, EDIT_MAX, &storage, &body);
    /* as mitmproxy's spawn_external_viewer: a read-only file named for the content type
     * (mproxyXXXXXX.html), shown by $MITMPROXY_EDITOR, $PAGER, $EDITOR or less */
    size_t tl = 0;
    const char *ct = mitm_headers_get(h, "content-type", &tl);
    char type[128] = "", path[160];
    snprintf(type, sizeof(type), "%.*s", (int)(tl < sizeof(type) ? tl : sizeof(type) - 1), ct ? ct : "");
    struct mitm_mimetypes *mt = mitm_mimetypes_new(true);
    const char *ext = type[0] ? mitm_mimetypes_guess_extension(mt, type) : NULL;
    const char *tmp = getenv("TMPDIR");
    int w = snprintf(path, sizeof(path), "%.100s/mproxyXXXXXX", tmp && *tmp ? tmp : "/tmp");
    int suffix = snprintf(path + w, sizeof(path) - (size_t)w, "%.16s", ext ? ext : "");
    mitm_mimetypes_free(mt); /* ext was mt's */
    int fd = mkstemps(path, suffix);
    int rc = 0;
    if (fd < 0 || write_all(fd, body.base, body.len) < 0) {
        snprintf(err, errlen, "Cannot write a temporary file: %s", strerror(errno));
        rc = -1;
    } else {
        fchmod(fd, 0400);
        const char *viewer = NULL;
        const char *const vars[] = {"MITMPROXY_EDITOR", "PAGER", "EDITOR"};
        for (size_t i = 0; i < 3 && !viewer; i++) {
            const char *v = getenv(vars[i]);
            if (v && *v)
                viewer = v;
        }
        if (run_on_file(c, viewer ? viewer : "less", path) == 127)
            con_message(c, MITM_ST_ERROR, "Can't start external viewer: %s", viewer ? viewer : "less");
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    mitm_buf_free(&storage);
    return rc;
}

/* ---- the grid editors: headers, query, form, cookies, set-cookies ---- */

static void grid_row(struct con_grid *g, size_t at)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->cells = mitm_realloc(g->cells, g->cap * sizeof(*g->cells));
    }
    memmove(&g->cells[at + 1], &g->cells[at], (g->n - at) * sizeof(*g->cells));
    for (size_t k = 0; k < GRID_COLS; k++)
        g->cells[at][k] = k < g->ncols ? mitm_strdup("") : NULL;
    g->n++;
}

/* Append a row of the grid's columns from byte ranges (NULL: empty). */
static void grid_push(struct con_grid *g, const char *a, size_t an, const char *b, size_t bn, const char *c,
                      size_t cn)
{
    grid_row(g, g->n);
    char **row = g->cells[g->n - 1];
    const char *v[GRID_COLS] = {a, b, c};
    size_t l[GRID_COLS] = {an, bn, cn};
    for (size_t k = 0; k < g->ncols; k++) {
        free(row[k]);
        row[k] = mitm_strndup(v[k] ? v[k] : "", v[k] ? l[k] : 0);
    }
}

/* The unquote_plus of s[0..n) as an owned string. */
static char *unquoted(const char *s, size_t n)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_buf_unquote_plus(&b, s, n);
    size_t len;
    return (char *)mitm_buf_steal(&b, &len);
}

/* parse_qsl with blank values kept: "&"-separated pairs, each "key[=value]", decoded. */
static void grid_urlencoded(struct con_grid *g, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        const char *p = s + i, *amp = memchr(p, '&', n - i);
        size_t len = amp ? (size_t)(amp - p) : n - i;
        i += len + 1;
        if (!len)
            continue;
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        char *k = unquoted(p, kl), *v = eq ? unquoted(eq + 1, len - kl - 1) : mitm_strdup("");
        grid_push(g, k, strlen(k), v, strlen(v), NULL, 0);
        free(k);
        free(v);
    }
}

/* urllib's quote_plus: unreserved bytes as they are, space as '+', the rest %XX. */
static void quote_plus(struct mitm_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[4];
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("_.-~", *p)) {
            mitm_buf_append(b, p, 1);
        } else if (*p == ' ') {
            mitm_buf_append(b, "+", 1);
        } else {
            snprintf(esc, sizeof(esc), "%%%02X", *p);
            mitm_buf_append(b, esc, 3);
        }
    }
}

/* mitmproxy's url.encode: key=value pairs joined by '&'; when the text it replaces had a
 * key without '=', keys with empty values are written bare, as they came. */
static void encode_pairs(const struct con_grid *g, const char *similar, size_t slen, struct mitm_buf *out)
{
    bool bare = false;
    for (size_t i = 0; i < slen;) {
        const char *p = similar + i, *amp = memchr(p, '&', slen - i);
        size_t len = amp ? (size_t)(amp - p) : slen - i;
        if (!memchr(p, '=', len))
            bare = true;
        i += len + 1;
    }
    for (size_t i = 0; i < g->n; i++) {
        if (i)
            mitm_buf_append(out, "&", 1);
        quote_plus(out, g->cells[i][0]);
        if (!bare || g->cells[i][1][0]) {
            mitm_buf_append(out, "=", 1);
            quote_plus(out, g->cells[i][1]);
        }
    }
}

/* "name=value; name2=value2" (a Cookie header, or a Set-Cookie's attributes) split into
 * rows of up to two cells, whitespace around each part dropped. */
static void split_pairs(const char *s, size_t n,
                        void (*row)(void *, const char *, size_t, const char *, size_t), void *arg)
{
    for (size_t i = 0; i < n;) {
        const char *p = s + i, *semi = memchr(p, ';', n - i);
        size_t len = semi ? (size_t)(semi - p) : n - i;
        i += len + 1;
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!len)
            continue;
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        while (kl && p[kl - 1] == ' ')
            kl--;
        const char *v = eq ? eq + 1 : NULL;
        size_t vl = eq ? (size_t)(p + len - v) : 0;
        while (vl && *v == ' ')
            v++, vl--;
        row(arg, p, kl, v, vl);
    }
}

static void cookie_row(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    grid_push(arg, k, kl, v, vl, NULL, 0);
}

/* One Set-Cookie header: a row per cookie in it, the attributes as they were written
 * ("k=v; flag"), without the quoting of values. */
static void grid_setcookie(struct con_grid *g, const char *s, size_t n)
{
    struct mitm_setcookies sc = {0};
    mitm_setcookie_parse(s, n, &sc);
    struct mitm_buf attrs;
    mitm_buf_init(&attrs, 0);
    for (size_t i = 0; i < sc.n; i++) {
        const struct mitm_setcookie *k = &sc.v[i];
        attrs.len = 0;
        for (size_t j = 0; j < k->nattrs; j++) {
            if (j)
                mitm_buf_append(&attrs, "; ", 2);
            mitm_buf_append(&attrs, k->attrs[j].key, strlen(k->attrs[j].key));
            if (k->attrs[j].value) {
                mitm_buf_append(&attrs, "=", 1);
                mitm_buf_append(&attrs, k->attrs[j].value, strlen(k->attrs[j].value));
            }
        }
        const char *v = k->value ? k->value : "";
        grid_push(g, k->name, strlen(k->name), v, strlen(v), (const char *)mitm_buf_data(&attrs), attrs.len);
    }
    mitm_buf_free(&attrs);
    mitm_setcookies_free(&sc);
}

/* Row i's name=value as mitmproxy's format_cookie_header writes it (quoted if need be). */
static void cookie_pair(struct mitm_buf *b, const struct con_grid *g, size_t i)
{
    struct mitm_cookie_pair p = {g->cells[i][0], g->cells[i][1]};
    mitm_cookie_format(&p, 1, b);
}

static const char *grid_titles[] = {
    [GRID_QUERY] = "Edit Query",
    [GRID_FORM] = "Edit URL-encoded Form",
    [GRID_MULTIPART] = "Edit Multipart Form",
    [GRID_COOKIES] = "Edit Cookies",
    [GRID_SETCOOKIES] = "Edit Set-Cookies",
    [GRID_ATTRS] = "Edit Set-Cookie Attributes",
};

static struct con_grid *grid_new(struct console *c, const struct mitm_flow *f, enum con_grid_kind kind,
                                 bool response)
{
    struct con_grid *g = &con_push(c, SCR_GRID)->grid;
    g->kind = kind;
    g->response = response;
    g->ncols = kind == GRID_SETCOOKIES ? 3 : 2;
    bool named = kind == GRID_COOKIES || kind == GRID_SETCOOKIES;
    g->heads[0] = named ? "Name" : "Key";
    g->heads[1] = "Value";
    g->heads[2] = "Attributes";
    const char *t = kind == GRID_HEADERS ? (response ? "Edit Response Headers" : "Edit Request Headers")
                                         : grid_titles[kind];
    g->title = mitm_strdup(t);
    snprintf(g->flow_id, sizeof(g->flow_id), "%s", f->id);
    return g;
}

static void grid_open(struct console *c, const struct mitm_flow *f, enum con_grid_kind kind, bool response)
{
    struct con_grid *g = grid_new(c, f, kind, response);
    const struct mitm_http_request *rq = f->request;
    const struct mitm_headers *h = response ? &f->response->headers : &rq->headers;
    if (kind == GRID_HEADERS) {
        for (size_t i = 0; i < h->n; i++)
            grid_push(g, h->v[i].name, h->v[i].name_len, h->v[i].value, h->v[i].value_len, NULL, 0);
    } else if (kind == GRID_QUERY) {
        const char *q = strchr(rq->path, '?');
        if (q)
            grid_urlencoded(g, q + 1, strcspn(q + 1, "#"));
    } else if (kind == GRID_FORM || kind == GRID_MULTIPART) {
        /* mitmproxy shows a form only for its content type; another body starts empty */
        const char *want = kind == GRID_FORM ? "application/x-www-form-urlencoded" : "multipart/form-data";
        size_t tl = 0, wl = strlen(want);
        const char *ct = mitm_headers_get(h, "content-type", &tl);
        if (ct && tl >= wl && strncasecmp(ct, want, wl) == 0) {
            struct mitm_buf storage;
            mitm_buf_init(&storage, 0);
            struct mitm_slice body = {0};
            mitm_encoding_message_content(h, &rq->content, rq->content_missing, EDIT_MAX, &storage, &body);
            if (kind == GRID_FORM) {
                grid_urlencoded(g, (const char *)body.base, body.len);
            } else {
                struct mitm_kv *kv;
                ssize_t k = mitm_multipart_decode(ct, tl, body.base, body.len, &kv);
                for (ssize_t i = 0; i < k; i++)
                    grid_push(g, kv[i].k, kv[i].klen, kv[i].v, kv[i].vlen, NULL, 0);
                if (k > 0)
                    mitm_kv_free(kv, (size_t)k);
            }
            mitm_buf_free(&storage);
        }
    } else {
        for (size_t i = 0; i < h->n; i++) {
            const struct mitm_header *e = &h->v[i];
            if (kind == GRID_COOKIES && e->name_len == 6 && strncasecmp(e->name, "cookie", 6) == 0)
                split_pairs(e->value, e->value_len, cookie_row, g);
            else if (kind == GRID_SETCOOKIES && e->name_len == 10 &&
                     strncasecmp(e->name, "set-cookie", 10) == 0)
                grid_setcookie(g, e->value, e->value_len);
        }
    }
}

/* The request's path with its query replaced by q (none when q is empty), the fragment
 * kept. */
static void set_query(struct mitm_http_request *rq, const struct mitm_buf *q)
{
    size_t plen = strcspn(rq->path, "?#");
    const char *frag = strchr(rq->path, '#');
    struct mitm_buf p;
    mitm_buf_init(&p, 0);
    mitm_buf_append(&p, rq->path, plen);
    if (q->len) {
        mitm_buf_append(&p, "?", 1);
        mitm_buf_append(&p, mitm_buf_data(q), q->len);
    }
    if (frag)
        mitm_buf_append(&p, frag, strlen(frag));
    mitm_str_set(&rq->path, (const char *)mitm_buf_data(&p), p.len);
    mitm_buf_free(&p);
}

/* Rebuild the flow's part from the rows. Returns 0, or -1 with err set (nothing changed). */
static int grid_apply(const struct con_grid *g, struct mitm_flow *f, char *err, size_t errlen)
{
    struct mitm_http_request *rq = f->request;
    struct mitm_headers *h = g->response ? (f->response ? &f->response->headers : NULL) : &rq->headers;
    if (!h) {
        snprintf(err, errlen, "The flow has no response.");
        return -1;
    }
    if (g->kind == GRID_HEADERS) {
        mitm_headers_free(h);
        mitm_headers_init(h);
        for (size_t i = 0; i < g->n; i++)
            if (g->cells[i][0][0]) /* rows without a name are dropped, as mitmproxy's */
                mitm_headers_add(h, g->cells[i][0], strlen(g->cells[i][0]), g->cells[i][1],
                                 strlen(g->cells[i][1]));
        return 0;
    }
    for (size_t i = 0; i < g->n; i++)
        if (!g->cells[i][0][0]) {
            snprintf(err, errlen, "Row %zu has no name", i + 1);
            return -1;
        }
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    int rc = 0;
    if (g->kind == GRID_QUERY) {
        const char *q = strchr(rq->path, '?');
        encode_pairs(g, q ? q + 1 : "", q ? strcspn(q + 1, "#") : 0, &b);
        set_query(rq, &b);
    } else if (g->kind == GRID_FORM) {
        encode_pairs(g, (const char *)mitm_buf_data(&rq->content), rq->content.len, &b);
        mitm_headers_set(h, "content-type", "application/x-www-form-urlencoded", 33);
        rc = set_body(h, &rq->content, &rq->content_missing, &b, err, errlen);
    } else if (g->kind == GRID_MULTIPART) {
        /* mitmproxy's multipart_form setter: the boundary of a multipart content type, or a
         * new random one */
        size_t tl = 0, bl = 0;
        const char *ct = mitm_headers_get(h, "content-type", &tl);
        if (!ct || tl < 19 || strncasecmp(ct, "multipart/form-data", 19) != 0 ||
            !mitm_content_type_param(ct, tl, "boundary", &bl)) {
            unsigned char rnd[16];
            char nct[96];
            int w = snprintf(nct, sizeof(nct), "multipart/form-data; boundary=--------------------");
            if (getentropy(rnd, sizeof(rnd)) < 0) {
                snprintf(err, errlen, "No randomness for a boundary: %s", strerror(errno));
                mitm_buf_free(&b);
                return -1;
            }
            for (size_t i = 0; i < sizeof(rnd); i++)
                w += snprintf(nct + w, sizeof(nct) - (size_t)w, "%02x", rnd[i]);
            mitm_headers_set(h, "content-type", nct, (size_t)w);
            ct = mitm_headers_get(h, "content-type", &tl);
        }
        struct mitm_kv *kv = mitm_calloc(g->n + 1, sizeof(*kv));
        for (size_t i = 0; i < g->n; i++)
            kv[i] = (struct mitm_kv){g->cells[i][0], g->cells[i][1], strlen(g->cells[i][0]),
                                     strlen(g->cells[i][1])};
        char *ctc = mitm_strndup(ct, tl); /* the header may move when the body is set */
        rc = mitm_multipart_encode(ctc, tl, kv, g->n, &b, err, errlen);
        free(ctc);
        free(kv); /* the cells stay the grid's */
        if (rc == 0)
            rc = set_body(h, &rq->content, &rq->content_missing, &b, err, errlen);
    } else if (g->kind == GRID_COOKIES) {
        for (size_t i = 0; i < g->n; i++) {
            if (i)
                mitm_buf_append(&b, "; ", 2);
            cookie_pair(&b, g, i);
        }
        mitm_headers_set(h, "cookie", (const char *)mitm_buf_data(&b), b.len);
    } else {
        /* one Set-Cookie header a cookie, in the rows' order, after the other headers */
        mitm_headers_remove(h, "set-cookie");
        for (size_t i = 0; i < g->n; i++) {
            b.len = 0;
            cookie_pair(&b, g, i);
            if (g->cells[i][2][0]) {
                mitm_buf_append(&b, "; ", 2);
                mitm_buf_append(&b, g->cells[i][2], strlen(g->cells[i][2]));
            }
            mitm_headers_add(h, "Set-Cookie", 10, (const char *)mitm_buf_data(&b), b.len);
        }
    }
    mitm_buf_free(&b);
    return rc;
}

/* The attributes sub-grid of set-cookies row `row` of g: one row a "Key=Value" (or bare
 * "Key") of the cell's "; "-separated text. */
static void attrs_open(struct console *c, struct con_grid *g, size_t row)
{
    char *text = mitm_strdup(g->cells[row][2]);
    struct con_grid *a = &con_push(c, SCR_GRID)->grid; /* g moves no further: the stack is an array */
    a->kind = GRID_ATTRS;
    a->ncols = 2;
    a->heads[0] = "Key";
    a->heads[1] = "Value";
    a->title = mitm_strdup(grid_titles[GRID_ATTRS]);
    a->parent_row = row;
    snprintf(a->flow_id, sizeof(a->flow_id), "%s", g->flow_id);
    for (char *p = text; *p;) {
        size_t n = strcspn(p, ";");
        char *item = p;
        p += n + (p[n] ? 1 : 0);
        item[n] = 0;
        while (*item == ' ' || *item == '\t')
            item++;
        size_t l = strlen(item);
        while (l && (item[l - 1] == ' ' || item[l - 1] == '\t'))
            item[--l] = 0;
        if (!l)
            continue;
        char *eq = strchr(item, '=');
        grid_push(a, item, eq ? (size_t)(eq - item) : l, eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0, NULL, 0);
    }
    free(text);
}

/* The attributes sub-grid is left: its rows become the parent row's attributes cell. */
static void attrs_commit(struct console *c, struct con_grid *a)
{
    if (c->depth < 2)
        return;
    struct con_screen *below = &c->stack[c->depth - 2];
    if (below->kind != SCR_GRID || below->grid.kind != GRID_SETCOOKIES || a->parent_row >= below->grid.n)
        return;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (size_t i = 0; i < a->n; i++) {
        if (!a->cells[i][0][0])
            continue; /* a row without a key is no attribute */
        if (b.len)
            mitm_buf_append(&b, "; ", 2);
        mitm_buf_append(&b, a->cells[i][0], strlen(a->cells[i][0]));
        if (a->cells[i][1][0]) {
            mitm_buf_append(&b, "=", 1);
            mitm_buf_append(&b, a->cells[i][1], strlen(a->cells[i][1]));
        }
    }
    char **cell = &below->grid.cells[a->parent_row][2];
    free(*cell);
    *cell = mitm_strndup((const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
}

void grid_commit(struct console *c, struct con_grid *g)
{
    if (g->kind == GRID_ATTRS) {
        attrs_commit(c, g);
        return;
    }
    ssize_t idx;
    struct mitm_flow *f = load(c, g->flow_id, &idx);
    if (!f)
        return;
    char err[256];
    if (grid_apply(g, f, err, sizeof(err)) < 0) {
        con_message(c, MITM_ST_ERROR, "%s: nothing changed.", err);
        mitm_flow_unref(f);
        return;
    }
    store(c, idx, f);
}

struct cell_edit {
    size_t row, col;
};

static void cell_done(struct console *c, const char *text, void *arg)
{
    struct cell_edit *ce = arg;
    struct con_screen *s = con_top(c);
    if (s->kind != SCR_GRID || ce->row >= s->grid.n)
        return;
    if (ce->col == 0 && s->grid.kind != GRID_HEADERS && !*text) {
        con_message(c, MITM_ST_ERROR, "A name cannot be empty.");
        return;
    }
    if (ce->col == 0 && s->grid.kind == GRID_HEADERS && strpbrk(text, ": \t\r\n")) {
        con_message(c, MITM_ST_ERROR, "Invalid header name: %s", text);
        return;
    }
    if (strpbrk(text, "\r\n")) {
        con_message(c, MITM_ST_ERROR, "A cell cannot hold line breaks.");
        return;
    }
    free(s->grid.cells[ce->row][ce->col]);
    s->grid.cells[ce->row][ce->col] = mitm_strdup(text);
}

void grid_key(struct console *c, const char *what)
{
    struct con_screen *s = con_top(c);
    struct con_grid *g = &s->grid;
    if (strcmp(what, "add") == 0) {
        size_t at = g->n ? s->cursor + 1 : 0;
        grid_row(g, at);
        s->cursor = at;
        g->col = 0;
    } else if (strcmp(what, "insert") == 0) {
        grid_row(g, g->n ? s->cursor : 0);
        g->col = 0;
    } else if (strcmp(what, "delete") == 0 && g->n) {
        for (size_t k = 0; k < GRID_COLS; k++)
            free(g->cells[s->cursor][k]);
        memmove(&g->cells[s->cursor], &g->cells[s->cursor + 1], (g->n - s->cursor - 1) * sizeof(*g->cells));
        g->n--;
        if (s->cursor >= g->n && g->n)
            s->cursor = g->n - 1;
    } else if (strcmp(what, "left") == 0) {
        g->col = g->col ? g->col - 1 : 0;
    } else if (strcmp(what, "right") == 0) {
        g->col = g->col + 1 < g->ncols ? g->col + 1 : g->col;
    } else if (strcmp(what, "tab") == 0 || strcmp(what, "next") == 0) {
        g->col = (g->col + 1) % g->ncols;
    } else if ((strcmp(what, "enter") == 0 || strcmp(what, "select") == 0) && g->n &&
               g->kind == GRID_SETCOOKIES && g->col == 2) {
        attrs_open(c, g, s->cursor); /* mitmproxy edits the attributes in a subgrid */
    } else if ((strcmp(what, "enter") == 0 || strcmp(what, "select") == 0 || strcmp(what, "editor") == 0) &&
               g->n) {
        struct cell_edit *ce = mitm_calloc(1, sizeof(*ce));
        ce->row = s->cursor;
        ce->col = g->col;
        char label[64];
        snprintf(label, sizeof(label), "%s: ", g->heads[g->col]);
        for (char *p = label; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        prompt_text(c, label, g->cells[s->cursor][g->col], cell_done, ce, free);
    }
    con_dirty(c);
}

/* Python-style escapes (\\n, \\t, \\xNN, \\\\, \\', \\") decoded in place; others kept. */
static void unescape(char *s)
{
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        char e = *++p;
        if (e == 'n')
            *o++ = '\n';
        else if (e == 'r')
            *o++ = '\r';
        else if (e == 't')
            *o++ = '\t';
        else if (e == '\\' || e == '\'' || e == '"')
            *o++ = e;
        else if (e == 'x' && p[1] && p[2] && strchr("0123456789abcdefABCDEF", p[1]) &&
                 strchr("0123456789abcdefABCDEF", p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = '\\';
            *o++ = e;
        }
    }
    *o = 0;
}

int grid_load(struct console *c, const char *path, bool escaped, char *err, size_t errlen)
{
    struct con_screen *s = con_top(c);
    struct con_grid *g = &s->grid;
    if (s->kind != SCR_GRID || !g->n) {
        snprintf(err, errlen, "No cell to load into.");
        return -1;
    }
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (read_file(path, &b) < 0) {
        snprintf(err, errlen, "Could not read %s: %s", path, strerror(errno));
        mitm_buf_free(&b);
        return -1;
    }
    while (b.len && (mitm_buf_data(&b)[b.len - 1] == '\n' || mitm_buf_data(&b)[b.len - 1] == '\r'))
        b.len--;
    char *text = mitm_strndup((const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    if (escaped)
        unescape(text);
    struct cell_edit ce = {s->cursor, g->col};
    cell_done(c, text, &ce);
    free(text);
    return 0;
}

/* One CSV field (RFC 4180 quoting when needed). */
static void csv_field(FILE *fp, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, fp);
        return;
    }
    fputc('"', fp);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            fputc('"', fp);
        fputc(*p, fp);
    }
    fputc('"', fp);
}

int grid_save(struct console *c, const char *path, char *err, size_t errlen)
{
    struct con_screen *s = con_top(c);
    if (s->kind != SCR_GRID) {
        snprintf(err, errlen, "Not in a grid editor.");
        return -1;
    }
    FILE *fp = fopen(path, "w");
    if (!fp) {
        snprintf(err, errlen, "Could not write %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < s->grid.n; i++) {
        for (size_t k = 0; k < s->grid.ncols; k++) {
            if (k)
                fputc(',', fp);
            csv_field(fp, s->grid.cells[i][k]);
        }
        fputs("\r\n", fp);
    }
    if (fclose(fp) != 0) {
        snprintf(err, errlen, "Could not write %s: %s", path, strerror(errno));
        return -1;
    }
    con_message(c, MITM_ST_TEXT, "Saved %zu rows to %s", s->grid.n, path);
    return 0;
}

/* ---- console.edit.focus ---- */

int edit_focus(struct console *c, const char *part, char *err, size_t errlen)
{
    ssize_t idx = mitm_store_view_focus(c->m.view);
    char lerr[256];
    struct mitm_flow *f = idx >= 0 ? mitm_store_get(c->m.store, (size_t)idx, lerr, sizeof(lerr)) : NULL;
    if (!f) {
        snprintf(err, errlen, "No flow selected.");
        return -1;
    }
    int rc = 0;
    bool http = f->type == MITM_FLOW_HTTP && f->request;
    bool need_resp = strcmp(part, "response-headers") == 0 || strcmp(part, "response-body") == 0 ||
                     strcmp(part, "set-cookies") == 0 || strcmp(part, "status_code") == 0 ||
                     strcmp(part, "reason") == 0;
    if (need_resp && http && !f->response) {
        f->response = mitm_http_response_make(200, NULL, NULL);
        f->response->timestamp_start = f->response->timestamp_end = mitm_io_now();
        mitm_master_update_flow(&c->m, (size_t)idx, f);
    }
    if (need_resp && (!http || !f->response)) {
        snprintf(err, errlen, "The flow has no response.");
        rc = -1;
    } else if (strcmp(part, "comment") == 0 ||
               (http &&
                (strcmp(part, "method") == 0 || strcmp(part, "path") == 0 || strcmp(part, "url") == 0 ||
                 strcmp(part, "status_code") == 0 || strcmp(part, "reason") == 0))) {
        prompt_field(c, f, part);
    } else if (http && strcmp(part, "request-headers") == 0) {
        grid_open(c, f, GRID_HEADERS, false);
    } else if (http && strcmp(part, "response-headers") == 0) {
        grid_open(c, f, GRID_HEADERS, true);
    } else if (http && strcmp(part, "query") == 0) {
        grid_open(c, f, GRID_QUERY, false);
    } else if (http && strcmp(part, "urlencoded form") == 0) {
        grid_open(c, f, GRID_FORM, false);
    } else if (http && strcmp(part, "multipart form") == 0) {
        grid_open(c, f, GRID_MULTIPART, false);
    } else if (http && strcmp(part, "cookies") == 0) {
        grid_open(c, f, GRID_COOKIES, false);
    } else if (http && strcmp(part, "set-cookies") == 0) {
        grid_open(c, f, GRID_SETCOOKIES, true);
    } else if (http && (strcmp(part, "request-body") == 0 || strcmp(part, "response-body") == 0)) {
        edit_body(c, f, idx, part[2] == 's');
    } else {
        snprintf(err, errlen, "Cannot edit %s here.", part);
        rc = -1;
    }
    mitm_flow_unref(f);
    return rc;
}
