/* Headers (mitmproxy's Headers: an ordered multimap, names case-insensitive, spelling and
 * order kept) and request.query (mitmproxy's MultiDictView over the query string).
 *
 * h[name] is the values joined with ", " (nil when absent); h[name] = v sets it (the first
 * field keeps its place and spelling, later ones go), h[name] = nil removes it. Methods win
 * over names: a header called "add" is read with h:get("add"). */
#include "script/script-int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "flow/contentview.h"
#include "proto/http/http.h"

#define QUERY_MAX_PAIRS 10000

/* A headers box: b.p is the message box (struct mbox *), kept alive as user value 1. */
struct hbox {
    struct box b;
    bool trailers;
};

/* User values of a message box: 1 parent flow box, 2 headers, 3 trailers, 4 query. */
enum { MUV_HEADERS = 2, MUV_TRAILERS, MUV_QUERY };

static void *msg_child(lua_State *L, int msgidx, int uv, const struct bind_cls *cls, size_t size)
{
    msgidx = lua_absindex(L, msgidx);
    if (lua_getiuservalue(L, msgidx, uv) == LUA_TUSERDATA)
        return lua_touserdata(L, -1);
    lua_pop(L, 1);
    void *b = bind_new(L, cls, size, lua_touserdata(L, msgidx), 1);
    lua_pushvalue(L, msgidx);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, msgidx, uv);
    return b;
}

void bind_push_headers(lua_State *L, int msgidx, bool trailers)
{
    struct hbox *h =
        msg_child(L, msgidx, trailers ? MUV_TRAILERS : MUV_HEADERS, CLS_HEADERS, sizeof(struct hbox));
    h->trailers = trailers;
}

void bind_push_query(lua_State *L, int msgidx)
{
    msg_child(L, msgidx, MUV_QUERY, CLS_QUERY, sizeof(struct box));
}

static struct mitm_headers *check_headers(lua_State *L, int idx)
{
    struct hbox *h = bind_check(L, idx, CLS_HEADERS);
    struct mbox *m = h->b.p;
    struct mitm_headers *hs, **tr;
    if (m->request) {
        struct mitm_http_request *r = bind_request(L, m);
        hs = &r->headers;
        tr = &r->trailers;
    } else {
        struct mitm_http_response *r = bind_response(L, m);
        hs = &r->headers;
        tr = &r->trailers;
    }
    if (!h->trailers)
        return hs;
    if (!*tr)
        luaL_error(L, "the message has no trailers (any more)");
    return *tr;
}

/* A header name (a token) at idx, NUL-terminated for the mitm_headers_* calls. */
static const char *check_name(lua_State *L, int idx)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    bind_check_text(L, s, n, "header name", TEXT_TOKEN);
    return s;
}

/* A header value at idx: a string, or a number written as Lua writes it. */
static const char *check_value(lua_State *L, int idx, size_t *n)
{
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "header values are strings, got %s", luaL_typename(L, idx));
    const char *v = lua_tolstring(L, idx, n);
    bind_check_text(L, v, *n, "header value", TEXT_VALUE);
    return v;
}

static void push_joined(lua_State *L, const struct mitm_headers *h, const char *name)
{
    luaL_Buffer b;
    bool any = false;
    luaL_buffinit(L, &b);
    for (long i = mitm_headers_find(h, name, 0); i >= 0; i = mitm_headers_find(h, name, (size_t)i + 1)) {
        if (any)
            luaL_addstring(&b, ", ");
        luaL_addlstring(&b, h->v[i].value, h->v[i].value_len);
        any = true;
    }
    luaL_pushresult(&b);
    if (!any) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* Replace every field called name with values (a table of strings at idx): the first keeps
 * its place, the others are appended (mitmproxy's set_all). */
static void set_all(lua_State *L, struct mitm_headers *h, const char *name, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) { /* check them all before changing anything */
        size_t l;
        lua_rawgeti(L, idx, i);
        check_value(L, -1, &l);
        lua_pop(L, 1);
    }
    if (n == 0) {
        mitm_headers_remove(h, name);
        return;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        size_t l;
        lua_rawgeti(L, idx, i);
        const char *v = lua_tolstring(L, -1, &l);
        if (i == 1)
            mitm_headers_set(h, name, v, l);
        else
            mitm_headers_add(h, name, strlen(name), v, l);
        lua_pop(L, 1);
    }
}

static int h_index(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "header names are strings");
    push_joined(L, h, lua_tostring(L, 2));
    return 1;
}

