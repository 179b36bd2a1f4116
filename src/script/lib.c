/* The `mitm` module every script state gets (also as require("mitm")): logging, the shared
 * store, options, commands, filters, JSON, mitm.response, and print through the log. */
#include "script/script-int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/command.h"
#include "filter/filter.h"

extern const char script_json_null; /* json.c */
int script_json_push(lua_State *L, const char *s, size_t n);
int script_json_encode(lua_State *L, int idx);

/* ---- mitm.log ---- */

/* The arguments joined (tostring) with sep. */
static void join_args(lua_State *L, const char *sep, luaL_Buffer *b)
{
    int n = lua_gettop(L);
    luaL_buffinit(L, b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addstring(b, sep);
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(b);
    }
    luaL_pushresult(b);
}

static int log_at(lua_State *L)
{
    int level = (int)lua_tointeger(L, lua_upvalueindex(1));
    luaL_Buffer b;
    join_args(L, " ", &b);
    lstate_log(lstate_of(L), level, "%s", lua_tostring(L, -1));
    return 0;
}

/* print() goes to the log (info) instead of stdout, where it would tear flow lines. */
static int l_print(lua_State *L)
{
    luaL_Buffer b;
    join_args(L, "\t", &b);
    lstate_log(lstate_of(L), MITM_LOG_INFO, "%s", lua_tostring(L, -1));
    return 0;
}

static void open_log(lua_State *L)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", MITM_LOG_DEBUG}, {"info", MITM_LOG_INFO},    {"alert", MITM_LOG_ALERT},
                  {"warn", MITM_LOG_WARN},   {"warning", MITM_LOG_WARN}, {"error", MITM_LOG_ERROR}};
    lua_createtable(L, 0, 6);
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        lua_pushinteger(L, levels[i].level);
        lua_pushcclosure(L, log_at, 1);
        lua_setfield(L, -2, levels[i].name);
    }
    lua_setfield(L, -2, "log");
}

/* ---- mitm.shared ---- */

static struct mitm_shared *shared(lua_State *L)
{
    return lstate_of(L)->rt->shared;
}

static const char *shared_key(lua_State *L, size_t *n)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_error(L, "mitm.shared keys are strings, got %s", luaL_typename(L, 1));
    return lua_tolstring(L, 1, n);
}

static void to_shared(lua_State *L, int idx, struct mitm_shared_value *v)
{
    *v = (struct mitm_shared_value){.type = MITM_SHARED_NIL};
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE:
        return;
    case LUA_TBOOLEAN:
        v->type = MITM_SHARED_BOOL;
        v->b = lua_toboolean(L, idx);
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v->type = MITM_SHARED_INT;
            v->i = lua_tointeger(L, idx);
        } else {
            v->type = MITM_SHARED_NUM;
            v->d = lua_tonumber(L, idx);
        }
        return;
    case LUA_TSTRING:
        v->type = MITM_SHARED_STR;
        v->s = (char *)lua_tolstring(L, idx, &v->len);
        return;
    default:
        luaL_error(L, "mitm.shared holds nil, booleans, numbers and strings, not a %s",
                   luaL_typename(L, idx));
    }
}

/* Push a value got from the store and free its string. */
static void push_shared(lua_State *L, struct mitm_shared_value *v)
{
    switch (v->type) {
    case MITM_SHARED_NIL:
        lua_pushnil(L);
        return;
    case MITM_SHARED_BOOL:
        lua_pushboolean(L, v->b);
        return;
    case MITM_SHARED_INT:
        lua_pushinteger(L, v->i);
        return;
    case MITM_SHARED_NUM:
        lua_pushnumber(L, v->d);
        return;
    case MITM_SHARED_STR: {
        /* a Lua string from C memory: copy into a userdata-free buffer first so that a
         * memory error cannot leak v->s */
        luaL_Buffer b;
        char *p = luaL_buffinitsize(L, &b, v->len);
        memcpy(p, v->s, v->len);
        free(v->s);
        v->s = NULL;
        luaL_pushresultsize(&b, v->len);
        return;
    }
    }
}

static int sh_get(lua_State *L)
{
    size_t n;
    const char *k = shared_key(L, &n);
    struct mitm_shared_value v;
    luaL_checkstack(L, 4, "mitm.shared");
    mitm_shared_get(shared(L), k, n, &v);
    push_shared(L, &v);
    return 1;
}

static int sh_set(lua_State *L)
{
    size_t n;
    const char *k = shared_key(L, &n);
    struct mitm_shared_value v;
    to_shared(L, 2, &v);
    if (mitm_shared_set(shared(L), k, n, &v) < 0)
        return luaL_error(L, "mitm.shared is full (script_shared_size)");
    return 0;
}

static int sh_incr(lua_State *L)
{
    size_t n;
    const char *k = shared_key(L, &n);
    struct mitm_shared_value by = {.type = MITM_SHARED_INT, .i = 1}, out;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checknumber(L, 2);
        to_shared(L, 2, &by);
    }
    int rc = mitm_shared_incr(shared(L), k, n, &by, &out);
    if (rc == -1)
        return luaL_error(L, "mitm.shared.incr: %s does not hold a number", k);
    if (rc < 0)
        return luaL_error(L, "mitm.shared is full (script_shared_size)");
    push_shared(L, &out);
    return 1;
}

static int sh_keys(lua_State *L)
{
    size_t n;
    char **keys = mitm_shared_keys(shared(L), &n);
    /* move the keys into a C-owned list before touching Lua, then push them one by one,
     * freeing as we go so an error leaks at most the rest */
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, keys[i]);
        free(keys[i]);
        keys[i] = NULL;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(keys);
    return 1;
}

