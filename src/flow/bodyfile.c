#include "flow/bodyfile.h"
#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int mitm_tmpfile_open(const char *dir, const char *what, char *err, size_t errlen)
{
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    /* O_TMPFILE: the file never has a name, so no crash can leave it behind. */
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/mitmc-spool-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) {
        unlink(path);
        return fd;
    }
    if (errlen)
        snprintf(err, errlen, "cannot create %s in %s: %s", what, dir, strerror(errno));
    return -1;
}

struct mitm_bodyfile {
    int fd;
    uint64_t len;
};

/* The mapping a finished body's content borrows. */
struct mapped {
    struct mitm_buf_ext ext;
    void *map;
    size_t maplen;
};

static void release(struct mitm_buf_ext *x)
{
    struct mapped *m = (struct mapped *)x;
    munmap(m->map, m->maplen);
    close(m->ext.fd);
    free(m);
}

struct mitm_bodyfile *mitm_bodyfile_new(const char *dir, char *err, size_t errlen)
{
    int fd = mitm_tmpfile_open(dir, "a body file", err, errlen);
    if (fd < 0)
        return NULL;
    struct mitm_bodyfile *w = mitm_calloc(1, sizeof(*w));
    w->fd = fd;
    return w;
}

int mitm_bodyfile_append(struct mitm_bodyfile *w, const void *p, size_t n, char *err, size_t errlen)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(w->fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (errlen)
                snprintf(err, errlen, "writing a body file: %s", k < 0 ? strerror(errno) : "short write");
            return -1;
        }
        b += k;
        n -= (size_t)k;
        w->len += (uint64_t)k;
    }
    return 0;
}

uint64_t mitm_bodyfile_len(const struct mitm_bodyfile *w)
{
    return w->len;
}

int mitm_bodyfile_finish(struct mitm_bodyfile *w, struct mitm_buf *content, char *err, size_t errlen)
{
    /* one NUL past the end, inside the mapping: owned buffers keep one, and readers may rely
     * on it (mitm_buf_borrow's contract) */
    if (mitm_bodyfile_append(w, "", 1, err, errlen) < 0 || w->len > SIZE_MAX) {
        mitm_bodyfile_free(w);
        return -1;
    }
    size_t maplen = (size_t)w->len;
    void *map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, w->fd, 0);
    if (map == MAP_FAILED) {
        if (errlen)
            snprintf(err, errlen, "mapping a body file of %zu bytes: %s", maplen, strerror(errno));
        mitm_bodyfile_free(w);
        return -1;
    }
    madvise(map, maplen, MADV_SEQUENTIAL);
    struct mapped *m = mitm_calloc(1, sizeof(*m));
    atomic_init(&m->ext.refs, 0);
    m->ext.fd = w->fd;
    m->ext.base = map;
    m->ext.release = release;
    m->map = map;
    m->maplen = maplen;
    free(w);
    mitm_buf_borrow(content, &m->ext, map, maplen - 1);
    return 0;
}

void mitm_bodyfile_free(struct mitm_bodyfile *w)
{
    if (!w)
        return;
    close(w->fd);
    free(w);
}