static int h_newindex(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    const char *name = check_name(L, 2);
    size_t n;
    if (lua_isnil(L, 3))
        mitm_headers_remove(h, name);
    else if (lua_istable(L, 3))
        set_all(L, h, name, 3);
    else {
        const char *v = check_value(L, 3, &n);
        mitm_headers_set(h, name, v, n);
    }
    return 0;
}

static int h_get(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    push_joined(L, h, check_name(L, 2));
    if (lua_isnil(L, -1) && !lua_isnoneornil(L, 3)) {
        lua_pop(L, 1);
        lua_pushvalue(L, 3);
    }
    return 1;
}

static int h_get_all(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    const char *name = check_name(L, 2);
    lua_newtable(L);
    lua_Integer k = 0;
    for (long i = mitm_headers_find(h, name, 0); i >= 0; i = mitm_headers_find(h, name, (size_t)i + 1)) {
        lua_pushlstring(L, h->v[i].value, h->v[i].value_len);
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

static int h_set(lua_State *L)
{
    lua_settop(L, 3);
    if (lua_isnil(L, 3))
        return luaL_error(L, "h:set(name, value): value missing (use h:remove(name))");
    return h_newindex(L);
}

static int h_set_all(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    set_all(L, h, check_name(L, 2), 3);
    return 0;
}

static int h_add(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    size_t nl, vl;
    const char *name = check_name(L, 2);
    nl = strlen(name);
    const char *v = check_value(L, 3, &vl);
    mitm_headers_add(h, name, nl, v, vl);
    return 0;
}

static int h_remove(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    lua_pushinteger(L, (lua_Integer)mitm_headers_remove(h, check_name(L, 2)));
    return 1;
}

static int h_contains(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    lua_pushboolean(L, mitm_headers_find(h, check_name(L, 2), 0) >= 0);
    return 1;
}

static int h_next(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
    if ((size_t)i >= h->n)
        return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(1));
    lua_pushlstring(L, h->v[i].name, h->v[i].name_len);
    lua_pushlstring(L, h->v[i].value, h->v[i].value_len);
    return 2;
}

/* for name, value in pairs(h) / h:items(): every field in order, duplicates included. */
static int h_pairs(lua_State *L)
{
    check_headers(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, h_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int h_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_headers(L, 1)->n);
    return 1;
}

static int h_tostring(lua_State *L)
{
    struct mitm_headers *h = check_headers(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < h->n; i++) {
        luaL_addlstring(&b, h->v[i].name, h->v[i].name_len);
        luaL_addstring(&b, ": ");
        luaL_addlstring(&b, h->v[i].value, h->v[i].value_len);
        luaL_addstring(&b, "\r\n");
    }
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg headers_methods[] = {
    {"get", h_get},         {"get_all", h_get_all},   {"set", h_set},
    {"set_all", h_set_all}, {"add", h_add},           {"remove", h_remove},
    {"items", h_pairs},     {"contains", h_contains}, {NULL, NULL},
};

static const luaL_Reg headers_meta[] = {
    {"__pairs", h_pairs},
    {"__len", h_len},
    {"__tostring", h_tostring},
    {NULL, NULL},
};

/* Fill h (initialised, empty) from the value at idx: a headers box (copied), a list of
 * {name, value} pairs (order and duplicates kept) or a table name = value (or name = {values}).
 * Raises on a bad name or value, leaving h empty. */
static void fill_headers(lua_State *L, int idx, struct mitm_headers *h)
{
    idx = lua_absindex(L, idx);
    if (bind_test(L, idx, CLS_HEADERS)) {
        mitm_headers_copy(h, check_headers(L, idx));
        return;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    size_t n;
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        if (!lua_istable(L, -1))
            luaL_error(L, "headers: item %d is not a {name, value} pair", (int)i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        const char *name = check_name(L, -2);
        const char *v = check_value(L, -1, &n);
        mitm_headers_add(h, name, strlen(name), v, n);
        lua_pop(L, 3);
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TNUMBER) { /* the list part, done above */
            lua_pop(L, 1);
            continue;
        }
        const char *name = check_name(L, -2);
        if (lua_istable(L, -1)) {
            lua_Integer k = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= k; i++) {
                lua_rawgeti(L, -1, i);
                const char *v = check_value(L, -1, &n);
                mitm_headers_add(h, name, strlen(name), v, n);
                lua_pop(L, 1);
            }
        } else {
            const char *v = check_value(L, -1, &n);
            mitm_headers_add(h, name, strlen(name), v, n);
        }
        lua_pop(L, 1);
    }
}

static int fill_body(lua_State *L)
{
    fill_headers(L, 1, lua_touserdata(L, 2));
    return 0;
}

void bind_headers_from(lua_State *L, int idx, struct mitm_headers *h)
{
    /* Fill a scratch list in a protected call so that a bad value frees it before the
     * error goes on; then swap it in. */
    struct mitm_headers tmp;
    mitm_headers_init(&tmp);
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, fill_body);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, &tmp);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        mitm_headers_free(&tmp);
        lua_error(L);
    }
    mitm_headers_free(h);
    *h = tmp;
}

