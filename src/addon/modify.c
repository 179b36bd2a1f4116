/* modify_headers and modify_body: see modify.h. */
#include "addon/modify.h"
#include "addon/httputil.h"
#include "addon/pyre.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/encoding.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>

struct modify_spec {
    struct mitm_filter *filter; /* NULL: every flow */
    struct mitm_buf subject;    /* unescaped: header name, or the regex source */
    struct mitm_buf value;      /* the replacement bytes */
    struct mitm_pyre *re;       /* modify_body */
    struct mitm_pytemplate *tpl;
};

struct mitm_modify {
    struct modify_spec *v;
    size_t n;
};

static void spec_clear(struct modify_spec *s)
{
    mitm_filter_free(s->filter);
    mitm_buf_free(&s->subject);
    mitm_buf_free(&s->value);
    mitm_pyre_free(s->re);
    mitm_pytemplate_free(s->tpl);
}

void mitm_modify_free(struct mitm_modify *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        spec_clear(&m->v[i]);
    free(m->v);
    free(m);
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_token(const uint8_t *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] > 0x20 && s[i] < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", s[i])))
            return false;
    return true;
}

/* parse_modify_spec(): filter, subject, regex (body), replacement, in mitmproxy's order. */
static int parse_one(const char *option, bool body, size_t cap, struct modify_spec *s, char *err,
                     size_t errlen)
{
    struct mitm_slice subj, repl;
    char why[512];
    struct mitm_buf r;
    mitm_buf_init(&r, 0);
    if (mitm_spec_parse(option, &s->filter, &subj, &repl, err, errlen) < 0)
        return -1;
    if (mitm_py_unescape((const char *)subj.base, subj.len, &s->subject, err, errlen) < 0)
        return -1;
    if (body && !(s->re = mitm_pyre_compile(mitm_buf_data(&s->subject), s->subject.len,
                                            MITM_PYRE_BYTES | MITM_PYRE_DOTALL, why, sizeof(why)))) {
        mitm_py_repr(mitm_buf_data(&s->subject), s->subject.len, true, &r);
        mitm_errf(err, errlen, "Invalid regular expression %.*s (%s)", (int)r.len,
                  (const char *)mitm_buf_data(&r), why);
        mitm_buf_free(&r);
        return -1;
    }
    if (repl.len && repl.base[0] == '@') {
        char *path = mitm_strndup((const char *)repl.base + 1, repl.len - 1);
        int rc = mitm_spec_read_file(path, cap, &s->value, why, sizeof(why));
        if (rc < 0)
            mitm_errf(err, errlen, "Invalid file path: %s (%s)", path, why);
        free(path);
        if (rc < 0)
            return -1;
    } else if (mitm_py_unescape((const char *)repl.base, repl.len, &s->value, err, errlen) < 0) {
        return -1;
    }
    if (body)
        s->tpl = mitm_pytemplate_literal(mitm_buf_data(&s->value), s->value.len);
    return 0;
}

/* mitmc's header checks: what cannot be sent in an HTTP/1 head is refused at start. */
static int check_header(struct modify_spec *s, bool from_file, char *err, size_t errlen)
{
    if (!is_token(mitm_buf_data(&s->subject), s->subject.len)) {
        mitm_errf(err, errlen, "Invalid header name: not an HTTP token");
        return -1;
    }
    const uint8_t *v = mitm_buf_data(&s->value);
    if (from_file && s->value.len && v[s->value.len - 1] == '\n')
        s->value.len -= s->value.len >= 2 && v[s->value.len - 2] == '\r' ? 2 : 1;
    if (memchr(v, '\r', s->value.len) || memchr(v, '\n', s->value.len) || memchr(v, 0, s->value.len)) {
        mitm_errf(err, errlen, "Invalid header value: holds CR, LF or NUL");
        return -1;
    }
    return 0;
}