static void open_shared(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"get", sh_get}, {"set", sh_set}, {"incr", sh_incr}, {"keys", sh_keys}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setfield(L, -2, "shared");
}

/* ---- mitm.options ---- */

static int opt_index(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    const char *name = luaL_checkstring(L, 2);
    const struct mitm_opt_info *in = mitm_options_info(name);
    if (in) {
        const struct mitm_options *o = ls->env && ls->env->opts ? ls->env->opts : ls->rt->opts;
        script_push_option_value(L, in, (const char *)o + in->offset);
        return 1;
    }
    const struct sopt *so = script_option_find(ls->rt, name);
    if (!so)
        return luaL_error(L, "Unknown option: %s", name);
    if (ls->worker < 0) { /* the main thread is the only writer */
        script_push_option_value(L, &so->info, &so->val);
        return 1;
    }
    /* a copy made under the lock is pushed after it: a push can raise (the state's memory
     * limit), and must not leave the lock held (it would leak the copy instead) */
    union optval v;
    pthread_mutex_lock(&ls->rt->opt_lock);
    script_copy_option_value(&so->info, &v, &so->val);
    pthread_mutex_unlock(&ls->rt->opt_lock);
    script_push_option_value(L, &so->info, &v);
    mitm_options_free_field(&so->info, &v);
    return 1;
}

static int opt_newindex(lua_State *L)
{
    return luaL_error(L, "mitm.options is read-only in scripts (set options with --set)");
}

static void open_options(lua_State *L)
{
    bind_class(L, CLS_OPTIONS, NULL, NULL, NULL, opt_index, opt_newindex);
    bind_new(L, CLS_OPTIONS, sizeof(struct box), NULL, 0);
    lua_setfield(L, -2, "options");
}

/* ---- mitm.command(name, ...) ---- */

static int l_command(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (ls->kind == LS_WORKER)
        return luaL_error(L, "mitm.command runs on the main thread only (load, configure, running, done, "
                             "commands), not in flow hooks");
    if (!ls->rt->reg)
        return luaL_error(L, "no command registry in this front end");
    int n = lua_gettop(L) - 1;
    const char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (int i = 0; i < n; i++)
        argv[i] = luaL_tolstring(L, i + 2, NULL);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[512];
    int rc = mitm_cmd_call(ls->rt->reg, name, argv, (size_t)n, &out, err, sizeof(err));
    /* copy the result into Lua before raising or returning, then free */
    if (rc == 0)
        lua_pushlstring(L, (const char *)mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
    if (rc < 0)
        return luaL_error(L, "%s", err);
    return 1;
}

/* ---- mitm.filter(expr) ---- */

struct fbox {
    struct mitm_filter *f;
};

static int flt_new(lua_State *L)
{
    const char *expr = luaL_checkstring(L, 1);
    struct fbox *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->f = NULL;
    bind_setmt(L, CLS_FILTER);
    char err[256];
    b->f = mitm_filter_parse(expr, err, sizeof(err));
    if (!b->f)
        return luaL_error(L, "invalid filter expression: %s", err);
    return 1;
}

static int flt_match(lua_State *L)
{
    struct fbox *b = bind_check(L, 1, CLS_FILTER);
    lua_pushboolean(L, mitm_filter_match(b->f, bind_check_flow(L, 2)));
    return 1;
}

static int flt_gc(lua_State *L)
{
    struct fbox *b = bind_check(L, 1, CLS_FILTER);
    mitm_filter_free(b->f);
    b->f = NULL;
    return 0;
}

static int flt_tostring(lua_State *L)
{
    struct fbox *b = bind_check(L, 1, CLS_FILTER);
    lua_pushfstring(L, "<filter %s>", b->f ? mitm_filter_pattern(b->f) : "?");
    return 1;
}

static void open_filter(lua_State *L)
{
    static const luaL_Reg methods[] = {{"match", flt_match}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", flt_gc}, {"__call", flt_match}, {"__tostring", flt_tostring}, {NULL, NULL}};
    bind_class(L, CLS_FILTER, NULL, methods, meta, NULL, NULL);
    lua_pushcfunction(L, flt_new);
    lua_setfield(L, -2, "filter");
}

/* ---- the rest ---- */

static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    return script_json_push(L, s, n);
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    return script_json_encode(L, 1);
}

static int l_now(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    lua_pushnumber(L, ls->env ? ls->env->now : 0);
    return 1;
}

static int open_module(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    static const luaL_Reg fns[] = {
        {"response", bind_make_response}, {"command", l_command}, {"json_decode", l_json_decode},
        {"json_encode", l_json_encode},   {"now", l_now},         {NULL, NULL},
    };
    luaL_newlib(L, fns);
    open_log(L);
    open_shared(L);
    open_options(L);
    open_filter(L);
    lua_pushlightuserdata(L, (void *)&script_json_null);
    lua_setfield(L, -2, "null");
    lua_pushinteger(L, ls->worker);
    lua_setfield(L, -2, "worker");
    lua_pushstring(L, MITM_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}

/* os.exit would end the whole proxy from inside a hook. */
static int l_no_exit(lua_State *L)
{
    return luaL_error(L, "os.exit is not available in mitmc scripts (it would stop the proxy)");
}

void script_open_lib(struct lstate *ls)
{
    lua_State *L = ls->L;
    bind_flow_open(L);
    bind_http_open(L);
    bind_headers_open(L);
    bind_conn_open(L);
    luaL_requiref(L, "mitm", open_module, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, l_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "os");
    lua_pushcfunction(L, l_no_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
}
