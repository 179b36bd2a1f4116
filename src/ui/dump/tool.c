/* `mitmc dump`: mitmdump's front end on the shared main thread (ui/master.h). Workers run
 * the proxy; finished flows come here (on_flow), as do the flows read with -r: each one is
 * printed (dumper_filter), then added to the flow store. The -w file is not written here:
 * the save addon (src/addon/save.h) writes each flow on its worker, in the hook that
 * precedes the response's last byte, so SIGKILL never loses a flow a client saw complete
 * (docs/internals/flows.md); this thread syncs the file (save_stream_fsync) and stops the
 * proxy when the addon reports a write error. */
#include "ui/dump/tool.h"
#include "addon/clientplayback.h"
#include "addon/save.h"
#include "addon/serverplayback.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/har.h"
#include "flow/savefile.h" /* the save addon's file: fsync from the main loop */
#include "flow/store.h"
#include "io/io.h"
#include "ui/cli.h"
#include "ui/dump/dump.h"
#include "ui/master.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Live exchanges get this long to finish after SIGINT/SIGTERM. */
#define SHUTDOWN_GRACE_S 2.0
/* How often mitmdump checks whether client/server replay is over (keepserving addon). */
#define REPLAY_POLL_MS 100
/* How often the -w file is checked for a due fsync (save_stream_fsync) and a write error. */
#define FSYNC_POLL_MS 250

struct app {
    uv_loop_t *loop;
    struct mitm_master m;
    struct mitm_dump_style style;
    struct mitm_filter *filter;      /* dumper_filter (the positional filter) */
    struct mitm_filter *save_filter; /* save_stream_filter, for hardump (-w: the save addon) */
    struct mitm_store *store;        /* the session's flows for hardump (NULL: none) */
    uv_signal_t sigint, sigterm;
    uv_timer_t fsync_timer;
    bool fsync_timer_on;
    uv_timer_t replay_timer; /* keepserving: quit once client/server replay is done */
    bool replay_timer_on;
    bool stopping;
    bool save_failed; /* the save addon's write error was reported */
    int rc;           /* exit status */
};

/* ---- the flow path: printing, store (-w: the save addon, on the workers) ---- */

static void begin_stop(struct app *app);

static void emit(struct mitm_buf *out)
{
    if (out->len)
        mitm_log_raw((const char *)mitm_buf_data(out), out->len);
    mitm_buf_free(out);
}

/* The dumper's lines for a finished flow. A live TCP flow has had its messages printed as
 * they passed (tcp_message); a loaded one replays them here, as mitmproxy's load_flow runs
 * the whole event sequence: the HTTP flow, then its WebSocket messages and their end, or a
 * TCP flow's messages, then its error. */
static void print_flow(struct app *app, const struct mitm_flow *flow, bool loaded)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_dump_format(&app->style, flow, &out);
    if (loaded && flow->type == MITM_FLOW_HTTP && flow->websocket) {
        for (size_t i = 0; i < flow->websocket->n_messages; i++)
            mitm_dump_format_message(&app->style, flow, i, &out);
        mitm_dump_format_websocket_end(&app->style, flow, &out);
    }
    if (loaded && flow->type == MITM_FLOW_TCP)
        for (size_t i = 0; i < flow->n_messages; i++)
            mitm_dump_format_message(&app->style, flow, i, &out);
    mitm_dump_format_tcp_error(&app->style, flow, &out);
    emit(&out);
}

/* A write error of the save addon (on a worker, or here for -r): logged once, and the
 * proxy stops with status 1, as mitmproxy does: better to stop visibly than to let traffic
 * through unrecorded. The addon writes nothing more after it. */
static bool check_save(struct app *app)
{
    char err[600];
    if (!app->save_failed && mitm_save_failed(app->m.builtin.save, err, sizeof(err))) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        app->save_failed = true;
        app->rc = 1;
        begin_stop(app);
    }
    return app->save_failed;
}

/* Print, store one finished flow (loaded: read with -r, not seen live); takes over the
 * caller's reference. ws_end: the end of a live WebSocket flow (websocket_end), whose HTTP
 * lines were printed at response and its messages as they passed: only the close line is
 * printed. */
