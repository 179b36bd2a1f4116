/* Fuzz target: the HTTP/2 codec glue (src/proto/http2/h2conn.c with the HTTP layer and its
 * streams). The client negotiated h2 by ALPN; the runner sends the connection preface and an
 * empty SETTINGS frame, then the input is a stackrun script (stackrun.h): frames from the
 * client, bytes from the HTTP/1 servers the streams opened (plain http), closes, timers,
 * failed opens. Invariants: no crash, no sanitizer report, every object freed, bounded work.
 * Seeds (corpus/h2/) are made by corpus/h2/make_seeds.py with python3-h2. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/modespec.h"
#include "core/options.h"
#include "core/services.h"
#include "proto/http/layer.h"
#include "stackrun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mitm_options opts;
static struct mitm_services svc;
static struct mitm_mode_spec regular;
static bool ready;

static void setup(void)
{
    char err[256];
    mitm_log_set_level(MITM_LOG_ERROR);
    mitm_options_init(&opts);
    mitm_services_init(&svc, &opts);
    if (mitm_mode_spec_parse("regular", &regular, err, sizeof(err)) < 0)
        abort();
    ready = true;
}

/* RFC 9113 §3.4: the client preface, then its SETTINGS (empty). */
static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                 "\x00\x00\x00\x04\x00\x00\x00\x00\x00";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    struct stackrun r;
    stackrun_init(&r, &opts, &svc);
    r.ctx.mode = &regular;
    r.ctx.proxy_mode = regular.full;
    r.ctx.client->tls = true;
    r.ctx.client->alpn = mitm_strdup("h2");
    r.ctx.root = mitm_http_layer_new(&r.ctx, NULL, MITM_HTTP_REGULAR, NULL);
    struct mitm_event start = {.type = MITM_EV_START};
    stackrun_input(&r, &start);
    stackrun_data(&r, r.ctx.client, preface, sizeof(preface) - 1);
    stackrun_script(&r, data, size);
    stackrun_free(&r);
    return 0;
}
