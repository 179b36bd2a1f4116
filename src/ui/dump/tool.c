/* `mitmc dump`: the main thread of mitmdump. Workers run the proxy; finished flows come
 * here, are filtered (dumper_filter) and printed. */
#include "ui/dump/tool.h"
#include "addon/addon.h"
#include "addon/options.h"
#include "base/buf.h"
#include "base/log.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "io/io.h"
#include "ui/cli.h"
#include "ui/dump/dump.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

/* Live exchanges get this long to finish after SIGINT/SIGTERM. */
#define SHUTDOWN_GRACE_S 2.0

struct app {
    uv_loop_t *loop;
    struct mitm_proxy *proxy;
    struct mitm_dump_style style;
    struct mitm_filter *filter; /* dumper_filter (the positional filter) */
    uv_signal_t sigint, sigterm;
    bool stopping;
};

static void on_flow(void *arg, enum mitm_hook hook, struct mitm_flow *flow)
{
    struct app *app = arg;
    (void)hook;
    if (!app->filter || mitm_filter_match(app->filter, flow)) {
        struct mitm_buf out;
        mitm_buf_init(&out, 0);
        mitm_dump_format(&app->style, flow, &out);
        if (out.len)
            mitm_log_raw((const char *)mitm_buf_data(&out), out.len);
        mitm_buf_free(&out);
    }
    mitm_flow_unref(flow);
}

static void on_stopped(void *arg)
{
    struct app *app = arg;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct app *app = h->data;
    (void)sig;
    if (app->stopping) { /* a second Ctrl-C: do not wait */
        mitm_log(MITM_LOG_WARN, NULL, "exiting now");
        exit(130);
    }
    app->stopping = true;
    if (app->proxy)
        mitm_proxy_stop(app->proxy, SHUTDOWN_GRACE_S, on_stopped, app);
    else
        on_stopped(app);
}

static int run(struct app *app)
{
    char err[512];
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    if (mitm_options.server) {
        /* at flow_detail 0 nothing on this thread needs the flows */
        mitm_flow_sink_fn sink = app->style.flow_detail > 0 ? on_flow : NULL;
        app->proxy = mitm_proxy_start(app->loop, &mitm_options, sink, app, err, sizeof(err));
        if (!app->proxy) {
            mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
            on_stopped(app);
            uv_run(app->loop, UV_RUN_DEFAULT);
            return 1;
        }
    } else {
        on_stopped(app); /* -n with nothing to read: done */
    }
    uv_run(app->loop, UV_RUN_DEFAULT);
    mitm_proxy_free(app->proxy);
    return 0;
}

int mitm_dump_main(const struct mitm_cli *cli)
{
    struct app app = {.loop = uv_default_loop()};
    if (cli->filter) {
        char err[512];
        app.filter = mitm_filter_parse(cli->filter, err, sizeof(err));
        if (!app.filter) {
            mitm_log(MITM_LOG_ERROR, NULL, "Invalid filter expression: %s", err);
            return 1;
        }
    }
    mitm_dump_style_init(&app.style, &mitm_options);
    mitm_addons_register_builtin();
    int rc = run(&app);
    uv_loop_close(app.loop);
    mitm_addons_clear();
    mitm_filter_free(app.filter);
    return rc;
}
