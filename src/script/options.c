/* Options that scripts add (loader:add_option): settable with --set, shown by --options,
 * read with mitm.options.NAME like mitmc's own. And the loader object of load(). */
#include "script/script-int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

/* The type names add_option takes: those --options prints (mitmproxy's typespecs), and
 * "str[]" for a list. */
static const struct {
    const char *name;
    enum mitm_opt_type type;
} types[] = {
    {"bool", MITM_OPT_TYPE_BOOL},
    {"int", MITM_OPT_TYPE_INT},
    {"str", MITM_OPT_TYPE_STR},
    {"optional int", MITM_OPT_TYPE_OPT_INT},
    {"optional str", MITM_OPT_TYPE_OPT_STR},
    {"sequence of str", MITM_OPT_TYPE_STRLIST},
    {"str[]", MITM_OPT_TYPE_STRLIST},
};

const struct sopt *script_option_find(const struct mitm_script_rt *rt, const char *name)
{
    size_t n = __atomic_load_n(&rt->nopt, __ATOMIC_ACQUIRE);
    for (size_t i = n; i-- > 0;) /* the newest definition wins */
        if (strcmp(rt->opt[i]->info.name, name) == 0)
            return rt->opt[i];
    return NULL;
}

void script_push_option_value(lua_State *L, const struct mitm_opt_info *in, const void *f)
{
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        lua_pushboolean(L, *(const bool *)f);
        return;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (*(const long *)f == MITM_OPT_NONE)
            lua_pushnil(L);
        else
            lua_pushinteger(L, *(const long *)f);
        return;
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        bind_push_opt(L, *(char *const *)f);
        return;
    case MITM_OPT_TYPE_STRLIST: {
        const struct mitm_strvec *v = f;
        lua_createtable(L, (int)v->n, 0);
        for (size_t i = 0; i < v->n; i++) {
            lua_pushstring(L, v->v[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    }
    }
    lua_pushnil(L);
}

static void sopt_free(struct sopt *o)
{
    if (!o)
        return;
    mitm_options_free_field(&o->info, &o->val);
    mitm_options_free_field(&o->info, &o->def);
    free((char *)o->info.name);
    free((char *)o->info.help);
    free((char *)o->info.choices);
    free(o);
}

void script_options_free(struct mitm_script_rt *rt)
{
    for (size_t i = 0; i < rt->nopt; i++)
        sopt_free(rt->opt[i]);
    rt->nopt = 0;
}

void script_copy_option_value(const struct mitm_opt_info *in, union optval *dst, const union optval *src)
{
    *dst = *src;
    if (in->type == MITM_OPT_TYPE_STR || in->type == MITM_OPT_TYPE_OPT_STR ||
        in->type == MITM_OPT_TYPE_SIZE) {
        dst->s = src->s ? mitm_strdup(src->s) : NULL;
    } else if (in->type == MITM_OPT_TYPE_STRLIST) {
        dst->v.v = src->v.n ? mitm_calloc(src->v.n, sizeof(char *)) : NULL;
        for (size_t i = 0; i < src->v.n; i++)
            dst->v.v[i] = mitm_strdup(src->v.v[i]);
    }
}

static bool same_val(const struct mitm_opt_info *in, const union optval *a, const union optval *b)
{
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        return a->b == b->b;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        return a->l == b->l;
    case MITM_OPT_TYPE_STRLIST:
        if (a->v.n != b->v.n)
            return false;
        for (size_t i = 0; i < a->v.n; i++)
            if (strcmp(a->v.v[i], b->v.v[i]) != 0)
                return false;
        return true;
    default:
        return (!a->s && !b->s) || (a->s && b->s && strcmp(a->s, b->s) == 0);
    }
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Raise unless the default at idx fits type t. Allocates nothing, so that the caller can
 * validate everything before it owns memory. */
static void check_default(lua_State *L, int idx, const char *name, enum mitm_opt_type t)
{
    bool nil = lua_isnil(L, idx);
    switch (t) {
    case MITM_OPT_TYPE_BOOL:
        if (!lua_isboolean(L, idx))
            luaL_error(L, "add_option %s: the default of a bool is true or false", name);
        return;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (!(nil && t == MITM_OPT_TYPE_OPT_INT) &&
            (!lua_isinteger(L, idx) || lua_tointeger(L, idx) == MITM_OPT_NONE))
            luaL_error(L, "add_option %s: the default must be an integer", name);
        return;
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
        if (!(nil && t == MITM_OPT_TYPE_OPT_STR) && lua_type(L, idx) != LUA_TSTRING)
            luaL_error(L, "add_option %s: the default must be a string", name);
        return;
    case MITM_OPT_TYPE_STRLIST:
        if (nil)
            return;
        luaL_checktype(L, idx, LUA_TTABLE);
        for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, idx); i <= n; i++) {
            if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
                luaL_error(L, "add_option %s: the default must be a list of strings", name);
            lua_pop(L, 1);
        }
        return;
    default:
        return;
    }
}

