/* Flow sinks: queue, spool, sink thread. The spool is a flow file (the -w format: tnetstring
 * records, one write(2) each, so a SIGKILL leaves only complete records) plus a ".pos" file
 * naming the byte offset up to which it was delivered (replaced by rename, so it is always
 * one of its two values). Delivery is at least once: a crash between a store's commit and the
 * .pos update re-sends that batch, which the stores make harmless (PostgreSQL: ON CONFLICT
 * (instance, flow_id) DO NOTHING). */
#include "sink/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "core/options.h"
#include "core/services.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "sink/jsonl.h"
#include "sink/pg.h"

#define BATCH_BYTES_MAX ((size_t)16 << 20)   /* read this much of the spool per batch at most */
#define BATCH_BYTES_MIN ((size_t)256 << 10)  /* and this much at least */
#define COMPACT_AT      ((uint64_t)64 << 20) /* rewrite the spool once this much is delivered */
#define RESET_AT        ((uint64_t)4 << 20)  /* empty a delivered spool once it is this large */
#define BACKOFF_MIN     0.5
#define BACKOFF_MAX     30.0
#define FLUSH_SECONDS   10.0 /* at stop: keep delivering this long at most */

struct rec {
    struct rec *next;
    size_t len;
    uint8_t data[];
};

struct sink {
    char *shown; /* the URI without its password */
    const struct mitm_sink_vt *vt;
    void *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    struct rec *head, *tail;
    size_t qbytes;
    bool stop;
    struct mitm_sink_stats stats;
    /* the sink thread's own */
    int fd, pos_fd;
    char *path, *pos_path;
    uint64_t pos, size;
    bool failing;
    char last_err[1024];
    uint8_t *rbuf; /* the spool read buffer, kept across batches */
    size_t rcap;
    double rec_avg; /* bytes per spooled record, averaged over the batches read */
};

static struct sink **sinks;
static size_t n_sinks;
static char *instance;
/* The options as the sinks started: their threads read these, never mitm_options, which the
 * main thread frees and replaces at every `set`. */
static struct mitm_optsnap *opts;

const struct mitm_options *mitm_sink_options(void)
{
    return opts ? &opts->o : &mitm_options;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *mitm_sink_redact(const char *uri)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    const char *scheme = strstr(uri, "://");
    const char *auth = scheme ? scheme + 3 : uri;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        mitm_buf_append(&b, uri, (size_t)(colon + 1 - uri));
        mitm_buf_append(&b, "***", 3);
        uri = at;
    }
    /* a password in the query string (?password=...) */
    for (const char *p = uri; *p;) {
        const char *q = strstr(p, "password=");
        if (!q || (q != uri && q[-1] != '?' && q[-1] != '&')) {
            if (!q) {
                mitm_buf_append(&b, p, strlen(p));
                break;
            }
            mitm_buf_append(&b, p, (size_t)(q + 9 - p));
            p = q + 9;
            continue;
        }
        mitm_buf_append(&b, p, (size_t)(q + 9 - p));
        mitm_buf_append(&b, "***", 3);
        p = q + 9 + strcspn(q + 9, "&#");
    }
    mitm_buf_append(&b, "", 1);
    size_t len;
    return (char *)mitm_buf_steal(&b, &len);
}

/* ---- the spool ---------------------------------------------------------------------------- */

/* The position lives in a small file of its own, rewritten in place (one pwrite of a fixed
 * width, so a killed process leaves either the old or the new number): no rename per batch. */
static int write_pos(struct sink *s, uint64_t pos)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%020" PRIu64 "\n", pos);
    if (s->pos_fd < 0 || pwrite(s->pos_fd, text, (size_t)n, 0) != n) {
        mitm_log(MITM_LOG_ERROR, NULL, "flow sink %s: cannot write %s: %s", s->shown, s->pos_path,
                 s->pos_fd < 0 ? "not open" : strerror(errno));
        return -1;
    }
    s->pos = pos;
    return 0;
}

/* The end of the last complete tnetstring record in [from, size): a torn tail (power loss,
 * a full disk) is cut off so appends continue at a record boundary. */
