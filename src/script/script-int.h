/* Internals of the Lua runtime shared by its files: the runtime, scripts, Lua states, and
 * the binding helpers. Not for use outside src/script (and its unit tests). */
#ifndef MITM_SCRIPT_SCRIPT_INT_H
#define MITM_SCRIPT_SCRIPT_INT_H

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/options.h"
#include "core/services.h"
#include "script/script.h"
#include "script/shared.h"

#define SCRIPT_MAX_WORKERS 256         /* worker indexes beyond get no script (warned once) */
#define SCRIPT_MAX_OPTIONS 256         /* options all scripts may add, reloads included */
#define SCRIPT_MAX_FILE    (16u << 20) /* largest script file read */
#define SCRIPT_COUNT_STEP  10000       /* VM instructions between two looks at the clock */
#define SCRIPT_MAX_ROOTS   4           /* boxes one hook call hands to Lua */
#define SCRIPT_DECODE_CAP  (64u << 20) /* largest decoded body (content, text, json) */
#define SCRIPT_CFG_LOG     64          /* option changes remembered for the workers' configure */

enum lstate_kind {
    LS_MAIN = 0, /* the script's main-thread state: lifecycle, commands */
    LS_WORKER,   /* one worker's state: the flow hooks */
    LS_RUN,      /* script.run's throwaway state */
};

/* Lifecycle hooks (not in MITM_HOOKS: the core does not emit them). */
enum life_hook { LIFE_LOAD = 0, LIFE_CONFIGURE, LIFE_RUNNING, LIFE_DONE, LIFE__COUNT };

/* One version of a script's source text, shared by the states built from it. */
struct code {
    int refs; /* atomic */
    unsigned gen;
    char *src;
    size_t len;
};

struct script;
struct mitm_script_rt;

/* The classes (metatables) of the bindings. A class is found by its address: the registry
 * holds its metatable under that light-userdata key, and each state caches the metatable's
 * address, so a type check is a pointer comparison (luaL_checkudata hashes the name). */
struct bind_cls {
    const char *name;
};
enum {
    C_FLOW = 0,
    C_REQUEST,
    C_RESPONSE,
    C_HEADERS,
    C_QUERY,
    C_CONNINFO,
    C_META,
    C_CONN,
    C_FILTER,
    C_LOADER,
    C_OPTIONS,
    C_TCPMSG,
    C_WSDATA,
    C_WSMSG,
    C__COUNT
};
extern const struct bind_cls script_cls[C__COUNT];
#define CLS_FLOW     (&script_cls[C_FLOW])
#define CLS_REQUEST  (&script_cls[C_REQUEST])
#define CLS_RESPONSE (&script_cls[C_RESPONSE])
#define CLS_HEADERS  (&script_cls[C_HEADERS])
#define CLS_QUERY    (&script_cls[C_QUERY])
#define CLS_CONNINFO (&script_cls[C_CONNINFO])
#define CLS_META     (&script_cls[C_META])
#define CLS_CONN     (&script_cls[C_CONN])
#define CLS_FILTER   (&script_cls[C_FILTER])
#define CLS_LOADER   (&script_cls[C_LOADER])
#define CLS_OPTIONS  (&script_cls[C_OPTIONS])
#define CLS_TCPMSG   (&script_cls[C_TCPMSG])
#define CLS_WSDATA   (&script_cls[C_WSDATA])
#define CLS_WSMSG    (&script_cls[C_WSMSG])

/* The box at idx if it is of class c, else NULL. */
void *bind_test(lua_State *L, int idx, const struct bind_cls *c);
/* Set the metatable of class c on the value on top. */
void bind_setmt(lua_State *L, const struct bind_cls *c);

/* A Lua state and what the runtime knows about it. The state's extra space holds a pointer
 * to this struct (lstate_of). */
