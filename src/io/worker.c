/* Worker threads: each runs its own libuv loop with its own listening socket (SO_REUSEPORT:
 * the kernel spreads connections) and its own sessions, sharing nothing with the others.
 * Flows go to the main thread through a mutex-protected queue and a uv_async; the main
 * thread's requests (replays, resumes, kills) come back through each worker's mailbox, a
 * list under the same lock with its own uv_async.
 *
 * Backpressure: the queue to the main thread is bounded by the count of events it has not
 * taken yet (backlog). A worker that pushes the backlog past the bound stops reading from
 * all its sockets (throttled); the main thread, once it has taken the queue, mails every
 * throttled worker to read again. Memory then stays bounded when the main thread falls
 * behind (a UI blocked on an editor, a slow terminal) instead of growing per flow. */
#include "core/options.h"
#include "core/modespec.h"
#include "core/services.h"
#include "base/alloc.h"
#include "base/log.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "io/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct published {
    struct mitm_pub ev;
    struct published *next;
};

struct live_dirty {
    struct mitm_flow *flow; /* a reference */
    enum mitm_hook hook;    /* the latest hook it changed at */
};

enum mail_type {
    MAIL_INJECT,     /* client replay: data */
    MAIL_RESUME,     /* id, edited */
    MAIL_KILL,       /* id */
    MAIL_MESSAGE,    /* id, data: a message to inject (to_client, is_text) */
    MAIL_UNTHROTTLE, /* the main thread took the backlog: read again */
};

struct mail {
    enum mail_type type;
    uint8_t *data;
    size_t len;
    char id[MITM_UUID_LEN + 1];
    struct mitm_flow *edited;
    bool to_client, is_text;
    struct mail *next;
};

struct mitm_proxy {
    uv_loop_t *main_loop;
    const struct mitm_services *svc;
    struct mitm_optsnap *opts;          /* the snapshot the proxy was started with (listeners, workers) */
    const struct mitm_mode_spec *modes; /* one server each */
    size_t n_modes;
    const char **hosts; /* per mode: where it listens */
    int *ports;
    bool lock_init, start_failed;
    struct worker *workers;
    int n_workers;
    mitm_flow_sink_fn sink;
    void *sink_arg;
    bool live;        /* snapshots at every hook */
    size_t queue_max; /* backlog bound */
    size_t backlog;   /* atomic: events published and not yet taken by the main thread */
    uv_mutex_t lock;
    struct published *q_head, **q_tail;
    uv_async_t flows_async; /* workers -> main: flows ready */
    uv_async_t done_async;  /* workers -> main: a worker finished */
    int workers_finished;   /* atomic: threads whose loop ended */
    bool joined;
    void (*done)(void *);
    void *done_arg;
    double grace;
    unsigned next_inject; /* round robin over workers */
};

bool mitm_worker_wants_flows(const struct worker *w)
{
    return w->p->sink != NULL;
}

bool mitm_worker_wants_live(const struct worker *w)
{
    return w->p->live;
}

bool mitm_worker_throttled(const struct worker *w)
{
    return w->throttled;
}

const struct mitm_services *mitm_worker_services(struct worker *w)
{
    return w->p->svc;
}

void mitm_worker_touch_live(struct worker *w, enum mitm_hook hook, struct mitm_flow *flow)
{
    for (size_t i = 0; i < w->n_dirty; i++) {
        if (w->dirty[i].flow == flow) {
            w->dirty[i].hook = hook;
            return;
        }
    }
    if (w->n_dirty == w->cap_dirty) {
        w->cap_dirty = w->cap_dirty ? w->cap_dirty * 2 : 16;
        w->dirty = mitm_realloc(w->dirty, w->cap_dirty * sizeof(*w->dirty));
    }
    w->dirty[w->n_dirty++] = (struct live_dirty){mitm_flow_ref(flow), hook};
}

/* flow needs no snapshot any more. A final event carries the live flow itself (pointers
 * compare); a held flow is published as a copy, found by id (rare: a user's intercept). */
