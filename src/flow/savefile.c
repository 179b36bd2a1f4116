#include "flow/savefile.h"
#include "flow/flowfile.h"
#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mitm_savefile {
    /* Workers write from their hooks while the main thread's timer syncs: every field below
     * is read and changed under lock, so a record is one write(2) that no other record can
     * cut into, and a rotation never closes the fd another thread is writing to. */
    pthread_mutex_t lock;
    char *pattern; /* spec without "+", "~" expanded */
    bool append;
    long fsync_s;
    int fd;
    char path[PATH_MAX]; /* formatted name of the open file */
    uint64_t count;
    double dirty_since; /* time of the first record not yet synced; 0 = clean */
};

static char *expand_home(const char *p)
{
    const char *home = getenv("HOME");
    if (p[0] != '~' || (p[1] != '/' && p[1] != 0) || !home)
        return mitm_strdup(p);
    size_t n = strlen(home) + strlen(p);
    char *out = mitm_alloc(n);
    snprintf(out, n, "%s%s", home, p + 1);
    return out;
}

/* strftime(pattern) in local time, as Python's datetime.today().strftime(). */
static int format_path(const struct mitm_savefile *sf, double now, char *out, size_t cap)
{
    time_t t = (time_t)now;
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return -1;
    size_t n = strftime(out, cap, sf->pattern, &tm);
    return n == 0 ? -1 : 0; /* the pattern is not empty, so 0 means it did not fit */
}

/* mkdir -p of the directories above path (Path(path).parent.mkdir(parents=True)). */
static int make_parents(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static int sync_now(struct mitm_savefile *sf, char *err, size_t errlen)
{
    if (sf->fd < 0 || sf->dirty_since == 0)
        return 0;
    sf->dirty_since = 0;
    if (fdatasync(sf->fd) < 0 && errno != EINVAL) { /* EINVAL: a pipe or a tty, nothing to sync */
        if (errlen)
            snprintf(err, errlen, "Error while syncing %s: %s", sf->path, strerror(errno));
        return -1;
    }
    return 0;
}

static void close_file(struct mitm_savefile *sf)
{
    if (sf->fd < 0)
        return;
    if (sf->fsync_s > 0)
        sync_now(sf, NULL, 0);
    close(sf->fd);
    sf->fd = -1;
    sf->path[0] = 0;
}

/* Open the file for time now if its formatted name differs from the open one. */
static int rotate(struct mitm_savefile *sf, double now, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (format_path(sf, now, path, sizeof(path)) < 0) {
        if (errlen)
            snprintf(err, errlen, "%s: the formatted file name is too long", sf->pattern);
        return -1;
    }
    if (sf->fd >= 0 && strcmp(path, sf->path) == 0)
        return 0;
    close_file(sf);
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (sf->append ? O_APPEND : O_TRUNC);
    int fd = make_parents(path) < 0 ? -1 : open(path, flags, 0666);
    if (fd < 0) {
        if (errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    sf->fd = fd;
    snprintf(sf->path, sizeof(sf->path), "%s", path);
    return 0;
}

struct mitm_savefile *mitm_savefile_open(const char *spec, long fsync_s, double now, char *err, size_t errlen)
{
    bool append = spec[0] == '+';
    if (!spec[append]) {
        if (errlen)
            snprintf(err, errlen, "%s: no file name", spec);
        return NULL;
    }
    struct mitm_savefile *sf = mitm_calloc(1, sizeof(*sf));
    pthread_mutex_init(&sf->lock, NULL);
    sf->pattern = expand_home(spec + append);
    sf->append = append;
    sf->fsync_s = fsync_s;
    sf->fd = -1;
    if (rotate(sf, now, err, errlen) < 0) {
        mitm_savefile_close(sf);
        return NULL;
    }
    return sf;
}

/* The record at the end of the open file, its holes filled from their body files; called
 * with sf->lock held. */
static int write_locked(struct mitm_savefile *sf, const uint8_t *rec, size_t len,
                        const struct mitm_flowfile_hole *holes, size_t n_holes, double now, char *err,
                        size_t errlen)
{
    char why[PATH_MAX + 64];
    if (rotate(sf, now, why, sizeof(why)) < 0) {
        if (errlen)
            snprintf(err, errlen, "Error while writing to %s", why);
        return -1;
    }
    /* one write(2) for the record in the normal case (no holes) */
    if (mitm_flowfile_write_holes(sf->fd, NULL, rec, len, holes, n_holes, why, sizeof(why)) < 0) {
        if (errlen)
            snprintf(err, errlen, "Error while writing to %s: %s", sf->path, why);
        return -1;
    }
    sf->count++;
    if (sf->dirty_since == 0)
        sf->dirty_since = now > 0 ? now : 1;
    return 0;
}

int mitm_savefile_write(struct mitm_savefile *sf, const uint8_t *rec, size_t len, double now, char *err,
                        size_t errlen)
{
    return mitm_savefile_write_holes(sf, rec, len, NULL, 0, now, err, errlen);
}

int mitm_savefile_write_holes(struct mitm_savefile *sf, const uint8_t *rec, size_t len,
                              const struct mitm_flowfile_hole *holes, size_t n_holes, double now, char *err,
                              size_t errlen)
{
    pthread_mutex_lock(&sf->lock);
    int rc = write_locked(sf, rec, len, holes, n_holes, now, err, errlen);
    pthread_mutex_unlock(&sf->lock);
    return rc;
}

int mitm_savefile_tick(struct mitm_savefile *sf, double now, bool force, char *err, size_t errlen)
{
    char path[PATH_MAX];
    pthread_mutex_lock(&sf->lock);
    bool due = sf->dirty_since != 0 && sf->fd >= 0 &&
               (force || (sf->fsync_s > 0 && now - sf->dirty_since >= (double)sf->fsync_s));
    /* The sync runs on a duplicate of the fd, outside the lock: a worker writing a record
     * (which holds its client's last byte back) never waits for the disk, and a rotation
     * meanwhile cannot close the descriptor being synced. */
    int fd = due ? dup(sf->fd) : -1;
    if (fd >= 0)
        sf->dirty_since = 0;
    snprintf(path, sizeof(path), "%s", sf->path);
    pthread_mutex_unlock(&sf->lock);
    if (!due)
        return 0;
    int rc = fd < 0 ? -1 : fdatasync(fd);
    if (rc < 0 && errno != EINVAL) { /* EINVAL: a pipe or a tty, nothing to sync */
        if (errlen)
            snprintf(err, errlen, "Error while syncing %s: %s", path, strerror(errno));
    } else {
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

const char *mitm_savefile_path(const struct mitm_savefile *sf)
{
    return sf->path;
}

uint64_t mitm_savefile_count(struct mitm_savefile *sf)
{
    pthread_mutex_lock(&sf->lock);
    uint64_t n = sf->count;
    pthread_mutex_unlock(&sf->lock);
    return n;
}

void mitm_savefile_close(struct mitm_savefile *sf)
{
    if (!sf)
        return;
    close_file(sf);
    pthread_mutex_destroy(&sf->lock);
    free(sf->pattern);
    free(sf);
}