struct lstate {
    lua_State *L;
    struct mitm_script_rt *rt;
    struct script *s; /* NULL for LS_RUN */
    enum lstate_kind kind;
    int worker;                /* -1: main thread */
    unsigned gen;              /* generation of the code it runs */
    const char *name;          /* log prefix: the script's file name (borrowed) */
    int ref[MITM_HOOK__COUNT]; /* hook functions in the registry; LUA_NOREF: none */
    int life[LIFE__COUNT];
    int cmds;                        /* registry ref of a table: command name -> function */
    const struct mitm_hook_env *env; /* env of the call in progress, NULL between calls */
    void *roots[SCRIPT_MAX_ROOTS];   /* boxes of the call in progress, invalidated after it */
    size_t nroots;
    size_t mem, mem_limit;    /* allocator accounting; limit 0 = none */
    double deadline;          /* clock value at which the call is interrupted; 0 none */
    const char *what;         /* the hook in progress (for the timeout message) */
    const void *mt[C__COUNT]; /* the address of each class's metatable in this state */
    bool timed_out;
    bool loading; /* inside load(): the loader works */
    /* inside configure(): the option names it is told of (NULL: every option) */
    const char *const *updated;
    size_t nupdated;
};

static inline struct lstate *lstate_of(lua_State *L)
{
    return *(struct lstate **)lua_getextraspace(L);
}

struct stamp {
    bool ok;
    dev_t dev;
    ino_t ino;
    off_t size;
    long long mtime_s, mtime_ns;
};

struct wslot {
    struct lstate *ls; /* touched only by worker i (and the main thread before/after workers run) */
    unsigned tried;    /* generation last built (or failed to build) */
    unsigned cfg_seen; /* the runtime's cfg_gen its state was last configured at */
};

struct script {
    struct mitm_script_rt *rt;
    char *path; /* as given */
    char *file; /* "~" expanded */
    char *name; /* base name, the log prefix */
    char *dir;  /* for package.path */
    pthread_mutex_t code_lock;
    struct code *code; /* current version, under code_lock */
    unsigned gen;      /* atomic: code->gen, published after code */
    struct lstate *main;
    struct wslot w[SCRIPT_MAX_WORKERS];
    struct stamp stamp;
    double last_check;
    bool gone_warned;
};

/* An option a script added (loader:add_option). Entries are never removed once workers
 * run: a reload that redefines an option appends a new entry (lookups take the newest), so
 * workers find them without a lock. Values change at run time (`set`): the main thread
 * writes them under rt->opt_lock, workers read them under it; the main thread, the only
 * writer, reads them without. */
union optval {
    bool b;
    long l;
    char *s;
    struct mitm_strvec v;
};

struct sopt {
    struct mitm_opt_info info; /* name, help, choices owned */
    union optval val, def;
};

/* A command a script added; the function is looked up by name in the script's current
 * main-thread state at each call, so reloads need no re-registration. */
struct scmd {
    struct scmd *next;
    struct mitm_script_rt *rt;
    char *name, *help;
    struct script *s;
};

struct mitm_script_rt {
    const struct mitm_options *opts;
    double (*clock)(void);
    long timeout_ms;
    size_t mem_limit;
    struct script **scripts;
    size_t n;
    struct sopt *opt[SCRIPT_MAX_OPTIONS];
    size_t nopt; /* atomic (release on add) */
    struct scmd *cmds;
    struct mitm_cmd_registry *reg;
    const struct mitm_hook_env *cmd_env;
    struct mitm_shared *shared;
    uint8_t has_hook[MITM_HOOK__COUNT]; /* atomic: some loaded code defines the hook */
    pthread_mutex_t opt_lock;           /* script option values (struct sopt) */
    /* Options changed at run time, for the workers' configure(updated): each change bumps
     * cfg_gen (atomic) and records its names; a worker state configured at an older
     * generation is configured again at its next hook with the names changed since (all
     * names if the record was overwritten), with cfg_opts as its options. Under cfg_lock. */
    pthread_mutex_t cfg_lock;
    unsigned cfg_gen;
    struct cfg_change {
        unsigned gen;
        char *name;
    } cfg_log[SCRIPT_CFG_LOG];
    struct mitm_optsnap *cfg_opts;
    bool started; /* worker states built: options are frozen */
    bool running;
    bool warned_worker;
};