static void untouch(struct worker *w, const struct mitm_flow *flow, bool by_id)
{
    for (size_t i = 0; i < w->n_dirty; i++) {
        if (w->dirty[i].flow == flow || (by_id && strcmp(w->dirty[i].flow->id, flow->id) == 0)) {
            mitm_flow_unref(w->dirty[i].flow);
            w->dirty[i] = w->dirty[--w->n_dirty];
            return;
        }
    }
}

void mitm_worker_publish(struct worker *w, enum mitm_hook hook, struct mitm_flow *flow, bool live,
                         bool intercepted)
{
    if (!w->p->sink) { /* nobody on the main thread looks at flows */
        mitm_flow_unref(flow);
        return;
    }
    if (w->n_dirty && (!live || intercepted)) /* this event says more than a snapshot would */
        untouch(w, flow, intercepted);
    struct published *e = mitm_alloc(sizeof(*e));
    e->ev = (struct mitm_pub){
        .hook = hook, .flow = flow, .worker = w->index, .live = live, .intercepted = intercepted};
    e->next = NULL;
    *w->pub_tail = e;
    w->pub_tail = &e->next;
    w->n_pub++;
    if (intercepted || (!live && flow->is_replay)) /* a user, or the next replay, waits for it */
        w->pub_urgent = true;
}

/* The live flows that changed, as they are now, for the UI: published with the next flush. */
static void on_live_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    w->live_timer_on = false;
    for (size_t i = 0; i < w->n_dirty; i++) {
        struct mitm_flow *snap = mitm_flowfile_snapshot(w->dirty[i].flow, false);
        enum mitm_hook hook = w->dirty[i].hook;
        mitm_flow_unref(w->dirty[i].flow);
        w->dirty[i].flow = NULL;
        if (snap) {
            struct published *e = mitm_alloc(sizeof(*e));
            e->ev = (struct mitm_pub){.hook = hook, .flow = snap, .worker = w->index, .live = true};
            e->next = NULL;
            *w->pub_tail = e;
            w->pub_tail = &e->next;
            w->n_pub++;
        }
    }
    w->n_dirty = 0;
}

/* The published events to the main thread: one lock and one wake-up for all of them. */
static void push(struct worker *w)
{
    if (!w->pub_head)
        return;
    struct mitm_proxy *p = w->p;
    uv_mutex_lock(&p->lock);
    *p->q_tail = w->pub_head;
    p->q_tail = w->pub_tail;
    p->backlog += w->n_pub;
    bool over = p->backlog > p->queue_max;
    if (over)
        w->throttle_asked = true; /* the main thread mails this worker once it caught up */
    uv_mutex_unlock(&p->lock);
    w->pub_head = NULL;
    w->pub_tail = &w->pub_head;
    w->n_pub = 0;
    w->pub_urgent = false;
    w->last_push = uv_now(&w->loop);
    uv_async_send(&p->flows_async);
    if (over && !w->throttled && !w->stopping) {
        w->throttled = true;
        mitm_log(MITM_LOG_DEBUG, NULL, "worker %d: the main thread is behind; reads paused", w->index);
        for (struct session *s = w->sessions; s; s = s->next)
            mitm_session_flow_control(s);
    }
}

static void on_flush_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    w->flush_timer_on = false;
    push(w);
}

/* End of a loop turn: what was published goes to the main thread now, or, if it was woken
 * less than MITM_PUB_FLUSH_MS ago, when that time is up (with what the next turns add). */