/* The checked default at idx as a value of type t (owned). Raises nothing. */
static void take_default(lua_State *L, int idx, enum mitm_opt_type t, union optval *v)
{
    memset(v, 0, sizeof(*v));
    switch (t) {
    case MITM_OPT_TYPE_BOOL:
        v->b = lua_toboolean(L, idx);
        return;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        v->l = lua_isnil(L, idx) ? MITM_OPT_NONE : (long)lua_tointeger(L, idx);
        return;
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
        v->s = lua_isnil(L, idx) ? NULL : mitm_strdup(lua_tostring(L, idx));
        return;
    case MITM_OPT_TYPE_STRLIST:
        for (lua_Integer i = 1, n = lua_isnil(L, idx) ? 0 : (lua_Integer)lua_rawlen(L, idx); i <= n; i++) {
            lua_rawgeti(L, idx, i);
            v->v.v = mitm_realloc(v->v.v, (v->v.n + 1) * sizeof(char *));
            v->v.v[v->v.n++] = mitm_strdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        return;
    default:
        return;
    }
}

/* Raise unless the value at idx is nil or a list of strings without '|'. */
static void check_choices(lua_State *L, int idx, const char *name)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, idx); i <= n; i++) {
        size_t l;
        const char *s = lua_rawgeti(L, idx, i) == LUA_TSTRING ? lua_tolstring(L, -1, &l) : NULL;
        if (!s || memchr(s, '|', l) || strlen(s) != l || !l)
            luaL_error(L, "add_option %s: choices are non-empty strings without '|'", name);
        lua_pop(L, 1);
    }
}

/* "a|b|c" from the checked choices at idx; NULL for none. Raises nothing. */
static char *take_choices(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx) || lua_rawlen(L, idx) == 0)
        return NULL;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, idx); i <= n; i++) {
        lua_rawgeti(L, idx, i);
        size_t l;
        const char *s = lua_tolstring(L, -1, &l);
        if (i > 1)
            mitm_buf_append(&b, "|", 1);
        mitm_buf_append(&b, s, l);
        lua_pop(L, 1);
    }
    size_t n;
    return (char *)mitm_buf_steal(&b, &n);
}

static struct lstate *check_loader(lua_State *L)
{
    struct box *b = bind_check(L, 1, CLS_LOADER);
    struct lstate *ls = b->p;
    if (!ls || !ls->loading)
        luaL_error(L, "the loader can only be used during load()");
    return ls;
}

