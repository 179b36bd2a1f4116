/* flow.request and flow.response (mitmproxy's http.Request / http.Response): the first
 * line, headers, bodies (raw, decoded per Content-Encoding, as text per charset, as JSON),
 * trailers, and mitm.response() for answering from a script. */
#include "script/script-int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "flow/encoding.h"
#include "flow/export.h"
#include "flow/flow-t.h"
#include "proto/http/http.h"

int script_json_push(lua_State *L, const char *s, size_t n); /* json.c */

/* ---- resolving boxes ---- */

struct mitm_http_request *bind_request(lua_State *L, struct mbox *m)
{
    struct box *fb = m->b.p;
    if (!fb || !fb->p)
        luaL_error(L, "request used after its flow's hook returned");
    struct mitm_http_request *r = ((struct mitm_flow *)fb->p)->request;
    if (!r)
        luaL_error(L, "the flow has no request");
    return r;
}

struct mitm_http_response *bind_response(lua_State *L, struct mbox *m)
{
    if (m->own)
        return m->own;
    struct box *fb = m->b.p;
    if (!fb || !fb->p)
        luaL_error(L, "response used after its flow's hook returned");
    struct mitm_http_response *r = ((struct mitm_flow *)fb->p)->response;
    if (!r)
        luaL_error(L, "the flow has no response (any more)");
    return r;
}

static struct mbox *check_req_box(lua_State *L)
{
    return bind_check(L, 1, CLS_REQUEST);
}

static struct mitm_http_request *check_req(lua_State *L)
{
    return bind_request(L, check_req_box(L));
}

static struct mitm_http_response *check_resp(lua_State *L)
{
    return bind_response(L, bind_check(L, 1, CLS_RESPONSE));
}

/* The parts of a message the body operations need. */
struct msg {
    struct mitm_headers *headers;
    struct mitm_buf *content;
    bool *missing;
    struct mitm_headers **trailers;
    bool *stream;
    double *timestamp_start, *timestamp_end;
};

static struct msg check_msg(lua_State *L)
{
    struct mbox *m = bind_test(L, 1, CLS_REQUEST);
    if (!m)
        m = bind_check(L, 1, CLS_RESPONSE);
    if (m->request) {
        struct mitm_http_request *r = bind_request(L, m);
        return (struct msg){&r->headers, &r->content,         &r->content_missing, &r->trailers,
                            &r->stream,  &r->timestamp_start, &r->timestamp_end};
    }
    struct mitm_http_response *r = bind_response(L, m);
    return (struct msg){&r->headers, &r->content,         &r->content_missing, &r->trailers,
                        &r->stream,  &r->timestamp_start, &r->timestamp_end};
}

static void set_str(lua_State *L, char **field, int idx, const char *what, enum text_kind kind)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    bind_check_text(L, s, n, what, kind);
    mitm_str_set(field, s, n);
}

/* ---- bodies ---- */

/* Content-Length follows the body unless Transfer-Encoding frames it (mitmproxy's
 * Message.set_content). */
static void update_length(struct msg *m)
{
    if (mitm_headers_get(m->headers, "transfer-encoding", NULL))
        return;
    char cl[32];
    int n = snprintf(cl, sizeof(cl), "%zu", m->content->len);
    mitm_headers_set(m->headers, "Content-Length", cl, (size_t)n);
}

static void set_raw(struct msg *m, const uint8_t *p, size_t n)
{
    mitm_buf_free(m->content);
    mitm_buf_init(m->content, 0);
    mitm_buf_append(m->content, p, n);
    *m->missing = false;
}

/* All Content-Encoding values joined, as mitmproxy's headers.get does; NULL if none. */
static char *content_encoding(const struct mitm_headers *h)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (long i = mitm_headers_find(h, "content-encoding", 0); i >= 0;
         i = mitm_headers_find(h, "content-encoding", (size_t)i + 1))
        mitm_buf_printf(&b, "%s%.*s", b.len ? ", " : "", (int)h->v[i].value_len, h->v[i].value);
    if (!b.len) {
        mitm_buf_free(&b);
        return NULL;
    }
    size_t n;
    return (char *)mitm_buf_steal(&b, &n);
}

