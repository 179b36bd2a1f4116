/* save: see save.h. */
#include "addon/save.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/flowfile.h"
#include "flow/savefile.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct mitm_save {
    struct mitm_savefile *file;
    struct mitm_filter *flt; /* save_stream_filter; NULL: every flow */
    atomic_bool failed;      /* set once, by the first write that failed */
    pthread_mutex_t lock;    /* guards why */
    char why[600];
};

int mitm_save_configure(const struct mitm_options *o, double now, struct mitm_save **out, char *err,
                        size_t errlen)
{
    char msg[512];
    *out = NULL;
    if (!o->save_stream_file || !*o->save_stream_file)
        return 0;
    struct mitm_filter *flt = NULL;
    if (o->save_stream_filter && *o->save_stream_filter &&
        !(flt = mitm_filter_parse(o->save_stream_filter, msg, sizeof(msg)))) {
        snprintf(err, errlen, "Invalid filter expression: %s", msg);
        return -1;
    }
    struct mitm_savefile *file =
        mitm_savefile_open(o->save_stream_file, o->save_stream_fsync, now, msg, sizeof(msg));
    if (!file) {
        snprintf(err, errlen, "Cannot open the save_stream_file %s", msg);
        mitm_filter_free(flt);
        return -1;
    }
    struct mitm_save *s = mitm_calloc(1, sizeof(*s));
    s->file = file;
    s->flt = flt;
    atomic_init(&s->failed, false);
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void mitm_save_free(struct mitm_save *s)
{
    if (!s)
        return;
    mitm_savefile_close(s->file);
    mitm_filter_free(s->flt);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct mitm_savefile *mitm_save_file(struct mitm_save *s)
{
    return s && !atomic_load(&s->failed) ? s->file : NULL;
}

bool mitm_save_failed(struct mitm_save *s, char *err, size_t errlen)
{
    if (!s || !atomic_load(&s->failed))
        return false;
    pthread_mutex_lock(&s->lock);
    snprintf(err, errlen, "%s", s->why);
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Keep the first failure; the writes stop with it (the owner stops the proxy). */
static void record_failure(struct mitm_save *s, const char *why)
{
    pthread_mutex_lock(&s->lock);
    if (!atomic_load(&s->failed)) {
        snprintf(s->why, sizeof(s->why), "%s", why);
        atomic_store(&s->failed, true);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Write f if it matches. Returns false when a flow to be written was not (a write error,
 * now or before). */
static bool save_flow(struct mitm_save *s, const struct mitm_flow *f, const struct mitm_hook_env *env)
{
    char err[600];
    if (s->flt && !mitm_filter_match(s->flt, f))
        return true;
    if (atomic_load(&s->failed))
        return false;
    struct mitm_buf rec;
    mitm_buf_init(&rec, 0);
    bool ok = true;
    int version = mitm_flowfile_version_for(env->opts ? env->opts->save_flow_format : NULL);
    struct mitm_flowfile_hole holes[MITM_FLOWFILE_MAX_HOLES];
    size_t n_holes = 0;
    int rc = version == MITM_FLOWFILE_VERSION /* large bodies copied file to file */
                 ? mitm_flowfile_encode_holes(f, &rec, holes, &n_holes, err, sizeof(err))
                 : mitm_flowfile_encode_version(f, version, &rec, err, sizeof(err));
    if (rc < 0) {
        mitm_hook_log(env, MITM_LOG_WARN, "cannot record flow: %s", err);
    } else if (mitm_savefile_write_holes(s->file, mitm_buf_data(&rec), rec.len, holes, n_holes, env->now, err,
                                         sizeof(err)) < 0) {
        record_failure(s, err);
        ok = false;
    }
    mitm_buf_free(&rec);
    return ok;
}

static void save_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_save *s = state;
    if (!s)
        return;
    struct mitm_flow *f;
    switch (h) {
    case MITM_HOOK_ERROR:
        f = arg;
        /* a loaded flow with a response was written at its response hook (mitmproxy's
         * load_flow runs both hooks and its save writes it twice) */
        if (f->loaded && f->response)
            return;
        /* fall through */
    case MITM_HOOK_RESPONSE:
        f = arg;
        /* a WebSocket flow is written whole at websocket_end. A live response that could not
         * be recorded is killed (its client gets none of it), as mitmproxy exits in this
         * hook before the response goes out: no traffic through unrecorded. */
        if (!f->websocket && !save_flow(s, f, env) && h == MITM_HOOK_RESPONSE && !f->loaded)
            f->killed = true;
        return;
    case MITM_HOOK_WEBSOCKET_END:
    case MITM_HOOK_TCP_END:
    case MITM_HOOK_TCP_ERROR:
        save_flow(s, arg, env);
        return;
    default:
        return;
    }
}

const struct mitm_addon mitm_addon_save = {"save", save_hook};
