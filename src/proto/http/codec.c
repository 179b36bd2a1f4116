/* What the codecs share: the proxy's own error page, shaped by the codec it goes out on. */
#include "proto/http/codec.h"
#include "base/alloc.h"
#include "proto/http/http.h"

#include <stdio.h>
#include <string.h>

static void html_escape(struct mitm_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            mitm_buf_append(b, "&lt;", 4);
            break;
        case '>':
            mitm_buf_append(b, "&gt;", 4);
            break;
        case '&':
            mitm_buf_append(b, "&amp;", 5);
            break;
        case '"':
            mitm_buf_append(b, "&quot;", 6);
            break;
        case '\'':
            mitm_buf_append(b, "&#x27;", 6);
            break;
        default:
            mitm_buf_append(b, s, 1);
        }
    }
}

struct mitm_http_response *mitm_http_codec_error_response(const struct mitm_http_codec *c, int status,
                                                          const char *message)
{
    struct mitm_buf body;
    mitm_buf_init(&body, 0);
    const char *reason = mitm_http_reason(status);
    mitm_buf_printf(&body,
                    "<html>\n<head>\n    <title>%d %s</title>\n</head>\n<body>\n    <h1>%d %s</h1>\n    <p>",
                    status, reason, status, reason);
    html_escape(&body, message);
    mitm_buf_printf(&body, "</p>\n</body>\n</html>\n");
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup(c->vt->version);
    r->status_code = status;
    r->reason = mitm_strdup(reason);
    mitm_headers_add(&r->headers, "Server", 6, "mitmc/" MITM_VERSION, strlen("mitmc/" MITM_VERSION));
    if (c->vt->decorate_error)
        c->vt->decorate_error(r);
    mitm_headers_add(&r->headers, "Content-Type", 12, "text/html", 9);
    char cl[32];
    int n = snprintf(cl, sizeof(cl), "%zu", body.len);
    mitm_headers_add(&r->headers, "Content-Length", 14, cl, (size_t)n);
    r->content = body;
    return r;
}