static void on_flush(uv_check_t *h)
{
    struct worker *w = h->data;
    if (w->n_dirty && !w->live_timer_on && !w->stopping) {
        w->live_timer_on = true;
        uv_timer_start(&w->live_timer, on_live_timer, MITM_LIVE_DELAY_MS, 0);
    }
    if (!w->pub_head)
        return;
    uint64_t since = uv_now(&w->loop) - w->last_push;
    if (w->pub_urgent || w->stopping || w->n_pub >= MITM_PUB_FLUSH_BATCH || since >= MITM_PUB_FLUSH_MS) {
        if (w->flush_timer_on) {
            uv_timer_stop(&w->flush_timer);
            w->flush_timer_on = false;
        }
        push(w);
    } else if (!w->flush_timer_on) {
        w->flush_timer_on = true;
        uv_timer_start(&w->flush_timer, on_flush_timer, MITM_PUB_FLUSH_MS - since, 0);
    }
}

static void free_mail(struct mail *m);

/* Mail to a worker; freed here if its loop has ended (nobody would read it). */
static void post(struct mitm_proxy *p, struct worker *w, struct mail *m)
{
    m->next = NULL;
    uv_mutex_lock(&p->lock);
    bool closed = w->mail_closed;
    if (!closed) {
        *w->mail_tail = m;
        w->mail_tail = &m->next;
    }
    uv_mutex_unlock(&p->lock);
    if (closed)
        free_mail(m);
    else
        uv_async_send(&w->inject);
}

static void on_flows(uv_async_t *a)
{
    struct mitm_proxy *p = a->data;
    uv_mutex_lock(&p->lock);
    struct published *e = p->q_head;
    p->q_head = NULL;
    p->q_tail = &p->q_head;
    uv_mutex_unlock(&p->lock);
    size_t taken = 0;
    while (e) {
        struct published *n = e->next;
        if (p->sink)
            p->sink(p->sink_arg, &e->ev);
        else
            mitm_flow_unref(e->ev.flow);
        free(e);
        e = n;
        taken++;
    }
    /* the backlog counts until the sink has handled them: a sink that blocks (an editor in
     * the console) keeps the workers throttled */
    uv_mutex_lock(&p->lock);
    p->backlog -= taken < p->backlog ? taken : p->backlog;
    bool low = p->backlog <= p->queue_max / 2;
    uv_mutex_unlock(&p->lock);
    if (!low || p->joined)
        return;
    for (int i = 0; i < p->n_workers; i++) {
        struct worker *w = &p->workers[i];
        uv_mutex_lock(&p->lock);
        bool asked = w->throttle_asked;
        w->throttle_asked = false;
        uv_mutex_unlock(&p->lock);
        if (asked) {
            struct mail *m = mitm_calloc(1, sizeof(*m));
            m->type = MAIL_UNTHROTTLE;
            post(p, w, m);
        }
    }
}

size_t mitm_proxy_backlog(struct mitm_proxy *p)
{
    uv_mutex_lock(&p->lock);
    size_t n = p->backlog;
    uv_mutex_unlock(&p->lock);
    return n;
}

static void free_mail(struct mail *m)
{
    free(m->data);
    mitm_flow_unref(m->edited);
    free(m);
}

static void on_mail(uv_async_t *a)
{
    struct worker *w = a->data;
    uv_mutex_lock(&w->p->lock);
    struct mail *m = w->mail_head;
    w->mail_head = NULL;
    w->mail_tail = &w->mail_head;
    uv_mutex_unlock(&w->p->lock);
    while (m) { /* in the order the main thread posted them */
        struct mail *n = m->next;
        switch (m->type) {
        case MAIL_INJECT:
            if (!w->stopping)
                mitm_session_virtual(w, m->data, m->len, m->id);
            break;
        case MAIL_RESUME:
            mitm_session_resume(w, m->id, m->edited);
            m->edited = NULL;
            break;
        case MAIL_KILL:
            mitm_session_kill(w, m->id);
            break;
        case MAIL_MESSAGE:
            mitm_session_inject(w, m->id, m->to_client, m->is_text, m->data, m->len);
            break;
        case MAIL_UNTHROTTLE:
            if (w->throttled) {
                w->throttled = false;
                for (struct session *s = w->sessions; s; s = s->next)
                    mitm_session_flow_control(s);
            }
            break;
        }
        free_mail(m);
        m = n;
    }
}

