/* Lua scripting with mitmproxy's hooks (DESIGN §1 "Scripting hooks", reference §11): the
 * script runtime, a service the front end creates on the main thread, and the addon that
 * runs the scripts' hooks. The user guide is docs/scripting.md, the design
 * docs/internals/lua.md.
 *
 * Every script (-s / the scripts option, in order) is a Lua chunk that returns a table of
 * hook functions or defines them as globals, named exactly as mitmproxy's hooks.
 *
 * Threads: each script has one Lua state per worker thread, used only by that worker (no
 * lock on the request path), and one on the main thread for load, configure, running,
 * done, its commands and reloads. The states share nothing but mitm.shared (one mutex) and
 * the options. Every function here runs on the main thread unless it says otherwise; the
 * addon's hook runs on the worker that owns the flow (env->worker).
 *
 * Errors never take the proxy down: a hook that fails (a Lua error, script_timeout,
 * script_memory_limit) is logged with its traceback and the script's name, and the flow goes
 * on with whatever the hook changed before it failed. */
#ifndef MITM_SCRIPT_SCRIPT_H
#define MITM_SCRIPT_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_optsnap;
struct mitm_opt_info;
struct mitm_cmd_registry;
struct mitm_script_rt;

struct mitm_script_config {
    /* The process options (borrowed; must outlive the runtime): the scripts option is not
     * read from here (scripts are added with mitm_script_rt_load), the limits are, and hooks
     * that run without a connection (main thread) read options from here. */
    const struct mitm_options *opts;
    /* Seconds from any fixed origin, for script_timeout (the runtime reads no clock of its
     * own). NULL: hooks are never interrupted. */
    double (*clock)(void);
};

/* A runtime without scripts. Reads script_timeout, script_memory_limit and
 * script_shared_size from cfg->opts once. Never NULL. */
struct mitm_script_rt *mitm_script_rt_new(const struct mitm_script_config *cfg);

/* Close every Lua state (without calling done: see mitm_script_rt_done) and free the runtime.
 * The workers must be gone. Accepts NULL. */
void mitm_script_rt_free(struct mitm_script_rt *rt);

/* Add the script at path ("~" expanded), after those already added: logs "Loading script
 * PATH", runs the chunk in a new main-thread state and calls its load(loader). Errors are
 * logged through env (mitmproxy's texts): "No such script: PATH", "error in script PATH:
 * MESSAGE" with the Lua traceback, "Duplicate script". Returns 0, or -1 (the script is not
 * added). Before mitm_script_rt_workers only. */
int mitm_script_rt_load(struct mitm_script_rt *rt, const char *path, const struct mitm_hook_env *env);

/* Apply --set specs that named no table option (mitm_cli's deferred specs) to the options
 * the scripts added, grouped per option as --set is. Returns 0, or -1 with err set:
 * "Unknown option: NAME" or the option's parse error. Before mitm_script_rt_workers only. */
int mitm_script_rt_set(struct mitm_script_rt *rt, const char *const *specs, size_t n, char *err,
                       size_t errlen);

/* ---- the scripts' options at run time (main thread) ---- */

/* The row of script option name (its newest definition), or NULL. *value and *def (if not
 * NULL) receive the addresses of its current and default values (the row type's C type:
 * MITM_OPT_CTYPE_*), valid until the next set or load. */
const struct mitm_opt_info *mitm_script_rt_option(const struct mitm_script_rt *rt, const char *name,
                                                  const void **value, const void **def);

/* The script options, the newest definition of each, in definition order: writes up to cap
 * rows into out and returns how many there are. */
size_t mitm_script_rt_options(const struct mitm_script_rt *rt, const struct mitm_opt_info **out, size_t cap);

/* Set script option name at run time from text as mitm_options_set does (value NULL: its
 * default; a list takes one item per line). Workers read the new value from their next
 * mitm.options read. Returns 0, or -1 with err set ("Unknown option: NAME", the parse
 * error): nothing changed. */
int mitm_script_rt_set_option(struct mitm_script_rt *rt, const char *name, const char *value, char *err,
                              size_t errlen);

/* Options names[0..n) changed at run time (table or script options), as mitmproxy's
 * configure(updated): call configure in every main-thread state now (with env), and in
 * every worker state at its next hook, with opts (a reference is taken) as the options it
 * reads there. Returns 0, or -1 if a main-thread configure failed (logged). */
int mitm_script_rt_options_changed(struct mitm_script_rt *rt, const char *const *names, size_t n,
                                   struct mitm_optsnap *opts, const struct mitm_hook_env *env);

/* Call configure(updated) in every main-thread state, updated holding every option name.
 * Returns 0, or -1 if one failed (logged). */
int mitm_script_rt_configure(struct mitm_script_rt *rt, const struct mitm_hook_env *env);

/* Build the states of workers 0..n-1 (each runs the chunk, load and configure) so that the
 * first request pays nothing and startup errors show at startup; a worker with a higher
 * index builds its own on its first hook. Call before the workers start. Returns 0, or -1
 * if a state failed (logged). */
int mitm_script_rt_workers(struct mitm_script_rt *rt, int n, const struct mitm_hook_env *env);

/* The proxy is up: call running() in every main-thread state (and in those reloaded later).
 * Returns 0, or -1 if one failed (logged). */
int mitm_script_rt_running(struct mitm_script_rt *rt, const struct mitm_hook_env *env);

/* Hot reload, driven by the front end's event loop (every second or so is enough): for each
 * script whose file was not looked at in the last second (by env->now), compare its
 * modification time, size and inode with the loaded version; on a change reload it in a new
 * main-thread state (chunk, load, configure, running) and, if that worked, call done() in
 * the old one and hand the new code to the workers, which switch at their next hook (new
 * requests use the new code). A reload that fails logs the error and keeps the old code; a
 * file that disappeared keeps the old code too (warned once). */
void mitm_script_rt_tick(struct mitm_script_rt *rt, const struct mitm_hook_env *env);

/* Shutdown: call done() in every main-thread state, in load order. After the workers
 * stopped. */
void mitm_script_rt_done(struct mitm_script_rt *rt, const struct mitm_hook_env *env);

/* Register script.run (mitmproxy's signature: flows:flow[] path:path) and the commands the
 * scripts add with loader:add_command, now and later (reg is kept: it must outlive the
 * runtime). Commands run on the main thread, in the script's main-thread state, with env
 * (borrowed: must outlive the runtime). Returns 0, or -1 with err set. */
int mitm_script_rt_commands(struct mitm_script_rt *rt, struct mitm_cmd_registry *reg,
                            const struct mitm_hook_env *env, char *err, size_t errlen);

/* How many scripts were added. */
size_t mitm_script_rt_count(const struct mitm_script_rt *rt);

/* Bytes all Lua states of the runtime have allocated, and how many states there are (in
 * *nstates if not NULL). Exact when the workers are stopped; a snapshot while they run. */
size_t mitm_script_rt_memory(const struct mitm_script_rt *rt, size_t *nstates);

/* --options with the options the scripts added: mitm_options_dump_extra of defaults plus
 * each script option's default. */
void mitm_script_rt_dump_options(const struct mitm_script_rt *rt, const struct mitm_options *defaults,
                                 FILE *out);

/* The addon (state: the runtime). Runs each script's function for the hook, in script
 * order, in the calling worker's state (the main-thread state when env->worker is -1).
 * Hooks and argument types: docs/scripting.md; see also src/script/hooks.c. */
extern const struct mitm_addon mitm_addon_script;

#endif