/* ---- request.query ---- */

static struct mitm_http_request *check_query(lua_State *L, int idx)
{
    struct box *q = bind_check(L, idx, CLS_QUERY);
    return bind_request(L, q->p);
}

/* The query string of the path: between '?' and '#'. */
static void query_span(const char *path, size_t *start, size_t *end)
{
    const char *q = strchr(path, '?'), *hash = strchr(path, '#');
    if (hash && q && hash < q)
        q = NULL;
    *end = hash ? (size_t)(hash - path) : strlen(path);
    *start = q ? (size_t)(q - path) + 1 : *end;
}

struct qlist {
    struct mitm_kv *kv;
    size_t n;
};

static struct qlist query_parse(const struct mitm_http_request *r)
{
    const char *p = r->path ? r->path : "";
    size_t a, b;
    query_span(p, &a, &b);
    struct qlist l = {NULL, 0};
    l.n = mitm_cv_parse_qsl(p + a, b - a, QUERY_MAX_PAIRS, &l.kv);
    return l;
}

/* urllib's quote_plus: letters, digits and "_.-~" as they are, space as '+', the rest %XX. */
static void quote_plus(struct mitm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_.-~", c))
            mitm_buf_append(b, &s[i], 1);
        else if (c == ' ')
            mitm_buf_append(b, "+", 1);
        else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            mitm_buf_append(b, e, 3);
        }
    }
}

/* Write the pairs back into the path (mitmproxy's _set_query: no '?' when empty). Frees l. */
static void query_store(struct mitm_http_request *r, struct qlist *l)
{
    const char *p = r->path ? r->path : "";
    size_t a, e;
    query_span(p, &a, &e);
    size_t pathlen = a > 0 && p[a - 1] == '?' ? a - 1 : e; /* a path with a '?' keeps what is before it */
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_buf_append(&b, p, pathlen);
    for (size_t i = 0; i < l->n; i++) {
        mitm_buf_append(&b, i ? "&" : "?", 1);
        quote_plus(&b, l->kv[i].k, l->kv[i].klen);
        mitm_buf_append(&b, "=", 1);
        quote_plus(&b, l->kv[i].v, l->kv[i].vlen);
    }
    mitm_buf_append(&b, p + e, strlen(p + e));
    size_t n;
    char *np = (char *)mitm_buf_steal(&b, &n);
    free(r->path);
    r->path = np;
    mitm_kv_free(l->kv, l->n);
    l->kv = NULL;
    l->n = 0;
}

