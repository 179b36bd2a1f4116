/* Fuzz target: tnetstring parsing, flow-file reading (migrations and conversion into
 * struct mitm_flow) and writing. Invariants checked: the parser never reads past its
 * input, a parsed value re-encodes and re-parses to the same size, and a flow that was
 * read writes a record that reads back as a flow again. */
#include <stdint.h>
#include <stdlib.h>

#include "base/log.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/tnetstring.h"

static void check_tree(const uint8_t *data, size_t size)
{
    struct mitm_tns_limits lim = {1 << 20, 32};
    struct mitm_tns *v = NULL;
    struct mitm_tns_error e;
    ssize_t n = mitm_tns_parse(data, size, &lim, &v, &e);
    if (n <= 0)
        return;
    if ((size_t)n > size)
        abort();
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (mitm_tns_write(&b, v) != 0 || b.len != mitm_tns_encoded_size(v))
        abort();
    struct mitm_tns *w = NULL;
    if (mitm_tns_parse(mitm_buf_data(&b), b.len, &lim, &w, &e) != (ssize_t)b.len)
        abort(); /* what we write, we read */
    mitm_tns_free(w);
    mitm_buf_free(&b);
    mitm_tns_free(v);
}

static void check_flow(struct mitm_flow *f)
{
    struct mitm_buf b;
    char err[256];
    mitm_buf_init(&b, 0);
    if (mitm_flowfile_encode(f, &b, err, sizeof(err)) == 0) {
        struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(mitm_buf_data(&b), b.len);
        struct mitm_flow *g = NULL;
        if (mitm_flowfile_next(r, &g, err, sizeof(err)) != MITM_FLOWFILE_FLOW)
            abort(); /* a record we wrote must load */
        mitm_flow_unref(g);
        mitm_flowfile_close(r);
    }
    mitm_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mitm_log_set_level(MITM_LOG_ERROR); /* skipped flow types log warnings */
    check_tree(data, size);
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(data, size);
    mitm_flowfile_set_max_record(r, 1 << 20);
    char err[256];
    for (int i = 0; i < 64; i++) {
        struct mitm_flow *f = NULL;
        int rc = mitm_flowfile_next(r, &f, err, sizeof(err));
        if (rc == MITM_FLOWFILE_FLOW) {
            check_flow(f);
            mitm_flow_unref(f);
        } else if (rc != MITM_FLOWFILE_ERROR) {
            break; /* EOF, truncated, HAR; after an error the reader goes on (bounded) */
        }
    }
    mitm_flowfile_close(r);
    return 0;
}
