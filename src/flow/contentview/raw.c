/* The raw view: the text as it is, undecodable bytes and control characters escaped. */
#include "flow/contentview/contentview-int.h"

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    /* like bytes_to_escaped_str(keep_spacing=True): a backslash is doubled so \xNN is unambiguous */
    mitm_cv_escape(d, n, &b, true, true);
    mitm_cv_text_lines(r, (const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)t, (void)m;
    return n ? 0.1 : 0;
}

const struct mitm_cv_view mitm_cv_view_raw = {"raw", "Raw", render, priority};
