/* Bodies kept in a file (flow/bodyfile.h): the mapped content reads as the bytes written, a
 * change copies it, the last reference unmaps it, and a record written with holes (the body
 * copied file to file) is byte for byte the record mitm_flowfile_encode makes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "flow/bodyfile.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"
#include "util.h"

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + i / 7);
    return p;
}

/* content borrowing n bytes of pattern(n) from a body file, written in pieces */
static void kept(struct mitm_buf *content, size_t n)
{
    char err[256];
    uint8_t *p = pattern(n);
    struct mitm_bodyfile *w = mitm_bodyfile_new(NULL, err, sizeof(err));
    cr_assert(w, "%s", err);
    for (size_t off = 0; off < n; off += 10000)
        cr_assert_eq(mitm_bodyfile_append(w, p + off, n - off < 10000 ? n - off : 10000, err, sizeof(err)),
                     0);
    cr_assert_eq(mitm_bodyfile_len(w), n);
    cr_assert_eq(mitm_bodyfile_finish(w, content, err, sizeof(err)), 0, "%s", err);
    free(p);
}

Test(bodyfile, content_is_the_body_and_changes_copy_it)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_buf_append(&b, "old", 3);
    kept(&b, 300000);
    uint8_t *p = pattern(300000);
    cr_assert(b.ext && b.ext->fd >= 0);
    cr_assert_eq(b.len, 300000);
    cr_assert_eq(memcmp(mitm_buf_data(&b), p, 300000), 0);
    cr_assert_eq(mitm_buf_data(&b)[b.len], 0, "a NUL past the end, as owned buffers keep");
    /* a second buffer shares the mapping; the first changes: it copies, the second is unchanged */
    struct mitm_buf c;
    mitm_buf_init(&c, 0);
    mitm_buf_borrow(&c, b.ext, mitm_buf_data(&b), b.len);
    cr_assert_eq(mitm_buf_append(&b, "tail", 4), 0);
    cr_assert_null(b.ext);
    cr_assert_eq(b.len, 300004);
    cr_assert_eq(memcmp(mitm_buf_data(&b), p, 300000), 0);
    cr_assert_eq(memcmp(mitm_buf_data(&b) + 300000, "tail", 4), 0);
    cr_assert_eq(memcmp(mitm_buf_data(&c), p, 300000), 0);
    mitm_buf_consume(&c, 5);
    cr_assert_eq(memcmp(mitm_buf_data(&c), p + 5, 10), 0);
    size_t len;
    uint8_t *stolen = mitm_buf_steal(&c, &len);
    cr_assert_eq(len, 299995);
    cr_assert_eq(memcmp(stolen, p + 5, len), 0);
    cr_assert_eq(stolen[len], 0);
    cr_assert_null(c.ext);
    free(stolen);
    mitm_buf_free(&b);
    free(p);
}

static void record_both_ways(struct mitm_flow *f, size_t want_holes)
{
    char err[256];
    struct mitm_buf plain, holed;
    mitm_buf_init(&plain, 0);
    mitm_buf_init(&holed, 0);
    cr_assert_eq(mitm_flowfile_encode(f, &plain, err, sizeof(err)), 0, "%s", err);
    struct mitm_flowfile_hole holes[MITM_FLOWFILE_MAX_HOLES];
    size_t n = 9;
    mitm_buf_append(&holed, "prefix", 6); /* holes count from the record's start */
    cr_assert_eq(mitm_flowfile_encode_holes(f, &holed, holes, &n, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(n, want_holes);
    FILE *t = tmpfile();
    int fd = fileno(t);
    uint64_t pos = 100; /* pwrite at a position */
    cr_assert_eq(mitm_flowfile_write_holes(fd, &pos, mitm_buf_data(&holed) + 6, holed.len - 6, holes, n, err,
                                           sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(pos, 100 + plain.len);
    uint8_t *back = malloc(plain.len);
    cr_assert_eq(pread(fd, back, plain.len, 100), (ssize_t)plain.len);
    cr_assert_eq(memcmp(back, mitm_buf_data(&plain), plain.len), 0, "the record written with holes differs");
    /* and appended at the file's offset */
    cr_assert_eq(ftruncate(fd, 0), 0);
    lseek(fd, 0, SEEK_SET);
    cr_assert_eq(mitm_flowfile_write_holes(fd, NULL, mitm_buf_data(&holed) + 6, holed.len - 6, holes, n, err,
                                           sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(pread(fd, back, plain.len, 0), (ssize_t)plain.len);
    cr_assert_eq(memcmp(back, mitm_buf_data(&plain), plain.len), 0);
    free(back);
    fclose(t);
    mitm_buf_free(&plain);
    mitm_buf_free(&holed);
}

Test(bodyfile, records_with_holes_are_the_same_bytes)
{
    struct mitm_flow *f =
        t_flow("POST", "http", "example.com", 80, "/up", NULL, 0, "Host", "example.com", NULL);
    t_response(f, 200, "", 0, "Content-Type", "application/octet-stream", NULL);
    kept(&f->response->content, 1 << 20);
    record_both_ways(f, 1);
    kept(&f->request->content, 200000);
    record_both_ways(f, 2);
    /* a small kept body is copied in: no hole */
    kept(&f->request->content, 1000);
    record_both_ways(f, 1);
    mitm_flow_unref(f);
}
