/* `mitmc web` (mitmweb): the shared master with the web server as its front end. Flows,
 * options and log lines reach the browsers through /updates as mitmproxy's WebMaster
 * broadcasts them (mitmproxy/tools/web/master.py). */
#include "ui/web/web.h"
#include "ui/web/web-int.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/options.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "proto/ws/ws.h"
#include "ui/commands.h"

#define SHUTDOWN_GRACE_S 2.0

extern char **environ;

static const char *level_name(int lvl)
{
    switch (lvl) {
    case MITM_LOG_ERROR:
        return "error";
    case MITM_LOG_WARN:
        return "warn";
    case MITM_LOG_ALERT:
        return "alert";
    case MITM_LOG_DEBUG:
        return "debug";
    default:
        return "info";
    }
}

/* ---- the event log: a tap on the process log (any thread, under the log's lock) ---- */

static void log_tap(void *arg, enum mitm_log_level lvl, const char *line, unsigned long len)
{
    struct web *w = arg;
    /* the terminal still gets every line, as mitmweb's termlog */
    FILE *out = lvl == MITM_LOG_ERROR ? stderr : stdout;
    fwrite(line, 1, len, out);
    fputc('\n', out);
    fflush(out);
    struct web_pending_event *e = mitm_alloc(sizeof(*e));
    e->level = (int)lvl;
    e->msg = mitm_alloc(len + 1);
    memcpy(e->msg, line, len);
    e->msg[len] = 0;
    e->next = NULL;
    pthread_mutex_lock(&w->ev_mu);
    *w->ev_tail = e;
    w->ev_tail = &e->next;
    pthread_mutex_unlock(&w->ev_mu);
    if (w->wake_on)
        uv_async_send(&w->ev_wake);
}

static void event_add(struct web *w, int level, char *msg)
{
    /* JSON takes UTF-8 only */
    if (!mitm_ws_utf8_valid((const uint8_t *)msg, strlen(msg)))
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    struct web_event *e;
    if (w->ev_n == WEB_EVENTS_MAX) {
        e = &w->events[w->ev_head];
        free(e->msg);
        w->ev_head = (w->ev_head + 1) % WEB_EVENTS_MAX;
        w->ev_n--;
    }
    e = &w->events[(w->ev_head + w->ev_n) % WEB_EVENTS_MAX];
    w->ev_n++;
    e->id = ++w->ev_next_id;
    snprintf(e->level, sizeof(e->level), "%s", level_name(level));
    e->msg = msg;
    if (w->nclients)
        web_broadcast(w, json_pack("{s:s,s:{s:I,s:s,s:s}}", "type", "events/add", "payload", "id",
                                   (json_int_t)e->id, "message", e->msg, "level", e->level));
}

static void drain_events(struct web *w)
{
    pthread_mutex_lock(&w->ev_mu);
    struct web_pending_event *list = w->ev_pending;
    w->ev_pending = NULL;
    w->ev_tail = &w->ev_pending;
    pthread_mutex_unlock(&w->ev_mu);
    for (struct web_pending_event *e = list, *n; e; e = n) {
        n = e->next;
        event_add(w, e->level, e->msg);
        free(e);
    }
}

static void on_ev_wake(uv_async_t *a)
{
    drain_events(a->data);
}

void web_events_clear(struct web *w)
{
    for (size_t k = 0; k < w->ev_n; k++)
        free(w->events[(w->ev_head + k) % WEB_EVENTS_MAX].msg);
    w->ev_head = w->ev_n = 0;
    web_broadcast(w, json_pack("{s:s}", "type", "events/reset"));
}

/* ---- the master's callbacks ---- */

static bool mark_seen(struct web *w, size_t i)
{
    if (i >= w->seen_n) {
        size_t n = w->seen_n ? w->seen_n : 1024;
        while (n <= i)
            n *= 2;
        w->seen = realloc(w->seen, n);
        if (!w->seen)
            abort();
        memset(w->seen + w->seen_n, 0, n - w->seen_n);
        w->seen_n = n;
    }
    bool was = w->seen[i];
    w->seen[i] = 1;
    return was;
}

static void on_flow(void *arg, const struct mitm_pub *ev, bool loaded, ssize_t index)
{
    struct web *w = arg;
    (void)loaded;
    if (index >= 0) {
        bool known = mark_seen(w, (size_t)index);
        if (mitm_store_view_pos(w->m.view, (size_t)index) >= 0)
            web_broadcast_flow(w, known ? "flows/update" : "flows/add", ev->flow, index);
    }
    mitm_flow_unref(ev->flow);
}

static void on_changed(void *arg, ssize_t index)
{
    struct web *w = arg;
    if (index < 0) {
        if (mitm_store_count(w->m.store) == 0 && w->seen)
            memset(w->seen, 0, w->seen_n);
        web_clients_refilter(w);
        return;
    }
    if (!w->nclients)
        return;
    char err[256];
    struct mitm_flow *f = mitm_store_get(w->m.store, (size_t)index, err, sizeof(err));
    if (f)
        web_broadcast_flow(w, "flows/update", f, index);
    mitm_flow_unref(f);
}

