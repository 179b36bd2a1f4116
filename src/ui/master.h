/* The main thread of every front end (mitmproxy's Master): `mitmc dump`, the console
 * (`mitmc`) and later `mitmc web` run the same start-up (CA and TLS, modes, built-in addons,
 * Lua scripts, server replay, the proxy's workers), read -r files through the addons the
 * same way, and reach the workers the same way (resume, kill, replay). A front end adds
 * what it shows: dump prints, the console draws.
 *
 * Interactive front ends (fe.interactive) also get:
 *  - the intercept addon at the end of the addon chain (mitmproxy adds it to its console
 *    and web masters only), with the intercept options applied live;
 *  - live publishing: a snapshot of every flow at each of its hooks, so a flow shows as soon
 *    as its request starts and is updated in place;
 *  - the flow store and its view (m->store, m->view), filled by the master from the
 *    published flows and from -r, in arrival order, with view_filter applied;
 *  - the table of live flows (which worker owns each one), for resume and kill;
 *  - the commands of mitmproxy's core addons on m->commands (flow.*, replay.*, save.*,
 *    view.*, set, options.*: ui/commands.c), with the flow resolver of the view.
 *
 * Everything here runs on the main thread. */
#ifndef MITM_UI_MASTER_H
#define MITM_UI_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "addon/addon.h"
#include "addon/builtin.h"
#include "core/services.h"
#include "flow/flow-t.h"
#include "io/io.h"

struct mitm_cli;
struct mitm_master;
struct mitm_ui_settings;
struct mitm_browsers;

/* What a front end plugs in. */
struct mitm_frontend {
    void *arg;
    /* A flow event: published by a worker (ev->worker >= 0), or read from a file (-r,
     * view.flows.load: ev->worker -1, loaded true, after the addons ran on it). The front end
     * takes the reference ev->flow. Interactive masters have already put the flow into
     * m->store when this is called (index: its store index, -1 if the store refused it). */
    void (*flow)(void *arg, const struct mitm_pub *ev, bool loaded, ssize_t index);
    /* A flow of the store changed by a command (mark, comment, edit, revert, kill...), or
     * the store or view changed as a whole (index -1: clear, remove, new filter or order).
     * NULL: not interested. */
    void (*changed)(void *arg, ssize_t index);
    /* An option was set at run time (`set`, the options editor). NULL: not interested. */
    void (*option)(void *arg, const char *name);
    /* Needs flows at all (dump with flow_detail 0, no -w, no -C: none). */
    bool wants_flows;
    /* A UI: intercept, live snapshots, store and view, the interactive commands. */
    bool interactive;
    /* An addon of the front end's own, run last in the workers' chain (NULL: none): the web
     * UI's guard that keeps proxied requests from reaching its own server. */
    const struct mitm_addon *addon;
    void *addon_state;
};

/* The table of live flows: id -> worker. */
struct mitm_live;

struct mitm_master {
    uv_loop_t *loop;
    const struct mitm_cli *cli;
    struct mitm_frontend fe;
    struct mitm_proxy *proxy; /* NULL without workers (-n without replays) or before start */
    struct mitm_services svc; /* what the workers run with (valid while svc_on) */
    bool svc_on;
    struct mitm_cert_store *certs;
    struct mitm_tls_config *tls;
    struct mitm_next_config *next;
    struct mitm_mode_spec *modes; /* --mode, one server each */
    size_t n_modes;
    struct mitm_serverplayback *sp;     /* -S: the recorded responses (NULL: none) */
    struct mitm_builtin_addons builtin; /* map/modify/block/sticky/auth addon states */
    struct mitm_addons *addons;
    struct mitm_intercept *intercept; /* interactive only */
    struct mitm_script_rt *scripts;   /* -s: NULL when no script is given */
    struct mitm_cmd_registry *commands;
    struct mitm_hook_env main_env; /* what main-thread hook calls run with */
    uv_timer_t script_timer;       /* hot reload */
    bool script_timer_on;
    struct mitm_filter *read_filter; /* readfile_filter */
    /* interactive only */
    struct mitm_store *store;
    struct mitm_store_view *view;
    struct mitm_live *live;
    struct mitm_ui_settings *settings; /* view.settings.*: owned by ui/viewcmds.c */
    struct mitm_browsers *browsers;    /* browser.start: owned by ui/browser.c */
    struct mitm_options defaults;      /* the table's defaults (mitm_master_option), once asked for */
    bool defaults_on;
    bool stopping;
    int rc; /* exit status so far */
};