/* loader:add_option(name, typespec, default, help[, choices]) */
static int l_add_option(lua_State *L)
{
    struct lstate *ls = check_loader(L);
    struct mitm_script_rt *rt = ls->rt;
    const char *name = luaL_checkstring(L, 2);
    const char *tname = luaL_checkstring(L, 3);
    const char *help = luaL_checkstring(L, 5);
    if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        return luaL_error(L, "add_option: invalid option name '%s' (lower case, digits and _)", name);
    if (mitm_options_info(name))
        return luaL_error(L, "add_option: %s is one of mitmc's own options", name);
    int t = -1;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, tname) == 0)
            t = (int)types[i].type;
    if (t < 0)
        return luaL_error(L,
                          "add_option %s: unknown type '%s' (bool, int, str, optional int, optional str, "
                          "sequence of str)",
                          name, tname);
    check_default(L, 4, name, (enum mitm_opt_type)t);
    check_choices(L, 6, name);
    if (ls->kind != LS_MAIN) /* the main-thread state registers; the others only run load */
        return 0;
    struct sopt *o = mitm_calloc(1, sizeof(*o));
    o->info.type = (enum mitm_opt_type)t;
    o->info.choices = take_choices(L, 6);
    take_default(L, 4, o->info.type, &o->def);
    o->info.name = mitm_strdup(name);
    o->info.help = mitm_strdup(help);
    if (o->info.choices && o->def.s && !mitm_options_in_choices(o->info.choices, o->def.s)) {
        sopt_free(o);
        return luaL_error(L, "add_option %s: the default is not one of the choices", name);
    }
    const struct sopt *old = script_option_find(rt, name);
    if (old && old->info.type == o->info.type && same_str(old->info.help, o->info.help) &&
        same_str(old->info.choices, o->info.choices) && same_val(&o->info, &old->def, &o->def)) {
        sopt_free(o); /* loaded again as it was: keep it and its value */
        return 0;
    }
    if (rt->nopt >= SCRIPT_MAX_OPTIONS) {
        sopt_free(o);
        return luaL_error(L, "add_option %s: more than %d script options", name, SCRIPT_MAX_OPTIONS);
    }
    if (old)
        lstate_log(ls, MITM_LOG_WARN, "Over-riding existing option %s", name);
    script_copy_option_value(&o->info, &o->val, &o->def);
    rt->opt[rt->nopt] = o;
    __atomic_store_n(&rt->nopt, rt->nopt + 1, __ATOMIC_RELEASE);
    return 0;
}

/* loader:add_command(name, fn[, help]) */
static int l_add_command(lua_State *L)
{
    struct lstate *ls = check_loader(L);
    size_t n;
    const char *name = luaL_checklstring(L, 2, &n);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    const char *help = luaL_optstring(L, 4, "");
    if (!n || strcspn(name, " \t\r\n\"'") != n || strlen(name) != n)
        return luaL_error(L, "add_command: invalid command name '%s'", name);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->cmds);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    if (ls->kind != LS_MAIN)
        return 0;
    char err[256];
    if (script_cmd_add(ls, name, help, err, sizeof(err)) < 0)
        return luaL_error(L, "add_command %s: %s", name, err);
    return 0;
}

static const luaL_Reg loader_methods[] = {
    {"add_option", l_add_option},
    {"add_command", l_add_command},
    {NULL, NULL},
};

void script_push_loader(struct lstate *ls)
{
    lua_State *L = ls->L;
    if (!ls->mt[C_LOADER])
        bind_class(L, CLS_LOADER, NULL, loader_methods, NULL, NULL, NULL);
    bind_new(L, CLS_LOADER, sizeof(struct box), ls, 0);
}

void script_push_all_options(struct lstate *ls)
{
    lua_State *L = ls->L;
    size_t n;
    const struct mitm_opt_info *all = mitm_options_all(&n);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, all[i].name);
    }
    size_t k = __atomic_load_n(&ls->rt->nopt, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < k; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, ls->rt->opt[i]->info.name);
    }
}

void script_push_updated(struct lstate *ls)
{
    if (!ls->updated) {
        script_push_all_options(ls);
        return;
    }
    lua_State *L = ls->L;
    lua_createtable(L, 0, (int)ls->nupdated);
    for (size_t i = 0; i < ls->nupdated; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, ls->updated[i]);
    }
}

/* ---- --set for script options, --options ---- */

static size_t spec_name_len(const char *spec)
{
    return strcspn(spec, "=");
}

/* As --set groups specs (src/ui/cli.c apply_sets): a list gets exactly the values given,
 * any other option at most one value. */
