/* The script runtime: scripts, their Lua states (one per worker, one on the main thread),
 * protected calls with a time limit and a memory cap, hot reload, lifecycle, and the addon
 * that runs the flow hooks. docs/internals/lua.md explains the design.
 *
 * Every Lua API call that may allocate runs inside lua_pcall: a memory error outside one
 * would panic (abort) the process. */
#include "script/script-int.h"

#include <errno.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/log.h"
#include "flow/flow-t.h"
#include "layer/layer.h"

static const char *const life_names[LIFE__COUNT] = {"load", "configure", "running", "done"};

/* ---- allocator: per-state accounting and cap (script_memory_limit) ---- */

static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lstate *ls = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        ls->mem -= old;
        return NULL;
    }
    if (nsize > old && ls->mem_limit && ls->mem + (nsize - old) > ls->mem_limit)
        return NULL; /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (!p)
        return nsize <= old ? ptr : NULL; /* Lua assumes shrinking never fails */
    ls->mem = ls->mem - old + nsize;
    return p;
}

/* ---- script_timeout: the instruction-count hook ---- */

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lstate *ls = lstate_of(L);
    if (ls->deadline <= 0)
        return;
    if (!ls->timed_out) {
        if (ls->rt->clock() < ls->deadline)
            return;
        /* from now on every instruction raises, so a pcall inside the script cannot keep a
         * loop going: the loop's own instructions run outside that pcall */
        ls->timed_out = true;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
        if (L != ls->L) /* in a coroutine: the hook call's own thread must not go on either */
            lua_sethook(ls->L, count_hook, LUA_MASKCOUNT, 1);
    }
    luaL_error(L, "script_timeout: %s ran longer than %d ms", ls->what ? ls->what : "the script",
               (int)ls->rt->timeout_ms);
}

static bool timeouts(const struct mitm_script_rt *rt)
{
    return rt->timeout_ms > 0 && rt->clock;
}

/* ---- states ---- */

static int open_all(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    const char *dir = lua_touserdata(L, 1);
    luaL_openlibs(L);
    script_open_lib(ls);
    if (dir) { /* require() finds modules next to the script, as mitmproxy puts its dir on sys.path */
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "path");
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
        lua_setfield(L, -3, "path");
        lua_pop(L, 2);
    }
    lua_newtable(L);
    ls->cmds = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

struct lstate *lstate_new(struct mitm_script_rt *rt, struct script *s, enum lstate_kind kind, int worker,
                          const char *name, const char *dir)
{
    struct lstate *ls = mitm_calloc(1, sizeof(*ls));
    ls->rt = rt;
    ls->s = s;
    ls->kind = kind;
    ls->worker = worker;
    ls->name = name;
    ls->mem_limit = rt->mem_limit;
    ls->cmds = LUA_NOREF;
    for (int i = 0; i < MITM_HOOK__COUNT; i++)
        ls->ref[i] = LUA_NOREF;
    for (int i = 0; i < LIFE__COUNT; i++)
        ls->life[i] = LUA_NOREF;
    ls->L = lua_newstate(lalloc, ls);
    if (!ls->L) {
        mitm_hook_log(NULL, MITM_LOG_ERROR, "%s: cannot create a Lua state (script_memory_limit too low?)",
                      name);
        free(ls);
        return NULL;
    }
    lua_State *L = ls->L;
    *(struct lstate **)lua_getextraspace(L) = ls;
    lua_pushcfunction(L, open_all);
    lua_pushlightuserdata(L, (void *)dir);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        mitm_hook_log(NULL, MITM_LOG_ERROR, "%s: cannot start Lua: %s", name, lua_tostring(L, -1));
        lua_close(L);
        free(ls);
        return NULL;
    }
    /* The boxes of a hook call are short-lived: the generational collector suits them. */
    lua_gc(L, LUA_GCGEN, 0, 0);
    if (timeouts(rt))
        lua_sethook(L, count_hook, LUA_MASKCOUNT, SCRIPT_COUNT_STEP);
    return ls;
}

void lstate_free(struct lstate *ls)
{
    if (!ls)
        return;
    lua_close(ls->L);
    free(ls);
}

void lstate_log(struct lstate *ls, int level, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (msg)
        mitm_hook_log(ls->env, level, "%s: %s", ls->name, msg);
    free(msg);
}