static void on_option(void *arg, const char *name)
{
    struct web *w = arg;
    web_broadcast(w,
                  json_pack("{s:s,s:o}", "type", "options/update", "payload", web_options_json(&w->m, name)));
}

/* ---- start and stop ---- */

static void on_stopped(void *arg)
{
    struct web *w = arg;
    if (!w->handles_on)
        return;
    w->handles_on = false;
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    /* the log goes back to the terminal: nothing may wake the loop once it should end */
    mitm_log_set_tap(NULL, NULL);
    w->wake_on = false;
    uv_close((uv_handle_t *)&w->ev_wake, NULL);
}

static void web_exit(struct web *w)
{
    if (w->exiting)
        return;
    w->exiting = true;
    web_server_close(w);
    mitm_master_stop(&w->m, SHUTDOWN_GRACE_S, on_stopped, w);
}

static void on_term(uv_signal_t *h, int sig)
{
    (void)sig;
    web_exit(h->data);
}

/* mitmweb's open_browser, on a display only (a headless server has none to open). */
static void open_browser(const char *url)
{
    if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")) {
        mitm_log(MITM_LOG_INFO, NULL, "No web browser found. Please open a browser and point it to %s", url);
        return;
    }
    char *argv[] = {"xdg-open", (char *)url, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) != 0)
        mitm_log(MITM_LOG_INFO, NULL, "No web browser found. Please open a browser and point it to %s", url);
    /* xdg-open returns at once; its exit status is collected by SIGCHLD's default (ignored) */
}

static void web_url(const struct web *w, char *out, size_t n)
{
    const char *h = mitm_options.web_host && *mitm_options.web_host ? mitm_options.web_host : w->host;
    bool v6 = strchr(h, ':') != NULL;
    if (mitm_options.web_password && *mitm_options.web_password)
        snprintf(out, n, "http://%s%s%s:%u/", v6 ? "[" : "", h, v6 ? "]" : "", (unsigned)w->port);
    else
        snprintf(out, n, "http://%s%s%s:%u/?token=%s", v6 ? "[" : "", h, v6 ? "]" : "", (unsigned)w->port,
                 w->token);
}

static void stopped_early(void *arg)
{
    (void)arg;
}

static int run(struct web *w, const struct mitm_cli *cli)
{
    char err[1024];
    /* the web server first: the guard the workers run must know its port */
    if (web_server_listen(w, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return 1;
    }
    snprintf(w->guard_host, sizeof(w->guard_host), "%s", w->host);
    w->guard_port = w->port;
    if (web_auth_init(w) < 0)
        return 1;
    struct mitm_frontend fe = {.arg = w,
                               .flow = on_flow,
                               .changed = on_changed,
                               .option = on_option,
                               .wants_flows = true,
                               .interactive = true,
                               .addon = &web_guard_addon,
                               .addon_state = w};
    mitm_master_init(&w->m, w->loop, cli, &fe);
    int rc = mitm_master_start(&w->m);
    if (rc)
        return rc;
    if (mitm_options.rfile && mitm_master_read_file(&w->m, mitm_options.rfile) < 0)
        return 1;
    if (mitm_master_client_replay(&w->m) < 0)
        return 1;
    char url[512];
    web_url(w, url, sizeof(url));
    mitm_log(MITM_LOG_INFO, NULL, "Web server listening at %s", url);
    if (mitm_options.web_open_browser)
        open_browser(url);
    return 0;
}

int mitm_web_main(const struct mitm_cli *cli)
{
    struct web *w = mitm_calloc(1, sizeof(*w));
    w->loop = uv_default_loop();
    w->events = mitm_calloc(WEB_EVENTS_MAX, sizeof(*w->events));
    pthread_mutex_init(&w->ev_mu, NULL);
    w->ev_tail = &w->ev_pending;
    uv_async_init(w->loop, &w->ev_wake, on_ev_wake);
    w->ev_wake.data = w;
    w->wake_on = true;
    int lvl = mitm_log_level_parse(mitm_options.termlog_verbosity);
    mitm_log_set_level(lvl < 0 ? MITM_LOG_INFO : (enum mitm_log_level)lvl);
    mitm_log_set_tap(log_tap, w);
    uv_signal_init(w->loop, &w->sigint);
    uv_signal_init(w->loop, &w->sigterm);
    w->sigint.data = w->sigterm.data = w;
    uv_signal_start(&w->sigint, on_term, SIGINT);
    uv_signal_start(&w->sigterm, on_term, SIGTERM);
    w->handles_on = true;
    int rc = run(w, cli);
    if (rc) {
        web_server_close(w);
        on_stopped(w);
        if (w->m.loop)
            mitm_master_stop(&w->m, 0, stopped_early, w);
    }
    uv_run(w->loop, UV_RUN_DEFAULT);
    drain_events(w); /* frees what is still pending */
    if (!rc)
        rc = w->m.rc;
    if (w->m.loop)
        mitm_master_deinit(&w->m);
    uv_loop_close(w->loop);
    web_events_clear(w);
    web_json_free();
    free(w->password);
    free(w->events);
    free(w->seen);
    pthread_mutex_destroy(&w->ev_mu);
    free(w);
    return rc;
}