/* Message.set_content: encode per Content-Encoding; an encoding we cannot apply is
 * removed and the bytes are kept as they are. */
static void set_content(struct msg *m, const uint8_t *p, size_t n)
{
    char *ce = content_encoding(m->headers);
    struct mitm_buf enc;
    mitm_buf_init(&enc, 0);
    if (ce && mitm_encode(ce, p, n, SCRIPT_DECODE_CAP, &enc, NULL, 0) == 0) {
        set_raw(m, mitm_buf_data(&enc), enc.len);
    } else {
        if (ce)
            mitm_headers_remove(m->headers, "content-encoding");
        set_raw(m, p, n);
    }
    mitm_buf_free(&enc);
    free(ce);
    update_length(m);
}

static int push_content(lua_State *L, struct msg *m)
{
    if (*m->missing) {
        lua_pushnil(L);
        return 1;
    }
    struct mitm_buf storage;
    mitm_buf_init(&storage, 0);
    struct mitm_slice body;
    mitm_encoding_message_content(m->headers, m->content, false, SCRIPT_DECODE_CAP, &storage, &body);
    lua_pushlstring(L, (const char *)body.base, body.len);
    mitm_buf_free(&storage);
    return 1;
}

/* The charset of the body (mitmproxy's infer_content_encoding, without sniffing <meta>):
 * the Content-Type charset; UTF-8 for JSON, HTML, XML and CSS; else Latin-1. */
static enum mitm_charset charset(const struct mitm_headers *h)
{
    size_t n = 0;
    const char *ct = mitm_headers_get(h, "content-type", &n);
    char tmp[256] = "";
    if (ct)
        snprintf(tmp, sizeof(tmp), "%.*s", (int)n, ct);
    bool utf8 = strcasestr(tmp, "json") || strcasestr(tmp, "html") || strcasestr(tmp, "xml") ||
                strcasestr(tmp, "css");
    return mitm_charset_of(ct, ct ? n : 0, utf8 ? MITM_CHARSET_UTF8 : MITM_CHARSET_LATIN1);
}

static int push_text(lua_State *L, struct msg *m)
{
    if (*m->missing) {
        lua_pushnil(L);
        return 1;
    }
    struct mitm_buf storage, text;
    mitm_buf_init(&storage, 0);
    mitm_buf_init(&text, 0);
    struct mitm_slice body;
    mitm_encoding_message_content(m->headers, m->content, false, SCRIPT_DECODE_CAP, &storage, &body);
    enum mitm_charset cs = charset(m->headers);
    const uint8_t *p = body.base;
    size_t n = body.len;
    if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) { /* utf-8-sig */
        p += 3;
        n -= 3;
        cs = MITM_CHARSET_UTF8;
    }
    if (mitm_charset_decode(cs == MITM_CHARSET_OTHER ? MITM_CHARSET_UTF8 : cs, p, n, &text) == 0)
        lua_pushlstring(L, (const char *)mitm_buf_data(&text), text.len);
    else /* not valid in its charset: the bytes as they are (mitmproxy's strict=False) */
        lua_pushlstring(L, (const char *)p, n);
    mitm_buf_free(&text);
    mitm_buf_free(&storage);
    return 1;
}

/* charset=utf-8 into the Content-Type (text/plain when there is none), as set_text's
 * fallback does. */