static uint64_t complete_end(int fd, uint64_t from, uint64_t size)
{
    uint64_t at = from;
    while (at < size) {
        char head[24];
        ssize_t n = pread(fd, head, sizeof(head), (off_t)at);
        if (n <= 0)
            break;
        uint64_t len = 0;
        ssize_t i = 0;
        while (i < n && head[i] >= '0' && head[i] <= '9' && i < 20)
            len = len * 10 + (uint64_t)(head[i++] - '0');
        if (i == 0 || i >= n || head[i] != ':')
            break;
        uint64_t next = at + (uint64_t)i + 1 + len + 1;
        if (next > size)
            break;
        at = next;
    }
    return at;
}

static int spool_open(struct sink *s, const char *dir, const char *uri, char *err, size_t errlen)
{
    /* one spool per (instance, URI): FNV-1a of the URI names it */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = uri; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    size_t n = strlen(dir) + strlen(instance) + 64;
    s->path = mitm_alloc(n);
    snprintf(s->path, n, "%s/sink-%s-%016" PRIx64 ".spool", dir, instance, h);
    s->pos_path = mitm_alloc(n + 4);
    snprintf(s->pos_path, n + 4, "%s.pos", s->path);
    mkdir(dir, 0700);
    s->fd = open(s->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        mitm_errf(err, errlen, "flow sink %s: cannot open spool %s: %s", s->shown, s->path, strerror(errno));
        return -1;
    }
    if (flock(s->fd, LOCK_EX | LOCK_NB) < 0) {
        mitm_errf(err, errlen,
                  "flow sink %s: spool %s is in use by another mitmc (give each instance its own "
                  "flow_sink_instance or flow_sink_spool_dir)",
                  s->shown, s->path);
        return -1;
    }
    struct stat stt;
    fstat(s->fd, &stt);
    s->size = (uint64_t)stt.st_size;
    FILE *pf = fopen(s->pos_path, "re");
    uint64_t pos = 0;
    if (pf) {
        if (fscanf(pf, "%" SCNu64, &pos) != 1)
            pos = 0;
        fclose(pf);
    }
    s->pos_fd = open(s->pos_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->pos_fd < 0) {
        mitm_errf(err, errlen, "flow sink %s: cannot open %s: %s", s->shown, s->pos_path, strerror(errno));
        return -1;
    }
    if (pos > s->size)
        pos = 0; /* a spool emptied before its .pos was written: re-send (harmless) */
    s->pos = pos;
    uint64_t end = complete_end(s->fd, pos, s->size);
    if (end != s->size) {
        mitm_log(MITM_LOG_WARN, NULL,
                 "flow sink %s: spool %s ends inside a record at byte %" PRIu64 "; cut to %" PRIu64, s->shown,
                 s->path, s->size, end);
        if (ftruncate(s->fd, (off_t)end) < 0) {
            mitm_errf(err, errlen, "flow sink %s: cannot repair spool %s: %s", s->shown, s->path,
                      strerror(errno));
            return -1;
        }
        s->size = end;
    }
    s->stats.spool_bytes = s->size - s->pos;
    if (s->size > s->pos)
        mitm_log(MITM_LOG_INFO, NULL, "flow sink %s: %" PRIu64 " bytes of flows spooled in %s, delivering",
                 s->shown, s->size - s->pos, s->path);
    return 0;
}

static void append_one(struct sink *s, struct rec *r, int64_t max)
{
    bool full = max > 0 && s->size - s->pos + r->len > (uint64_t)max;
    ssize_t w = full ? -1 : write(s->fd, r->data, r->len);
    pthread_mutex_lock(&s->mu);
    if (w == (ssize_t)r->len) {
        s->size += r->len;
        s->stats.spooled++;
    } else {
        s->stats.dropped++;
    }
    uint64_t dropped = s->stats.dropped;
    s->stats.spool_bytes = s->size - s->pos;
    pthread_mutex_unlock(&s->mu);
    if (w != (ssize_t)r->len) {
        if (w > 0) /* a short write (disk full): cut the torn record off */
            (void)ftruncate(s->fd, (off_t)s->size);
        /* loud, but not one line per flow under load: the first and every 1000th */
        if (dropped == 1 || dropped % 1000 == 0)
            mitm_log(MITM_LOG_ERROR, NULL,
                     "flow sink %s: FLOWS DROPPED: %s (%" PRIu64 " dropped so far, spool %s at %" PRIu64
                     " bytes)",
                     s->shown, full ? "the spool is full (flow_sink_spool_size)" : strerror(errno), dropped,
                     s->path, s->size - s->pos);
    }
    free(r);
}