void mitm_proxy_inject(struct mitm_proxy *p, uint8_t *data, size_t len, const char *id)
{
    struct worker *w = &p->workers[p->next_inject++ % (unsigned)p->n_workers];
    struct mail *m = mitm_calloc(1, sizeof(*m));
    m->type = MAIL_INJECT;
    m->data = data;
    m->len = len;
    snprintf(m->id, sizeof(m->id), "%s", id ? id : "");
    post(p, w, m);
}

static void post_flow(struct mitm_proxy *p, enum mail_type type, int worker, const char *id,
                      struct mitm_flow *edited)
{
    if (worker < 0 || worker >= p->n_workers || p->joined) {
        mitm_flow_unref(edited);
        return;
    }
    struct mail *m = mitm_calloc(1, sizeof(*m));
    m->type = type;
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->edited = edited;
    post(p, &p->workers[worker], m);
}

void mitm_proxy_resume(struct mitm_proxy *p, int worker, const char *id, struct mitm_flow *edited)
{
    post_flow(p, MAIL_RESUME, worker, id, edited);
}

void mitm_proxy_kill(struct mitm_proxy *p, int worker, const char *id)
{
    post_flow(p, MAIL_KILL, worker, id, NULL);
}

void mitm_proxy_inject_message(struct mitm_proxy *p, int worker, const char *id, bool to_client, bool is_text,
                               const void *data, size_t len)
{
    if (worker < 0 || worker >= p->n_workers || p->joined)
        return;
    struct mail *m = mitm_calloc(1, sizeof(*m));
    m->type = MAIL_MESSAGE;
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->to_client = to_client;
    m->is_text = is_text;
    m->data = mitm_memdup(data, len);
    m->len = len;
    post(p, &p->workers[worker], m);
}

/* ---- listening ---------------------------------------------------------------- */

static int make_listener(const char *host, int port, int *bound_port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof(ss));
    bool any = host[0] == 0;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    if (any || inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (any)
            a6->sin6_addr = in6addr_any;
        slen = sizeof(*a6);
    } else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        slen = sizeof(*a4);
    } else if (strcmp(host, "localhost") == 0) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        slen = sizeof(*a4);
    } else {
        snprintf(err, errlen, "listen_host %s is not an IP address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && any) { /* no IPv6 on this machine: all IPv4 interfaces */
        memset(&ss, 0, sizeof(ss));
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        slen = sizeof(*a4);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6 && any)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "Error starting proxy server: cannot listen on %s:%d: %s", any ? "*" : host,
                 port, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    getsockname(fd, (struct sockaddr *)&got, &glen);
    *bound_port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                  : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* ---- worker loop -------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status < 0) {
        mitm_log(MITM_LOG_WARN, NULL, "accept failed: %s", uv_strerror(status));
        return;
    }
    if (!l->w->stopping)
        mitm_session_accept(l->w, l);
}

static void on_grace(uv_timer_t *t)
{
    struct worker *w = t->data;
    for (struct session *s = w->sessions, *n; s; s = n) {
        n = s->next;
        mitm_session_close_idle(s, true);
    }
}