static void set_utf8_charset(struct mitm_headers *h)
{
    size_t n = 0, vl = 0;
    const char *ct = mitm_headers_get(h, "content-type", &n);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    const char *v = ct ? mitm_content_type_param(ct, n, "charset", &vl) : NULL;
    if (!ct) {
        mitm_buf_printf(&b, "text/plain; charset=utf-8");
    } else if (v) {
        size_t start = (size_t)(v - ct), end = start + vl;
        if (start > 0 && ct[start - 1] == '"' && end < n && ct[end] == '"') {
            start--;
            end++;
        }
        mitm_buf_printf(&b, "%.*sutf-8%.*s", (int)start, ct, (int)(n - end), ct + end);
    } else {
        mitm_buf_printf(&b, "%.*s; charset=utf-8", (int)n, ct);
    }
    mitm_headers_set(h, "Content-Type", (const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
}

static void set_text(lua_State *L, struct msg *m, int idx)
{
    if (lua_isnil(L, idx)) {
        mitm_buf_free(m->content);
        *m->missing = true;
        return;
    }
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    enum mitm_charset cs = charset(m->headers);
    struct mitm_buf enc;
    mitm_buf_init(&enc, 0);
    if (cs == MITM_CHARSET_UTF8 || cs == MITM_CHARSET_OTHER) {
        set_content(m, (const uint8_t *)s, n);
    } else if (mitm_charset_encode(cs, (const uint8_t *)s, n, &enc) == 0) {
        set_content(m, mitm_buf_data(&enc), enc.len);
    } else {
        set_utf8_charset(m->headers);
        set_content(m, (const uint8_t *)s, n);
    }
    mitm_buf_free(&enc);
}

static int m_content(lua_State *L)
{
    struct msg m = check_msg(L);
    return push_content(L, &m);
}

static int m_set_content(lua_State *L)
{
    struct msg m = check_msg(L);
    if (lua_isnil(L, 2)) {
        mitm_buf_free(m.content);
        *m.missing = true;
        return 0;
    }
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    set_content(&m, (const uint8_t *)s, n);
    return 0;
}

static int m_raw_content(lua_State *L)
{
    struct msg m = check_msg(L);
    if (*m.missing)
        lua_pushnil(L);
    else
        lua_pushlstring(L, (const char *)mitm_buf_data(m.content), m.content->len);
    return 1;
}

/* mitmc keeps Content-Length right here too (mitmproxy leaves it to the caller). */
static int m_set_raw_content(lua_State *L)
{
    struct msg m = check_msg(L);
    if (lua_isnil(L, 2)) {
        mitm_buf_free(m.content);
        *m.missing = true;
        return 0;
    }
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    set_raw(&m, (const uint8_t *)s, n);
    if (mitm_headers_get(m.headers, "content-length", NULL))
        update_length(&m);
    return 0;
}

static int m_text(lua_State *L)
{
    struct msg m = check_msg(L);
    return push_text(L, &m);
}

static int m_set_text(lua_State *L)
{
    struct msg m = check_msg(L);
    set_text(L, &m, 2);
    return 0;
}

static int m_json(lua_State *L)
{
    struct msg m = check_msg(L);
    if (*m.missing)
        return luaL_error(L, "message content is not available (streamed)");
    struct mitm_buf storage;
    mitm_buf_init(&storage, 0);
    struct mitm_slice body;
    mitm_encoding_message_content(m.headers, m.content, false, SCRIPT_DECODE_CAP, &storage, &body);
    /* copy into Lua first: the JSON error path raises */
    lua_pushlstring(L, (const char *)body.base, body.len);
    mitm_buf_free(&storage);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    return script_json_push(L, s, n);
}

/* message:decode(): decode the body per Content-Encoding and drop the header. */
static int m_decode(lua_State *L)
{
    struct msg m = check_msg(L);
    if (*m.missing || !m.content->len)
        return 0;
    push_content(L, &m);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    mitm_headers_remove(m.headers, "content-encoding");
    set_content(&m, (const uint8_t *)s, n);
    return 0;
}

/* message:encode(e): set Content-Encoding e and encode the body with it. */
static int m_encode(lua_State *L)
{
    struct msg m = check_msg(L);
    size_t n;
    const char *e = luaL_checklstring(L, 2, &n);
    bind_check_text(L, e, n, "content encoding", TEXT_VALUE);
    struct mitm_buf enc;
    mitm_buf_init(&enc, 0);
    char err[128];
    if (mitm_encode(e, mitm_buf_data(m.content), m.content->len, SCRIPT_DECODE_CAP, &enc, err, sizeof(err)) <
        0) {
        mitm_buf_free(&enc);
        return luaL_error(L, "invalid content encoding %s: %s", e, err);
    }
    mitm_headers_set(m.headers, "Content-Encoding", e, n);
    set_raw(&m, mitm_buf_data(&enc), enc.len);
    mitm_buf_free(&enc);
    update_length(&m);
    return 0;
}

static int m_headers(lua_State *L)
{
    check_msg(L);
    bind_push_headers(L, 1, false);
    return 1;
}

static int m_set_headers(lua_State *L)
{
    struct msg m = check_msg(L);
    bind_headers_from(L, 2, m.headers);
    return 0;
}

static int m_trailers(lua_State *L)
{
    struct msg m = check_msg(L);
    if (!*m.trailers) {
        lua_pushnil(L);
        return 1;
    }
    bind_push_headers(L, 1, true);
    return 1;
}

static int m_set_trailers(lua_State *L)
{
    struct msg m = check_msg(L);
    if (lua_isnil(L, 2)) {
        if (*m.trailers) {
            mitm_headers_free(*m.trailers);
            free(*m.trailers);
            *m.trailers = NULL;
        }
        return 0;
    }
    struct mitm_headers h;
    mitm_headers_init(&h);
    bind_headers_from(L, 2, &h); /* raises before anything changed */
    if (!*m.trailers) {
        *m.trailers = mitm_calloc(1, sizeof(**m.trailers));
        mitm_headers_init(*m.trailers);
    }
    mitm_headers_free(*m.trailers);
    **m.trailers = h;
    return 0;
}

static int m_stream(lua_State *L)
{
    lua_pushboolean(L, *check_msg(L).stream);
    return 1;
}

static int m_set_stream(lua_State *L)
{
    *check_msg(L).stream = lua_toboolean(L, 2);
    return 0;
}

static int m_timestamp_start(lua_State *L)
{
    lua_pushnumber(L, *check_msg(L).timestamp_start);
    return 1;
}

static int m_timestamp_end(lua_State *L)
{
    double t = *check_msg(L).timestamp_end;
    if (t)
        lua_pushnumber(L, t);
    else
        lua_pushnil(L);
    return 1;
}

/* ---- request ---- */

static int q_method(lua_State *L)
{
    lua_pushstring(L, check_req(L)->method);
    return 1;
}

static int q_set_method(lua_State *L)
{
    set_str(L, &check_req(L)->method, 2, "method", TEXT_TOKEN);
    return 0;
}

static int q_scheme(lua_State *L)
{
    lua_pushstring(L, check_req(L)->scheme ? check_req(L)->scheme : "http");
    return 1;
}

static int q_set_scheme(lua_State *L)
{
    set_str(L, &check_req(L)->scheme, 2, "scheme", TEXT_TOKEN);
    return 0;
}

static bool is_default_port(const char *scheme, unsigned port)
{
    return (port == 80 && scheme && strcmp(scheme, "http") == 0) ||
           (port == 443 && scheme && strcmp(scheme, "https") == 0);
}

/* mitmproxy's _update_host_and_authority: a Host header and an authority that are there
 * follow host and port (hostport: the port left out when it is the scheme's default). */
static void update_host(struct mitm_http_request *r)
{
    char hp[512];
    bool v6 = r->host && strchr(r->host, ':');
    if (is_default_port(r->scheme, r->port))
        snprintf(hp, sizeof(hp), "%s%s%s", v6 ? "[" : "", r->host ? r->host : "", v6 ? "]" : "");
    else
        snprintf(hp, sizeof(hp), "%s%s%s:%u", v6 ? "[" : "", r->host ? r->host : "", v6 ? "]" : "", r->port);
    if (mitm_headers_get(&r->headers, "host", NULL))
        mitm_headers_set(&r->headers, "Host", hp, strlen(hp));
    if (r->authority && *r->authority)
        mitm_str_set(&r->authority, hp, strlen(hp));
}

static int q_host(lua_State *L)
{
    lua_pushstring(L, check_req(L)->host ? check_req(L)->host : "");
    return 1;
}

static int q_set_host(lua_State *L)
{
    struct mitm_http_request *r = check_req(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    bind_check_text(L, s, n, "host", TEXT_WORD);
    if (n >= 400)
        return luaL_error(L, "invalid host: too long");
    mitm_str_set(&r->host, s, n);
    update_host(r);
    return 0;
}

static int q_port(lua_State *L)
{
    lua_pushinteger(L, check_req(L)->port);
    return 1;
}

static int q_set_port(lua_State *L)
{
    struct mitm_http_request *r = check_req(L);
    lua_Integer p = luaL_checkinteger(L, 2);
    if (p < 1 || p > 65535)
        return luaL_error(L, "invalid port: %d", (int)p);
    r->port = (uint16_t)p;
    update_host(r);
    return 0;
}

static int q_path(lua_State *L)
{
    lua_pushstring(L, check_req(L)->path ? check_req(L)->path : "");
    return 1;
}

static int q_set_path(lua_State *L)
{
    set_str(L, &check_req(L)->path, 2, "path", TEXT_WORD);
    return 0;
}

static int q_http_version(lua_State *L)
{
    lua_pushstring(L, check_req(L)->http_version ? check_req(L)->http_version : "HTTP/1.1");
    return 1;
}

static int q_set_http_version(lua_State *L)
{
    set_str(L, &check_req(L)->http_version, 2, "http_version", TEXT_WORD);
    return 0;
}

static int q_url(lua_State *L)
{
    const struct mitm_http_request *r = check_req(L);
    size_t cap = (r->host ? strlen(r->host) : 0) + (r->path ? strlen(r->path) : 0) + 64;
    char *out = mitm_alloc(cap);
    mitm_http_request_url(r, false, out, cap);
    lua_pushstring(L, out);
    free(out);
    return 1;
}

/* mitmproxy's url.parse: scheme://host[:port][path]; the port defaults to the scheme's, the
 * path to "/". Raises on anything else. */
static int q_set_url(lua_State *L)
{
    struct mitm_http_request *r = check_req(L);
    size_t n;
    const char *u = luaL_checklstring(L, 2, &n);
    bind_check_text(L, u, n, "url", TEXT_WORD);
    const char *sep = strstr(u, "://");
    if (!sep || sep == u)
        return luaL_error(L, "invalid url: %s (no scheme)", u);
    const char *auth = sep + 3, *end = auth + strcspn(auth, "/?#");
    const char *hb = auth, *he, *pp = NULL;
    if (*auth == '[') {
        hb = auth + 1;
        he = memchr(hb, ']', (size_t)(end - hb));
        if (!he)
            return luaL_error(L, "invalid url: %s (unclosed [)", u);
        pp = he + 1 < end && he[1] == ':' ? he + 2 : NULL;
    } else {
        const char *colon = memchr(auth, ':', (size_t)(end - auth));
        he = colon ? colon : end;
        pp = colon ? colon + 1 : NULL;
    }
    if (he == hb)
        return luaL_error(L, "invalid url: %s (no host)", u);
    long port = strncmp(u, "https", 5) == 0 && sep == u + 5 ? 443 : 80;
    if (pp) {
        char *e;
        port = strtol(pp, &e, 10);
        if (e != end || port < 1 || port > 65535)
            return luaL_error(L, "invalid url: %s (bad port)", u);
    }
    mitm_str_set(&r->scheme, u, (size_t)(sep - u));
    mitm_str_set(&r->host, hb, (size_t)(he - hb));
    r->port = (uint16_t)port;
    if (*end == '/')
        mitm_str_set(&r->path, end, strlen(end));
    else {
        size_t rl = strlen(end);
        char *p = mitm_alloc(rl + 2);
        p[0] = '/';
        memcpy(p + 1, end, rl + 1);
        free(r->path);
        r->path = p;
    }
    update_host(r);
    return 0;
}

static int q_pretty_url(lua_State *L)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_export_pretty_url(check_req(L), &b);
    lua_pushlstring(L, (const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    return 1;
}

static int q_pretty_host(lua_State *L)
{
    char out[512];
    mitm_export_pretty_host(check_req(L), out, sizeof(out));
    lua_pushstring(L, out);
    return 1;
}

static int q_host_header(lua_State *L)
{
    const struct mitm_http_request *r = check_req(L);
    bool h2 = r->http_version &&
              (strncmp(r->http_version, "HTTP/2", 6) == 0 || strncmp(r->http_version, "HTTP/3", 6) == 0);
    size_t n;
    const char *v = mitm_headers_get(&r->headers, "host", &n);
    if (h2 && r->authority && *r->authority)
        lua_pushstring(L, r->authority);
    else if (v)
        lua_pushlstring(L, v, n);
    else
        lua_pushnil(L);
    return 1;
}

static int q_authority(lua_State *L)
{
    lua_pushstring(L, check_req(L)->authority ? check_req(L)->authority : "");
    return 1;
}

static int q_query(lua_State *L)
{
    check_req(L);
    bind_push_query(L, 1);
    return 1;
}

static int q_set_query(lua_State *L)
{
    check_req(L);
    bind_push_query(L, 1);
    lua_getfield(L, -1, "replace");
    lua_pushvalue(L, -2);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 0);
    return 0;
}

static int q_tostring(lua_State *L)
{
    struct mbox *m = check_req_box(L);
    struct box *fb = m->b.p;
    if (!fb || !fb->p || !((struct mitm_flow *)fb->p)->request) {
        lua_pushstring(L, "<request (its hook returned)>");
        return 1;
    }
    q_url(L);
    lua_pushfstring(L, "<request %s %s>", check_req(L)->method, lua_tostring(L, -1));
    return 1;
}

static const struct prop request_props[] = {
    {"method", q_method, q_set_method},
    {"scheme", q_scheme, q_set_scheme},
    {"host", q_host, q_set_host},
    {"port", q_port, q_set_port},
    {"path", q_path, q_set_path},
    {"url", q_url, q_set_url},
    {"pretty_url", q_pretty_url, NULL},
    {"pretty_host", q_pretty_host, NULL},
    {"host_header", q_host_header, NULL},
    {"authority", q_authority, NULL},
    {"http_version", q_http_version, q_set_http_version},
    {"headers", m_headers, m_set_headers},
    {"trailers", m_trailers, m_set_trailers},
    {"query", q_query, q_set_query},
    {"content", m_content, m_set_content},
    {"raw_content", m_raw_content, m_set_raw_content},
    {"text", m_text, m_set_text},
    {"stream", m_stream, m_set_stream},
    {"timestamp_start", m_timestamp_start, NULL},
    {"timestamp_end", m_timestamp_end, NULL},
    {NULL, NULL, NULL},
};

static const luaL_Reg message_methods[] = {
    {"json", m_json},           {"set_text", m_set_text},
    {"get_text", m_text},       {"set_content", m_set_content},
    {"get_content", m_content}, {"decode", m_decode},
    {"encode", m_encode},       {NULL, NULL},
};

static const luaL_Reg request_meta[] = {
    {"__tostring", q_tostring},
    {NULL, NULL},
};

/* ---- response ---- */

static int r_status_code(lua_State *L)
{
    lua_pushinteger(L, check_resp(L)->status_code);
    return 1;
}

static int r_set_status_code(lua_State *L)
{
    lua_Integer s = luaL_checkinteger(L, 2);
    if (s < 100 || s > 999)
        return luaL_error(L, "invalid status code: %d", (int)s);
    check_resp(L)->status_code = (int)s;
    return 0;
}

static int r_reason(lua_State *L)
{
    lua_pushstring(L, check_resp(L)->reason ? check_resp(L)->reason : "");
    return 1;
}

static int r_set_reason(lua_State *L)
{
    set_str(L, &check_resp(L)->reason, 2, "reason", TEXT_VALUE);
    return 0;
}

static int r_http_version(lua_State *L)
{
    lua_pushstring(L, check_resp(L)->http_version ? check_resp(L)->http_version : "HTTP/1.1");
    return 1;
}

static int r_set_http_version(lua_State *L)
{
    set_str(L, &check_resp(L)->http_version, 2, "http_version", TEXT_WORD);
    return 0;
}

static int r_tostring(lua_State *L)
{
    struct mbox *m = bind_check(L, 1, CLS_RESPONSE);
    struct box *fb = m->b.p;
    if (!m->own && (!fb || !fb->p || !((struct mitm_flow *)fb->p)->response)) {
        lua_pushstring(L, "<response (gone)>");
        return 1;
    }
    const struct mitm_http_response *r = bind_response(L, m);
    lua_pushfstring(L, "<response %d %s>", r->status_code, r->reason ? r->reason : "");
    return 1;
}

static int r_gc(lua_State *L)
{
    struct mbox *m = bind_check(L, 1, CLS_RESPONSE);
    mitm_http_response_free(m->own);
    m->own = NULL;
    return 0;
}

static const struct prop response_props[] = {
    {"status_code", r_status_code, r_set_status_code},
    {"reason", r_reason, r_set_reason},
    {"http_version", r_http_version, r_set_http_version},
    {"headers", m_headers, m_set_headers},
    {"trailers", m_trailers, m_set_trailers},
    {"content", m_content, m_set_content},
    {"raw_content", m_raw_content, m_set_raw_content},
    {"text", m_text, m_set_text},
    {"stream", m_stream, m_set_stream},
    {"timestamp_start", m_timestamp_start, NULL},
    {"timestamp_end", m_timestamp_end, NULL},
    {NULL, NULL, NULL},
};

static const luaL_Reg response_meta[] = {
    {"__tostring", r_tostring},
    {"__gc", r_gc},
    {NULL, NULL},
};

/* ---- mitm.response(status, body, headers) ---- */

/* mitmproxy's Response.make: HTTP/1.1, the status's reason, the headers (a table of
 * name = value, or a list of {name, value} to keep order and duplicates), the body, and
 * Content-Length. */
int bind_make_response(lua_State *L)
{
    lua_Integer status = luaL_optinteger(L, 1, 200);
    if (status < 100 || status > 999)
        return luaL_error(L, "invalid status code: %d", (int)status);
    size_t n = 0;
    const char *body = luaL_optlstring(L, 2, "", &n);
    struct mitm_headers h;
    mitm_headers_init(&h);
    if (!lua_isnoneornil(L, 3))
        bind_headers_from(L, 3, &h); /* raises before anything is owned */
    struct mbox *m = bind_new(L, CLS_RESPONSE, sizeof(struct mbox), NULL, 4);
    struct mitm_http_response *r = mitm_http_response_new();
    m->own = r;
    mitm_headers_free(&r->headers);
    r->headers = h;
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = (int)status;
    r->reason = mitm_strdup(mitm_http_reason((int)status));
    struct lstate *ls = lstate_of(L);
    r->timestamp_start = r->timestamp_end = ls->env ? ls->env->now : 0;
    struct msg mm = {&r->headers, &r->content, &r->content_missing, &r->trailers, &r->stream, NULL, NULL};
    set_content(&mm, (const uint8_t *)body, n);
    return 1;
}

void bind_http_open(lua_State *L)
{
    bind_class(L, CLS_REQUEST, request_props, message_methods, request_meta, NULL, NULL);
    bind_class(L, CLS_RESPONSE, response_props, message_methods, response_meta, NULL, NULL);
}