/* Set up m (zeroed by the caller) for a front end. Nothing starts yet. */
void mitm_master_init(struct mitm_master *m, uv_loop_t *loop, const struct mitm_cli *cli,
                      const struct mitm_frontend *fe);

/* Load scripts, configure the built-in addons and server replay, start the proxy (when the
 * server option is on, or client replays are asked for), then run the scripts' running
 * hooks. Interactive: also the store (store_dir), the view (view_filter), intercept.
 * Returns 0, or the exit status (1: an error was logged; 2: an unknown option of a script,
 * printed as the command line reports it). */
int mitm_master_start(struct mitm_master *m);

/* Read a flow file (or HAR; "-" = stdin) through the addons, as mitmproxy's readfile:
 * flows matching readfile_filter go to the front end one by one with loaded set. Returns
 * the number of flows read, or -1 (logged: cannot open, corrupt). */
long mitm_master_read_file(struct mitm_master *m, const char *path);

/* -C: queue the client_replay files' requests. Returns 0 or -1 (logged). */
int mitm_master_client_replay(struct mitm_master *m);

/* Stop the proxy (live exchanges get grace seconds), then call done(arg) on the loop.
 * Safe to call twice (the second call does nothing). */
void mitm_master_stop(struct mitm_master *m, double grace, void (*done)(void *), void *arg);

/* After the loop ended: the scripts' done hooks, then free everything. */
void mitm_master_deinit(struct mitm_master *m);

/* The hook environment of the main thread (scripts, loaded flows). */
const struct mitm_hook_env *mitm_master_env(struct mitm_master *m);

/* ---- interactive: the workers' side of the flows ---- */

/* Is flow id live (not final: its worker may still change it)? */
bool mitm_master_is_live(const struct mitm_master *m, const char *id);
/* Is flow id held by its worker (intercepted, waiting for resume)? */
bool mitm_master_is_held(const struct mitm_master *m, const char *id);

/* Resume flow id if it is held. edited (taken over; NULL: none) replaces the request and
 * response parts the user changed (mitm_flow_apply_edits). Returns true if a resume was
 * sent. */
bool mitm_master_resume(struct mitm_master *m, const char *id, struct mitm_flow *edited);

/* Kill live flow id (mitmproxy's flow.kill: only live flows are killable). Returns true if
 * a kill was sent. */
bool mitm_master_kill(struct mitm_master *m, const char *id);

/* Inject a message into live WebSocket or TCP flow id (inject.websocket, inject.tcp).
 * Returns false (nothing sent) if the flow is not live. */
bool mitm_master_inject_message(struct mitm_master *m, const char *id, bool to_client, bool is_text,
                                const void *data, size_t len);

/* Replay flows[0..n) (replay.client): each replayable one is re-sent by a worker and its
 * new response replaces the old in the store (same id). Returns the number queued, or -1
 * without a proxy (err set). */
long mitm_master_replay(struct mitm_master *m, struct mitm_flow *const *flows, size_t n, char *err,
                        size_t errlen);

/* Set an option at run time (the `set` command, the options editor): value NULL resets it
 * to its default; for a list option value is one item per line. New connections run with
 * the new options; intercept and intercept_active apply at once; view_filter refilters
 * the view. A script's option (loader:add_option) is read by the scripts from then on.
 * Either way the scripts' configure(updated) runs with the name, as mitmproxy's. Returns 0, or -1 with err
 * set (unknown option, invalid value: nothing changed). */
int mitm_master_set_option(struct mitm_master *m, const char *name, const char *value, char *err,
                           size_t errlen);

/* The row of option name: the options table's, or one a script added (loader:add_option);
 * NULL if neither. *value and *def (if not NULL) receive the addresses of its current and
 * default values (MITM_OPT_CTYPE_* of its type), valid until the next set on this thread. */
const struct mitm_opt_info *mitm_master_option(struct mitm_master *m, const char *name, const void **value,
                                               const void **def);

/* Every option: the table's rows, then the scripts' (newest definition of each). Writes up
 * to cap rows into out and returns how many there are. */
size_t mitm_master_options(const struct mitm_master *m, const struct mitm_opt_info **out, size_t cap);

/* Put a flow (a new reference is taken) into the store as the master does for published
 * flows, telling the front end through fe.flow (duplicates, flows created by the user).
 * Returns its store index or -1 (logged). */
ssize_t mitm_master_add_flow(struct mitm_master *m, struct mitm_flow *f);

/* A stored flow changed (a command edited it): write it back to the store and tell the
 * front end (fe.changed). Returns 0 or -1 (logged). */
int mitm_master_update_flow(struct mitm_master *m, size_t index, const struct mitm_flow *f);

#endif