/* Message handler: the error with the Lua traceback. */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Protected call of the function below nargs arguments; on error returns -1 and a copy of
 * the message in *errmsg (caller frees). */
static int pcall_msg(struct lstate *ls, int nargs, int nresults, const char *what,
                     const struct mitm_hook_env *env, char **errmsg)
{
    lua_State *L = ls->L;
    int fn = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msgh);
    lua_insert(L, fn);
    const struct mitm_hook_env *oenv = ls->env;
    const char *owhat = ls->what;
    bool outer = ls->deadline <= 0; /* a nested call (a command from running) keeps the outer limit */
    ls->env = env;
    ls->what = what;
    if (outer && timeouts(ls->rt)) {
        ls->deadline = ls->rt->clock() + (double)ls->rt->timeout_ms / 1000.0;
        ls->timed_out = false;
    }
    int rc = lua_pcall(L, nargs, nresults, fn);
    if (outer) {
        ls->deadline = 0;
        if (ls->timed_out) {
            lua_sethook(L, count_hook, LUA_MASKCOUNT, SCRIPT_COUNT_STEP);
            ls->timed_out = false;
        }
    }
    *errmsg = NULL;
    if (rc != LUA_OK) {
        const char *m =
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
        if (rc == LUA_ERRMEM && asprintf(errmsg, "%s (script_memory_limit: %zu bytes)", m, ls->mem_limit) < 0)
            *errmsg = NULL;
        if (!*errmsg)
            *errmsg = mitm_strdup(m);
        lua_pop(L, 1);
        if (rc == LUA_ERRMEM)
            lua_gc(L, LUA_GCCOLLECT);
    }
    lua_remove(L, fn); /* the handler; results (if any) are above it */
    ls->env = oenv;
    ls->what = owhat;
    return rc == LUA_OK ? 0 : -1;
}

int lstate_pcall(struct lstate *ls, int nargs, int nresults, const char *what,
                 const struct mitm_hook_env *env)
{
    char *msg = NULL;
    if (pcall_msg(ls, nargs, nresults, what, env, &msg) == 0)
        return 0;
    const struct mitm_hook_env *oenv = ls->env;
    ls->env = env;
    lstate_log(ls, MITM_LOG_ERROR, "error in %s: %s", what, msg);
    ls->env = oenv;
    free(msg);
    return -1;
}

/* ---- the chunk ---- */

struct chunk_call {
    const char *src;
    size_t len;
    const char *chunkname;
};

/* The name of hook or lifecycle hook i (0 .. MITM_HOOK__COUNT + LIFE__COUNT - 1). */
static const char *any_hook_name(int i)
{
    return i < MITM_HOOK__COUNT ? mitm_hook_name((enum mitm_hook)i) : life_names[i - MITM_HOOK__COUNT];
}

/* Take the hooks from the table at t (what the chunk returned, or the globals). From the
 * globals only what the chunk defined counts: "load", "error" and "print" are Lua's own
 * functions there until a script replaces them (before, at index: the values before the
 * chunk ran). */
static void resolve(lua_State *L, struct lstate *ls, int t, int before)
{
    for (int i = 0; i < MITM_HOOK__COUNT + LIFE__COUNT; i++) {
        const char *name = any_hook_name(i);
        if (lua_getfield(L, t, name) != LUA_TFUNCTION) {
            lua_pop(L, 1);
            continue;
        }
        if (before) {
            lua_getfield(L, before, name);
            bool same = lua_rawequal(L, -1, -2);
            lua_pop(L, 1);
            if (same) {
                lua_pop(L, 1);
                continue;
            }
        }
        int ref = luaL_ref(L, LUA_REGISTRYINDEX);
        if (i < MITM_HOOK__COUNT)
            ls->ref[i] = ref;
        else
            ls->life[i - MITM_HOOK__COUNT] = ref;
    }
}

/* Load and run the chunk, then resolve its hooks. Returns nothing, or the syntax error
 * (a string, without traceback: it has none). */