static void kv_push(struct qlist *l, const char *k, size_t kl, const char *v, size_t vl)
{
    l->kv = mitm_realloc(l->kv, (l->n + 1) * sizeof(*l->kv));
    l->kv[l->n++] = (struct mitm_kv){mitm_memdup(k, kl), mitm_memdup(v, vl), kl, vl};
}

static void kv_drop(struct qlist *l, size_t i)
{
    free(l->kv[i].k);
    free(l->kv[i].v);
    memmove(&l->kv[i], &l->kv[i + 1], (l->n - i - 1) * sizeof(*l->kv));
    l->n--;
}

static bool kv_is(const struct mitm_kv *kv, const char *k, size_t kl)
{
    return kv->klen == kl && memcmp(kv->k, k, kl) == 0;
}

static const char *qvalue(lua_State *L, int idx, size_t *n)
{
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "query values are strings, got %s", luaL_typename(L, idx));
    return lua_tolstring(L, idx, n);
}

/* Set key to the values in the table at idx (or the one value at idx): the first existing
 * pair keeps its place, the other existing ones go, further values are appended. */
static void qset(lua_State *L, struct mitm_http_request *r, int kidx, int idx)
{
    size_t kl, vl;
    const char *k = luaL_checklstring(L, kidx, &kl);
    bool list = lua_istable(L, idx);
    lua_Integer nv = list ? (lua_Integer)lua_rawlen(L, idx) : lua_isnil(L, idx) ? 0 : 1;
    for (lua_Integer j = 1; list && j <= nv; j++) {
        lua_rawgeti(L, idx, j);
        qvalue(L, -1, &vl);
        lua_pop(L, 1);
    }
    if (!list && nv)
        qvalue(L, idx, &vl);
    struct qlist l = query_parse(r);
    lua_Integer used = 0;
    for (size_t i = 0; i < l.n;) {
        if (!kv_is(&l.kv[i], k, kl)) {
            i++;
            continue;
        }
        if (used < nv) {
            used++;
            if (list)
                lua_rawgeti(L, idx, used);
            else
                lua_pushvalue(L, idx);
            const char *v = lua_tolstring(L, -1, &vl);
            free(l.kv[i].v);
            l.kv[i].v = mitm_memdup(v, vl);
            l.kv[i].vlen = vl;
            lua_pop(L, 1);
            i++;
        } else {
            kv_drop(&l, i);
        }
    }
    for (; used < nv; used++) {
        if (list)
            lua_rawgeti(L, idx, used + 1);
        else
            lua_pushvalue(L, idx);
        const char *v = lua_tolstring(L, -1, &vl);
        kv_push(&l, k, kl, v, vl);
        lua_pop(L, 1);
    }
    query_store(r, &l);
}

static int qu_index(lua_State *L)
{
    struct mitm_http_request *r = check_query(L, 1);
    size_t kl;
    const char *k = luaL_checklstring(L, 2, &kl);
    struct qlist l = query_parse(r);
    lua_pushnil(L);
    for (size_t i = 0; i < l.n; i++) {
        if (kv_is(&l.kv[i], k, kl)) {
            lua_pop(L, 1);
            lua_pushlstring(L, l.kv[i].v, l.kv[i].vlen);
            break;
        }
    }
    mitm_kv_free(l.kv, l.n);
    return 1;
}

static int qu_newindex(lua_State *L)
{
    qset(L, check_query(L, 1), 2, 3);
    return 0;
}

static int qu_get(lua_State *L)
{
    lua_settop(L, 3);
    qu_index(L);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, 3);
    }
    return 1;
}

