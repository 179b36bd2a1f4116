/* `mitmc dump`: the main thread of mitmdump. Workers run the proxy; finished flows come
 * here (on_flow), as do the flows read with -r (read_rfile): each one is printed
 * (dumper_filter), then added to the flow store. The -w file is not written here: the save
 * addon (src/addon/save.h) writes each flow on its worker, in the hook that precedes the
 * response's last byte, so SIGKILL never loses a flow a client saw complete
 * (docs/internals/flows.md); this thread syncs the file (save_stream_fsync) and stops the
 * proxy when the addon reports a write error. */
#include "ui/dump/tool.h"
#include "addon/addon.h"
#include "addon/builtin.h"
#include "addon/clientplayback.h"
#include "addon/crl.h"
#include "addon/save.h"
#include "core/options.h"
#include "core/modespec.h"
#include "core/services.h"
#include "proto/next.h"
#include "addon/serverplayback.h"
#include "core/command.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "cert/ca.h"
#include "cert/store.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/har.h"
#include "flow/savefile.h" /* the save addon's file: fsync from the main loop */
#include "flow/store.h"
#include "io/io.h"
#include "proto/http/layer.h"
#include "proto/tls/tls.h"
#include "script/script.h"
#include "ui/cli.h"
#include "ui/dump/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* Live exchanges get this long to finish after SIGINT/SIGTERM. */
#define SHUTDOWN_GRACE_S 2.0
/* How often mitmdump checks whether client/server replay is over (keepserving addon). */
#define REPLAY_POLL_MS 100
/* How often the -w file is checked for a due fsync (save_stream_fsync) and a write error. */
#define FSYNC_POLL_MS 250
/* How often the main thread looks for changed scripts (mitmproxy polls every second). */
#define SCRIPT_POLL_MS 1000
/* A non-seekable -r input (a pipe on stdin) is read whole into memory up to this size. */
#define STDIN_MAX ((size_t)1 << 30)

struct app {
    uv_loop_t *loop;
    struct mitm_proxy *proxy;
    struct mitm_dump_style style;
    struct mitm_filter *filter;      /* dumper_filter (the positional filter) */
    struct mitm_filter *save_filter; /* save_stream_filter, for hardump (-w: the save addon) */
    struct mitm_filter *read_filter; /* readfile_filter */
    struct mitm_store *store;        /* the session's flows (NULL if its spool failed) */
    uv_signal_t sigint, sigterm;
    uv_timer_t fsync_timer;
    bool fsync_timer_on;
    uv_timer_t replay_timer; /* keepserving: quit once client/server replay is done */
    bool replay_timer_on;
    bool stopping;
    bool save_failed;              /* the save addon's write error was reported */
    int rc;                        /* exit status */
    struct mitm_cert_store *certs; /* HTTPS interception (TLS layer) */
    struct mitm_tls_config *tls;
    struct mitm_serverplayback *sp;     /* -S: the recorded responses (NULL: none) */
    struct mitm_builtin_addons builtin; /* map/modify/block/sticky/auth addon states */
    struct mitm_addons *addons;
    struct mitm_services svc; /* what the workers run with (valid while svc_on) */
    struct mitm_next_config *next;
    struct mitm_mode_spec *modes; /* --mode, one server each */
    size_t n_modes;
    bool svc_on;
    const struct mitm_cli *cli;
    struct mitm_script_rt *scripts; /* -s: NULL when no script is given */
    struct mitm_cmd_registry *commands;
    struct mitm_hook_env main_env; /* what main-thread script calls run with */
    uv_timer_t script_timer;       /* hot reload */
    bool script_timer_on;
};