static int chunk_body(lua_State *L)
{
    struct chunk_call *c = lua_touserdata(L, 1);
    lua_createtable(L, 0, 8); /* the globals called like hooks, before the chunk */
    int before = lua_gettop(L);
    for (int i = 0; i < MITM_HOOK__COUNT + LIFE__COUNT; i++) {
        const char *name = any_hook_name(i);
        lua_getglobal(L, name);
        lua_setfield(L, before, name);
    }
    if (luaL_loadbufferx(L, c->src, c->len, c->chunkname, "t") != LUA_OK)
        return 1;
    lua_call(L, 0, 1);
    if (lua_type(L, -1) == LUA_TTABLE) {
        resolve(L, lstate_of(L), lua_gettop(L), 0);
    } else {
        lua_pop(L, 1);
        lua_pushglobaltable(L);
        resolve(L, lstate_of(L), lua_gettop(L), before);
    }
    return 0;
}

int lstate_run_chunk(struct lstate *ls, const char *src, size_t len, const char *path,
                     const struct mitm_hook_env *env)
{
    lua_State *L = ls->L;
    size_t n = strlen(path) + 2;
    char *chunkname = mitm_alloc(n);
    snprintf(chunkname, n, "@%s", path);
    struct chunk_call c = {src, len, chunkname};
    lua_pushcfunction(L, chunk_body);
    lua_pushlightuserdata(L, &c);
    char *msg = NULL;
    int rc = pcall_msg(ls, 1, 1, "the script's main chunk", env, &msg);
    if (rc == 0) { /* a syntax error comes back as a result */
        if (lua_type(L, -1) == LUA_TSTRING) {
            msg = mitm_strdup(lua_tostring(L, -1));
            rc = -1;
        }
        lua_pop(L, 1);
    }
    if (rc < 0)
        mitm_hook_log(env, MITM_LOG_ERROR, "error in script %s: %s", path, msg);
    free(msg);
    free(chunkname);
    return rc;
}

/* ---- lifecycle hooks ---- */

static int life_body(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    int h = (int)lua_tointeger(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->life[h]);
    int n = 0;
    if (h == LIFE_LOAD) {
        script_push_loader(ls);
        n = 1;
    } else if (h == LIFE_CONFIGURE) {
        script_push_updated(ls);
        n = 1;
    }
    lua_call(L, n, 0);
    return 0;
}

int lstate_life(struct lstate *ls, enum life_hook h, const struct mitm_hook_env *env)
{
    if (ls->life[h] == LUA_NOREF)
        return 0;
    lua_pushcfunction(ls->L, life_body);
    lua_pushinteger(ls->L, h);
    ls->loading = h == LIFE_LOAD;
    int rc = lstate_pcall(ls, 1, 0, life_names[h], env);
    ls->loading = false;
    return rc;
}

/* ---- flow hooks ---- */

struct hook_call {
    enum mitm_hook h;
    void *arg;
};

static int hook_body(lua_State *L)
{
    struct lstate *ls = lstate_of(L);
    const struct hook_call *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ref[c->h]);
    int n = script_push_hook_args(ls, c->h, c->arg);
    int argidx = lua_gettop(L); /* the argument, if one was pushed */
    if (n) {                    /* a copy under the function, to read back what the hook set */
        lua_pushvalue(L, argidx);
        lua_insert(L, argidx - 1);
    }
    lua_call(L, n, 0);
    if (n)
        script_pull_hook_args(ls, c->h, c->arg, lua_gettop(L));
    return 0;
}

void lstate_hook(struct lstate *ls, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct hook_call c = {h, arg};
    ls->nroots = 0;
    lua_pushcfunction(ls->L, hook_body);
    lua_pushlightuserdata(ls->L, &c);
    lstate_pcall(ls, 1, 0, mitm_hook_name(h), env);
    /* The boxes stay referenced by the state's roots table until the next call, so they
     * are alive here even after an error unwound the stack. */
    for (size_t i = 0; i < ls->nroots; i++)
        ((struct box *)ls->roots[i])->p = NULL;
    ls->nroots = 0;
}

/* ---- code versions ---- */