static void on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    if (w->stopping)
        return;
    w->stopping = true;
    for (size_t i = 0; i < w->n_listeners; i++)
        if (w->listeners[i].open && !uv_is_closing((uv_handle_t *)&w->listeners[i].tcp))
            uv_close((uv_handle_t *)&w->listeners[i].tcp, NULL);
    for (struct session *s = w->sessions, *n; s; s = n) {
        n = s->next;
        mitm_session_close_idle(s, false);
    }
    if (w->n_sessions == 0) {
        uv_stop(&w->loop);
        return;
    }
    uv_timer_start(&w->grace, on_grace, (uint64_t)(w->p->grace * 1000), 0);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void worker_main(void *arg)
{
    struct worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    push(w); /* flows finished in the last turn */
    uv_mutex_lock(&w->p->lock);
    struct mail *m = w->mail_head; /* replays never started, resumes too late */
    w->mail_head = NULL;
    w->mail_tail = &w->mail_head;
    w->mail_closed = true; /* later mail is freed by its sender */
    uv_mutex_unlock(&w->p->lock);
    for (struct mail *n; m; m = n) {
        n = m->next;
        free_mail(m);
    }
    free(w->kills);
    w->kills = NULL;
    w->n_kills = 0;
    for (size_t i = 0; i < w->n_dirty; i++) /* snapshots never taken: the proxy stops */
        mitm_flow_unref(w->dirty[i].flow);
    free(w->dirty);
    w->dirty = NULL;
    w->n_dirty = 0;
    /* stopped: close what is left (wake, grace timer) and let the close callbacks run */
    uv_walk(&w->loop, walk_close, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    w->loop_init = false;
    __atomic_add_fetch(&w->p->workers_finished, 1, __ATOMIC_ACQ_REL);
    uv_async_send(&w->p->done_async);
}

static void on_worker_done(uv_async_t *a)
{
    struct mitm_proxy *p = a->data;
    if (p->joined || __atomic_load_n(&p->workers_finished, __ATOMIC_ACQUIRE) < p->n_workers)
        return; /* async sends coalesce: the counter tells */
    for (int i = 0; i < p->n_workers; i++)
        uv_thread_join(&p->workers[i].thread);
    p->joined = true;
    on_flows(&p->flows_async); /* the last flows */
    uv_close((uv_handle_t *)&p->flows_async, NULL);
    uv_close((uv_handle_t *)&p->done_async, NULL);
    if (p->done)
        p->done(p->done_arg);
}

/* Set up a worker's loop and its listening sockets (fds[i] for mode i; -1: none). Returns
 * 0, or -1 with err (then the caller closes what was opened). */
static int worker_init(struct mitm_proxy *p, struct worker *w, int index, const int *fds, char *err,
                       size_t errlen)
{
    w->p = p;
    w->index = index;
    int r = uv_loop_init(&w->loop);
    if (r != 0) {
        snprintf(err, errlen, "Error starting proxy worker %d: %s", index, uv_strerror(r));
        return -1;
    }
    w->loop_init = true;
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->grace);
    w->grace.data = w;
    w->pub_tail = &w->pub_head;
    w->mail_tail = &w->mail_head;
    uv_async_init(&w->loop, &w->inject, on_mail);
    w->inject.data = w;
    uv_timer_init(&w->loop, &w->live_timer);
    w->live_timer.data = w;
    uv_timer_init(&w->loop, &w->flush_timer);
    w->flush_timer.data = w;
    uv_check_init(&w->loop, &w->flush);
    w->flush.data = w;
    uv_check_start(&w->flush, on_flush);
    w->listeners = fds ? mitm_calloc(p->n_modes, sizeof(*w->listeners)) : NULL;
    w->n_listeners = fds ? p->n_modes : 0;
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct listener *l = &w->listeners[i];
        l->w = w;
        l->mode = &p->modes[i];
        uv_tcp_init(&w->loop, &l->tcp);
        l->tcp.data = l;
        l->open = true;
        if ((r = uv_tcp_open(&l->tcp, fds[i])) != 0 ||
            (r = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection)) != 0) {
            snprintf(err, errlen, "%s failed to listen on worker %d: %s", p->modes[i].description, index,
                     uv_strerror(r));
            return -1;
        }
    }
    return 0;
}