int mitm_modify_configure(const struct mitm_options *o, bool body, struct mitm_modify **out, char *err,
                          size_t errlen)
{
    const struct mitm_strvec *opt = body ? &o->modify_body : &o->modify_headers;
    const char *name = body ? "modify_body" : "modify_headers";
    *out = NULL;
    if (!opt->n)
        return 0;
    struct mitm_modify *m = mitm_calloc(1, sizeof(*m));
    m->v = mitm_calloc(opt->n, sizeof(*m->v));
    size_t cap = mitm_spec_file_cap(o);
    for (size_t i = 0; i < opt->n; i++) {
        struct modify_spec *s = &m->v[m->n++];
        mitm_buf_init(&s->subject, 0);
        mitm_buf_init(&s->value, 0);
        char why[1024];
        const char *spec = opt->v[i];
        int rc = parse_one(spec, body, cap, s, why, sizeof(why));
        if (rc == 0 && !body) {
            struct mitm_slice parts[3];
            size_t np = mitm_spec_split(spec, parts);
            rc = check_header(s, parts[np - 1].len && parts[np - 1].base[0] == '@', why, sizeof(why));
        }
        if (rc < 0) {
            mitm_errf(err, errlen, "Cannot parse %s option %s: %s", name, spec, why);
            mitm_modify_free(m);
            return -1;
        }
    }
    if (body && mitm_options_size(o->stream_large_bodies) >= 0)
        mitm_log(
            MITM_LOG_ALERT, NULL,
            "Both modify_body and stream_large_bodies are active. Streamed bodies will not be modified.");
    *out = m;
    return 0;
}

/* ---- modify_headers ---- */

#define MAX_SPECS_ON_STACK 64

static void run_headers(const struct mitm_modify *m, const struct mitm_flow *f, struct mitm_headers *h)
{
    bool stack[MAX_SPECS_ON_STACK];
    bool *match = m->n <= MAX_SPECS_ON_STACK ? stack : mitm_calloc(m->n, sizeof(bool));
    /* every filter sees the flow as it was before this run */
    for (size_t i = 0; i < m->n; i++)
        match[i] = !m->v[i].filter || mitm_filter_match(m->v[i].filter, f);
    for (size_t i = 0; i < m->n; i++) {
        if (!match[i])
            continue;
        char *name = mitm_strndup((const char *)mitm_buf_data(&m->v[i].subject), m->v[i].subject.len);
        mitm_headers_remove(h, name);
        free(name);
    }
    for (size_t i = 0; i < m->n; i++)
        if (match[i] && m->v[i].value.len)
            mitm_headers_add(h, (const char *)mitm_buf_data(&m->v[i].subject), m->v[i].subject.len,
                             (const char *)mitm_buf_data(&m->v[i].value), m->v[i].value.len);
    if (match != stack)
        free(match);
}

/* A response no server sent (an addon made it in the request hooks). */
static bool made_locally(const struct mitm_flow *f)
{
    return !f->server_conn.peer_host && f->server_conn.timestamp_start == 0;
}

static void headers_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)env;
    struct mitm_modify *m = state;
    struct mitm_flow *f = arg;
    if (!m || !f->request || mitm_addon_flow_dead(f))
        return;
    if (h == MITM_HOOK_REQUESTHEADERS && !f->response)
        run_headers(m, f, &f->request->headers);
    else if (h == MITM_HOOK_RESPONSEHEADERS && f->response)
        run_headers(m, f, &f->response->headers);
    else if (h == MITM_HOOK_RESPONSE && f->response && made_locally(f))
        run_headers(m, f, &f->response->headers); /* the responseheaders run mitmproxy emulates */
}

const struct mitm_addon mitm_addon_modifyheaders = {"modifyheaders", headers_hook};

/* ---- modify_body ---- */

/* Content-Encoding joined as Headers.get does, NUL-terminated in out; false if absent. */
static bool content_encoding(const struct mitm_headers *h, struct mitm_buf *out)
{
    if (!mitm_addon_header_joined(h, "content-encoding", out))
        return false;
    mitm_buf_append(out, "", 1);
    return true;
}

