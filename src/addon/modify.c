/* The specs of modify_headers and modify_body (mitmproxy's parse_modify_spec): see modify.h. */
#include "addon/modify.h"
#include "addon/modify-int.h"
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
