/* JSON for scripts, on jansson: message:json(), mitm.json_decode, mitm.json_encode.
 * Objects are tables with string keys, arrays are sequences (1-based), null is mitm.null
 * (a light userdata, so that arrays keep their length), numbers are integers when JSON
 * wrote them without a fraction or exponent. */
#include "script/script-int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define JSON_MAX_DEPTH 200

/* The address behind mitm.null. */
const char script_json_null = 0;

static void push_json(lua_State *L, const json_t *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        luaL_error(L, "invalid JSON: nested deeper than %d", JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "JSON");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, k, kl, v)
        {
            lua_pushlstring(L, k, kl);
            push_json(L, v, depth + 1);
            lua_rawset(L, -3);
        }
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_json(L, json_array_get(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        return;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(j));
        return;
    case JSON_NULL:
        lua_pushlightuserdata(L, (void *)&script_json_null);
        return;
    }
    lua_pushnil(L);
}

static int push_body(lua_State *L)
{
    push_json(L, lua_touserdata(L, 1), 0);
    return 1;
}

int script_json_push(lua_State *L, const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        return luaL_error(L, "invalid JSON: %s (line %d, column %d)", e.text, e.line, e.column);
    /* build the tables in a protected call so that j is freed whatever happens */
    lua_pushcfunction(L, push_body);
    lua_pushlightuserdata(L, j);
    int rc = lua_pcall(L, 1, 1, 0);
    json_decref(j);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

/* ---- encoding ---- */

static bool sequence_len(lua_State *L, int idx, lua_Integer *len)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    *len = n;
    return n > 0 && count == n;
}

/* The JSON of the value at idx, or NULL with err set (nothing raised: no Lua error may leave
 * a half-built tree behind). */
static json_t *to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    idx = lua_absindex(L, idx);
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            snprintf(err, errlen, "cannot encode %s as JSON",
                     isnan(lua_tonumber(L, idx)) ? "NaN" : "infinity");
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        s = lua_tolstring(L, idx, &n);
        json_t *j = json_stringn(s, n);
        if (!j)
            snprintf(err, errlen, "cannot encode a string that is not UTF-8 as JSON");
        return j;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == &script_json_null)
            return json_null();
        break;
    case LUA_TTABLE:
        break;
    default:
        break;
    }
    if (lua_type(L, idx) != LUA_TTABLE) {
        snprintf(err, errlen, "cannot encode a %s as JSON", luaL_typename(L, idx));
        return NULL;
    }
    if (depth >= JSON_MAX_DEPTH || !lua_checkstack(L, 4)) {
        snprintf(err, errlen, "cannot encode tables nested deeper than %d (a cycle?)", JSON_MAX_DEPTH);
        return NULL;
    }
    lua_Integer len;
    if (sequence_len(L, idx, &len)) {
        json_t *a = json_array();
        for (lua_Integer i = 1; i <= len; i++) {
            lua_rawgeti(L, idx, i);
            json_t *v = to_json(L, -1, depth + 1, err, errlen);
            lua_pop(L, 1);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            json_decref(o);
            snprintf(err, errlen, "cannot encode a table with a non-string key as a JSON object");
            return NULL;
        }
        json_t *v = to_json(L, -1, depth + 1, err, errlen);
        lua_pop(L, 1);
        s = lua_tolstring(L, -1, &n);
        if (!v || json_object_setn_new(o, s, n, v) < 0) {
            if (v)
                snprintf(err, errlen, "cannot encode a key that is not UTF-8 as JSON");
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int script_json_encode(lua_State *L, int idx)
{
    char err[160];
    json_t *j = to_json(L, idx, 0, err, sizeof(err));
    if (!j)
        return luaL_error(L, "%s", err);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        return luaL_error(L, "cannot encode as JSON");
    lua_pushstring(L, s);
    free(s);
    return 1;
}
