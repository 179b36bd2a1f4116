/* The main thread shared by the front ends: see master.h. */
#include "ui/master.h"
#include "addon/clientplayback.h"
#include "addon/intercept.h"
#include "addon/serverplayback.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "cert/ca.h"
#include "cert/store.h"
#include "core/command.h"
#include "core/modespec.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/har.h"
#include "flow/store.h"
#include "proto/next.h"
#include "proto/tls/tls.h"
#include "script/script.h"
#include "sink/pg.h"
#include "sink/sink.h"
#include "ui/cli.h"
#include "ui/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often the main thread looks for changed scripts (mitmproxy polls every second). */
#define SCRIPT_POLL_MS 1000
/* A non-seekable -r input (a pipe on stdin) is read whole into memory up to this size. */
#define STDIN_MAX ((size_t)1 << 30)

/* ---- the live table: flows a worker may still change ---------------------------------- */

struct live_entry {
    char id[MITM_UUID_LEN + 1];
    int worker;
    bool held;
    struct live_entry *next;
};

#define LIVE_BUCKETS 1024

struct mitm_live {
    struct live_entry *b[LIVE_BUCKETS];
};

static size_t live_hash(const char *id)
{
    size_t h = 5381;
    for (const char *p = id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % LIVE_BUCKETS;
}

static struct live_entry **live_find(struct mitm_live *l, const char *id)
{
    struct live_entry **pp = &l->b[live_hash(id)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

static const struct live_entry *live_get(const struct mitm_master *m, const char *id)
{
    return m->live ? *live_find(m->live, id) : NULL;
}

/* A published event: a live (or held) flow is recorded with its worker; a final one
 * leaves the table. */
static void live_note(struct mitm_live *l, const struct mitm_pub *ev)
{
    struct live_entry **pp = live_find(l, ev->flow->id);
    if (!ev->live) {
        if (*pp) {
            struct live_entry *e = *pp;
            *pp = e->next;
            free(e);
        }
        return;
    }
    if (!*pp) {
        *pp = mitm_calloc(1, sizeof(**pp));
        snprintf((*pp)->id, sizeof((*pp)->id), "%s", ev->flow->id);
    }
    (*pp)->worker = ev->worker;
    (*pp)->held = ev->intercepted;
}

static void live_free(struct mitm_live *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < LIVE_BUCKETS; i++)
        for (struct live_entry *e = l->b[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(l);
}

bool mitm_master_is_live(const struct mitm_master *m, const char *id)
{
    return live_get(m, id) != NULL;
}

bool mitm_master_is_held(const struct mitm_master *m, const char *id)
{
    const struct live_entry *e = live_get(m, id);
    return e && e->held;
}

bool mitm_master_resume(struct mitm_master *m, const char *id, struct mitm_flow *edited)
{
    struct live_entry *e = m->live ? *live_find(m->live, id) : NULL;
    if (!e || !e->held || !m->proxy) {
        mitm_flow_unref(edited);
        return false;
    }
    e->held = false; /* the next publish of the flow says what became of it */
    mitm_proxy_resume(m->proxy, e->worker, id, edited);
    return true;
}

bool mitm_master_kill(struct mitm_master *m, const char *id)
{
    struct live_entry *e = m->live ? *live_find(m->live, id) : NULL;
    if (!e || !m->proxy)
        return false;
    e->held = false;
    mitm_proxy_kill(m->proxy, e->worker, id);
    return true;
}

bool mitm_master_inject_message(struct mitm_master *m, const char *id, bool to_client, bool is_text,
                                const void *data, size_t len)
{
    const struct live_entry *e = live_get(m, id);
    if (!e || !m->proxy)
        return false;
    mitm_proxy_inject_message(m->proxy, e->worker, id, to_client, is_text, data, len);
    return true;
}

static void inject(void *arg, uint8_t *data, size_t len, const char *id)
{
    mitm_proxy_inject(arg, data, len, id);
}

long mitm_master_replay(struct mitm_master *m, struct mitm_flow *const *flows, size_t n, char *err,
                        size_t errlen)
{
    if (!m->proxy) {
        snprintf(err, errlen, "Client replay needs the proxy's workers (started without -n).");
        return -1;
    }
    return (long)mitm_clientplayback_add(inject, m->proxy, mitm_options.client_replay_concurrency, flows, n);
}

/* ---- flows into the store and to the front end ---------------------------------------- */

static ssize_t store_flow(struct mitm_master *m, const struct mitm_flow *f)
{
    char err[512];
    ssize_t i = mitm_store_add(m->store, f, err, sizeof(err));
    if (i == MITM_STORE_REMOVED)
        return -1; /* the user removed it: its worker's later updates are dropped */
    if (i < 0)
        mitm_log(MITM_LOG_WARN, NULL, "flow store: %s", err);
    return i;
}

static void deliver(struct mitm_master *m, const struct mitm_pub *ev, bool loaded)
{
    ssize_t index = -1;
    if (m->store)
        index = store_flow(m, ev->flow);
    m->fe.flow(m->fe.arg, ev, loaded, index);
}

static void on_flow(void *arg, const struct mitm_pub *ev)
{
    struct mitm_master *m = arg;
    if (m->live)
        live_note(m->live, ev);
    if (!ev->live && ev->hook != MITM_HOOK_WEBSOCKET_END)
        mitm_clientplayback_on_flow(ev->flow); /* a finished replay sends the next one */
    if (!ev->live)
        mitm_sinks_flow(ev->hook, ev->flow); /* flow_sink: src/sink */
    deliver(m, ev, false);
}

ssize_t mitm_master_add_flow(struct mitm_master *m, struct mitm_flow *f)
{
    struct mitm_pub ev = {.hook = MITM_HOOK_RESPONSE, .flow = mitm_flow_ref(f), .worker = -1};
    if (!m->store) {
        mitm_flow_unref(ev.flow);
        return -1;
    }
    ssize_t index = store_flow(m, f);
    m->fe.flow(m->fe.arg, &ev, true, index);
    return index;
}

int mitm_master_update_flow(struct mitm_master *m, size_t index, const struct mitm_flow *f)
{
    char err[512];
    if (!m->store || mitm_store_update(m->store, index, f, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_WARN, NULL, "flow store: %s", m->store ? err : "no store");
        return -1;
    }
    if (m->fe.changed)
        m->fe.changed(m->fe.arg, (ssize_t)index);
    return 0;
}

/* ---- -r: flow files (and HAR) through the addons ---- */

/* A flow read from a file, after the addons ran on it: to the store and the front end. */
static void deliver_loaded(struct mitm_master *m, struct mitm_flow *f)
{
    enum mitm_hook h = f->type == MITM_FLOW_TCP ? (f->error ? MITM_HOOK_TCP_ERROR : MITM_HOOK_TCP_END)
                       : f->error               ? MITM_HOOK_ERROR
                                                : MITM_HOOK_RESPONSE;
    struct mitm_pub ev = {.hook = h, .flow = f, .worker = -1};
    deliver(m, &ev, true);
}

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

/* mitmproxy's load_flow: a flow read with -r goes through the addons' hooks (scripts
 * included) in the order it would have met them live (its eventsequence), on the main
 * thread, before it is printed and saved. Addons that answer or rewrite traffic see
 * flow->loaded (not live) and leave it alone, as mitmproxy's check flow.live. */
static void run_loaded_hooks(struct mitm_master *m, struct mitm_flow *f)
{
    f->loaded = true;
    struct mitm_addons *a = m->addons;
    const struct mitm_hook_env *env = mitm_master_env(m);
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
static long read_har(struct mitm_master *m, int fd, const uint8_t *mem, size_t mem_len)
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
        if (m->read_filter && !mitm_filter_match(m->read_filter, flows[i])) {
            mitm_flow_unref(flows[i]);
            continue;
        }
        run_loaded_hooks(m, flows[i]);
        deliver_loaded(m, flows[i]);
        loaded++;
    }
    free(flows);
    return loaded;
}

/* Every record of a flow file; a truncated file keeps its complete records (a warning),
 * a corrupt one stops with an error. Returns the flows loaded, or -1. */
static long read_records(struct mitm_master *m, struct mitm_flowfile_reader *r, int fd, const uint8_t *mem,
                         size_t mem_len)
{
    char err[512];
    long loaded = 0;
    for (;;) { /* bounded: each pass consumes a record or ends */
        struct mitm_flow *f = NULL;
        size_t before = mitm_flowfile_offset(r);
        int rc = mitm_flowfile_next(r, &f, err, sizeof(err));
        if (rc == MITM_FLOWFILE_FLOW) {
            if (m->read_filter && !mitm_filter_match(m->read_filter, f)) {
                mitm_flow_unref(f);
                continue;
            }
            run_loaded_hooks(m, f);
            deliver_loaded(m, f);
            loaded++;
        } else if (rc == MITM_FLOWFILE_EOF) {
            return loaded;
        } else if (rc == MITM_FLOWFILE_HAR) {
            return read_har(m, fd, mem, mem_len);
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

/* -r postgresql://...: the flows of a flow sink's database (src/sink/pg.c), narrowed there by
 * what the filter certainly needs, then through the filter and the addons as a file's. */
static void load_stored(void *arg, struct mitm_flow *f)
{
    struct mitm_master *m = arg;
    if (m->read_filter && !mitm_filter_match(m->read_filter, f)) {
        mitm_flow_unref(f);
        return;
    }
    run_loaded_hooks(m, f);
    deliver_loaded(m, f);
}

static long read_stored(struct mitm_master *m, const char *uri)
{
    char err[1024];
    long n = mitm_sink_pg_read(uri, m->read_filter, load_stored, m, err, sizeof(err));
    if (n < 0) {
        char *shown = mitm_sink_redact(uri);
        mitm_log(MITM_LOG_ERROR, NULL, "Cannot load flows from %s: %s", shown, err);
        free(shown);
    }
    return n;
}

long mitm_master_read_file(struct mitm_master *m, const char *path)
{
    if (mitm_sink_pg_is_uri(path))
        return read_stored(m, path);
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
    long n = read_records(m, r, fd, mem, mem_len);
    mitm_flowfile_close(r);
    free(mem);
    if (fd != 0)
        close(fd);
    free(full);
    return n;
}

/* ---- TLS: CA from confdir, the certificate store, the TLS factory ---------------------- */

static int tls_setup(struct mitm_master *m)
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
    m->certs = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    mitm_ca_free(ca);
    if (!m->certs) {
        mitm_log(MITM_LOG_ERROR, NULL, "Could not create the certificate store: %s", err);
        return -1;
    }
    for (size_t i = 0; i < mitm_options.certs.n; i++) {
        if (mitm_cert_store_add_file(m->certs, mitm_options.certs.v[i], mitm_options.cert_passphrase, err,
                                     sizeof(err)) < 0) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid certificate %s: %s", mitm_options.certs.v[i], err);
            return -1;
        }
    }
    m->tls = mitm_tls_config_new(&mitm_options, m->certs, err, sizeof(err));
    if (!m->tls) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    return 0;
}

/* The mode option: mitmproxy's MODE[:DATA][@[HOST:]PORT] specs, one server each. */
static int parse_modes(struct mitm_master *m)
{
    const struct mitm_strvec *mo = &mitm_options.mode;
    m->modes = mitm_calloc(mo->n ? mo->n : 1, sizeof(*m->modes));
    for (size_t i = 0; i < mo->n; i++) {
        char err[512];
        if (mitm_mode_spec_parse(mo->v[i], &m->modes[m->n_modes], err, sizeof(err)) < 0) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid proxy mode specification: %s (%s)", mo->v[i], err);
            return -1;
        }
        m->n_modes++;
    }
    if (!m->n_modes) {
        mitm_log(MITM_LOG_ERROR, NULL, "No proxy mode given (--mode)");
        return -1;
    }
    return 0;
}

/* The addon chain, mitmproxy's default_addons() order: for the workers and for the flows
 * read with -r (without a proxy there are no certificates: no magic CRL to answer); an
 * interactive master ends it with intercept, as mitmproxy's console and web masters add it
 * after the defaults. */
static void addons_setup(struct mitm_master *m)
{
    if (m->addons)
        return;
    m->addons = mitm_addons_new();
    mitm_addons_add_builtin(m->addons, &m->builtin, m->sp,
                            m->certs ? mitm_cert_store_signer(m->certs) : NULL);
    if (m->scripts) /* where mitmproxy's script addon sits in default_addons */
        mitm_addons_insert_before(m->addons, &mitm_addon_serverplayback, &mitm_addon_script, m->scripts);
    if (m->intercept)
        mitm_addons_add(m->addons, &mitm_addon_intercept, m->intercept);
    if (m->fe.addon)
        mitm_addons_add(m->addons, m->fe.addon, m->fe.addon_state);
}

static int start_proxy(struct mitm_master *m)
{
    char err[512];
    if (parse_modes(m) < 0 || tls_setup(m) < 0)
        return -1;
    m->next = mitm_next_config_new(&mitm_options, err, sizeof(err));
    if (!m->next) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    addons_setup(m);
    mitm_services_init(&m->svc, &mitm_options);
    m->svc_on = true;
    m->svc.addons = m->addons;
    m->svc.tls = m->tls;
    m->svc.next = m->next;
    bool need = m->fe.wants_flows || m->fe.interactive || mitm_options.client_replay.n || mitm_sinks_active();
    struct mitm_proxy_sink sink = {.fn = need ? on_flow : NULL, .arg = m, .live = m->fe.interactive};
    m->proxy = mitm_proxy_start(m->loop, &m->svc, m->modes, m->n_modes, &sink, err, sizeof(err));
    if (!m->proxy || mitm_proxy_failed(m->proxy)) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- Lua scripts (-s): loaded before the workers start, reloaded from the main loop ---- */

const struct mitm_hook_env *mitm_master_env(struct mitm_master *m)
{
    m->main_env = (struct mitm_hook_env){.now = mitm_io_now(), .opts = &mitm_options, .worker = -1};
    return &m->main_env;
}

/* Load, --set and configure every script and build the workers' states. Returns 0, 1 for
 * an error logged (mitmproxy's errorcheck: exit 1) or 2 for an unknown option (as the
 * command line reports it). */
static int scripts_setup(struct mitm_master *m)
{
    char err[512];
    if (!mitm_options.scripts.n)
        return 0;
    struct mitm_script_config cfg = {&mitm_options, mitm_io_now};
    m->scripts = mitm_script_rt_new(&cfg);
    if (mitm_script_rt_commands(m->scripts, m->commands, &m->main_env, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return 1;
    }
    for (size_t i = 0; i < mitm_options.scripts.n; i++)
        if (mitm_script_rt_load(m->scripts, mitm_options.scripts.v[i], mitm_master_env(m)) < 0)
            return 1;
    if (mitm_script_rt_set(m->scripts, m->cli->deferred, m->cli->ndeferred, err, sizeof(err)) < 0) {
        fprintf(stderr, "mitmc: error: %s\n", err);
        return 2;
    }
    int workers = mitm_options.workers > 0 ? (int)mitm_options.workers : (int)uv_available_parallelism();
    if (mitm_script_rt_configure(m->scripts, mitm_master_env(m)) < 0 ||
        mitm_script_rt_workers(m->scripts, workers, mitm_master_env(m)) < 0)
        return 1;
    return 0;
}

static void on_script_timer(uv_timer_t *t)
{
    struct mitm_master *m = t->data;
    mitm_script_rt_tick(m->scripts, mitm_master_env(m));
}

/* The proxy is up: running(), then watch the files. Returns 0 or 1 (error logged). */
static int scripts_start(struct mitm_master *m)
{
    if (!m->scripts)
        return 0;
    if (mitm_script_rt_running(m->scripts, mitm_master_env(m)) < 0)
        return 1;
    uv_timer_init(m->loop, &m->script_timer);
    m->script_timer.data = m;
    uv_timer_start(&m->script_timer, on_script_timer, SCRIPT_POLL_MS, SCRIPT_POLL_MS);
    m->script_timer_on = true;
    return 0;
}

/* ---- start and stop --------------------------------------------------------------------- */

void mitm_master_init(struct mitm_master *m, uv_loop_t *loop, const struct mitm_cli *cli,
                      const struct mitm_frontend *fe)
{
    m->loop = loop;
    m->cli = cli;
    m->fe = *fe;
    m->commands = mitm_cmd_registry_new();
}

/* view_order and view_order_reversed onto the view (the option's choices are the store's
 * order names). */
static void apply_order(struct mitm_master *m, const struct mitm_options *o)
{
    int order = mitm_store_order_parse(o->view_order ? o->view_order : "");
    if (order >= 0)
        mitm_store_view_set_order(m->view, (enum mitm_store_order)order);
    mitm_store_view_set_reversed(m->view, o->view_order_reversed);
}

/* The interactive parts: store, view, live table, intercept, commands. */
static int interactive_setup(struct mitm_master *m)
{
    char err[512];
    m->store = mitm_store_new(mitm_options.store_dir, err, sizeof(err));
    if (!m->store) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    m->view = mitm_store_view_new(m->store);
    mitm_store_view_set_follow(m->view, mitm_options.console_focus_follow);
    mitm_store_view_set_order(m->view,
                              (enum mitm_store_order)mitm_store_order_parse(mitm_options.view_order));
    mitm_store_view_set_reversed(m->view, mitm_options.view_order_reversed);
    if (mitm_options.view_filter && *mitm_options.view_filter &&
        mitm_store_view_set_filter(m->view, mitm_options.view_filter, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Invalid view filter: %s", err);
        return -1;
    }
    m->live = mitm_calloc(1, sizeof(*m->live));
    m->intercept = mitm_intercept_new();
    bool active;
    if (mitm_intercept_set_filter(m->intercept, mitm_options.intercept, &active, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    /* as mitmproxy's configure: a filter given turns interception on */
    if (mitm_options.intercept && *mitm_options.intercept)
        mitm_options.intercept_active = true;
    mitm_intercept_set_active(m->intercept, mitm_options.intercept_active);
    if (mitm_ui_commands_register(m, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    return 0;
}

int mitm_master_start(struct mitm_master *m)
{
    char err[2048];
    if (m->fe.interactive && interactive_setup(m) < 0)
        return 1;
    const char *rf = mitm_options.readfile_filter;
    if (rf && *rf && !(m->read_filter = mitm_filter_parse(rf, err, sizeof(err)))) {
        mitm_log(MITM_LOG_ERROR, NULL, "Invalid filter expression: %s", err);
        return 1;
    }
    int src = scripts_setup(m);
    if (src)
        return src;
    if (mitm_builtin_addons_configure(&m->builtin, &mitm_options, mitm_io_now(), err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return 1;
    }
    if (mitm_serverplayback_configure(&mitm_options, &m->sp, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Cannot load server replay flows: %s", err);
        return 1;
    }
    if (!m->sp && m->fe.interactive) /* replay.server* fill it at run time */
        m->sp = mitm_serverplayback_new(&mitm_options);
    /* the workers run for the proxy server and for client replays (which they carry out
     * even with -n, without listening); an interactive master always has them, for
     * replay.client */
    if (mitm_sinks_start(err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return 1;
    }
    bool workers = mitm_options.server || mitm_options.client_replay.n || m->fe.interactive;
    if (workers && start_proxy(m) < 0)
        return 1;
    addons_setup(m); /* without workers: for the flows of -r */
    return scripts_start(m);
}

int mitm_master_client_replay(struct mitm_master *m)
{
    char err[1024];
    if (!mitm_options.client_replay.n)
        return 0;
    if (mitm_clientplayback_start_with(inject, m->proxy, &mitm_options, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Cannot start client replay: %s", err);
        return -1;
    }
    return 0;
}

struct stop_ctx {
    struct mitm_master *m;
    void (*done)(void *);
    void *arg;
};

static void on_stopped(void *arg)
{
    struct stop_ctx *sc = arg;
    struct mitm_master *m = sc->m;
    if (m->script_timer_on)
        uv_close((uv_handle_t *)&m->script_timer, NULL);
    m->script_timer_on = false;
    if (sc->done)
        sc->done(sc->arg);
    free(sc);
}

void mitm_master_stop(struct mitm_master *m, double grace, void (*done)(void *), void *arg)
{
    if (m->stopping)
        return;
    m->stopping = true;
    struct stop_ctx *sc = mitm_alloc(sizeof(*sc));
    *sc = (struct stop_ctx){m, done, arg};
    if (m->proxy)
        mitm_proxy_stop(m->proxy, grace, on_stopped, sc);
    else
        on_stopped(sc);
}

void mitm_master_deinit(struct mitm_master *m)
{
    mitm_script_rt_done(m->scripts, mitm_master_env(m)); /* the workers are gone */
    mitm_proxy_free(m->proxy);
    m->proxy = NULL;
    mitm_sinks_stop(); /* after the workers: every final flow is queued */
    mitm_clientplayback_stop();
    if (m->svc_on)
        mitm_services_deinit(&m->svc);
    m->svc_on = false;
    mitm_addons_free(m->addons);
    mitm_ui_commands_free(m);
    mitm_cmd_registry_free(m->commands);
    mitm_script_rt_free(m->scripts);
    mitm_builtin_addons_free(&m->builtin);
    mitm_serverplayback_free(m->sp);
    mitm_next_config_free(m->next);
    for (size_t i = 0; i < m->n_modes; i++)
        mitm_mode_spec_free(&m->modes[i]);
    free(m->modes);
    mitm_tls_config_free(m->tls);
    mitm_cert_store_free(m->certs);
    mitm_intercept_free(m->intercept);
    mitm_filter_free(m->read_filter);
    live_free(m->live);
    mitm_store_free(m->store); /* and its view */
    if (m->defaults_on)
        mitm_options_free(&m->defaults);
    memset(m, 0, sizeof(*m));
}

/* ---- options at run time ---------------------------------------------------------------- */

const struct mitm_opt_info *mitm_master_option(struct mitm_master *m, const char *name, const void **value,
                                               const void **def)
{
    const struct mitm_opt_info *in = mitm_options_info(name);
    if (!in)
        return mitm_script_rt_option(m->scripts, name, value, def);
    if (!m->defaults_on) {
        mitm_options_init(&m->defaults);
        m->defaults_on = true;
    }
    if (value)
        *value = (const char *)&mitm_options + in->offset;
    if (def)
        *def = (const char *)&m->defaults + in->offset;
    return in;
}

size_t mitm_master_options(const struct mitm_master *m, const struct mitm_opt_info **out, size_t cap)
{
    size_t n;
    const struct mitm_opt_info *all = mitm_options_all(&n);
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = &all[i];
    return n + mitm_script_rt_options(m->scripts, cap > n ? out + n : NULL, cap > n ? cap - n : 0);
}

/* Tell the scripts (configure(updated), now on the main thread, at their next hook on the
 * workers) and the front end that option name changed. */
static void option_changed(struct mitm_master *m, const char *name)
{
    if (m->scripts) {
        struct mitm_optsnap *snap = m->svc_on ? mitm_services_options(&m->svc) : NULL;
        mitm_script_rt_options_changed(m->scripts, &name, 1, snap, mitm_master_env(m));
        mitm_optsnap_unref(snap);
    }
    if (m->fe.option)
        m->fe.option(m->fe.arg, name);
}

int mitm_master_set_option(struct mitm_master *m, const char *name, const char *value, char *err,
                           size_t errlen)
{
    if (!mitm_options_info(name) && mitm_script_rt_option(m->scripts, name, NULL, NULL)) {
        if (mitm_script_rt_set_option(m->scripts, name, value, err, errlen) < 0)
            return -1;
        option_changed(m, name);
        return 0;
    }
    struct mitm_options next;
    mitm_options_copy(&next, &mitm_options);
    const struct mitm_opt_info *in = mitm_options_info(name);
    int rc;
    if (in && in->type == MITM_OPT_TYPE_STRLIST && value) /* the items given replace the list */
        rc = mitm_options_set_list(in, (char *)&next + in->offset, value, err, errlen);
    else
        rc = value ? mitm_options_set(&next, name, value, err, errlen)
                   : mitm_options_reset(&next, name, err, errlen);
    if (rc < 0) {
        mitm_options_free(&next);
        return -1;
    }
    if (m->intercept && strcmp(name, "intercept") == 0) {
        bool active;
        if (mitm_intercept_set_filter(m->intercept, next.intercept, &active, err, errlen) < 0) {
            mitm_options_free(&next);
            return -1;
        }
        next.intercept_active = active;
    }
    if (m->view && strcmp(name, "view_filter") == 0 &&
        mitm_store_view_set_filter(m->view, next.view_filter, err, errlen) < 0) {
        mitm_options_free(&next);
        return -1;
    }
    if (m->intercept && strcmp(name, "intercept_active") == 0)
        mitm_intercept_set_active(m->intercept, next.intercept_active);
    if (m->view && strcmp(name, "console_focus_follow") == 0)
        mitm_store_view_set_follow(m->view, next.console_focus_follow);
    bool reorder = strcmp(name, "view_order") == 0 || strcmp(name, "view_order_reversed") == 0;
    if (m->view && reorder)
        apply_order(m, &next);
    mitm_options_free(&mitm_options);
    mitm_options = next;
    if (m->svc_on)
        mitm_services_set_options(&m->svc, &mitm_options);
    option_changed(m, name);
    if (m->view && (reorder || strcmp(name, "view_filter") == 0) && m->fe.changed)
        m->fe.changed(m->fe.arg, -1);
    return 0;
}
