/* The driver's interactive core with real sockets and a real worker: a hook held for the
 * main thread (an addon marked the flow intercepted) is answered through the mailbox
 * (resume with the user's edit, kill), and a client that leaves while held ends its flow
 * with an error. An upstream thread answers every request; a client thread sends one. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "addon/addon.h"
#include "core/modespec.h"
#include "core/options.h"
#include "core/services.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "io/io.h"
#include "layer/layer.h"
#include "proto/http/http.h"

/* ---- upstream: answers each connection once, keeps the last request it saw ---- */

static int up_fd, up_port;
static char up_seen[4096];
static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;
static int up_requests;

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(listen(fd, 16) == 0);
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

static void set_timeout(int fd, int sec)
{
    struct timeval tv = {.tv_sec = sec};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static bool up_echo; /* echo everything back until EOF instead of answering HTTP */

static void echo(int c)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(c, buf, sizeof(buf));
        if (r <= 0)
            break;
        pthread_mutex_lock(&up_lock);
        size_t have = strlen(up_seen);
        snprintf(up_seen + have, sizeof(up_seen) - have, "%.*s", (int)r, buf);
        pthread_mutex_unlock(&up_lock);
        if (write(c, buf, (size_t)r) != r)
            break;
    }
    close(c);
}

static void *upstream(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(up_fd, NULL, NULL);
        if (c < 0)
            return NULL; /* closed: the test is over */
        set_timeout(c, 5);
        if (up_echo) {
            echo(c);
            continue;
        }
        char buf[4096];
        size_t n = 0;
        while (n < sizeof(buf) - 1) {
            ssize_t r = read(c, buf + n, sizeof(buf) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            buf[n] = 0;
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[n] = 0;
        pthread_mutex_lock(&up_lock);
        snprintf(up_seen, sizeof(up_seen), "%s", buf);
        up_requests++;
        pthread_mutex_unlock(&up_lock);
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        cr_assert(write(c, resp, strlen(resp)) > 0);
        close(c);
    }
}

/* ---- client ---- */

static int clients_done; /* atomic: clients that read their response to the end */

struct client {
    pthread_t t;
    int fd;
    bool leave_early; /* close right after sending */
    char got[4096];
};

static void *client_main(void *arg)
{
    struct client *cl = arg;
    char req[256];
    snprintf(req, sizeof(req), "GET http://127.0.0.1:%d/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", up_port,
             up_port);
    cr_assert(write(cl->fd, req, strlen(req)) == (ssize_t)strlen(req));
    if (cl->leave_early)
        return NULL;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(cl->fd, cl->got + n, sizeof(cl->got) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    cl->got[n] = 0;
    __atomic_add_fetch(&clients_done, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void client_start(struct client *cl, int proxy_port, bool leave_early)
{
    memset(cl, 0, sizeof(*cl));
    cl->leave_early = leave_early;
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    set_timeout(cl->fd, 10);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)proxy_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(connect(cl->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    pthread_create(&cl->t, NULL, client_main, cl);
}

/* ---- the proxy, an intercept-everything addon, a sink that records ---- */

static void intercept_all(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)state, (void)env;
    if (h == MITM_HOOK_REQUEST)
        ((struct mitm_flow *)arg)->intercepted = true;
}

static const struct mitm_addon intercept_addon = {"test-intercept", intercept_all};

#define MAX_EV 64
static struct mitm_pub evs[MAX_EV];
static int n_ev;

static void sink(void *arg, const struct mitm_pub *ev)
{
    (void)arg;
    cr_assert_lt(n_ev, MAX_EV);
    evs[n_ev++] = *ev; /* keeps the reference until the test ends */
}

static uv_loop_t loop;
static struct mitm_proxy *proxy;
static struct mitm_services svc;
static struct mitm_addons *addons;
static struct mitm_mode_spec spec;
static pthread_t up_thread;

static size_t queue_max; /* 0: the default */
static bool with_intercept = true;
static char mode[64] = "regular";

static void setup(void)
{
    mitm_options_init(&mitm_options);
    char err[256];
    cr_assert(mitm_options_set(&mitm_options, "listen_host", "127.0.0.1", err, sizeof(err)) == 0);
    cr_assert(mitm_options_set(&mitm_options, "listen_port", "0", err, sizeof(err)) == 0);
    cr_assert(mitm_options_set(&mitm_options, "workers", "1", err, sizeof(err)) == 0);
    up_fd = listen_any(&up_port);
    if (strcmp(mode, "regular") != 0)
        snprintf(mode, sizeof(mode), "reverse:tcp://127.0.0.1:%d", up_port);
    cr_assert(mitm_mode_spec_parse(mode, &spec, err, sizeof(err)) == 0, "%s", err);
    up_requests = 0;
    up_seen[0] = 0;
    pthread_create(&up_thread, NULL, upstream, NULL);
    uv_loop_init(&loop);
    addons = mitm_addons_new();
    if (with_intercept)
        mitm_addons_add(addons, &intercept_addon, NULL);
    mitm_services_init(&svc, &mitm_options);
    svc.addons = addons;
    n_ev = 0;
    struct mitm_proxy_sink s = {.fn = sink, .live = with_intercept, .queue_max = queue_max};
    proxy = mitm_proxy_start(&loop, &svc, &spec, 1, &s, err, sizeof(err));
    cr_assert(proxy && !mitm_proxy_failed(proxy), "%s", err);
}

static void on_done(void *arg)
{
    *(bool *)arg = true;
}

static void teardown(void)
{
    bool done = false;
    mitm_proxy_stop(proxy, 0.2, on_done, &done);
    for (int i = 0; i < 500 && !done; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    cr_assert(done, "the proxy stops");
    mitm_proxy_free(proxy);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    mitm_services_deinit(&svc);
    mitm_addons_free(addons);
    for (int i = 0; i < n_ev; i++)
        mitm_flow_unref(evs[i].flow);
    shutdown(up_fd, SHUT_RDWR);
    close(up_fd);
    pthread_join(up_thread, NULL);
    mitm_mode_spec_free(&spec);
    mitm_options_free(&mitm_options);
}

/* Run the main loop until an event at hook h (final unless live) arrives; its index. */
static int wait_event(enum mitm_hook h, bool intercepted)
{
    for (int round = 0; round < 1000; round++) { /* 10 s at most */
        for (int i = 0; i < n_ev; i++)
            if (evs[i].hook == h && evs[i].intercepted == intercepted)
                return i;
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    cr_assert_fail("no %s event (intercepted %d) within 10 s", mitm_hook_name(h), intercepted);
    return -1;
}

TestSuite(held, .init = setup, .fini = teardown, .timeout = 30);

Test(held, resume_carries_the_edit_to_the_server)
{
    struct client cl;
    client_start(&cl, mitm_proxy_port(proxy), false);
    int i = wait_event(MITM_HOOK_REQUEST, true);
    cr_assert(evs[i].flow->intercepted, "the snapshot says intercepted");
    cr_assert_eq(evs[i].worker, 0);
    usleep(100000);
    uv_run(&loop, UV_RUN_NOWAIT);
    pthread_mutex_lock(&up_lock);
    cr_assert_eq(up_requests, 0, "nothing reaches the server while the flow is held");
    pthread_mutex_unlock(&up_lock);
    struct mitm_flow *edit = mitm_flowfile_snapshot(evs[i].flow, false);
    mitm_headers_add(&edit->request->headers, "X-Edited", 8, "yes", 3);
    mitm_proxy_resume(proxy, evs[i].worker, edit->id, edit);
    int f = wait_event(MITM_HOOK_RESPONSE, false);
    cr_assert_not(evs[f].live, "the response is final");
    cr_assert_not(evs[f].flow->intercepted);
    pthread_join(cl.t, NULL);
    close(cl.fd);
    cr_assert(strstr(cl.got, "\r\n\r\nok"), "the client got the response: %s", cl.got);
    cr_assert(strstr(up_seen, "X-Edited: yes\r\n"), "the edited header reached the server: %s", up_seen);
}

Test(held, kill_ends_the_flow_and_the_connection)
{
    struct client cl;
    client_start(&cl, mitm_proxy_port(proxy), false);
    int i = wait_event(MITM_HOOK_REQUEST, true);
    mitm_proxy_kill(proxy, evs[i].worker, evs[i].flow->id);
    int e = wait_event(MITM_HOOK_ERROR, false);
    cr_assert_str_eq(evs[e].flow->error->msg, "Connection killed.");
    pthread_join(cl.t, NULL);
    close(cl.fd);
    cr_assert_str_eq(cl.got, "", "no response, the connection closes");
    cr_assert_eq(up_requests, 0);
}

Test(held, client_leaving_ends_the_flow_with_an_error)
{
    struct client cl;
    client_start(&cl, mitm_proxy_port(proxy), true);
    wait_event(MITM_HOOK_REQUEST, true);
    pthread_join(cl.t, NULL);
    close(cl.fd);
    int e = wait_event(MITM_HOOK_ERROR, false);
    cr_assert_str_eq(evs[e].flow->error->msg, "Client disconnected.");
    cr_assert_eq(up_requests, 0);
}

Test(held, resume_of_an_unknown_flow_is_ignored)
{
    mitm_proxy_resume(proxy, 0, "00000000-0000-0000-0000-000000000000", NULL);
    mitm_proxy_kill(proxy, 0, "00000000-0000-0000-0000-000000000000");
    mitm_proxy_resume(proxy, 7, "x", NULL); /* no such worker */
    for (int i = 0; i < 10; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    cr_assert_eq(n_ev, 0);
}

/* ---- backpressure: a main thread that does not take its flows stops the workers' reads ---- */

static void setup_bp(void)
{
    queue_max = 2;
    with_intercept = false;
    setup();
}

TestSuite(backpressure, .init = setup_bp, .fini = teardown, .timeout = 30);

Test(backpressure, workers_stop_reading_until_the_main_thread_catches_up)
{
    enum { N = 12 };
    struct client cl[N];
    /* one at a time, so that each flow ends in its own loop turn of the worker; the main
     * loop does not run meanwhile: published flows pile up */
    clients_done = 0;
    for (int i = 0; i < N; i++) {
        client_start(&cl[i], mitm_proxy_port(proxy), false);
        usleep(30000);
    }
    int done = 0, stable = 0;
    for (int round = 0; round < 300 && stable < 30; round++) { /* settles within 3 s */
        usleep(10000);
        int now = __atomic_load_n(&clients_done, __ATOMIC_ACQUIRE);
        stable = now == done ? stable + 1 : 0;
        done = now;
    }
    cr_assert_lt(done, N, "the worker stopped serving once the backlog passed its bound (%d of %d served)",
                 done, N);
    cr_assert_geq(mitm_proxy_backlog(proxy), 3, "the backlog is above the bound");
    /* the main thread catches up: every client is served */
    for (int round = 0; round < 1000 && n_ev < N; round++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    cr_assert_eq(n_ev, N, "every flow reached the main thread");
    for (int i = 0; i < N; i++) {
        pthread_join(cl[i].t, NULL);
        close(cl[i].fd);
        cr_assert(strstr(cl[i].got, "\r\n\r\nok"), "client %d got its response", i);
    }
}

/* ---- inject.tcp: a message from the main thread into a live TCP flow ---- */

static void setup_inject(void)
{
    with_intercept = false;
    up_echo = true;
    snprintf(mode, sizeof(mode), "reverse:tcp");
    setup();
}

TestSuite(inject, .init = setup_inject, .fini = teardown, .timeout = 30);

/* Read from fd until want has arrived (or 5 s). */
static bool read_until(int fd, char *got, size_t cap, const char *want)
{
    size_t n = 0;
    got[0] = 0;
    while (!strstr(got, want) && n < cap - 1) {
        ssize_t r = read(fd, got + n, cap - 1 - n);
        if (r <= 0)
            return false;
        n += (size_t)r;
        got[n] = 0;
    }
    return strstr(got, want) != NULL;
}

Test(inject, tcp_message_reaches_the_server_and_is_recorded)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    set_timeout(fd, 5);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)mitm_proxy_port(proxy)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(write(fd, "ping", 4) == 4);
    char got[256];
    cr_assert(read_until(fd, got, sizeof(got), "ping"), "the echo comes back: %s", got);
    int i = wait_event(MITM_HOOK_TCP_MESSAGE, false);
    cr_assert(evs[i].live);
    char id[MITM_UUID_LEN + 1];
    snprintf(id, sizeof(id), "%s", evs[i].flow->id);
    mitm_proxy_inject_message(proxy, evs[i].worker, id, false, false, "INJ", 3);
    cr_assert(read_until(fd, got, sizeof(got), "INJ"), "the server got it and echoed it: %s", got);
    pthread_mutex_lock(&up_lock);
    cr_assert_str_eq(up_seen, "pingINJ");
    pthread_mutex_unlock(&up_lock);
    /* a flow that is not live: nothing happens but a log line */
    mitm_proxy_inject_message(proxy, evs[i].worker, "00000000-0000-0000-0000-000000000000", true, false, "x",
                              1);
    close(fd);
    int e = wait_event(MITM_HOOK_TCP_END, false);
    const struct mitm_flow *f = evs[e].flow;
    cr_assert_str_eq(f->id, id);
    bool found = false;
    for (size_t k = 0; k < f->n_messages; k++)
        if (f->messages[k].from_client && f->messages[k].len == 3 &&
            memcmp(f->messages[k].content, "INJ", 3) == 0)
            found = true;
    cr_assert(found, "the injected message is in the flow, as from the client");
}