static struct code *code_ref(struct code *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

static void code_unref(struct code *c)
{
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free(c->src);
    free(c);
}

static int stamp_of(const char *file, struct stamp *st)
{
    struct stat sb;
    if (stat(file, &sb) < 0 || !S_ISREG(sb.st_mode))
        return -1;
    *st = (struct stamp){
        true, sb.st_dev, sb.st_ino, sb.st_size, (long long)sb.st_mtim.tv_sec, (long long)sb.st_mtim.tv_nsec};
    return 0;
}

static bool same_stamp(const struct stamp *a, const struct stamp *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns;
}

/* Read file into a new code version. NULL with err set on failure. */
static struct code *read_code(const char *file, unsigned gen, char *err, size_t errlen)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    struct mitm_buf b;
    mitm_buf_init(&b, SCRIPT_MAX_FILE);
    char chunk[16384];
    size_t n;
    bool bad = false;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (mitm_buf_append(&b, chunk, n) < 0) {
            bad = true;
            snprintf(err, errlen, "larger than %u bytes", SCRIPT_MAX_FILE);
            break;
        }
    if (!bad && ferror(f)) {
        bad = true;
        snprintf(err, errlen, "%s", strerror(errno));
    }
    fclose(f);
    if (bad) {
        mitm_buf_free(&b);
        return NULL;
    }
    struct code *c = mitm_calloc(1, sizeof(*c));
    c->refs = 1;
    c->gen = gen;
    c->src = (char *)mitm_buf_steal(&b, &c->len);
    return c;
}

struct code *script_read_code(const char *file, char *err, size_t errlen)
{
    return read_code(file, 1, err, errlen);
}

void script_code_free(struct code *c)
{
    code_unref(c);
}

/* ---- scripts ---- */

static void note_hooks(struct mitm_script_rt *rt, const struct lstate *ls)
{
    for (int h = 0; h < MITM_HOOK__COUNT; h++)
        if (ls->ref[h] != LUA_NOREF)
            __atomic_store_n(&rt->has_hook[h], 1, __ATOMIC_RELAXED);
}

/* A state for s running code: chunk, load, then optionally configure and running. */
static struct lstate *build(struct script *s, enum lstate_kind kind, int worker, const struct code *code,
                            const struct mitm_hook_env *env, bool configure, bool running)
{
    struct lstate *ls = lstate_new(s->rt, s, kind, worker, s->name, s->dir);
    if (!ls)
        return NULL;
    ls->gen = code->gen;
    if (lstate_run_chunk(ls, code->src, code->len, s->path, env) < 0 || lstate_life(ls, LIFE_LOAD, env) < 0 ||
        (configure && lstate_life(ls, LIFE_CONFIGURE, env) < 0) ||
        (running && lstate_life(ls, LIFE_RUNNING, env) < 0)) {
        lstate_free(ls);
        return NULL;
    }
    return ls;
}

/* path with surrounding quotes and spaces removed and "~/" expanded (mitmproxy's
 * os.path.expanduser(path.strip("'\" "))). */
static char *expand_path(const char *path)
{
    size_t a = strspn(path, "'\" "), n = strlen(path);
    while (n > a && strchr("'\" ", path[n - 1]))
        n--;
    char *p = mitm_strndup(path + a, n - a);
    const char *home = getenv("HOME");
    if (home && p[0] == '~' && (p[1] == '/' || !p[1])) {
        size_t l = strlen(home) + strlen(p);
        char *full = mitm_alloc(l + 1);
        snprintf(full, l + 1, "%s%s", home, p + 1);
        free(p);
        p = full;
    }
    return p;
}

static void script_free(struct script *s)
{
    if (!s)
        return;
    for (int i = 0; i < SCRIPT_MAX_WORKERS; i++)
        lstate_free(s->w[i].ls);
    lstate_free(s->main);
    code_unref(s->code);
    pthread_mutex_destroy(&s->code_lock);
    free(s->path);
    free(s->file);
    free(s->name);
    free(s->dir);
    free(s);
}

static struct script *script_new(struct mitm_script_rt *rt, const char *path, char *file)
{
    struct script *s = mitm_calloc(1, sizeof(*s));
    s->rt = rt;
    s->path = mitm_strdup(path);
    s->file = file;
    const char *slash = strrchr(file, '/');
    s->name = mitm_strdup(slash ? slash + 1 : file);
    s->dir = slash ? mitm_strndup(file, slash == file ? 1 : (size_t)(slash - file)) : mitm_strdup(".");
    pthread_mutex_init(&s->code_lock, NULL);
    return s;
}