/* The records in one writev per group; what a group could not take whole (a short write, the
 * spool's bound) goes one by one, with its log line. */
static void spool_append(struct sink *s, struct rec *list, int64_t max)
{
    enum { GROUP = 64 };
    while (list) {
        struct iovec iov[GROUP];
        struct rec *grp[GROUP];
        size_t k = 0;
        uint64_t bytes = 0;
        for (; list && k < GROUP; list = list->next) {
            if (max > 0 && s->size - s->pos + bytes + list->len > (uint64_t)max)
                break;
            iov[k] = (struct iovec){list->data, list->len};
            grp[k++] = list;
            bytes += list->len;
        }
        ssize_t w = k ? writev(s->fd, iov, (int)k) : 0;
        uint64_t got = w > 0 ? (uint64_t)w : 0, whole = 0;
        size_t done = 0;
        for (; done < k && got - whole >= grp[done]->len; done++)
            whole += grp[done]->len;
        pthread_mutex_lock(&s->mu);
        s->size += whole;
        s->stats.spooled += done;
        s->stats.spool_bytes = s->size - s->pos;
        pthread_mutex_unlock(&s->mu);
        if (got > whole) /* a torn record: cut it off */
            (void)ftruncate(s->fd, (off_t)s->size);
        for (size_t i = 0; i < done; i++)
            free(grp[i]);
        for (size_t i = done; i < k; i++)
            append_one(s, grp[i], max);
        if (!k) { /* the first record does not fit */
            struct rec *r = list;
            list = r->next;
            append_one(s, r, max);
        }
    }
}

/* The spool is delivered up to pos: start it over once all of it is, or rewrite what is left
 * once much is delivered, so it does not grow while the store keeps up. */
static void spool_compact(struct sink *s)
{
    if (s->pos == s->size) {
        /* not after every batch: two syscalls each time, and appending costs the same */
        if (s->size >= RESET_AT && write_pos(s, 0) == 0 && ftruncate(s->fd, 0) == 0)
            s->size = 0;
        return;
    }
    if (s->pos < COMPACT_AT)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.new", s->path);
    int nfd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (nfd < 0)
        return;
    uint8_t buf[65536];
    for (uint64_t at = s->pos; at < s->size;) {
        size_t want = s->size - at < sizeof(buf) ? (size_t)(s->size - at) : sizeof(buf);
        ssize_t n = pread(s->fd, buf, want, (off_t)at);
        if (n <= 0 || write(nfd, buf, (size_t)n) != n) {
            close(nfd);
            unlink(tmp);
            return;
        }
        at += (uint64_t)n;
    }
    /* pos 0 first: a crash before the rename re-sends the old spool (harmless), never skips */
    flock(nfd, LOCK_EX | LOCK_NB);
    if (write_pos(s, 0) < 0 || rename(tmp, s->path) < 0) {
        close(nfd);
        unlink(tmp);
        return;
    }
    close(s->fd);
    s->fd = nfd;
    struct stat stt;
    fstat(nfd, &stt);
    s->size = (uint64_t)stt.st_size;
}

