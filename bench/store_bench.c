/* store-bench: RAM the flow store keeps per flow (docs/internals/flows.md). Builds N synthetic
 * HTTP flows with B-byte response bodies, adds each to a store (full flow to the spool, a
 * summary in RAM) with one filtered view attached, and prints the process RSS before and
 * after and the growth per flow. bench/memory runs it next to mitmproxy's growth on the same
 * traffic.
 *
 *   store-bench [-n flows] [-b body_bytes] [-d spool_dir] [-f filter]... [-L]
 *
 * Defaults: 200000 flows, 65536-byte bodies, the spool in $TMPDIR (or /tmp): the spool takes
 * about n * (b + 1 KiB) bytes of disk while it runs and is gone when it exits. Output ends
 * with one machine-readable line:
 *   STORE flows=N body=B rss_before=BYTES rss_after=BYTES per_flow=BYTES spool=BYTES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filter/filter.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "proto/http/http.h"

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static struct mitm_flow *make_flow(size_t k, const char *body, size_t body_len)
{
    char buf[160];
    double now = 1700000000.0 + (double)k / 1000;
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, now);
    mitm_str_set(&f->client_conn.peer_host, "127.0.0.1", 9);
    f->client_conn.peer_port = (uint16_t)(20000 + k % 40000);
    mitm_str_set(&f->client_conn.proxy_mode, "regular", 7);
    f->client_conn.timestamp_start = now;
    mitm_str_set(&f->server_conn.address_host, "127.0.0.1", 9);
    f->server_conn.address_port = 8080;
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    mitm_str_set(&r->method, k % 5 ? "GET" : "POST", k % 5 ? 3 : 4);
    mitm_str_set(&r->scheme, "http", 4);
    mitm_str_set(&r->authority, "", 0);
    int n = snprintf(buf, sizeof(buf), "site%zu.example", k % 50);
    mitm_str_set(&r->host, buf, (size_t)n);
    r->port = 80;
    n = snprintf(buf, sizeof(buf), "/assets/v2/bundle-%zu.js?cache=%zu&session=abcdef0123456789", k, k * 31);
    mitm_str_set(&r->path, buf, (size_t)n);
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    r->form = MITM_TARGET_ABSOLUTE;
    r->timestamp_start = r->timestamp_end = now;
    n = snprintf(buf, sizeof(buf), "site%zu.example", k % 50);
    mitm_headers_add(&r->headers, "Host", 4, buf, (size_t)n); /* as a proxy sees it: the URL's host */
    mitm_headers_add(&r->headers, "User-Agent", 10, "curl/7.88.1", 11);
    mitm_headers_add(&r->headers, "Accept", 6, "*/*", 3);
    struct mitm_http_response *rs = f->response = mitm_http_response_new();
    mitm_str_set(&rs->http_version, "HTTP/1.1", 8);
    rs->status_code = 200;
    mitm_str_set(&rs->reason, "OK", 2);
    n = snprintf(buf, sizeof(buf), "%zu", body_len);
    mitm_headers_add(&rs->headers, "Content-Length", 14, buf, (size_t)n);
    mitm_headers_add(&rs->headers, "Content-Type", 12, "application/javascript", 22);
    mitm_buf_append(&rs->content, body, body_len);
    rs->timestamp_start = rs->timestamp_end = now + 0.001;
    return f;
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A view filtered by expr over every stored flow, as the console's and the web's are. */
static int time_filter(struct mitm_store *s, const char *expr, bool full)
{
    char err[256];
    struct mitm_store_view *v = mitm_store_view_new(s);
    uint64_t loads = mitm_store_match_loads(s);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (mitm_store_view_set_filter(v, expr, err, sizeof(err)) < 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return -1;
    }
    double secs = since(&t0);
    size_t matched = mitm_store_view_count(v), n = mitm_store_live_count(s);
    loads = mitm_store_match_loads(s) - loads;
    printf("filter %-32s %zu of %zu flows in %.3f s (%llu read back)\n", expr, matched, n, secs,
           (unsigned long long)loads);
    mitm_store_view_free(v);
    double full_secs = -1;
    if (full) { /* every flow read back and matched whole: what a store without summaries does */
        struct mitm_filter *flt = mitm_filter_parse(expr, err, sizeof(err));
        size_t m = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t i = 0; i < mitm_store_count(s); i++) {
            struct mitm_flow *f = mitm_store_summary(s, i) ? mitm_store_get(s, i, err, sizeof(err)) : NULL;
            m += f && mitm_filter_match(flt, f);
            mitm_flow_unref(f);
        }
        full_secs = since(&t0);
        mitm_filter_free(flt);
        printf("  every flow loaded:              %zu of %zu flows in %.3f s\n", m, n, full_secs);
        if (m != matched) {
            fprintf(stderr, "store-bench: %s: the view has %zu flows, the full match %zu\n", expr, matched,
                    m);
            return -1;
        }
    }
    printf("FILTER expr=\"%s\" flows=%zu matched=%zu secs=%.3f loads=%llu", expr, n, matched, secs,
           (unsigned long long)loads);
    if (full)
        printf(" full_secs=%.3f", full_secs);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 200000, body_len = 65536;
    const char *dir = NULL;
    const char *filters[16];
    size_t n_filters = 0;
    bool full = false;
    int opt;
    while ((opt = getopt(argc, argv, "n:b:d:f:L")) != -1) {
        if (opt == 'n')
            n = strtoul(optarg, NULL, 10);
        else if (opt == 'b')
            body_len = strtoul(optarg, NULL, 10);
        else if (opt == 'd')
            dir = optarg;
        else if (opt == 'f' && n_filters < sizeof(filters) / sizeof(filters[0]))
            filters[n_filters++] = optarg;
        else if (opt == 'L')
            full = true;
        else {
            fprintf(stderr,
                    "usage: store-bench [-n flows] [-b body_bytes] [-d spool_dir] [-f filter]... [-L]\n");
            return 2;
        }
    }
    char *body = malloc(body_len + 1);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (char)('a' + (i * 7 + i / 13) % 26);
    char err[256];
    struct mitm_store *s = mitm_store_new(dir, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    struct mitm_store_view *v = mitm_store_view_new(s);
    if (mitm_store_view_set_filter(v, "~m POST", err, sizeof(err)) < 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    /* One flow first, so allocator arenas and code pages are not counted as per-flow. */
    struct mitm_flow *warm = make_flow(0, body, body_len);
    mitm_store_add(s, warm, err, sizeof(err));
    mitm_flow_unref(warm);
    long before = rss_bytes();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t k = 1; k <= n; k++) {
        struct mitm_flow *f = make_flow(k, body, body_len);
        if (mitm_store_add(s, f, err, sizeof(err)) < 0) {
            fprintf(stderr, "store-bench: flow %zu: %s\n", k, err);
            return 1;
        }
        mitm_flow_unref(f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long after = rss_bytes();
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* every flow comes back whole */
    struct mitm_flow *last = mitm_store_get(s, n, err, sizeof(err));
    if (!last || last->response->content.len != body_len) {
        fprintf(stderr, "store-bench: reading back the last flow failed: %s\n", last ? "wrong body" : err);
        return 1;
    }
    mitm_flow_unref(last);
    /* view_order on every flow: sorts over the summaries, and new flows placed in order */
    struct mitm_store_view *all = mitm_store_view_new(s);
    for (int o = MITM_STORE_ORDER_METHOD; o <= MITM_STORE_ORDER_SIZE; o++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        mitm_store_view_set_order(all, (enum mitm_store_order)o);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("view_order %-7s  %zu flows sorted in %.3f s\n",
               mitm_store_order_name((enum mitm_store_order)o), mitm_store_view_count(all),
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t k = n + 1; k <= n + 1000; k++) {
        struct mitm_flow *f = make_flow(k, body, k % 97);
        mitm_store_add(s, f, err, sizeof(err));
        mitm_flow_unref(f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("1000 flows added in size order: %.3f s\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    mitm_store_view_free(all);
    for (size_t k = 0; k < n_filters; k++)
        if (time_filter(s, filters[k], full) < 0)
            return 1;
    double per = (double)(after - before) / (double)n;
    printf("flows added:        %zu (%zu-byte bodies) in %.1f s\n", n, body_len, secs);
    printf("view \"~m POST\":     %zu flows\n", mitm_store_view_count(v));
    printf("RSS before/after:   %.1f MiB / %.1f MiB\n", (double)before / 1048576, (double)after / 1048576);
    printf("RSS per flow:       %.0f bytes (store's own estimate: %zu bytes)\n", per,
           mitm_store_ram_bytes(s) / (n + 1));
    printf("spool on disk:      %.1f MiB\n", (double)mitm_store_spool_bytes(s) / 1048576);
    printf("STORE flows=%zu body=%zu rss_before=%ld rss_after=%ld per_flow=%.0f spool=%llu\n", n, body_len,
           before, after, per, (unsigned long long)mitm_store_spool_bytes(s));
    mitm_store_free(s);
    free(body);
    return 0;
}