/* message.content = new (mitmproxy's set_content): encoded again with the message's
 * Content-Encoding (dropped if that fails), then Content-Length unless Transfer-Encoding. */
static void set_content(struct mitm_headers *h, struct mitm_buf *content, const struct mitm_buf *plain,
                        const char *ce, size_t cap)
{
    struct mitm_buf enc;
    mitm_buf_init(&enc, 0);
    if (ce && mitm_encode(ce, mitm_buf_data(plain), plain->len, cap, &enc, NULL, 0) < 0) {
        mitm_headers_remove(h, "content-encoding");
        ce = NULL;
    }
    mitm_buf_free(content);
    mitm_buf_init(content, 0);
    if (ce)
        mitm_buf_append(content, mitm_buf_data(&enc), enc.len);
    else
        mitm_buf_append(content, mitm_buf_data(plain), plain->len);
    mitm_buf_free(&enc);
    if (mitm_headers_find(h, "transfer-encoding", 0) < 0) {
        char cl[32];
        int k = snprintf(cl, sizeof(cl), "%zu", content->len);
        mitm_headers_set(h, "content-length", cl, (size_t)k);
    }
}

/* One spec on one message body. */
static void replace_body(const struct modify_spec *s, struct mitm_headers *h, struct mitm_buf *content,
                         size_t cap, const struct mitm_hook_env *env)
{
    struct mitm_buf ceb, dec, out;
    mitm_buf_init(&ceb, 0);
    mitm_buf_init(&dec, 0);
    mitm_buf_init(&out, cap);
    char why[256];
    const char *ce = content_encoding(h, &ceb) ? (const char *)mitm_buf_data(&ceb) : NULL;
    struct mitm_slice plain = mitm_buf_slice(content);
    if (ce && mitm_decode(ce, plain.base, plain.len, cap, &dec, why, sizeof(why)) < 0) {
        mitm_hook_log(env, MITM_LOG_WARN, "modify_body: cannot decode the body (%s): left unmodified", why);
        goto Exit;
    }
    if (ce)
        plain = mitm_buf_slice(&dec);
    long n = mitm_pyre_sub(s->re, s->tpl, plain.base, plain.len, &out);
    if (n < 0)
        mitm_hook_log(env, MITM_LOG_WARN,
                      "modify_body: regex match limit or body_buffer_limit hit: left unmodified");
    else if (n > 0)
        set_content(h, content, &out, ce, cap);
Exit:
    mitm_buf_free(&ceb);
    mitm_buf_free(&dec);
    mitm_buf_free(&out);
}

static void run_body(const struct mitm_modify *m, struct mitm_flow *f, const struct mitm_hook_env *env)
{
    size_t cap = mitm_spec_file_cap(env->opts);
    for (size_t i = 0; i < m->n; i++) {
        const struct modify_spec *s = &m->v[i];
        if (s->filter && !mitm_filter_match(s->filter, f))
            continue;
        struct mitm_headers *h = f->response ? &f->response->headers : &f->request->headers;
        struct mitm_buf *c = f->response ? &f->response->content : &f->request->content;
        bool streamed = f->response ? f->response->content_missing || f->response->stream
                                    : f->request->content_missing || f->request->stream;
        if (streamed) {
            mitm_hook_log(env, MITM_LOG_WARN, "modify_body: the %s body was streamed and is not modified",
                          f->response ? "response" : "request");
            return;
        }
        replace_body(s, h, c, cap, env);
    }
}

static void body_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_modify *m = state;
    struct mitm_flow *f = arg;
    if (!m || !f->request || mitm_addon_flow_dead(f))
        return;
    if ((h == MITM_HOOK_REQUEST && !f->response) || (h == MITM_HOOK_RESPONSE && f->response))
        run_body(m, f, env);
}

const struct mitm_addon mitm_addon_modifybody = {"modifybody", body_hook};
