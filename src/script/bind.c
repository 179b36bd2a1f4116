/* Helpers of the Lua bindings: classes as metatables with property tables, boxes, value
 * checks, and Lua values as tnetstrings (flow metadata). */
#include "script/script-int.h"

#include <string.h>

#include "base/buf.h"
#include "flow/export.h"
#include "flow/tnetstring.h"

#define TNS_MAX_DEPTH 32

/* Getters and setters are light C functions called directly (no lua_call): a getter sees
 * the box at index 1 and pushes the value; a setter sees the box at 1 and the value at 2. */
static int cls_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TFUNCTION) {
        lua_CFunction get = lua_tocfunction(L, -1);
        lua_settop(L, 1);
        return get(L);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (lua_isnil(L, lua_upvalueindex(3))) {
        if (lua_type(L, 2) == LUA_TSTRING)
            return luaL_error(L, "%s has no field '%s'", lua_tostring(L, lua_upvalueindex(4)),
                              lua_tostring(L, 2));
        return luaL_error(L, "%s has no such field", lua_tostring(L, lua_upvalueindex(4)));
    }
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

static int cls_newindex(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TFUNCTION) {
        lua_CFunction set = lua_tocfunction(L, -1);
        lua_pop(L, 1);
        lua_remove(L, 2);
        set(L);
        return 0;
    }
    lua_pop(L, 1);
    if (lua_isnil(L, lua_upvalueindex(2))) {
        const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
        return luaL_error(L, "%s field '%s' is read-only or unknown", lua_tostring(L, lua_upvalueindex(3)),
                          k);
    }
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_call(L, 3, 0);
    return 0;
}

const struct bind_cls script_cls[C__COUNT] = {
    [C_FLOW] = {"mitm.flow"},
    [C_REQUEST] = {"mitm.request"},
    [C_RESPONSE] = {"mitm.response"},
    [C_HEADERS] = {"mitm.headers"},
    [C_QUERY] = {"mitm.query"},
    [C_CONNINFO] = {"mitm.conninfo"},
    [C_META] = {"mitm.metadata"},
    [C_CONN] = {"mitm.connection"},
    [C_FILTER] = {"mitm.filter"},
    [C_LOADER] = {"mitm.loader"},
    [C_OPTIONS] = {"mitm.options"},
    [C_TCPMSG] = {"mitm.tcpmessage"},
    [C_WSDATA] = {"mitm.websocketdata"},
    [C_WSMSG] = {"mitm.websocketmessage"},
};

void bind_class(lua_State *L, const struct bind_cls *c, const struct prop *props, const luaL_Reg *methods,
                const luaL_Reg *meta, lua_CFunction fallback, lua_CFunction newfallback)
{
    const char *tname = c->name;
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, c);
    lstate_of(L)->mt[c - script_cls] = lua_topointer(L, -1);
    if (meta)
        luaL_setfuncs(L, meta, 0);
    lua_newtable(L); /* getters */
    lua_newtable(L); /* setters */
    for (const struct prop *p = props; p && p->name; p++) {
        if (p->get) {
            lua_pushcfunction(L, p->get);
            lua_setfield(L, -3, p->name);
        }
        if (p->set) {
            lua_pushcfunction(L, p->set);
            lua_setfield(L, -2, p->name);
        }
    }
    /* __newindex(setters, newfallback, tname) */
    if (newfallback)
        lua_pushcfunction(L, newfallback);
    else
        lua_pushnil(L);
    lua_pushstring(L, tname);
    lua_pushcclosure(L, cls_newindex, 3);
    lua_setfield(L, -3, "__newindex");
    /* __index(getters, methods, fallback, tname) */
    lua_newtable(L);
    if (methods)
        luaL_setfuncs(L, methods, 0);
    if (fallback)
        lua_pushcfunction(L, fallback);
    else
        lua_pushnil(L);
    lua_pushstring(L, tname);
    lua_pushcclosure(L, cls_index, 4);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

void bind_setmt(lua_State *L, const struct bind_cls *c)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, c);
    lua_setmetatable(L, -2);
}

void *bind_new(lua_State *L, const struct bind_cls *c, size_t size, void *p, int nuv)
{
    struct box *b = lua_newuserdatauv(L, size, nuv);
    memset(b, 0, size);
    b->p = p;
    bind_setmt(L, c);
    return b;
}