static void handle_flow(struct app *app, struct mitm_flow *flow, bool loaded, bool ws_end)
{
    char err[512];
    check_save(app);
    struct mitm_buf rec;
    mitm_buf_init(&rec, 0);
    if (app->store && mitm_flowfile_encode(flow, &rec, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_WARN, NULL, "cannot record flow: %s", err);
        mitm_buf_free(&rec);
    }
    if (!app->filter || mitm_filter_match(app->filter, flow)) {
        if (ws_end) {
            struct mitm_buf out;
            mitm_buf_init(&out, 0);
            mitm_dump_format_websocket_end(&app->style, flow, &out);
            emit(&out);
        } else {
            print_flow(app, flow, loaded);
        }
    }
    if (app->store && rec.len &&
        mitm_store_add_record(app->store, flow, mitm_buf_data(&rec), rec.len, err, sizeof(err)) < 0)
        mitm_log(MITM_LOG_WARN, NULL, "flow store: %s", err);
    mitm_buf_free(&rec);
    mitm_flow_unref(flow);
}

/* A message of a flow that goes on (tcp_message, websocket_message): printed, not saved (the
 * whole flow is, when it ends). */
static void print_message(struct app *app, struct mitm_flow *snap)
{
    size_t n =
        snap->type == MITM_FLOW_HTTP ? (snap->websocket ? snap->websocket->n_messages : 0) : snap->n_messages;
    if (n && (!app->filter || mitm_filter_match(app->filter, snap))) {
        struct mitm_buf out;
        mitm_buf_init(&out, 0);
        mitm_dump_format_message(&app->style, snap, n - 1, &out);
        emit(&out);
    }
    mitm_flow_unref(snap);
}

/* The HTTP part of a WebSocket flow (its response hook): printed now, saved at its end. */
static void print_upgraded(struct app *app, struct mitm_flow *snap)
{
    if (!app->filter || mitm_filter_match(app->filter, snap)) {
        struct mitm_buf out;
        mitm_buf_init(&out, 0);
        mitm_dump_format(&app->style, snap, &out);
        emit(&out);
    }
    mitm_flow_unref(snap);
}

static void on_flow(void *arg, const struct mitm_pub *ev, bool loaded, ssize_t index)
{
    (void)index;
    enum mitm_hook hook = ev->hook;
    struct mitm_flow *flow = ev->flow;
    if (loaded) {
        handle_flow(arg, flow, true, false);
        return;
    }
    if (hook == MITM_HOOK_TCP_MESSAGE || hook == MITM_HOOK_WEBSOCKET_MESSAGE) {
        print_message(arg, flow);
        return;
    }
    if (hook == MITM_HOOK_RESPONSE && flow->websocket) {
        print_upgraded(arg, flow);
        return;
    }
    handle_flow(arg, flow, false, hook == MITM_HOOK_WEBSOCKET_END);
}

static void on_fsync_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    char err[512];
    struct mitm_savefile *sf = mitm_save_file(app->m.builtin.save);
    if (sf && mitm_savefile_tick(sf, mitm_io_now(), false, err, sizeof(err)) < 0)
        mitm_log(MITM_LOG_WARN, NULL, "%s", err);
    check_save(app);
}

/* ---- lifecycle ---- */

static void on_stopped(void *arg)
{
    struct app *app = arg;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    if (app->fsync_timer_on)
        uv_close((uv_handle_t *)&app->fsync_timer, NULL);
    app->fsync_timer_on = false;
    if (app->replay_timer_on)
        uv_close((uv_handle_t *)&app->replay_timer, NULL);
    app->replay_timer_on = false;
}

static void begin_stop(struct app *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    mitm_master_stop(&app->m, SHUTDOWN_GRACE_S, on_stopped, app);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct app *app = h->data;
    (void)sig;
    if (app->stopping) { /* a second Ctrl-C: do not wait */
        mitm_log(MITM_LOG_WARN, NULL, "exiting now");
        exit(130);
    }
    begin_stop(app);
}

/* mitmdump's keepserving addon: without keepserving, quit once no client replay is queued
 * or in flight and no server replay response is left (mitm_proxy_stop then gives
 * exchanges still running their grace period). */
static void on_replay_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    struct mitm_serverplayback *sp = app->m.sp;
    if (mitm_clientplayback_done() && (!sp || mitm_serverplayback_count(sp) == 0))
        begin_stop(app);
}

static void watch_replays(struct app *app)
{
    uv_timer_init(app->loop, &app->replay_timer);
    app->replay_timer.data = app;
    uv_timer_start(&app->replay_timer, on_replay_timer, REPLAY_POLL_MS, REPLAY_POLL_MS);
    app->replay_timer_on = true;
}