/* A worker that never ran: close its handles and its loop. */
static void worker_discard(struct worker *w)
{
    if (!w->loop_init)
        return;
    uv_walk(&w->loop, walk_close, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    free(w->listeners);
    w->listeners = NULL;
    w->loop_init = false;
}

int mitm_proxy_port(const struct mitm_proxy *p)
{
    return p->n_modes ? p->ports[0] : 0;
}

int mitm_proxy_mode_port(const struct mitm_proxy *p, size_t i)
{
    return i < p->n_modes ? p->ports[i] : 0;
}

/* Does host name this machine: "localhost" (with or without its final dot), an address of
 * 127.0.0.0/8, 0.0.0.0, ::1, :: or a v4-mapped one of those? */
static bool is_loopback_name(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    const char *h = host;
    char bare[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);
    if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(bare)) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = 0;
        h = bare;
    }
    if (inet_pton(AF_INET, h, &a4) == 1) {
        uint32_t v = ntohl(a4.s_addr);
        return (v >> 24) == 127 || v == 0;
    }
    if (inet_pton(AF_INET6, h, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            return a6.s6_addr[12] == 127 ||
                   (a6.s6_addr[12] | a6.s6_addr[13] | a6.s6_addr[14] | a6.s6_addr[15]) == 0;
    }
    return false;
}

bool mitm_proxy_is_self(const struct mitm_proxy *p, const char *host, unsigned port)
{
    for (size_t i = 0; i < p->n_modes; i++) {
        if (!p->ports || (unsigned)p->ports[i] != port)
            continue;
        const char *lh = p->hosts && p->hosts[i] ? p->hosts[i] : "";
        if (is_loopback_name(host) || (lh[0] && strcasecmp(host, lh) == 0))
            return true;
    }
    return false;
}

/* "[v6]:port", "*:port" for every interface, else "host:port". */
static void listen_text(char *out, size_t cap, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, cap, v6 ? "[%s]:%d" : "%s:%d", host[0] ? host : "*", port);
}

/* Where each mode listens; two modes on one host:port are refused (mitmproxy does too). */
static int plan_listeners(struct mitm_proxy *p, const struct mitm_options *o, char *err, size_t errlen)
{
    long lp = o->listen_port == MITM_OPT_NONE ? -1 : o->listen_port;
    for (size_t i = 0; i < p->n_modes; i++) {
        p->hosts[i] = mitm_mode_spec_listen_host(&p->modes[i], o->listen_host);
        p->ports[i] = mitm_mode_spec_listen_port(&p->modes[i], lp);
        if (p->ports[i] < 0 || p->ports[i] > 65535) {
            snprintf(err, errlen, "invalid listen_port %d", p->ports[i]);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (p->ports[i] && p->ports[i] == p->ports[j] && strcmp(p->hosts[i], p->hosts[j]) == 0) {
                char at[300];
                listen_text(at, sizeof(at), p->hosts[i], p->ports[i]);
                snprintf(err, errlen, "Invalid proxy mode specification: %s and %s both listen on %s",
                         p->modes[j].full, p->modes[i].full, at);
                return -1;
            }
        }
    }
    return 0;
}

/* Bind every mode's socket on every worker: fds[worker * n_modes + mode]. */
static int bind_all(struct mitm_proxy *p, int n, int *fds, char *err, size_t errlen)
{
    for (size_t m = 0; m < p->n_modes; m++) {
        int bound = p->ports[m];
        for (int i = 0; i < n; i++) {
            int fd = make_listener(p->hosts[m], bound, &bound, err, errlen);
            if (fd < 0) {
                char why[600];
                snprintf(why, sizeof(why), "%s", err);
                snprintf(err, errlen, "%s failed to listen: %s", p->modes[m].description, why);
                return -1;
            }
            fds[i * (int)p->n_modes + (int)m] = fd;
        }
        p->ports[m] = bound;
    }
    return 0;
}