void *bind_test(lua_State *L, int idx, const struct bind_cls *c)
{
    void *p = lua_touserdata(L, idx);
    if (!p || lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return NULL;
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    return mt == lstate_of(L)->mt[c - script_cls] ? p : NULL;
}

void *bind_check(lua_State *L, int idx, const struct bind_cls *c)
{
    void *p = bind_test(L, idx, c);
    if (!p)
        luaL_typeerror(L, idx, c->name);
    return p;
}

void bind_check_text(lua_State *L, const char *s, size_t n, const char *what, enum text_kind kind)
{
    if (kind != TEXT_VALUE && n == 0)
        luaL_error(L, "invalid %s: empty", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool bad = c == '\r' || c == '\n' || c == 0;
        if (kind != TEXT_VALUE)
            bad = bad || c <= ' ' || c == 0x7f;
        if (kind == TEXT_TOKEN)
            bad = bad || c == ':';
        if (bad)
            luaL_error(L, "invalid %s: byte %d at offset %d is not allowed", what, (int)c, (int)i);
    }
}

/* ---- Lua values as tnetstrings (flow.metadata survives flow files) ---- */

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = mitm_utf8_seq((const uint8_t *)s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* A sequence 1..n with nothing else? */
static bool is_sequence(lua_State *L, int idx, lua_Integer *n)
{
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > len) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    *n = len;
    return count == len && len > 0;
}

static struct mitm_tns *to_tns(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    idx = lua_absindex(L, idx);
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return mitm_tns_new_null();
    case LUA_TBOOLEAN:
        return mitm_tns_new_bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return mitm_tns_new_int(lua_tointeger(L, idx));
        return mitm_tns_new_float(lua_tonumber(L, idx));
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        return valid_utf8(s, n) ? mitm_tns_new_str_copy(s, n) : mitm_tns_new_bytes_copy(s, n);
    case LUA_TTABLE:
        break;
    default:
        snprintf(err, errlen, "a %s cannot be stored", luaL_typename(L, idx));
        return NULL;
    }
    if (depth >= TNS_MAX_DEPTH) {
        snprintf(err, errlen, "tables nested deeper than %d", TNS_MAX_DEPTH);
        return NULL;
    }
    luaL_checkstack(L, 4, "metadata");
    lua_Integer len;
    if (is_sequence(L, idx, &len)) {
        struct mitm_tns *list = mitm_tns_new_list();
        for (lua_Integer i = 1; i <= len; i++) {
            lua_rawgeti(L, idx, i);
            struct mitm_tns *v = to_tns(L, -1, depth + 1, err, errlen);
            lua_pop(L, 1);
            if (!v) {
                mitm_tns_free(list);
                return NULL;
            }
            mitm_tns_list_append(list, v);
        }
        return list;
    }
    struct mitm_tns *d = mitm_tns_new_dict();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            mitm_tns_free(d);
            snprintf(err, errlen, "table keys must be strings");
            return NULL;
        }
        struct mitm_tns *v = to_tns(L, -1, depth + 1, err, errlen);
        lua_pop(L, 1);
        if (!v) {
            lua_pop(L, 1);
            mitm_tns_free(d);
            return NULL;
        }
        /* dict_set makes a key node that borrows its C string: swap in a node owning a copy
         * (of every byte: keys may hold NULs) */
        size_t kl, before = d->n;
        const char *k = lua_tolstring(L, -1, &kl);
        mitm_tns_dict_set(d, k, v);
        struct mitm_tns *key = mitm_tns_new_str_copy(k, kl);
        if (d->n > before) {
            mitm_tns_free(d->items[2 * (d->n - 1)]);
            d->items[2 * (d->n - 1)] = key;
        } else {
            mitm_tns_free(key);
        }
    }
    return d;
}

int bind_to_tns(lua_State *L, int idx, struct mitm_buf *out, char *err, size_t errlen)
{
    struct mitm_tns *v = to_tns(L, idx, 0, err, errlen);
    if (!v)
        return -1;
    int rc = mitm_tns_write(out, v);
    mitm_tns_free(v);
    if (rc < 0)
        snprintf(err, errlen, "value too large");
    return rc;
}

static void push_tns(lua_State *L, const struct mitm_tns *v, int depth)
{
    luaL_checkstack(L, 4, "metadata");
    switch (v->type) {
    case MITM_TNS_BYTES:
    case MITM_TNS_STR:
        lua_pushlstring(L, (const char *)v->v.s.base, v->v.s.len);
        return;
    case MITM_TNS_INT:
        lua_pushinteger(L, v->v.i);
        return;
    case MITM_TNS_FLOAT:
        lua_pushnumber(L, v->v.f);
        return;
    case MITM_TNS_BOOL:
        lua_pushboolean(L, v->v.b);
        return;
    case MITM_TNS_NULL:
        lua_pushnil(L);
        return;
    case MITM_TNS_LIST:
        lua_createtable(L, (int)v->n, 0);
        for (size_t i = 0; i < v->n && depth < TNS_MAX_DEPTH * 4; i++) {
            push_tns(L, v->items[i], depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    case MITM_TNS_DICT:
        lua_createtable(L, 0, (int)v->n);
        for (size_t i = 0; i < v->n && depth < TNS_MAX_DEPTH * 4; i++) {
            const struct mitm_tns *k = v->items[2 * i];
            if (!mitm_tns_is_text(k))
                continue;
            lua_pushlstring(L, (const char *)k->v.s.base, k->v.s.len);
            push_tns(L, v->items[2 * i + 1], depth + 1);
            lua_rawset(L, -3);
        }
        return;
    }
    lua_pushnil(L);
}

void bind_push_tns(lua_State *L, const uint8_t *p, size_t n)
{
    struct mitm_tns *v = NULL;
    if (mitm_tns_parse(p, n, NULL, &v, NULL) != (ssize_t)n || !v) {
        mitm_tns_free(v);
        lua_pushnil(L);
        return;
    }
    push_tns(L, v, 0);
    mitm_tns_free(v);
}

/* ---- roots and small pushers ---- */

static const char roots_key = 0; /* registry key of the state's roots table */

void bind_root(struct lstate *ls, int idx)
{
    lua_State *L = ls->L;
    idx = lua_absindex(L, idx);
    if (ls->nroots >= SCRIPT_MAX_ROOTS)
        luaL_error(L, "too many hook arguments");
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &roots_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, SCRIPT_MAX_ROOTS, 0);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &roots_key);
    }
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, (lua_Integer)ls->nroots + 1);
    lua_pop(L, 1);
    ls->roots[ls->nroots++] = lua_touserdata(L, idx);
}

void bind_push_addr(lua_State *L, const char *host, unsigned port)
{
    if (!host) {
        lua_pushnil(L);
        return;
    }
    lua_createtable(L, 2, 0);
    lua_pushstring(L, host);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, port);
    lua_rawseti(L, -2, 2);
}

void bind_push_opt(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushnil(L);
}