/* ---- TLS setup (owned by the "tls" work: CA from confdir, cert store, TLS factory) ---- */
static int tls_setup(struct app *app)
{
    char err[512];
    char *confdir = mitm_options_confdir(&mitm_options);
    struct mitm_ca *ca = mitm_ca_load_or_create(confdir, (int)mitm_options.key_size,
                                                mitm_options.cert_passphrase, err, sizeof(err));
    free(confdir);
    if (!ca) {
        mitm_log(MITM_LOG_ERROR, NULL, "Could not load the CA: %s", err);
        return -1;
    }
    app->certs = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    mitm_ca_free(ca);
    if (!app->certs) {
        mitm_log(MITM_LOG_ERROR, NULL, "Could not create the certificate store: %s", err);
        return -1;
    }
    for (size_t i = 0; i < mitm_options.certs.n; i++) {
        if (mitm_cert_store_add_file(app->certs, mitm_options.certs.v[i], mitm_options.cert_passphrase, err,
                                     sizeof(err)) < 0) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid certificate %s: %s", mitm_options.certs.v[i], err);
            return -1;
        }
    }
    app->tls = mitm_tls_config_new(&mitm_options, app->certs, err, sizeof(err));
    if (!app->tls) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    return 0;
}

static void tls_teardown(struct app *app)
{
    mitm_tls_config_free(app->tls);
    mitm_cert_store_free(app->certs);
}
/* ---- end TLS setup ---- */

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
    if (!app->save_failed && mitm_save_failed(app->builtin.save, err, sizeof(err))) {
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

static void on_flow(void *arg, enum mitm_hook hook, struct mitm_flow *flow)
{
    if (hook == MITM_HOOK_TCP_MESSAGE || hook == MITM_HOOK_WEBSOCKET_MESSAGE) {
        print_message(arg, flow);
        return;
    }
    if (hook == MITM_HOOK_RESPONSE && flow->websocket) {
        print_upgraded(arg, flow);
        return;
    }
    if (hook == MITM_HOOK_WEBSOCKET_END) {
        handle_flow(arg, flow, false, true);
        return;
    }
    mitm_clientplayback_on_flow(flow); /* a finished replay sends the next one */
    handle_flow(arg, flow, false, false);
}

static void on_fsync_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    char err[512];
    struct mitm_savefile *sf = mitm_save_file(app->builtin.save);
    if (sf && mitm_savefile_tick(sf, mitm_io_now(), false, err, sizeof(err)) < 0)
        mitm_log(MITM_LOG_WARN, NULL, "%s", err);
    check_save(app);
}

/* ---- -r: flow files (and HAR) through the same path ---- */

/* Read all of fd (from its current position) into memory, at most cap bytes. */
static uint8_t *slurp(int fd, size_t cap, size_t *len, char *err, size_t errlen)
{
    struct mitm_buf b;
    mitm_buf_init(&b, cap);
    uint8_t chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && mitm_buf_append(&b, chunk, (size_t)n) < 0)) {
            snprintf(err, errlen, "%s", n < 0 ? strerror(errno) : "input too large");
            mitm_buf_free(&b);
            return NULL;
        }
        if (n == 0)
            return mitm_buf_steal(&b, len);
    }
}

static const struct mitm_hook_env *main_env(struct app *app);

/* mitmproxy's load_flow: a flow read with -r goes through the addons' hooks (scripts
 * included) in the order it would have met them live (its eventsequence), on the main
 * thread, before it is printed and saved. Addons that answer or rewrite traffic see
 * flow->loaded (not live) and leave it alone, as mitmproxy's check flow.live. */
