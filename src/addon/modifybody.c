/* modify_body (-B): see modify.h. */
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
    if (!m || (h != MITM_HOOK_REQUEST && h != MITM_HOOK_RESPONSE))
        return; /* other hooks carry other payloads than a flow */
    struct mitm_flow *f = arg;
    if (!f->request || mitm_addon_flow_dead(f))
        return;
    if ((h == MITM_HOOK_REQUEST && !f->response) || (h == MITM_HOOK_RESPONSE && f->response))
        run_body(m, f, env);
}

const struct mitm_addon mitm_addon_modifybody = {"modifybody", body_hook};