int mitm_script_rt_load(struct mitm_script_rt *rt, const char *path, const struct mitm_hook_env *env)
{
    char err[256];
    for (size_t i = 0; i < rt->n; i++) {
        if (strcmp(rt->scripts[i]->path, path) == 0) {
            mitm_hook_log(env, MITM_LOG_ERROR, "Duplicate script");
            return -1;
        }
    }
    char *file = expand_path(path);
    struct stamp st;
    if (stamp_of(file, &st) < 0) {
        mitm_hook_log(env, MITM_LOG_ERROR, "No such script: %s", file);
        free(file);
        return -1;
    }
    struct script *s = script_new(rt, path, file);
    mitm_hook_log(env, MITM_LOG_INFO, "Loading script %s", path);
    struct code *code = read_code(s->file, 1, err, sizeof(err));
    if (!code) {
        mitm_hook_log(env, MITM_LOG_ERROR, "error in script %s: cannot read it: %s", path, err);
        script_free(s);
        return -1;
    }
    s->code = code;
    s->gen = code->gen;
    s->stamp = st;
    s->main = build(s, LS_MAIN, -1, code, env, false, false);
    if (!s->main) {
        script_free(s);
        return -1;
    }
    note_hooks(rt, s->main);
    rt->scripts = mitm_realloc(rt->scripts, (rt->n + 1) * sizeof(*rt->scripts));
    rt->scripts[rt->n++] = s;
    return 0;
}

int mitm_script_rt_configure(struct mitm_script_rt *rt, const struct mitm_hook_env *env)
{
    int rc = 0;
    for (size_t i = 0; i < rt->n; i++)
        if (lstate_life(rt->scripts[i]->main, LIFE_CONFIGURE, env) < 0)
            rc = -1;
    return rc;
}

int mitm_script_rt_options_changed(struct mitm_script_rt *rt, const char *const *names, size_t n,
                                   struct mitm_optsnap *opts, const struct mitm_hook_env *env)
{
    if (!rt || !n)
        return 0;
    if (rt->started) {
        pthread_mutex_lock(&rt->cfg_lock);
        for (size_t i = 0; i < n; i++) {
            unsigned g = rt->cfg_gen + 1;
            struct cfg_change *c = &rt->cfg_log[g % SCRIPT_CFG_LOG];
            free(c->name);
            c->gen = g;
            c->name = mitm_strdup(names[i]);
            __atomic_store_n(&rt->cfg_gen, g, __ATOMIC_RELEASE);
        }
        struct mitm_optsnap *old = rt->cfg_opts;
        rt->cfg_opts = opts ? mitm_optsnap_ref(opts) : NULL;
        pthread_mutex_unlock(&rt->cfg_lock);
        mitm_optsnap_unref(old);
    }
    int rc = 0;
    for (size_t i = 0; i < rt->n; i++) {
        struct lstate *ls = rt->scripts[i]->main;
        ls->updated = names;
        ls->nupdated = n;
        if (lstate_life(ls, LIFE_CONFIGURE, env) < 0)
            rc = -1;
        ls->updated = NULL;
        ls->nupdated = 0;
    }
    return rc;
}

int mitm_script_rt_workers(struct mitm_script_rt *rt, int n, const struct mitm_hook_env *env)
{
    rt->started = true;
    if (n > SCRIPT_MAX_WORKERS)
        n = SCRIPT_MAX_WORKERS;
    for (size_t i = 0; i < rt->n; i++) {
        struct script *s = rt->scripts[i];
        for (int w = 0; w < n; w++) {
            if (s->w[w].ls)
                continue;
            s->w[w].tried = s->code->gen;
            s->w[w].cfg_seen = __atomic_load_n(&rt->cfg_gen, __ATOMIC_ACQUIRE);
            s->w[w].ls = build(s, LS_WORKER, w, s->code, env, true, false);
            if (!s->w[w].ls)
                return -1;
            note_hooks(rt, s->w[w].ls);
        }
    }
    return 0;
}

int mitm_script_rt_running(struct mitm_script_rt *rt, const struct mitm_hook_env *env)
{
    int rc = 0;
    rt->running = true;
    for (size_t i = 0; i < rt->n; i++)
        if (lstate_life(rt->scripts[i]->main, LIFE_RUNNING, env) < 0)
            rc = -1;
    return rc;
}