static int qu_get_all(lua_State *L)
{
    struct mitm_http_request *r = check_query(L, 1);
    size_t kl;
    const char *k = luaL_checklstring(L, 2, &kl);
    struct qlist l = query_parse(r);
    lua_newtable(L);
    lua_Integer n = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (kv_is(&l.kv[i], k, kl)) {
            lua_pushlstring(L, l.kv[i].v, l.kv[i].vlen);
            lua_rawseti(L, -2, ++n);
        }
    }
    mitm_kv_free(l.kv, l.n);
    return 1;
}

static int qu_set(lua_State *L)
{
    lua_settop(L, 3);
    qset(L, check_query(L, 1), 2, 3);
    return 0;
}

static int qu_add(lua_State *L)
{
    struct mitm_http_request *r = check_query(L, 1);
    size_t kl, vl;
    const char *k = luaL_checklstring(L, 2, &kl);
    const char *v = qvalue(L, 3, &vl);
    struct qlist l = query_parse(r);
    kv_push(&l, k, kl, v, vl);
    query_store(r, &l);
    return 0;
}

static int qu_remove(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushnil(L);
    qset(L, check_query(L, 1), 2, 3);
    return 0;
}

/* query:replace(t): the whole query from a list of {k, v} pairs or a table k = v. */
static int qu_replace(lua_State *L)
{
    struct mitm_http_request *r = check_query(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct qlist l = {NULL, 0};
    size_t kl, vl;
    lua_Integer len = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, 2, i);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        if (lua_type(L, -2) != LUA_TSTRING ||
            (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)) {
            mitm_kv_free(l.kv, l.n);
            return luaL_error(L, "query: item %d is not a {name, value} pair", (int)i);
        }
        const char *k = lua_tolstring(L, -2, &kl);
        const char *v = lua_tolstring(L, -1, &vl);
        kv_push(&l, k, kl, v, vl);
        lua_pop(L, 3);
    }
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) == LUA_TSTRING &&
            (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
            lua_pushvalue(L, -1); /* tolstring on a number converts in place: keep the key intact */
            const char *v = lua_tolstring(L, -1, &vl);
            const char *k = lua_tolstring(L, -3, &kl);
            kv_push(&l, k, kl, v, vl);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    query_store(r, &l);
    return 0;
}

static int qu_next(lua_State *L)
{
    struct mitm_http_request *r = check_query(L, 1);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
    struct qlist l = query_parse(r);
    int ret = 0;
    if ((size_t)i < l.n) {
        lua_pushinteger(L, i + 1);
        lua_replace(L, lua_upvalueindex(1));
        lua_pushlstring(L, l.kv[i].k, l.kv[i].klen);
        lua_pushlstring(L, l.kv[i].v, l.kv[i].vlen);
        ret = 2;
    }
    mitm_kv_free(l.kv, l.n);
    return ret;
}

static int qu_pairs(lua_State *L)
{
    check_query(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, qu_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int qu_len(lua_State *L)
{
    struct qlist l = query_parse(check_query(L, 1));
    lua_pushinteger(L, (lua_Integer)l.n);
    mitm_kv_free(l.kv, l.n);
    return 1;
}

static const luaL_Reg query_methods[] = {
    {"get", qu_get},       {"get_all", qu_get_all}, {"set", qu_set},     {"add", qu_add},
    {"remove", qu_remove}, {"replace", qu_replace}, {"items", qu_pairs}, {NULL, NULL},
};

static const luaL_Reg query_meta[] = {
    {"__pairs", qu_pairs},
    {"__len", qu_len},
    {NULL, NULL},
};

void bind_headers_open(lua_State *L)
{
    bind_class(L, CLS_HEADERS, NULL, headers_methods, headers_meta, h_index, h_newindex);
    bind_class(L, CLS_QUERY, NULL, query_methods, query_meta, qu_index, qu_newindex);
}