/* hardump: the HAR of every (save_stream_filter-matching) flow, written on exit. */
static void write_hardump(struct app *app)
{
    char err[512];
    size_t n = mitm_store_count(app->store), k = 0;
    struct mitm_flow **flows = mitm_calloc(n ? n : 1, sizeof(*flows));
    for (size_t i = 0; i < n; i++) {
        if (!mitm_store_summary(app->store, i))
            continue; /* removed */
        struct mitm_flow *f = mitm_store_get(app->store, i, err, sizeof(err));
        if (!f) {
            mitm_log(MITM_LOG_WARN, NULL, "hardump: %s", err);
            continue;
        }
        if (app->save_filter && !mitm_filter_match(app->save_filter, f))
            mitm_flow_unref(f);
        else
            flows[k++] = f;
    }
    if (mitm_har_write_file(mitm_options.hardump, flows, k, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        app->rc = 1;
    }
    for (size_t i = 0; i < k; i++)
        mitm_flow_unref(flows[i]);
    free(flows);
}

static int run(struct app *app, const struct mitm_cli *cli)
{
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    /* at flow_detail 0 with no hardump nothing on this thread needs the flows (the workers
     * write -w themselves) */
    struct mitm_frontend fe = {
        .arg = app, .flow = on_flow, .wants_flows = app->style.flow_detail > 0 || app->store};
    mitm_master_init(&app->m, app->loop, cli, &fe);
    int src = mitm_master_start(&app->m);
    if (app->m.builtin.save) { /* fsync and write errors (even with save_stream_fsync 0) */
        uv_timer_init(app->loop, &app->fsync_timer);
        app->fsync_timer.data = app;
        uv_timer_start(&app->fsync_timer, on_fsync_timer, FSYNC_POLL_MS, FSYNC_POLL_MS);
        app->fsync_timer_on = true;
    }
    if (src) {
        if (src == 1) /* mitmproxy's errorcheck addon */
            fprintf(stderr, "Error logged during startup, exiting...\n");
        app->rc = src;
        begin_stop(app);
    } else if (mitm_options.rfile &&
               (mitm_master_read_file(&app->m, mitm_options.rfile) < 0 || check_save(app))) {
        app->rc = 1;
        begin_stop(app);
    } else if (mitm_master_client_replay(&app->m) < 0) {
        app->rc = 1;
        begin_stop(app);
    } else if (!mitm_options.keepserving && (mitm_options.client_replay.n || mitm_options.server_replay.n)) {
        watch_replays(app); /* with -r too: the file was read above */
    } else if (!mitm_options.keepserving && (mitm_options.rfile || !mitm_options.server)) {
        /* mitmdump's keepserving addon: quit once the file is read (with or without -n) */
        begin_stop(app);
    }
    uv_run(app->loop, UV_RUN_DEFAULT);
    check_save(app); /* a write during the grace period */
    if (app->m.rc && !app->rc)
        app->rc = app->m.rc;
    mitm_master_deinit(&app->m);
    if (app->store)
        write_hardump(app);
    return app->rc;
}

/* The positional filter sets dumper_filter, readfile_filter and save_stream_filter (as
 * mitmdump's tools/main.py does), then each is compiled. */
static int setup_filters(struct app *app, const struct mitm_cli *cli)
{
    char err[512];
    static const char *const names[] = {"dumper_filter", "readfile_filter", "save_stream_filter"};
    for (size_t i = 0; cli->filter && i < 3; i++) {
        if (mitm_options_set(&mitm_options, names[i], cli->filter, err, sizeof(err)) < 0) {
            mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
            return -1;
        }
    }
    /* readfile_filter is the master's (it reads -r) */
    const char *exprs[] = {mitm_options.dumper_filter, mitm_options.save_stream_filter};
    struct mitm_filter **slots[] = {&app->filter, &app->save_filter};
    for (size_t i = 0; i < 2; i++) {
        if (exprs[i] && *exprs[i] && !(*slots[i] = mitm_filter_parse(exprs[i], err, sizeof(err)))) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid filter expression: %s", err);
            return -1;
        }
    }
    return 0;
}

/* The flow store (-w is the save addon's: the master configures it). */
static int setup_outputs(struct app *app)
{
    char err[512];
    /* mitmdump keeps no flows (no view addon); the store holds them only for hardump */
    if (!mitm_options.hardump || !*mitm_options.hardump)
        return 0;
    app->store = mitm_store_new(mitm_options.store_dir, err, sizeof(err));
    if (!app->store) {
        mitm_log(MITM_LOG_ERROR, NULL, "hardump: %s", err);
        return -1;
    }
    return 0;
}

int mitm_dump_main(const struct mitm_cli *cli)
{
    struct app app = {.loop = uv_default_loop()};
    int rc = 1;
    if (setup_filters(&app, cli) < 0 || setup_outputs(&app) < 0)
        goto Exit;
    mitm_dump_style_init(&app.style, &mitm_options);
    rc = run(&app, cli);
    uv_loop_close(app.loop);
Exit:
    mitm_store_free(app.store);
    mitm_filter_free(app.filter);
    mitm_filter_free(app.save_filter);
    return rc;
}