struct mitm_proxy *mitm_proxy_start(uv_loop_t *main_loop, const struct mitm_services *svc,
                                    const struct mitm_mode_spec *modes, size_t n_modes,
                                    const struct mitm_proxy_sink *sink, char *err, size_t errlen)
{
    struct mitm_optsnap *snap = mitm_services_options(svc);
    const struct mitm_options *o = &snap->o;
    int n = o->workers > 0 ? (int)o->workers : (int)uv_available_parallelism();
    n = n < 1 ? 1 : n > 256 ? 256 : n;
    struct mitm_proxy *p = mitm_calloc(1, sizeof(*p));
    p->main_loop = main_loop;
    p->svc = svc;
    p->opts = snap;
    p->modes = modes;
    p->n_modes = n_modes;
    p->hosts = mitm_calloc(n_modes ? n_modes : 1, sizeof(*p->hosts));
    p->ports = mitm_calloc(n_modes ? n_modes : 1, sizeof(*p->ports));
    p->sink = sink ? sink->fn : NULL;
    p->sink_arg = sink ? sink->arg : NULL;
    p->live = sink && sink->fn && sink->live;
    p->queue_max = sink && sink->queue_max ? sink->queue_max : MITM_PUB_QUEUE_MAX;
    p->n_workers = n;
    p->q_tail = &p->q_head;
    p->workers = mitm_calloc((size_t)n, sizeof(*p->workers));
    size_t nfds = (size_t)n * (n_modes ? n_modes : 1);
    int *fds = mitm_alloc(nfds * sizeof(int));
    for (size_t i = 0; i < nfds; i++)
        fds[i] = -1;
    bool listen = o->server && n_modes;
    if (plan_listeners(p, o, err, errlen) < 0 || (listen && bind_all(p, n, fds, err, errlen) < 0))
        goto Fail;
    for (int i = 0; i < n; i++)
        if (worker_init(p, &p->workers[i], i, listen ? fds + (size_t)i * n_modes : NULL, err, errlen) < 0)
            goto Fail;
    /* the listening sockets belong to the workers' handles now */
    for (size_t i = 0; i < nfds; i++)
        fds[i] = -1;
    uv_mutex_init(&p->lock);
    p->lock_init = true;
    uv_async_init(main_loop, &p->flows_async, on_flows);
    p->flows_async.data = p;
    uv_async_init(main_loop, &p->done_async, on_worker_done);
    p->done_async.data = p;
    for (int i = 0; i < n; i++) {
        int r = uv_thread_create(&p->workers[i].thread, worker_main, &p->workers[i]);
        if (r != 0) {
            /* the workers that run stop at once; the caller sees the start fail */
            snprintf(err, errlen, "Error starting proxy worker %d: %s", i, uv_strerror(r));
            p->start_failed = true;
            for (int j = i; j < n; j++)
                worker_discard(&p->workers[j]);
            p->n_workers = i;
            break;
        }
        p->workers[i].thread_started = true;
    }
    if (p->start_failed) {
        free(fds);
        return p; /* mitm_proxy_failed() tells; the caller stops and frees it */
    }
    for (size_t m = 0; listen && m < n_modes; m++) {
        char at[300];
        listen_text(at, sizeof(at), p->hosts[m], p->ports[m]);
        mitm_log(MITM_LOG_INFO, NULL, "%s listening at %s.", modes[m].description, at);
    }
    free(fds);
    return p;
Fail:
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    for (int i = 0; i < n; i++)
        worker_discard(&p->workers[i]);
    free(p->workers);
    free(p->hosts);
    free(p->ports);
    mitm_optsnap_unref(snap);
    free(p);
    return NULL;
}

bool mitm_proxy_failed(const struct mitm_proxy *p)
{
    return p->start_failed;
}

void mitm_proxy_stop(struct mitm_proxy *p, double grace, void (*done)(void *), void *arg)
{
    p->done = done;
    p->done_arg = arg;
    p->grace = grace;
    for (int i = 0; i < p->n_workers; i++)
        uv_async_send(&p->workers[i].wake);
}

void mitm_proxy_free(struct mitm_proxy *p)
{
    if (!p)
        return;
    if (p->lock_init)
        uv_mutex_destroy(&p->lock);
    mitm_optsnap_unref(p->opts);
    for (int i = 0; i < p->n_workers; i++)
        free(p->workers[i].listeners);
    free(p->workers);
    free(p->hosts);
    free(p->ports);
    free(p);
}
