/* Fuzz target: the layer stack itself, with no network. The first byte picks a listener's
 * mode (regular, socks5, reverse http, reverse tcp, transparent, upstream); the rest is a
 * script of events (stackrun.h): data to the client or to one of the server connections the
 * stack opened, closes, timers, failed OPENs; the runner answers every command as the driver
 * would (OPEN, HOOK, SEND, CLOSE, WAKEUP, LOG). Invariants: no crash, no sanitizer report, every object freed
 * (the ASan build checks leaks), bounded work. The TLS layers run with a real configuration (a CA made once
 * in a temporary directory), so ClientHello-looking input reaches them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon/addon.h"
#include "base/log.h"
#include "cert/ca.h"
#include "cert/store.h"
#include "core/modespec.h"
#include "core/options.h"
#include "core/services.h"
#include "layer/layer.h"
#include "proto/mode/mode.h"
#include "proto/next.h"
#include "proto/tls/tls.h"
#include "stackrun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mitm_options opts;
static struct mitm_services svc;
static struct mitm_mode_spec modes[6];
static bool ready;
static char ca_dir[64];

static void remove_ca_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ca_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz-stack: could not remove %s\n", ca_dir);
}

static void setup(void)
{
    char err[512];
    mitm_log_set_level(MITM_LOG_ERROR);
    mitm_options_init(&opts);
    mitm_options_set(&opts, "ignore_hosts", "^ignored\\.test:", err, sizeof(err));
    mitm_options_set(&opts, "tcp_hosts", "^tcp\\.test:", err, sizeof(err));
    /* a client that starts with the HTTP/2 preface reaches the h2c path */
    mitm_options_set(&opts, "http2_prior_knowledge", "true", err, sizeof(err));
    mitm_services_init(&svc, &opts);
    snprintf(ca_dir, sizeof(ca_dir), "/tmp/mitmc-fuzz-stack-%d", (int)getpid());
    atexit(remove_ca_dir);
    struct mitm_ca *ca = mitm_ca_load_or_create(ca_dir, 2048, NULL, err, sizeof(err));
    struct mitm_cert_store *store = ca ? mitm_cert_store_new(ca, NULL, err, sizeof(err)) : NULL;
    mitm_ca_free(ca);
    if (store)
        svc.tls = mitm_tls_config_new(&opts, store, err, sizeof(err)); /* store kept for the process */
    svc.next = mitm_next_config_new(&opts, err, sizeof(err));
    static const char *const specs[] = {"regular",
                                        "socks5",
                                        "reverse:http://origin.test:8080",
                                        "reverse:tcp://origin.test:9",
                                        "transparent",
                                        "upstream:http://parent.test:3128"};
    for (int i = 0; i < 6; i++)
        if (mitm_mode_spec_parse(specs[i], &modes[i], err, sizeof(err)) < 0)
            abort();
    ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size < 1)
        return 0;
    struct stackrun r;
    stackrun_init(&r, &opts, &svc);
    r.ctx.mode = &modes[data[0] % 6];
    r.ctx.proxy_mode = r.ctx.mode->full;
    snprintf(r.ctx.orig_host, sizeof(r.ctx.orig_host), "origin.test");
    r.ctx.orig_port = 80;
    r.ctx.root = mitm_mode_layer_new(&r.ctx);
    struct mitm_event start = {.type = MITM_EV_START};
    stackrun_input(&r, &start);
    stackrun_script(&r, data + 1, size - 1);
    stackrun_free(&r);
    return 0;
}
