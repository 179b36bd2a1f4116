/* save (-w): which hooks write, the filter, a write error, loaded flows written once, and
 * many threads writing at once (read back with the flow-file reader: no record torn). */
#include "helpers.h"

#include "addon/save.h"
#include "flow/flowfile.h"
#include "flow/savefile.h"

#include <fcntl.h>
#include <pthread.h>

static char err[1024];
static char path[64];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/mitmc-save-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void teardown(void)
{
    unlink(path);
    mitm_buf_free(&test_log);
}

TestSuite(save, .init = setup, .fini = teardown);

static struct mitm_save *make(struct mitm_options *o, const char *filter)
{
    char file[128], flt[128];
    snprintf(file, sizeof(file), "save_stream_file=%s", path);
    snprintf(flt, sizeof(flt), "save_stream_filter=%s", filter ? filter : "");
    opts_with(o, HDRS(file, "save_stream_fsync=0", flt));
    struct mitm_save *s = NULL;
    cr_assert_eq(mitm_save_configure(o, 1e9, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(s);
    return s;
}

static void hook(struct mitm_save *s, const struct mitm_options *o, enum mitm_hook h, void *arg)
{
    struct mitm_hook_env env = env_for(o, 1e9);
    mitm_addon_save.hook(s, h, arg, &env);
}

/* The paths of the flows in the file, in order, one per line. */
static const char *paths_in_file(size_t *n)
{
    static char out[1 << 16];
    size_t len = 0;
    *n = 0;
    out[0] = 0;
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    struct mitm_flowfile_reader *r = mitm_flowfile_open(fd);
    struct mitm_flow *f;
    int rc;
    while ((rc = mitm_flowfile_next(r, &f, err, sizeof(err))) == MITM_FLOWFILE_FLOW) {
        const char *p = f->type == MITM_FLOW_TCP ? "tcp" : f->request->path;
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s\n", p);
        (*n)++;
        mitm_flow_unref(f);
    }
    cr_assert_eq(rc, MITM_FLOWFILE_EOF, "the file reads cleanly: %s", err);
    mitm_flowfile_close(r);
    close(fd);
    return out;
}

static struct mitm_flow *answered(const char *p)
{
    struct mitm_flow *f = mkflow("GET", "http", "h.test", 80, p, HDRS("Host", "h.test"), NULL);
    server_response(f, 200, NULL, "ok");
    return f;
}

Test(save, writes_at_mitmproxys_hooks)
{
    struct mitm_options o;
    struct mitm_save *s = make(&o, NULL);
    struct mitm_flow *a = answered("/response");
    for (enum mitm_hook h = 0; h < MITM_HOOK__COUNT; h++)
        if (h != MITM_HOOK_RESPONSE && h != MITM_HOOK_ERROR && h != MITM_HOOK_WEBSOCKET_END &&
            h != MITM_HOOK_TCP_END && h != MITM_HOOK_TCP_ERROR)
            hook(s, &o, h, a);
    size_t n;
    cr_assert_str_eq(paths_in_file(&n), "", "no other hook writes an HTTP flow");
    hook(s, &o, MITM_HOOK_RESPONSE, a);
    struct mitm_flow *e = mkflow("GET", "http", "h.test", 80, "/error", HDRS("Host", "h.test"), NULL);
    mitm_flow_set_error(e, "Connection killed.", 1e9);
    hook(s, &o, MITM_HOOK_ERROR, e);
    /* a WebSocket flow: not at its response, whole at websocket_end */
    struct mitm_flow *w = answered("/ws");
    w->websocket = mitm_websocket_new();
    hook(s, &o, MITM_HOOK_RESPONSE, w);
    hook(s, &o, MITM_HOOK_ERROR, w);
    hook(s, &o, MITM_HOOK_WEBSOCKET_END, w);
    struct mitm_flow *t = mitm_flow_new(MITM_FLOW_TCP, 1000.0);
    t->client_conn.proxy_mode = mitm_strdup("regular");
    hook(s, &o, MITM_HOOK_TCP_END, t);
    hook(s, &o, MITM_HOOK_TCP_ERROR, t);
    cr_assert_str_eq(paths_in_file(&n), "/response\n/error\n/ws\ntcp\ntcp\n");
    cr_assert_eq(mitm_savefile_count(mitm_save_file(s)), 5);
    cr_assert_not(mitm_save_failed(s, err, sizeof(err)));
    mitm_flow_unref(a);
    mitm_flow_unref(e);
    mitm_flow_unref(w);
    mitm_flow_unref(t);
    mitm_save_free(s);
    mitm_options_free(&o);
}

Test(save, filter_and_loaded_flows)
{
    struct mitm_options o;
    struct mitm_save *s = make(&o, "~u /yes");
    struct mitm_flow *no = answered("/no"), *yes = answered("/yes");
    hook(s, &o, MITM_HOOK_RESPONSE, no);
    hook(s, &o, MITM_HOOK_RESPONSE, yes);
    /* -r: a loaded flow with a response and an error runs both hooks: written once */
    struct mitm_flow *l = answered("/yes/loaded");
    l->loaded = true;
    mitm_flow_set_error(l, "cut", 1e9);
    hook(s, &o, MITM_HOOK_RESPONSE, l);
    hook(s, &o, MITM_HOOK_ERROR, l);
    size_t n;
    cr_assert_str_eq(paths_in_file(&n), "/yes\n/yes/loaded\n");
    mitm_flow_unref(no);
    mitm_flow_unref(yes);
    mitm_flow_unref(l);
    mitm_save_free(s);
    mitm_options_free(&o);
}

Test(save, configure_errors_and_off)
{
    struct mitm_options o;
    struct mitm_save *s = (struct mitm_save *)1;
    opts_with(&o, NULL);
    cr_assert_eq(mitm_save_configure(&o, 1e9, &s, err, sizeof(err)), 0);
    cr_assert_null(s, "no save_stream_file: off");
    hook(NULL, &o, MITM_HOOK_RESPONSE, NULL); /* off: ignores everything */
    cr_assert_not(mitm_save_failed(NULL, err, sizeof(err)));
    mitm_options_free(&o);
    opts_with(&o, HDRS("save_stream_file=/proc/version/x/y.mitm"));
    cr_assert_eq(mitm_save_configure(&o, 1e9, &s, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "Cannot open the save_stream_file /proc/version/x/y.mitm: ", 57) == 0, "%s", err);
    mitm_options_free(&o);
    opts_with(&o, HDRS("save_stream_file=/tmp/x.mitm", "save_stream_filter=~x"));
    cr_assert_eq(mitm_save_configure(&o, 1e9, &s, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "Invalid filter expression: ", 27) == 0, "%s", err);
    mitm_options_free(&o);
}

Test(save, write_error_is_reported_once_and_stops_writing)
{
    struct mitm_options o;
    opts_with(&o, HDRS("save_stream_file=+/dev/full", "save_stream_fsync=0"));
    struct mitm_save *s = NULL;
    cr_assert_eq(mitm_save_configure(&o, 1e9, &s, err, sizeof(err)), 0, "%s", err);
    struct mitm_flow *a = answered("/a");
    hook(s, &o, MITM_HOOK_RESPONSE, a);
    cr_assert(mitm_save_failed(s, err, sizeof(err)));
    cr_assert_str_eq(err, "Error while writing to /dev/full: No space left on device");
    cr_assert_null(mitm_save_file(s), "no fsync of a failed file");
    cr_assert(a->killed, "a response that could not be recorded does not reach its client");
    struct mitm_flow *later = answered("/later"), *loaded = answered("/loaded"), *no = answered("/no");
    loaded->loaded = true;
    hook(s, &o, MITM_HOOK_RESPONSE, later); /* nothing more is tried, but nothing passes */
    cr_assert(later->killed);
    hook(s, &o, MITM_HOOK_RESPONSE, loaded);
    cr_assert_not(loaded->killed, "-r: nothing to kill");
    mitm_flow_unref(a);
    mitm_flow_unref(later);
    mitm_flow_unref(loaded);
    mitm_flow_unref(no);
    mitm_save_free(s);
    mitm_options_free(&o);
}

#define THREADS 8
#define FLOWS   200

struct writer {
    struct mitm_save *s;
    const struct mitm_options *o;
    int id;
};

static void *write_many(void *arg)
{
    struct writer *w = arg;
    /* bodies of different sizes, some large: a torn or interleaved record would not parse */
    char *body = mitm_alloc(70000);
    for (int i = 0; i < FLOWS; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/t/%d/%d", w->id, i);
        size_t len = (size_t)((w->id * 7919 + i * 104729) % 69999);
        memset(body, 'a' + w->id, len);
        body[len] = 0;
        struct mitm_flow *f = answered(p);
        server_response(f, 200, NULL, body);
        struct mitm_hook_env env = {.now = 1e9, .opts = w->o, .worker = w->id};
        mitm_addon_save.hook(w->s, MITM_HOOK_RESPONSE, f, &env);
        mitm_flow_unref(f);
    }
    free(body);
    return NULL;
}

Test(save, threads_never_interleave_records, .timeout = 60)
{
    struct mitm_options o;
    struct mitm_save *s = make(&o, NULL);
    pthread_t t[THREADS];
    struct writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){s, &o, i};
        pthread_create(&t[i], NULL, write_many, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) /* the main thread's fsync timer runs meanwhile */
        cr_assert_eq(mitm_savefile_tick(mitm_save_file(s), 1e9 + 5, true, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t n;
    const char *all = paths_in_file(&n);
    cr_assert_eq(n, THREADS * FLOWS);
    for (int id = 0; id < THREADS; id++) { /* each thread's flows, in its order */
        const char *at = all;
        for (int i = 0; i < FLOWS; i++) {
            char p[64];
            snprintf(p, sizeof(p), "/t/%d/%d\n", id, i);
            at = strstr(at, p);
            cr_assert_not_null(at, "%s missing or out of order", p);
        }
    }
    mitm_save_free(s);
    mitm_options_free(&o);
}