/* One batch from the spool to the store. Returns 1 delivered, 0 nothing to do, -1 failed. */
static int deliver_batch(struct sink *s, size_t max_flows)
{
    if (s->pos >= s->size)
        return 0;
    uint64_t left = s->size - s->pos;
    /* Read about what one batch needs, not the most allowed: records average ~2 KB, and reading
     * 16 MiB for 500 of them cost more than the delivery (copies and fresh pages each time). */
    double want = s->rec_avg > 0 ? s->rec_avg * (double)max_flows * 1.25 : (double)BATCH_BYTES_MIN;
    size_t chunk = want < (double)BATCH_BYTES_MIN   ? BATCH_BYTES_MIN
                   : want > (double)BATCH_BYTES_MAX ? BATCH_BYTES_MAX
                                                    : (size_t)want;
    if (chunk > left)
        chunk = (size_t)left;
    uint8_t *mem = s->rbuf;
    struct mitm_sink_item *items = mitm_alloc(max_flows * sizeof(*items));
    struct mitm_flow **flows = mitm_alloc(max_flows * sizeof(*flows));
    size_t n = 0, used = 0;
    int rc = -1;
    char err[1024];
    for (;;) { /* bounded: chunk doubles up to what is left */
        if (chunk > s->rcap) {
            mem = s->rbuf = mitm_realloc(s->rbuf, chunk);
            s->rcap = chunk;
        }
        ssize_t got = pread(s->fd, mem, chunk, (off_t)s->pos);
        if (got != (ssize_t)chunk) {
            mitm_log(MITM_LOG_ERROR, NULL, "flow sink %s: cannot read spool %s: %s", s->shown, s->path,
                     got < 0 ? strerror(errno) : "short read");
            goto Exit;
        }
        struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(mem, chunk);
        size_t skipped = 0;
        for (n = 0; n < max_flows;) {
            size_t before = mitm_flowfile_offset(r);
            struct mitm_flow *f = NULL;
            int k = mitm_flowfile_next(r, &f, err, sizeof(err));
            if (k == MITM_FLOWFILE_FLOW) {
                flows[n] = f;
                items[n] = (struct mitm_sink_item){f, mem + before, mitm_flowfile_offset(r) - before};
                n++;
            } else if (k == MITM_FLOWFILE_ERROR && mitm_flowfile_offset(r) != before) {
                mitm_log(MITM_LOG_ERROR, NULL, "flow sink %s: skipping a spooled record: %s", s->shown, err);
                skipped++;
            } else {
                if (k == MITM_FLOWFILE_ERROR && !n) {
                    mitm_log(MITM_LOG_ERROR, NULL,
                             "flow sink %s: spool %s is corrupt at byte %" PRIu64 " (%s): FLOWS DROPPED from "
                             "there",
                             s->shown, s->path, s->pos + before, err);
                    used = (size_t)left; /* nothing after it can be read */
                    mitm_flowfile_close(r);
                    goto Commit;
                }
                break;
            }
        }
        used = mitm_flowfile_offset(r);
        mitm_flowfile_close(r);
        if (n) {
            double avg = (double)used / (double)(n + skipped);
            s->rec_avg = s->rec_avg > 0 ? (s->rec_avg + avg) / 2 : avg;
        }
        if (n || skipped || chunk == left)
            break;
        for (size_t i = 0; i < n; i++)
            mitm_flow_unref(flows[i]);
        chunk = (uint64_t)chunk * 2 > left ? (size_t)left : chunk * 2; /* one record larger than chunk */
    }
    if (n && s->vt->deliver(s->st, instance, items, n, err, sizeof(err)) < 0) {
        /* a line at the first failure and whenever the reason changes, not at every retry */
        if (!s->failing || strcmp(err, s->last_err) != 0)
            mitm_log(MITM_LOG_WARN, NULL,
                     "flow sink %s: %s; %" PRIu64 " bytes of flows stay spooled, retrying", s->shown, err,
                     left);
        snprintf(s->last_err, sizeof(s->last_err), "%s", err);
        s->failing = true;
        pthread_mutex_lock(&s->mu);
        s->stats.failures++;
        pthread_mutex_unlock(&s->mu);
        goto Exit;
    }
    if (s->failing)
        mitm_log(MITM_LOG_INFO, NULL, "flow sink %s: delivering again", s->shown);
    s->failing = false;
Commit:
    if (write_pos(s, s->pos + used) < 0)
        goto Exit;
    pthread_mutex_lock(&s->mu);
    s->stats.delivered += n;
    pthread_mutex_unlock(&s->mu);
    spool_compact(s);
    pthread_mutex_lock(&s->mu);
    s->stats.spool_bytes = s->size - s->pos;
    pthread_mutex_unlock(&s->mu);
    rc = 1;
Exit:
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(flows[i]);
    free(flows);
    free(items);
    if (s->rcap > BATCH_BYTES_MIN * 4 && s->rec_avg * (double)max_flows * 2 < (double)s->rcap) {
        free(s->rbuf); /* one large record grew it: do not keep that much */
        s->rbuf = NULL;
        s->rcap = 0;
    }
    return rc;
}

