/* script-bench: CPU per hook call of the Lua script addon, in process, without the network
 * (docs/internals/lua.md). Runs the request hook of each script variant N times on one
 * synthetic flow, on a worker state, exactly as a worker calls it (mitm_addon_script.hook),
 * and prints the process CPU time per call.
 *
 *   script-bench [-n calls]
 *
 * Variants: "none" (the addon with a script that has no request hook: the cost every hook
 * pays for being looked up), "empty" (function request(flow) end), "header" (sets one
 * request header), "shared" (mitm.shared.incr), "loop1000" (1000 iterations of a Lua loop: what the
 * instruction-count hook of script_timeout costs), "read" (reads method, host, path and a
 * header), each with script_timeout
 * on (the default: an instruction-count hook is installed) and off. Output: one line per
 * variant, SCRIPT name=NAME timeout=MS ns_per_call=NS, and the memory of one Lua state after
 * loading, STATE name=NAME bytes_per_state=N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/options.h"
#include "flow/flow.h"
#include "proto/http/http.h"
#include "script/script.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct mitm_flow *make_flow(void)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1700000000.0);
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    mitm_str_set(&r->method, "GET", 3);
    mitm_str_set(&r->scheme, "http", 4);
    mitm_str_set(&r->authority, "", 0);
    mitm_str_set(&r->host, "127.0.0.1", 9);
    r->port = 8080;
    mitm_str_set(&r->path, "/", 1);
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    mitm_headers_add(&r->headers, "Host", 4, "127.0.0.1:8080", 14);
    mitm_headers_add(&r->headers, "User-Agent", 10, "wrk", 3);
    return f;
}

static void quiet_log(void *arg, int level, const char *msg)
{
    (void)arg;
    fprintf(stderr, "log %d: %s\n", level, msg);
}

static void run(const char *name, const char *src, long timeout_ms, long n)
{
    char path[] = "/tmp/script-bench-XXXXXX.lua";
    int fd = mkstemps(path, 4);
    if (fd < 0 || write(fd, src, strlen(src)) != (ssize_t)strlen(src)) {
        perror("script-bench");
        exit(1);
    }
    close(fd);
    mitm_options.script_timeout = timeout_ms;
    struct mitm_script_config cfg = {&mitm_options, wall_now};
    struct mitm_script_rt *rt = mitm_script_rt_new(&cfg);
    struct mitm_hook_env env = {.now = 1700000000.0, .opts = &mitm_options, .worker = -1, .log = quiet_log};
    if (mitm_script_rt_load(rt, path, &env) < 0 || mitm_script_rt_configure(rt, &env) < 0 ||
        mitm_script_rt_workers(rt, 1, &env) < 0)
        exit(1);
    env.worker = 0;
    size_t nstates;
    size_t bytes = mitm_script_rt_memory(rt, &nstates);
    if (timeout_ms)
        printf("STATE name=%s bytes_per_state=%zu\n", name, bytes / (nstates ? nstates : 1));
    struct mitm_flow *f = make_flow();
    for (long i = 0; i < n / 10; i++) /* warm-up */
        mitm_addon_script.hook(rt, MITM_HOOK_REQUEST, f, &env);
    double t0 = cpu_now();
    for (long i = 0; i < n; i++)
        mitm_addon_script.hook(rt, MITM_HOOK_REQUEST, f, &env);
    double dt = cpu_now() - t0;
    printf("SCRIPT name=%s timeout=%ld ns_per_call=%.0f\n", name, timeout_ms, dt * 1e9 / (double)n);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
    unlink(path);
}

int main(int argc, char **argv)
{
    long n = 2000000;
    int c;
    while ((c = getopt(argc, argv, "n:")) != -1) {
        if (c == 'n')
            n = atol(optarg);
        else {
            fprintf(stderr, "usage: script-bench [-n calls]\n");
            return 2;
        }
    }
    mitm_options_init(&mitm_options);
    static const struct {
        const char *name, *src;
    } variants[] = {
        {"none", "function response(flow) end\n"},
        {"empty", "function request(flow) end\n"},
        {"header", "function request(flow) flow.request.headers['X-Bench'] = '1' end\n"},
        {"shared", "function request(flow) mitm.shared.incr('n') end\n"},
        {"loop1000", "local x = 0\nfunction request(flow) for i = 1, 1000 do x = x + i end end\n"},
        {"read", "function request(flow)\n"
                 "  local r = flow.request\n"
                 "  local _ = r.method, r.host, r.path, r.headers['user-agent']\n"
                 "end\n"},
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        run(variants[i].name, variants[i].src, 2000, n);
        run(variants[i].name, variants[i].src, 0, n);
    }
    mitm_options_free(&mitm_options);
    return 0;
}