int mitm_script_rt_set(struct mitm_script_rt *rt, const char *const *specs, size_t n, char *err,
                       size_t errlen)
{
    for (size_t k = 0; k < n; k++) {
        size_t len = spec_name_len(specs[k]);
        bool seen = false;
        for (size_t m = 0; m < k && !seen; m++)
            seen = spec_name_len(specs[m]) == len && memcmp(specs[m], specs[k], len) == 0;
        if (seen)
            continue;
        char *name = mitm_strndup(specs[k], len);
        struct sopt *o = (struct sopt *)script_option_find(rt, name);
        int rc = 0;
        if (!o || rt->started) {
            mitm_errf(err, errlen,
                      o ? "Script options are set before the proxy starts: %s" : "Unknown option: %s", name);
            rc = -1;
        }
        const char *value = NULL;
        size_t nvalues = 0;
        bool list = o && o->info.type == MITM_OPT_TYPE_STRLIST;
        if (rc == 0 && list)
            rc = mitm_options_set_field(&o->info, &o->val, NULL, err, errlen);
        for (size_t m = k; m < n && rc == 0; m++) {
            const char *s = specs[m];
            if (spec_name_len(s) != len || memcmp(s, specs[k], len) != 0 || !s[len])
                continue;
            if (list) {
                rc = mitm_options_set_field(&o->info, &o->val, s + len + 1, err, errlen);
            } else if (nvalues++ == 0) {
                value = s + len + 1;
            } else {
                mitm_errf(err, errlen, "Received multiple values for %s: %s, %s", name, value, s + len + 1);
                rc = -1;
            }
        }
        if (rc == 0 && !list)
            rc = mitm_options_set_field(&o->info, &o->val, value, err, errlen);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

void mitm_script_rt_dump_options(const struct mitm_script_rt *rt, const struct mitm_options *defaults,
                                 FILE *out)
{
    size_t n = rt->nopt, k = 0;
    const struct mitm_opt_info **infos = mitm_calloc(n + 1, sizeof(*infos));
    const void **values = mitm_calloc(n + 1, sizeof(*values));
    for (size_t i = 0; i < n; i++) {
        if (script_option_find(rt, rt->opt[i]->info.name) != rt->opt[i])
            continue; /* redefined later */
        infos[k] = &rt->opt[i]->info;
        values[k++] = &rt->opt[i]->def;
    }
    mitm_options_dump_extra(defaults, infos, values, k, out);
    free(infos);
    free(values);
}

/* ---- the scripts' options at run time ---- */

const struct mitm_opt_info *mitm_script_rt_option(const struct mitm_script_rt *rt, const char *name,
                                                  const void **value, const void **def)
{
    const struct sopt *o = rt ? script_option_find(rt, name) : NULL;
    if (!o)
        return NULL;
    if (value)
        *value = &o->val;
    if (def)
        *def = &o->def;
    return &o->info;
}

size_t mitm_script_rt_options(const struct mitm_script_rt *rt, const struct mitm_opt_info **out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; rt && i < rt->nopt; i++) {
        if (script_option_find(rt, rt->opt[i]->info.name) != rt->opt[i])
            continue; /* redefined later */
        if (k < cap)
            out[k] = &rt->opt[i]->info;
        k++;
    }
    return k;
}

int mitm_script_rt_set_option(struct mitm_script_rt *rt, const char *name, const char *value, char *err,
                              size_t errlen)
{
    struct sopt *o = rt ? (struct sopt *)script_option_find(rt, name) : NULL;
    if (!o) {
        mitm_errf(err, errlen, "Unknown option: %s", name);
        return -1;
    }
    union optval next;
    int rc = 0;
    if (!value) {
        script_copy_option_value(&o->info, &next, &o->def);
    } else if (o->info.type == MITM_OPT_TYPE_STRLIST) {
        memset(&next, 0, sizeof(next));
        rc = mitm_options_set_list(&o->info, &next, value, err, errlen);
    } else {
        script_copy_option_value(&o->info, &next, &o->val); /* toggle reads the current value */
        rc = mitm_options_set_field(&o->info, &next, value, err, errlen);
    }
    if (rc < 0) {
        mitm_options_free_field(&o->info, &next);
        return -1;
    }
    pthread_mutex_lock(&rt->opt_lock);
    union optval old = o->val;
    o->val = next;
    pthread_mutex_unlock(&rt->opt_lock);
    mitm_options_free_field(&o->info, &old);
    return 0;
}
