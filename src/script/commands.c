/* Commands: script.run (mitmproxy's ScriptLoader.script_run) and the commands scripts add
 * with loader:add_command. Both run on the main thread (the registry's rule). */
#include "script/script-int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "core/command.h"
#include "flow/flow-t.h"

/* ---- commands of scripts ---- */

static const struct mitm_cmd_param strs_param[] = {{"args", MITM_ARG_STRS, NULL}};

struct cmd_call {
    const char *name;
    const char *const *argv;
    size_t argc;
    struct mitm_buf *out;
};

/* A result as text: nil nothing, a table one item per line, anything else tostring. */
static void result_text(lua_State *L, int idx, struct mitm_buf *out)
{
    if (lua_isnil(L, idx))
        return;
    if (lua_istable(L, idx)) {
        for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, idx); i <= n; i++) {
            lua_rawgeti(L, idx, i);
            size_t l;
            const char *s = luaL_tolstring(L, -1, &l);
            if (i > 1)
                mitm_buf_append(out, "\n", 1);
            mitm_buf_append(out, s, l);
            lua_pop(L, 2);
        }
        return;
    }
    size_t l;
    const char *s = luaL_tolstring(L, idx, &l);
    mitm_buf_append(out, s, l);
    lua_pop(L, 1);
}

static int cmd_body(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    struct cmd_call *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->cmds);
    if (lua_getfield(L, -1, c->name) != LUA_TFUNCTION)
        return luaL_error(L, "the script no longer defines command %s", c->name);
    for (size_t i = 0; i < c->argc; i++)
        lua_pushstring(L, c->argv[i]);
    int base = lua_gettop(L) - (int)c->argc;
    lua_call(L, (int)c->argc, LUA_MULTRET);
    for (int i = base; i <= lua_gettop(L); i++) {
        if (i > base)
            mitm_buf_append(c->out, "\n", 1);
        result_text(L, i, c->out);
    }
    return 0;
}

static int scmd_fn(void *data, const struct mitm_cmd_arg *args, size_t nargs, struct mitm_buf *out, char *err,
                   size_t errlen)
{
    struct scmd *c = data;
    struct lstate *ls = c->s->main;
    struct cmd_call call = {c->name, nargs ? args[0].rest : NULL, nargs ? args[0].nrest : 0, out};
    lua_pushcfunction(ls->L, cmd_body);
    lua_pushlightuserdata(ls->L, &call);
    if (lstate_pcall(ls, 1, 0, c->name, c->rt->cmd_env) < 0) {
        mitm_errf(err, errlen, "%s: command %s failed (the log has the traceback)", c->s->name, c->name);
        return -1;
    }
    return 0;
}

static int register_cmd(struct mitm_script_rt *rt, struct scmd *c, char *err, size_t errlen)
{
    struct mitm_cmd_def def = {c->name, strs_param, 1, "str", c->help, scmd_fn, c};
    return mitm_cmd_register(rt->reg, &def, err, errlen);
}

int script_cmd_add(struct lstate *ls, const char *name, const char *help, char *err, size_t errlen)
{
    struct mitm_script_rt *rt = ls->rt;
    for (struct scmd *c = rt->cmds; c; c = c->next) {
        if (strcmp(c->name, name) != 0)
            continue;
        if (c->s == ls->s) /* the script was reloaded: calls find the new function by name */
            return 0;
        mitm_errf(err, errlen, "script %s already added it", c->s->name);
        return -1;
    }
    struct scmd *c = mitm_calloc(1, sizeof(*c));
    c->rt = rt;
    c->name = mitm_strdup(name);
    c->help = mitm_strdup(help);
    c->s = ls->s;
    if (rt->reg && register_cmd(rt, c, err, errlen) < 0) {
        free(c->name);
        free(c->help);
        free(c);
        return -1;
    }
    c->next = rt->cmds;
    rt->cmds = c;
    return 0;
}

void script_cmds_free(struct mitm_script_rt *rt)
{
    for (struct scmd *c = rt->cmds, *next; c; c = next) {
        next = c->next;
        free(c->name);
        free(c->help);
        free(c);
    }
    rt->cmds = NULL;
}

/* ---- script.run ---- */

/* mitmproxy's eventsequence for an HTTP flow. */
static void run_flow(struct lstate *ls, struct mitm_flow *f, const struct mitm_hook_env *env)
{
    enum mitm_hook seq[5];
    size_t n = 0;
    if (f->type != MITM_FLOW_HTTP)
        return;
    if (f->request) {
        seq[n++] = MITM_HOOK_REQUESTHEADERS;
        seq[n++] = MITM_HOOK_REQUEST;
    }
    if (f->response) {
        seq[n++] = MITM_HOOK_RESPONSEHEADERS;
        seq[n++] = MITM_HOOK_RESPONSE;
    }
    if (f->error)
        seq[n++] = MITM_HOOK_ERROR;
    for (size_t i = 0; i < n; i++)
        if (ls->ref[seq[i]] != LUA_NOREF)
            lstate_hook(ls, seq[i], f, env);
}

/* script.run flows path: load the script in a state of its own (its load is not called, as
 * in mitmproxy), configure and start it, then run every flow's hooks through it in order.
 * The flows are changed in place; storing them back is the caller's (the front end's). */
static int script_run(void *data, const struct mitm_cmd_arg *args, size_t nargs, struct mitm_buf *out,
                      char *err, size_t errlen)
{
    struct mitm_script_rt *rt = data;
    const struct mitm_hook_env *env = rt->cmd_env;
    (void)out;
    (void)nargs;
    const char *path = args[1].str;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        mitm_hook_log(env, MITM_LOG_ERROR, "No such script: %s", path);
        return 0;
    }
    struct code *code = script_read_code(path, err, errlen);
    if (!code)
        return -1;
    const char *slash = strrchr(path, '/');
    char *name = mitm_strdup(slash ? slash + 1 : path);
    char *dir = slash ? mitm_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : mitm_strdup(".");
    struct lstate *ls = lstate_new(rt, NULL, LS_RUN, -1, name, dir);
    if (ls && lstate_run_chunk(ls, code->src, code->len, path, env) == 0 &&
        lstate_life(ls, LIFE_CONFIGURE, env) == 0 && lstate_life(ls, LIFE_RUNNING, env) == 0) {
        for (size_t i = 0; i < args[0].nflows; i++)
            run_flow(ls, args[0].flows[i], env);
    }
    lstate_free(ls);
    free(name);
    free(dir);
    script_code_free(code);
    return 0;
}

static const struct mitm_cmd_param run_params[] = {
    {"flows", MITM_ARG_FLOWS, NULL},
    {"path", MITM_ARG_PATH, NULL},
};

int mitm_script_rt_commands(struct mitm_script_rt *rt, struct mitm_cmd_registry *reg,
                            const struct mitm_hook_env *env, char *err, size_t errlen)
{
    rt->reg = reg;
    rt->cmd_env = env;
    struct mitm_cmd_def run = {
        "script.run",
        run_params,
        2,
        NULL,
        "Run a script on the specified flows. The script is configured with the current "
        "options and all lifecycle events for each flow are simulated. Note that the load "
        "event is not invoked.",
        script_run,
        rt};
    if (mitm_cmd_register(reg, &run, err, errlen) < 0)
        return -1;
    for (struct scmd *c = rt->cmds; c; c = c->next)
        if (register_cmd(rt, c, err, errlen) < 0)
            return -1;
    return 0;
}
