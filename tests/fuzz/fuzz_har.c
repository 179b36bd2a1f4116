/* Fuzz target: HAR import of arbitrary bytes, then everything downstream of a loaded flow:
 * HAR export of the flows (which must load again), every export format, and every content
 * view on every body. Also every content view directly on the input under a few content
 * types. Checks that nothing crashes or leaks, errors come with a message, and an export of
 * imported flows always re-imports. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "flow/contentview.h"
#include "flow/export.h"
#include "flow/flow.h"
#include "flow/har.h"

static void views_on(const uint8_t *data, size_t len, const char *ct, const struct mitm_http_request *req)
{
    size_t n;
    const char *const *names = mitm_cv_names(&n);
    for (size_t i = 0; i < n; i++) {
        struct mitm_cv_meta meta = {ct, ct ? strlen(ct) : 0, req};
        struct mitm_cv_result r = {0};
        mitm_cv_render(names[i], data, len, &meta, 200, &r);
        if (r.nlines > 200)
            abort();
        mitm_cv_result_free(&r);
    }
}

static void exercise(struct mitm_flow *f)
{
    size_t n;
    const char *const *fmts = mitm_export_formats(&n);
    for (size_t i = 0; i < n; i++) {
        struct mitm_buf out;
        mitm_buf_init(&out, 1 << 24);
        char err[256] = "";
        if (mitm_export(fmts[i], f, true, &out, err, sizeof(err)) != 0 && !err[0])
            abort();
        mitm_buf_free(&out);
    }
    struct mitm_cv_result r = {0};
    mitm_cv_render_message("auto", &f->request->headers, &f->request->content, false, f->request, 100, &r);
    mitm_cv_result_free(&r);
    if (f->response) {
        memset(&r, 0, sizeof(r));
        mitm_cv_render_message("auto", &f->response->headers, &f->response->content, false, NULL, 100, &r);
        mitm_cv_result_free(&r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mitm_log_set_level(MITM_LOG_ERROR);
    struct mitm_flow **flows;
    size_t n;
    char err[512] = "";
    if (mitm_har_read(data, size, &flows, &n, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
    } else {
        for (size_t i = 0; i < n; i++)
            exercise(flows[i]);
        struct mitm_buf out;
        mitm_buf_init(&out, 0);
        if (mitm_har_write(flows, n, &out, false, err, sizeof(err)) != 0)
            abort();
        struct mitm_flow **again;
        size_t m;
        if (mitm_har_read(mitm_buf_data(&out), out.len, &again, &m, err, sizeof(err)) != 0 || m != n)
            abort(); /* what we write we must read back */
        for (size_t i = 0; i < m; i++)
            mitm_flow_unref(again[i]);
        free(again);
        mitm_buf_free(&out);
        for (size_t i = 0; i < n; i++)
            mitm_flow_unref(flows[i]);
        free(flows);
    }
    /* the views are linear; keep each run short: one content type per input, 2 KiB */
    static const char *const types[] = {"application/json", "multipart/form-data; boundary=--x", "text/html",
                                        NULL};
    size_t cap = size < 2048 ? size : 2048;
    views_on(data, cap, types[size ? data[size - 1] % 4 : 3], NULL);
    return 0;
}
