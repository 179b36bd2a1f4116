/* mitmc: `mitmc dump` (mitmdump), later `mitmc` (console) and `mitmc web`. The main
 * thread parses options, starts the workers and prints flows; workers run the proxy. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addon/addon.h"
#include "addon/options.h"
#include "base/buf.h"
#include "base/log.h"
#include "flow/flow.h"
#include "io/io.h"
#include "ui/cli.h"
#include "ui/dump/dump.h"

/* Live exchanges get this long to finish after SIGINT/SIGTERM. */
#define SHUTDOWN_GRACE_S 2.0

struct app {
    uv_loop_t *loop;
    struct mitm_proxy *proxy;
    struct mitm_dump_style style;
    uv_signal_t sigint, sigterm;
    bool stopping;
};

static void on_flow(void *arg, enum mitm_hook hook, struct mitm_flow *flow)
{
    struct app *app = arg;
    (void)hook;
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_dump_format(&app->style, flow, &out);
    if (out.len)
        mitm_log_raw((const char *)mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
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
    if (app->stopping) { /* a second Ctrl-C: do not wait */
        mitm_log(MITM_LOG_WARN, NULL, "exiting now");
        exit(130);
    }
    app->stopping = true;
    (void)sig;
    if (app->proxy)
        mitm_proxy_stop(app->proxy, SHUTDOWN_GRACE_S, on_stopped, app);
    else
        on_stopped(app);
}

static int run_dump(struct app *app)
{
    char err[512];
    mitm_dump_style_init(&app->style, &mitm_options);
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    if (mitm_options.server) {
        /* at flow_detail 0 nothing on this thread needs the flows yet */
        mitm_flow_sink_fn sink = app->style.flow_detail > 0 ? on_flow : NULL;
        app->proxy = mitm_proxy_start(app->loop, &mitm_options, sink, app, err, sizeof(err));
        if (!app->proxy) {
            mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
            return 1;
        }
    } else {
        /* nothing to serve and nothing to read yet: done (mitmdump -n) */
        on_stopped(app);
    }
    uv_run(app->loop, UV_RUN_DEFAULT);
    mitm_proxy_free(app->proxy);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct mitm_cli cli = {0};
    char err[1024];
    mitm_options_init(&mitm_options);
    if (mitm_cli_parse(argc, argv, &mitm_options, &cli, err, sizeof(err)) < 0) {
        fprintf(stderr, "mitmc: error: %s\n", err);
        mitm_cli_free(&cli);
        mitm_options_free(&mitm_options);
        return 2;
    }
    int rc = 0;
    if (cli.show_help) {
        mitm_cli_usage(&cli, stdout);
        rc = 1;
    } else if (cli.show_version) {
        mitm_cli_version(stdout);
    } else if (cli.show_options) {
        mitm_options_dump(&mitm_options, stdout);
    } else if (cli.tool != MITM_TOOL_DUMP) {
        fprintf(stderr, "mitmc: the console UI is not built yet; run `mitmc dump` (mitmdump) instead\n");
        rc = 2;
    } else {
        int lvl = mitm_log_level_parse(mitm_options.termlog_verbosity);
        mitm_log_set_level(lvl < 0 ? MITM_LOG_INFO : (enum mitm_log_level)lvl);
        if (cli.filter)
            mitm_log(MITM_LOG_WARN, NULL, "filter expressions are not supported yet; showing every flow");
        mitm_addons_register_builtin();
        struct app app = {.loop = uv_default_loop()};
        rc = run_dump(&app);
        uv_loop_close(app.loop);
        mitm_addons_clear();
    }
    mitm_cli_free(&cli);
    mitm_options_free(&mitm_options);
    return rc;
}