/* ---- the sink thread ---------------------------------------------------------------------- */

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    const struct mitm_options *o = mitm_sink_options();
    int64_t max = mitm_options_size(o->flow_sink_spool_size);
    size_t batch = o->flow_sink_batch > 0 ? (size_t)o->flow_sink_batch : 500;
    double backoff = 0, next_try = 0, flush_until = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        for (;;) { /* each wait ends on a flow, a stop, or the retry time */
            bool due = s->size > s->pos && now_mono() >= next_try;
            if (s->head || s->stop || due)
                break;
            if (s->size > s->pos) {
                double t = next_try - now_mono();
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += (time_t)t;
                ts.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            } else {
                pthread_cond_wait(&s->cv, &s->mu);
            }
        }
        struct rec *list = s->head;
        s->head = s->tail = NULL;
        s->qbytes = 0;
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        spool_append(s, list, max);
        if (stop && !flush_until)
            flush_until = now_mono() + FLUSH_SECONDS;
        if (s->size > s->pos && (now_mono() >= next_try || stop)) {
            int rc = deliver_batch(s, batch);
            if (rc < 0) {
                backoff = backoff ? (backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2) : BACKOFF_MIN;
                next_try = now_mono() + backoff;
                if (stop)
                    break; /* one attempt at stop: the rest waits in the spool */
            } else {
                backoff = 0;
                next_try = 0;
            }
        }
        if (stop && (s->size <= s->pos || now_mono() >= flush_until))
            break;
    }
    if (s->size > s->pos)
        mitm_log(MITM_LOG_WARN, NULL,
                 "flow sink %s: %" PRIu64 " bytes of flows left in %s for the next start", s->shown,
                 s->size - s->pos, s->path);
    return NULL;
}

/* ---- the main thread's side --------------------------------------------------------------- */

static const struct mitm_sink_vt *store_for(const char *uri, void **st, char *err, size_t errlen)
{
    if (!strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11)) {
        *st = mitm_sink_pg_new(uri);
        return &mitm_sink_pg_vt;
    }
    if (mitm_sink_jsonl_is_uri(uri)) {
        *st = mitm_sink_jsonl_new(uri);
        return &mitm_sink_jsonl_vt;
    }
    char *shown = mitm_sink_redact(uri); /* a mistyped scheme may still carry a password */
    mitm_errf(err, errlen,
              "flow_sink: unknown sink '%s' (mitmc supports postgresql://..., jsonl+http://... and "
              "jsonl+https://...)",
              shown);
    free(shown);
    return NULL;
}

static void sink_free(struct sink *s)
{
    if (s->vt && s->st)
        s->vt->free(s->st);
    if (s->fd >= 0)
        close(s->fd);
    if (s->pos_fd >= 0)
        close(s->pos_fd);
    for (struct rec *r = s->head, *nx; r; r = nx) {
        nx = r->next;
        free(r);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->path);
    free(s->pos_path);
    free(s->rbuf);
    free(s->shown);
    free(s);
}

static void free_all(void)
{
    for (size_t i = 0; i < n_sinks; i++)
        sink_free(sinks[i]);
    free(sinks);
    sinks = NULL;
    n_sinks = 0;
    free(instance);
    instance = NULL;
    mitm_optsnap_unref(opts);
    opts = NULL;
}