void mitm_script_rt_done(struct mitm_script_rt *rt, const struct mitm_hook_env *env)
{
    for (size_t i = 0; rt && i < rt->n; i++)
        lstate_life(rt->scripts[i]->main, LIFE_DONE, env);
}

/* ---- hot reload (main thread) ---- */

static void reload(struct script *s, const struct mitm_hook_env *env)
{
    char err[256];
    struct mitm_script_rt *rt = s->rt;
    mitm_hook_log(env, MITM_LOG_INFO, "Loading script %s", s->path);
    struct code *code = read_code(s->file, s->code->gen + 1, err, sizeof(err));
    struct lstate *ls = code ? build(s, LS_MAIN, -1, code, env, true, rt->running) : NULL;
    if (!ls) {
        if (!code)
            mitm_hook_log(env, MITM_LOG_ERROR, "error in script %s: cannot read it: %s", s->path, err);
        mitm_hook_log(env, MITM_LOG_WARN, "%s: reload failed, the previous version keeps running", s->name);
        code_unref(code);
        return;
    }
    lstate_life(s->main, LIFE_DONE, env); /* mitmproxy removes the old addon, which calls done */
    lstate_free(s->main);
    s->main = ls;
    pthread_mutex_lock(&s->code_lock);
    struct code *old = s->code;
    s->code = code;
    pthread_mutex_unlock(&s->code_lock);
    code_unref(old);
    note_hooks(rt, ls);
    __atomic_store_n(&s->gen, code->gen, __ATOMIC_RELEASE); /* workers switch at their next hook */
}

void mitm_script_rt_tick(struct mitm_script_rt *rt, const struct mitm_hook_env *env)
{
    for (size_t i = 0; rt && i < rt->n; i++) {
        struct script *s = rt->scripts[i];
        if (s->last_check && env->now - s->last_check < 1.0 && env->now >= s->last_check)
            continue;
        s->last_check = env->now;
        struct stamp st;
        if (stamp_of(s->file, &st) < 0) {
            if (!s->gone_warned)
                mitm_hook_log(env, MITM_LOG_WARN, "script %s is gone; the loaded version keeps running",
                              s->path);
            s->gone_warned = true;
            continue;
        }
        s->gone_warned = false;
        if (same_stamp(&st, &s->stamp))
            continue;
        s->stamp = st;
        reload(s, env);
    }
}

/* ---- the addon (worker threads) ---- */

/* Options changed since slot's state was configured: configure(updated) in it, on its
 * worker, with the names changed since (every name if the log no longer reaches back) and
 * the options of the newest change. */
static void reconfigure(struct mitm_script_rt *rt, struct wslot *slot, const struct mitm_hook_env *env)
{
    const char *names[SCRIPT_CFG_LOG];
    size_t n = 0;
    bool all = false;
    pthread_mutex_lock(&rt->cfg_lock);
    unsigned now = rt->cfg_gen, seen = slot->cfg_seen;
    if (now - seen > SCRIPT_CFG_LOG) {
        all = true;
    } else {
        for (unsigned g = seen + 1; g != now + 1; g++) {
            const char *name = rt->cfg_log[g % SCRIPT_CFG_LOG].name;
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = strcmp(names[i], name) == 0;
            if (!dup)
                names[n++] = mitm_strdup(name);
        }
    }
    struct mitm_optsnap *snap = rt->cfg_opts ? mitm_optsnap_ref(rt->cfg_opts) : NULL;
    pthread_mutex_unlock(&rt->cfg_lock);
    slot->cfg_seen = now;
    struct mitm_hook_env e = *env;
    if (snap)
        e.opts = &snap->o;
    struct lstate *ls = slot->ls;
    ls->updated = all ? NULL : names;
    ls->nupdated = n;
    lstate_life(ls, LIFE_CONFIGURE, &e);
    ls->updated = NULL;
    ls->nupdated = 0;
    for (size_t i = 0; i < n; i++)
        free((char *)names[i]);
    mitm_optsnap_unref(snap);
}

/* Worker w's state for s, rebuilt from the newest code if a reload published one. On the
 * worker's own thread; only the code pointer is read under the script's lock, and only
 * when the generation changed. */