/* ---- runtime.c ---- */

/* A new state for script s (NULL: script.run) with the mitm library, limits and
 * package.path; NULL if Lua could not even start (logged). */
struct lstate *lstate_new(struct mitm_script_rt *rt, struct script *s, enum lstate_kind kind, int worker,
                          const char *name, const char *dir);
void lstate_free(struct lstate *ls);
/* Run chunk (src, len) named chunkname, then resolve its hooks. Returns 0, or -1 with the
 * error logged as "error in script PATH: ...". */
int lstate_run_chunk(struct lstate *ls, const char *src, size_t len, const char *path,
                     const struct mitm_hook_env *env);
/* Call lifecycle hook h (if defined) with the arguments pushed by push (may be NULL).
 * Returns 0, or -1 (logged). */
int lstate_life(struct lstate *ls, enum life_hook h, const struct mitm_hook_env *env);
/* Protected call of the function below nargs arguments on the stack, with the traceback
 * handler, env, the timeout and root invalidation; what names it in errors. Pops the
 * function and the arguments; pushes nresults results on success. Returns 0 or -1 (logged:
 * "NAME: error in WHAT: ..."). */
int lstate_pcall(struct lstate *ls, int nargs, int nresults, const char *what,
                 const struct mitm_hook_env *env);
/* Log through the state's current env (or the process log), prefixed with "NAME: ". */
void lstate_log(struct lstate *ls, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A script file's text as a new code version (generation 1), or NULL with err set. */
struct code *script_read_code(const char *file, char *err, size_t errlen);
void script_code_free(struct code *c); /* drops a reference */
/* Run hook h of ls on arg (the flow hooks' entry). */
void lstate_hook(struct lstate *ls, enum mitm_hook h, void *arg, const struct mitm_hook_env *env);

/* ---- hooks.c: the argument of each hook ---- */

/* Push the Lua arguments of hook h for arg; returns how many (0: the hook gets none). Boxes
 * pushed are recorded as roots so the runtime invalidates them after the call. */
int script_push_hook_args(struct lstate *ls, enum mitm_hook h, void *arg);
/* After the hook: copy back what the script set on a table argument (tls_clienthello's
 * ignore_connection, socks5_auth's valid); idx is that table. */
void script_pull_hook_args(struct lstate *ls, enum mitm_hook h, void *arg, int idx);
/* Does hook h have a row (an argument binding)? */
bool script_hook_bound(enum mitm_hook h);

/* ---- lib.c: the mitm module ---- */
void script_open_lib(struct lstate *ls);
/* The configure argument: a table whose keys are all option names (value true). */
void script_push_all_options(struct lstate *ls);
/* The configure argument as mitmproxy's `updated`: a table whose keys are the names of
 * ls->updated (value true), or every option name when it is NULL. */
void script_push_updated(struct lstate *ls);

/* ---- options.c: script options, the loader ---- */
void script_push_loader(struct lstate *ls); /* valid while ls->loading */
const struct sopt *script_option_find(const struct mitm_script_rt *rt, const char *name);
void script_push_option_value(lua_State *L, const struct mitm_opt_info *in, const void *field);
void script_options_free(struct mitm_script_rt *rt);
/* A deep copy of src into dst (overwritten without being freed). */
void script_copy_option_value(const struct mitm_opt_info *in, union optval *dst, const union optval *src);

/* ---- commands.c ---- */
void script_cmds_free(struct mitm_script_rt *rt);
/* loader:add_command on the main state: remember name for this script (and register it). */
int script_cmd_add(struct lstate *ls, const char *name, const char *help, char *err, size_t errlen);

/* ---- binding helpers (bind.c) ---- */

/* Box header: every userdata the bindings make starts with the pointer it views; roots are
 * set to NULL after their hook, and derived boxes resolve through their root. */
struct box {
    void *p;
};

struct prop {
    const char *name;
    lua_CFunction get; /* (box) -> value */
    lua_CFunction set; /* (box, value); NULL: read-only */
};

/* Create metatable tname with properties (name -> getter/setter), methods and metamethods
 * (__gc, __len, __pairs, __tostring, __call ...). __index looks up properties, then
 * methods, then fallback (if not NULL: called as fallback(box, key)); __newindex calls the
 * setter, else newfallback(box, key, value), else raises. */
void bind_class(lua_State *L, const struct bind_cls *c, const struct prop *props, const luaL_Reg *methods,
                const luaL_Reg *meta, lua_CFunction fallback, lua_CFunction newfallback);
/* A new zeroed box of size bytes (at least a struct box) and class tname viewing p, with nuv
 * user values; it is left on the stack. */
void *bind_new(lua_State *L, const struct bind_cls *c, size_t size, void *p, int nuv);
/* The box at idx if it is of class c (raises "C expected, got X" otherwise). */
void *bind_check(lua_State *L, int idx, const struct bind_cls *c);
/* What text may hold: VALUE anything but CR, LF and NUL (they would break an HTTP/1 head);
 * WORD not empty, no space or control characters either (a host, a path, a URL); TOKEN a
 * WORD without ':' (a method, a header name). */
enum text_kind { TEXT_VALUE = 0, TEXT_WORD, TEXT_TOKEN };
/* Raise "invalid WHAT: ..." unless s[0..n) is text of that kind. */
void bind_check_text(lua_State *L, const char *s, size_t n, const char *what, enum text_kind kind);
/* Record the box at idx as a root of the call in progress (invalidated when it returns). */
void bind_root(struct lstate *ls, int idx);
/* Push {host, port} or nil when host is NULL. */
void bind_push_addr(lua_State *L, const char *host, unsigned port);
/* Push a C string or nil. */
void bind_push_opt(lua_State *L, const char *s);
/* Lua value at idx <-> tnetstring bytes (flow metadata). */
int bind_to_tns(lua_State *L, int idx, struct mitm_buf *out, char *err, size_t errlen);
void bind_push_tns(lua_State *L, const uint8_t *p, size_t n);

/* ---- bind_flow.c, bind_http.c, bind_headers.c ---- */
void bind_flow_open(lua_State *L);
void bind_http_open(lua_State *L);
void bind_headers_open(lua_State *L);
void bind_conn_open(lua_State *L);

struct mitm_flow;
struct mitm_conn;
struct mitm_headers;
struct mitm_http_request;
struct mitm_http_response;

/* Push a box for flow f (a root: invalid after the call). */
void bind_push_flow(struct lstate *ls, struct mitm_flow *f);
/* The flow of the flow box at idx; raises if it is not one or its hook returned. */
struct mitm_flow *bind_check_flow(lua_State *L, int idx);
/* Push a box for a layer connection (hook argument of the connection hooks; a root). */
void bind_push_conn(struct lstate *ls, struct mitm_conn *c);

/* A message box: a flow's request or response, or a response that a script made
 * (mitm.response) and owns until it is assigned to a flow. */
struct mbox {
    struct box b;                   /* b.p: the parent flow box (struct box *), or NULL */
    struct mitm_http_response *own; /* a script's own response, else NULL */
    bool request;
};
struct mitm_http_request *bind_request(lua_State *L, struct mbox *m);   /* raises when gone */
struct mitm_http_response *bind_response(lua_State *L, struct mbox *m); /* raises when gone */
/* Push the flow's request / response box (cached in the flow box's user values). */
void bind_push_message(lua_State *L, int flowidx, bool request);
/* flow.response = value at idx (a response box or nil). */
void bind_set_response(lua_State *L, int flowidx, int idx);
/* mitm.response(status, body, headers) */
int bind_make_response(lua_State *L);

/* Push a headers view of the message box at msgidx (trailers: its trailers). */
void bind_push_headers(lua_State *L, int msgidx, bool trailers);
void bind_push_query(lua_State *L, int msgidx);
/* Replace *h with the fields of the table or headers box at idx (raises on bad values). */
void bind_headers_from(lua_State *L, int idx, struct mitm_headers *h);

#endif