static void run_loaded_hooks(struct app *app, struct mitm_flow *f)
{
    f->loaded = true;
    struct mitm_addons *a = app->addons;
    const struct mitm_hook_env *env = main_env(app);
    if (f->type == MITM_FLOW_TCP) {
        size_t n = f->n_messages;
        f->n_messages = 0; /* the messages arrive one by one, as they did */
        mitm_addons_run(a, MITM_HOOK_TCP_START, f, env);
        while (f->n_messages < n) {
            f->n_messages++;
            mitm_addons_run(a, MITM_HOOK_TCP_MESSAGE, f, env);
        }
        mitm_addons_run(a, f->error ? MITM_HOOK_TCP_ERROR : MITM_HOOK_TCP_END, f, env);
        return;
    }
    if (f->request) {
        mitm_addons_run(a, MITM_HOOK_REQUESTHEADERS, f, env);
        mitm_addons_run(a, MITM_HOOK_REQUEST, f, env);
    }
    if (f->response) {
        mitm_addons_run(a, MITM_HOOK_RESPONSEHEADERS, f, env);
        mitm_addons_run(a, MITM_HOOK_RESPONSE, f, env);
    }
    if (f->websocket) { /* the messages arrive one by one; no error hook then (as mitmproxy) */
        size_t n = f->websocket->n_messages;
        f->websocket->n_messages = 0;
        mitm_addons_run(a, MITM_HOOK_WEBSOCKET_START, f, env);
        while (f->websocket->n_messages < n) {
            f->websocket->n_messages++;
            mitm_addons_run(a, MITM_HOOK_WEBSOCKET_MESSAGE, f, env);
        }
        mitm_addons_run(a, MITM_HOOK_WEBSOCKET_END, f, env);
    } else if (f->error) {
        mitm_addons_run(a, MITM_HOOK_ERROR, f, env);
    }
}

/* A HAR document: the whole file (fd rewound to start) goes to the HAR reader. Returns
 * the number of flows loaded, or -1 (logged). */