static void signal_stop(struct sink *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int mitm_sinks_start(char *err, size_t errlen)
{
    const struct mitm_strvec *v = &mitm_options.flow_sink;
    if (!v->n || n_sinks)
        return 0;
    opts = mitm_optsnap_new(&mitm_options);
    if (mitm_options.flow_sink_instance[0]) {
        instance = mitm_strdup(mitm_options.flow_sink_instance);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
            snprintf(host, sizeof(host), "mitmc");
        instance = mitm_strdup(host);
    }
    for (const char *p = instance; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20) {
            mitm_errf(err, errlen, "flow_sink_instance: '%s' may not hold '/' or control characters",
                      instance);
            goto Fail;
        }
    char *dir = mitm_options.flow_sink_spool_dir[0]
                    ? mitm_options_expanduser(mitm_options.flow_sink_spool_dir)
                    : mitm_options_confdir(&mitm_options);
    sinks = mitm_alloc(v->n * sizeof(*sinks));
    for (size_t i = 0; i < v->n; i++) {
        struct sink *s = mitm_alloc(sizeof(*s));
        memset(s, 0, sizeof(*s));
        s->fd = s->pos_fd = -1;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        s->shown = mitm_sink_redact(v->v[i]);
        sinks[n_sinks++] = s;
        if (!(s->vt = store_for(v->v[i], &s->st, err, errlen)) ||
            spool_open(s, dir, v->v[i], err, errlen) < 0) {
            free(dir);
            goto Fail;
        }
    }
    free(dir);
    for (size_t i = 0; i < n_sinks; i++) {
        if (pthread_create(&sinks[i]->thread, NULL, sink_main, sinks[i]) != 0) {
            mitm_errf(err, errlen, "flow sink: cannot start a thread");
            for (size_t j = 0; j < i; j++) { /* stop those already running */
                signal_stop(sinks[j]);
                pthread_join(sinks[j]->thread, NULL);
            }
            goto Fail;
        }
        mitm_log(MITM_LOG_INFO, NULL, "flow sink %s: instance %s, spool %s", sinks[i]->shown, instance,
                 sinks[i]->path);
    }
    return 0;
Fail:
    free_all();
    return -1;
}

bool mitm_sinks_active(void)
{
    return n_sinks > 0;
}

void mitm_sinks_flow(enum mitm_hook hook, const struct mitm_flow *f)
{
    bool final = (hook == MITM_HOOK_RESPONSE && !f->websocket) || hook == MITM_HOOK_ERROR ||
                 hook == MITM_HOOK_WEBSOCKET_END || hook == MITM_HOOK_TCP_END || hook == MITM_HOOK_TCP_ERROR;
    if (!n_sinks || !final)
        return;
    char err[256];
    struct mitm_buf b;
    mitm_buf_init(&b, MITM_FLOWFILE_DEFAULT_CAP);
    if (mitm_flowfile_encode(f, &b, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "flow sink: flow %s not sent: %s", f->id, err);
        mitm_buf_free(&b);
        return;
    }
    int64_t qmax = mitm_options_size(mitm_options.flow_sink_queue_size);
    for (size_t i = 0; i < n_sinks; i++) {
        struct sink *s = sinks[i];
        struct rec *r = mitm_alloc(sizeof(*r) + b.len);
        r->next = NULL;
        r->len = b.len;
        memcpy(r->data, mitm_buf_data(&b), b.len);
        pthread_mutex_lock(&s->mu);
        bool full = qmax > 0 && s->qbytes + b.len > (uint64_t)qmax;
        if (!full) {
            if (s->tail)
                s->tail->next = r;
            else
                s->head = r;
            s->tail = r;
            s->qbytes += b.len;
            s->stats.queued++;
            pthread_cond_signal(&s->cv);
        } else {
            s->stats.dropped++;
        }
        uint64_t dropped = s->stats.dropped;
        pthread_mutex_unlock(&s->mu);
        if (full) {
            free(r);
            if (dropped == 1 || dropped % 1000 == 0)
                mitm_log(MITM_LOG_ERROR, NULL,
                         "flow sink %s: FLOWS DROPPED: its queue is full (flow_sink_queue_size; %" PRIu64
                         " dropped so far)",
                         s->shown, dropped);
        }
    }
    mitm_buf_free(&b);
}

void mitm_sinks_stop(void)
{
    for (size_t i = 0; i < n_sinks; i++)
        signal_stop(sinks[i]);
    for (size_t i = 0; i < n_sinks; i++)
        pthread_join(sinks[i]->thread, NULL);
    free_all();
}

bool mitm_sinks_stats(size_t i, struct mitm_sink_stats *out)
{
    if (i >= n_sinks)
        return false;
    pthread_mutex_lock(&sinks[i]->mu);
    *out = sinks[i]->stats;
    pthread_mutex_unlock(&sinks[i]->mu);
    return true;
}