static struct lstate *state_for(struct script *s, int w, const struct mitm_hook_env *env)
{
    if (w < 0)
        return s->main;
    if (w >= SCRIPT_MAX_WORKERS) {
        if (!__atomic_exchange_n(&s->rt->warned_worker, true, __ATOMIC_RELAXED))
            mitm_hook_log(env, MITM_LOG_WARN, "scripts run on the first %d workers only", SCRIPT_MAX_WORKERS);
        return NULL;
    }
    struct wslot *slot = &s->w[w];
    unsigned gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    if (slot->tried == gen) {
        if (slot->ls && slot->cfg_seen != __atomic_load_n(&s->rt->cfg_gen, __ATOMIC_ACQUIRE))
            reconfigure(s->rt, slot, env);
        return slot->ls;
    }
    slot->cfg_seen = __atomic_load_n(&s->rt->cfg_gen, __ATOMIC_ACQUIRE); /* a new state sees all */
    pthread_mutex_lock(&s->code_lock);
    struct code *code = code_ref(s->code);
    pthread_mutex_unlock(&s->code_lock);
    slot->tried = code->gen;
    struct lstate *ls = build(s, LS_WORKER, w, code, env, true, false);
    code_unref(code);
    if (ls) {
        lstate_free(slot->ls);
        slot->ls = ls;
    } else if (slot->ls) {
        mitm_hook_log(env, MITM_LOG_WARN, "%s: worker %d keeps the previous version", s->name, w);
    }
    return slot->ls;
}

static void script_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_script_rt *rt = state;
    if ((unsigned)h >= MITM_HOOK__COUNT || !__atomic_load_n(&rt->has_hook[h], __ATOMIC_RELAXED) || !arg)
        return;
    for (size_t i = 0; i < rt->n; i++) {
        struct lstate *ls = state_for(rt->scripts[i], env->worker, env);
        if (ls && ls->ref[h] != LUA_NOREF)
            lstate_hook(ls, h, arg, env);
    }
}

const struct mitm_addon mitm_addon_script = {"script", script_hook};

/* ---- runtime ---- */

static size_t size_opt(const char *v)
{
    int64_t n = mitm_options_size(v);
    return n > 0 ? (size_t)n : 0;
}

struct mitm_script_rt *mitm_script_rt_new(const struct mitm_script_config *cfg)
{
    struct mitm_script_rt *rt = mitm_calloc(1, sizeof(*rt));
    rt->opts = cfg->opts;
    rt->clock = cfg->clock;
    rt->timeout_ms = cfg->opts->script_timeout;
    rt->mem_limit = size_opt(cfg->opts->script_memory_limit);
    rt->shared = mitm_shared_new(size_opt(cfg->opts->script_shared_size));
    pthread_mutex_init(&rt->opt_lock, NULL);
    pthread_mutex_init(&rt->cfg_lock, NULL);
    return rt;
}

void mitm_script_rt_free(struct mitm_script_rt *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n; i++)
        script_free(rt->scripts[i]);
    free(rt->scripts);
    script_cmds_free(rt);
    script_options_free(rt);
    mitm_shared_free(rt->shared);
    for (size_t i = 0; i < SCRIPT_CFG_LOG; i++)
        free(rt->cfg_log[i].name);
    mitm_optsnap_unref(rt->cfg_opts);
    pthread_mutex_destroy(&rt->opt_lock);
    pthread_mutex_destroy(&rt->cfg_lock);
    free(rt);
}

size_t mitm_script_rt_count(const struct mitm_script_rt *rt)
{
    return rt ? rt->n : 0;
}

size_t mitm_script_rt_memory(const struct mitm_script_rt *rt, size_t *nstates)
{
    size_t bytes = 0, n = 0;
    for (size_t i = 0; rt && i < rt->n; i++) {
        const struct script *s = rt->scripts[i];
        const struct lstate *all[SCRIPT_MAX_WORKERS + 1];
        size_t k = 0;
        all[k++] = s->main;
        for (int w = 0; w < SCRIPT_MAX_WORKERS; w++)
            if (s->w[w].ls)
                all[k++] = s->w[w].ls;
        for (size_t j = 0; j < k; j++) {
            bytes += __atomic_load_n(&all[j]->mem, __ATOMIC_RELAXED);
            n++;
        }
    }
    if (nstates)
        *nstates = n;
    return bytes;
}
