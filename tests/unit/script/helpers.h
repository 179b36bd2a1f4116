/* Shared setup of the script tests: scripts written to a temporary directory, a runtime
 * with a counting clock, logs captured from env, flow builders. */
#ifndef MITM_TEST_SCRIPT_HELPERS_H
#define MITM_TEST_SCRIPT_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "core/options.h"
#include "flow/flow.h"
#include "proto/http/http.h"
#include "script/script.h"

static char tdir[256];
static char logbuf[1 << 16];
static size_t loglen;
static double clock_now;

/* Every look at the clock advances it by 10 ms: a hook that runs long enough to look at it
 * often times out, deterministically. */
static double step_clock(void)
{
    clock_now += 0.01;
    return clock_now;
}

static void cap_log(void *arg, int level, const char *msg)
{
    (void)arg;
    int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "[%d] %s\n", level, msg);
    if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
        loglen += (size_t)n;
}

static struct mitm_hook_env env_for(int worker)
{
    return (struct mitm_hook_env){.now = 1000.0, .opts = &mitm_options, .worker = worker, .log = cap_log};
}

static void log_clear(void)
{
    loglen = 0;
    logbuf[0] = 0;
}

static bool logged(const char *s)
{
    return strstr(logbuf, s) != NULL;
}

static void helpers_setup(void)
{
    mitm_options_init(&mitm_options);
    snprintf(tdir, sizeof(tdir), "/tmp/mitmc-script-test-XXXXXX");
    cr_assert(mkdtemp(tdir));
    log_clear();
    clock_now = 0;
}

static void helpers_teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
    cr_assert_eq(system(cmd), 0);
    mitm_options_free(&mitm_options);
}

/* Write src to tdir/name and return the path (static storage, valid until the next call). */
static const char *write_script(const char *name, const char *src)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tdir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(src, f);
    fclose(f);
    return path;
}

static struct mitm_script_rt *rt_new(void)
{
    struct mitm_script_config cfg = {&mitm_options, step_clock};
    return mitm_script_rt_new(&cfg);
}

/* A runtime with one script loaded and configured (asserting it loads). */
static struct mitm_script_rt *rt_with(const char *src)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    cr_assert_eq(mitm_script_rt_load(rt, write_script("s.lua", src), &env), 0, "%s", logbuf);
    cr_assert_eq(mitm_script_rt_configure(rt, &env), 0, "%s", logbuf);
    log_clear(); /* "Loading script ..." */
    return rt;
}

static void hook(struct mitm_script_rt *rt, enum mitm_hook h, void *arg, int worker)
{
    struct mitm_hook_env env = env_for(worker);
    mitm_addon_script.hook(rt, h, arg, &env);
}

static struct mitm_flow *get_flow(const char *url_host, unsigned port, const char *path)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1000.0);
    struct mitm_http_request *r = mitm_http_request_new();
    r->method = mitm_strdup("GET");
    r->scheme = mitm_strdup("http");
    r->authority = mitm_strdup("");
    r->host = mitm_strdup(url_host);
    r->port = (uint16_t)port;
    r->path = mitm_strdup(path);
    r->http_version = mitm_strdup("HTTP/1.1");
    mitm_headers_add(&r->headers, "Host", 4, url_host, strlen(url_host));
    r->timestamp_start = r->timestamp_end = 1000.0;
    f->request = r;
    return f;
}

static void add_resp(struct mitm_flow *f, int status, const char *ctype, const char *body)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = status;
    r->reason = mitm_strdup(mitm_http_reason(status));
    if (ctype)
        mitm_headers_add(&r->headers, "Content-Type", 12, ctype, strlen(ctype));
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", strlen(body));
    mitm_headers_add(&r->headers, "Content-Length", 14, cl, strlen(cl));
    mitm_buf_append(&r->content, body, strlen(body));
    f->response = r;
}

static const char *hdr(const struct mitm_headers *h, const char *name)
{
    static char v[1024];
    size_t n;
    const char *p = mitm_headers_get(h, name, &n);
    if (!p)
        return NULL;
    snprintf(v, sizeof(v), "%.*s", (int)n, p);
    return v;
}

#endif