static long read_har(struct app *app, int fd, const uint8_t *mem, size_t mem_len)
{
    char err[512];
    size_t len = mem_len, n = 0;
    uint8_t *data = NULL;
    if (!mem) {
        if (lseek(fd, 0, SEEK_SET) < 0 || !(data = slurp(fd, MITM_HAR_MAX_INPUT, &len, err, sizeof(err)))) {
            mitm_log(MITM_LOG_ERROR, NULL, "Cannot load flows: %s", errno ? strerror(errno) : err);
            return -1;
        }
        mem = data;
    }
    struct mitm_flow **flows = NULL;
    int rc = mitm_har_read(mem, len, &flows, &n, err, sizeof(err));
    free(data);
    if (rc < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Flow file corrupted.");
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    long loaded = 0;
    for (size_t i = 0; i < n; i++) {
        if (app->read_filter && !mitm_filter_match(app->read_filter, flows[i])) {
            mitm_flow_unref(flows[i]);
            continue;
        }
        run_loaded_hooks(app, flows[i]);
        handle_flow(app, flows[i], true, false);
        loaded++;
    }
    free(flows);
    return loaded;
}

/* Every record of a flow file; a truncated file keeps its complete records (a warning),
 * a corrupt one stops with an error. Returns the flows loaded, or -1. */
static long read_records(struct app *app, struct mitm_flowfile_reader *r, int fd, const uint8_t *mem,
                         size_t mem_len)
{
    char err[512];
    long loaded = 0;
    for (;;) { /* bounded: each pass consumes a record or ends */
        struct mitm_flow *f = NULL;
        size_t before = mitm_flowfile_offset(r);
        int rc = mitm_flowfile_next(r, &f, err, sizeof(err));
        if (rc == MITM_FLOWFILE_FLOW) {
            if (app->read_filter && !mitm_filter_match(app->read_filter, f)) {
                mitm_flow_unref(f);
                continue;
            }
            run_loaded_hooks(app, f);
            handle_flow(app, f, true, false);
            loaded++;
        } else if (rc == MITM_FLOWFILE_EOF) {
            return loaded;
        } else if (rc == MITM_FLOWFILE_HAR) {
            return read_har(app, fd, mem, mem_len);
        } else if (rc == MITM_FLOWFILE_TRUNCATED) {
            mitm_log(MITM_LOG_WARN, NULL, "Flow file corrupted - loaded %ld flows: %s", loaded, err);
            return loaded;
        } else if (mitm_flowfile_offset(r) != before) {
            mitm_log(MITM_LOG_WARN, NULL, "Skipping a flow: %s", err); /* a record we cannot load */
        } else {
            if (loaded)
                mitm_log(MITM_LOG_WARN, NULL, "Flow file corrupted - loaded %ld flows.", loaded);
            mitm_log(MITM_LOG_ERROR, NULL, "Flow file corrupted: %s", err);
            return -1;
        }
    }
}

/* Load rfile ("-" = stdin). Returns 0, or -1 if it could not be read (logged). */
static int read_rfile(struct app *app, const char *path)
{
    int fd = 0;
    char *full = NULL;
    if (strcmp(path, "-") != 0) {
        const char *home = getenv("HOME");
        if (path[0] == '~' && (path[1] == '/' || !path[1]) && home) {
            size_t n = strlen(home) + strlen(path) + 1;
            full = mitm_alloc(n);
            snprintf(full, n, "%s%s", home, path + 1);
            path = full;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            /* Python's OSError text, as mitmproxy prints it */
            mitm_log(MITM_LOG_ERROR, NULL, "Cannot load flows: [Errno %d] %s: '%s'", errno, strerror(errno),
                     path);
            free(full);
            return -1;
        }
    }
    /* A pipe cannot be rewound for the HAR reader: read it whole first. */
    uint8_t *mem = NULL;
    size_t mem_len = 0;
    char err[256];
    struct mitm_flowfile_reader *r;
    if (lseek(fd, 0, SEEK_CUR) < 0) {
        if (!(mem = slurp(fd, STDIN_MAX, &mem_len, err, sizeof(err)))) {
            mitm_log(MITM_LOG_ERROR, NULL, "Cannot load flows: %s", err);
            free(full);
            return -1;
        }
        r = mitm_flowfile_open_mem(mem, mem_len);
    } else {
        r = mitm_flowfile_open(fd);
    }
    long n = read_records(app, r, fd, mem, mem_len);
    mitm_flowfile_close(r);
    free(mem);
    if (fd != 0)
        close(fd);
    free(full);
    return n < 0 ? -1 : 0;
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
    if (app->script_timer_on)
        uv_close((uv_handle_t *)&app->script_timer, NULL);
    app->script_timer_on = false;
}

static void begin_stop(struct app *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    if (app->proxy)
        mitm_proxy_stop(app->proxy, SHUTDOWN_GRACE_S, on_stopped, app);
    else
        on_stopped(app);
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

/* The mode option: mitmproxy's MODE[:DATA][@[HOST:]PORT] specs, one server each. */
static int parse_modes(struct app *app)
{
    const struct mitm_strvec *m = &mitm_options.mode;
    app->modes = mitm_calloc(m->n ? m->n : 1, sizeof(*app->modes));
    for (size_t i = 0; i < m->n; i++) {
        char err[512];
        if (mitm_mode_spec_parse(m->v[i], &app->modes[app->n_modes], err, sizeof(err)) < 0) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid proxy mode specification: %s (%s)", m->v[i], err);
            return -1;
        }
        app->n_modes++;
    }
    if (!app->n_modes) {
        mitm_log(MITM_LOG_ERROR, NULL, "No proxy mode given (--mode)");
        return -1;
    }
    return 0;
}

static void free_modes(struct app *app)
{
    for (size_t i = 0; i < app->n_modes; i++)
        mitm_mode_spec_free(&app->modes[i]);
    free(app->modes);
    app->modes = NULL;
    app->n_modes = 0;
}

/* The addon chain, mitmproxy's default_addons() order: for the workers and for the flows
 * read with -r (without a proxy there are no certificates: no magic CRL to answer). */
static void addons_setup(struct app *app)
{
    if (app->addons)
        return;
    app->addons = mitm_addons_new();
    mitm_addons_add_builtin(app->addons, &app->builtin, app->sp,
                            app->certs ? mitm_cert_store_signer(app->certs) : NULL);
    if (app->scripts) /* where mitmproxy's script addon sits in default_addons */
        mitm_addons_insert_before(app->addons, &mitm_addon_serverplayback, &mitm_addon_script, app->scripts);
}

static int start_proxy(struct app *app)
{
    char err[512];
    if (parse_modes(app) < 0 || tls_setup(app) < 0)
        return -1;
    app->next = mitm_next_config_new(&mitm_options, err, sizeof(err));
    if (!app->next) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    addons_setup(app);
    mitm_services_init(&app->svc, &mitm_options);
    app->svc_on = true;
    app->svc.addons = app->addons;
    app->svc.tls = app->tls;
    app->svc.next = app->next;
    /* at flow_detail 0 with no hardump and no -C nothing on this thread needs the flows (the
     * workers write -w themselves) */
    bool need = app->style.flow_detail > 0 || app->store || mitm_options.client_replay.n;
    mitm_flow_sink_fn sink = need ? on_flow : NULL;
    app->proxy =
        mitm_proxy_start(app->loop, &app->svc, app->modes, app->n_modes, sink, app, err, sizeof(err));
    if (!app->proxy || mitm_proxy_failed(app->proxy)) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- client and server replay (-C, -S) ---- */

/* The addons' options, checked and turned into their states before anything starts (as
 * mitmproxy's configure hooks raise OptionsError at startup); -w opens its file here. */
static int builtin_setup(struct app *app)
{
    char err[2048];
    if (mitm_builtin_addons_configure(&app->builtin, &mitm_options, mitm_io_now(), err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    if (app->builtin.save) { /* fsync and write errors (even with save_stream_fsync 0) */
        uv_timer_init(app->loop, &app->fsync_timer);
        app->fsync_timer.data = app;
        uv_timer_start(&app->fsync_timer, on_fsync_timer, FSYNC_POLL_MS, FSYNC_POLL_MS);
        app->fsync_timer_on = true;
    }
    return 0;
}

/* -S: load the recorded responses before the workers start. */
static int server_replay_setup(struct app *app)
{
    char err[1024];
    if (mitm_serverplayback_configure(&mitm_options, &app->sp, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Cannot load server replay flows: %s", err);
        return -1;
    }
    return 0;
}

static void inject(void *arg, uint8_t *data, size_t len)
{
    mitm_proxy_inject(arg, data, len);
}

/* -C: queue the requests and send the first one(s) through the running proxy. */
static int client_replay_setup(struct app *app)
{
    char err[1024];
    if (!mitm_options.client_replay.n)
        return 0;
    if (mitm_clientplayback_start_with(inject, app->proxy, &mitm_options, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Cannot start client replay: %s", err);
        return -1;
    }
    return 0;
}

/* mitmdump's keepserving addon: without keepserving, quit once no client replay is queued
 * or in flight and no server replay response is left (mitm_proxy_stop then gives
 * exchanges still running their grace period). */
static void on_replay_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    struct mitm_serverplayback *sp = app->sp;
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

/* ---- Lua scripts (-s): loaded before the workers start, reloaded from the main loop ---- */

static const struct mitm_hook_env *main_env(struct app *app)
{
    app->main_env = (struct mitm_hook_env){.now = mitm_io_now(), .opts = &mitm_options, .worker = -1};
    return &app->main_env;
}

/* Load, --set and configure every script and build the workers' states. Returns 0, 1 for
 * an error logged (mitmproxy's errorcheck: exit 1) or 2 for an unknown option (as the
 * command line reports it). */
static int scripts_setup(struct app *app)
{
    char err[512];
    if (!mitm_options.scripts.n)
        return 0;
    struct mitm_script_config cfg = {&mitm_options, mitm_io_now};
    app->scripts = mitm_script_rt_new(&cfg);
    app->commands = mitm_cmd_registry_new();
    if (mitm_script_rt_commands(app->scripts, app->commands, &app->main_env, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return 1;
    }
    for (size_t i = 0; i < mitm_options.scripts.n; i++)
        if (mitm_script_rt_load(app->scripts, mitm_options.scripts.v[i], main_env(app)) < 0)
            return 1;
    if (mitm_script_rt_set(app->scripts, app->cli->deferred, app->cli->ndeferred, err, sizeof(err)) < 0) {
        fprintf(stderr, "mitmc: error: %s\n", err);
        return 2;
    }
    int workers = mitm_options.workers > 0 ? (int)mitm_options.workers : (int)uv_available_parallelism();
    if (mitm_script_rt_configure(app->scripts, main_env(app)) < 0 ||
        mitm_script_rt_workers(app->scripts, workers, main_env(app)) < 0)
        return 1;
    return 0;
}

static void on_script_timer(uv_timer_t *t)
{
    struct app *app = t->data;
    mitm_script_rt_tick(app->scripts, main_env(app));
}

/* The proxy is up: running(), then watch the files. Returns 0 or 1 (error logged). */
static int scripts_start(struct app *app)
{
    if (!app->scripts)
        return 0;
    if (mitm_script_rt_running(app->scripts, main_env(app)) < 0)
        return 1;
    uv_timer_init(app->loop, &app->script_timer);
    app->script_timer.data = app;
    uv_timer_start(&app->script_timer, on_script_timer, SCRIPT_POLL_MS, SCRIPT_POLL_MS);
    app->script_timer_on = true;
    return 0;
}

static int run(struct app *app)
{
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    /* the workers run for the proxy server and for client replays (which they carry out
     * even with -n, without listening) */
    bool workers = mitm_options.server || mitm_options.client_replay.n;
    int src = scripts_setup(app);
    if (src || builtin_setup(app) < 0 || server_replay_setup(app) < 0 || (workers && start_proxy(app) < 0) ||
        (src = scripts_start(app))) {
        if (src == 1) /* mitmproxy's errorcheck addon */
            fprintf(stderr, "Error logged during startup, exiting...\n");
        app->rc = src ? src : 1;
        begin_stop(app);
    } else if (mitm_options.rfile &&
               (addons_setup(app), read_rfile(app, mitm_options.rfile) < 0 || check_save(app))) {
        app->rc = 1;
        begin_stop(app);
    } else if (client_replay_setup(app) < 0) {
        app->rc = 1;
        begin_stop(app);
    } else if (!mitm_options.keepserving && (mitm_options.client_replay.n || mitm_options.server_replay.n)) {
        watch_replays(app); /* with -r too: the file was read above */
    } else if (!mitm_options.keepserving && (mitm_options.rfile || !mitm_options.server)) {
        /* mitmdump's keepserving addon: quit once the file is read (with or without -n) */
        begin_stop(app);
    }
    uv_run(app->loop, UV_RUN_DEFAULT);
    check_save(app);                                  /* a write during the grace period */
    mitm_script_rt_done(app->scripts, main_env(app)); /* the workers are gone */
    if (app->store)
        write_hardump(app);
    mitm_proxy_free(app->proxy);
    mitm_clientplayback_stop();
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
    const char *exprs[] = {mitm_options.dumper_filter, mitm_options.readfile_filter,
                           mitm_options.save_stream_filter};
    struct mitm_filter **slots[] = {&app->filter, &app->read_filter, &app->save_filter};
    for (size_t i = 0; i < 3; i++) {
        if (exprs[i] && *exprs[i] && !(*slots[i] = mitm_filter_parse(exprs[i], err, sizeof(err)))) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid filter expression: %s", err);
            return -1;
        }
    }
    return 0;
}

/* The flow store (-w is the save addon's: builtin_setup). */
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
    struct app app = {.loop = uv_default_loop(), .cli = cli};
    int rc = 1;
    if (setup_filters(&app, cli) < 0 || setup_outputs(&app) < 0)
        goto Exit;
    mitm_dump_style_init(&app.style, &mitm_options);
    rc = run(&app);
    if (app.svc_on)
        mitm_services_deinit(&app.svc);
    mitm_addons_free(app.addons);
    mitm_cmd_registry_free(app.commands);
    mitm_script_rt_free(app.scripts);
    mitm_builtin_addons_free(&app.builtin);
    mitm_serverplayback_free(app.sp);
    mitm_next_config_free(app.next);
    free_modes(&app);
    tls_teardown(&app);
    uv_loop_close(app.loop);
Exit:
    mitm_store_free(app.store);
    mitm_filter_free(app.filter);
    mitm_filter_free(app.read_filter);
    mitm_filter_free(app.save_filter);
    return rc;
}
