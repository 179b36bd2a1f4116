/* The flow list's rows (mitmproxy's common.format_http_flow_table and format_message_flow):
 * one line of styled text per flow, built from the store's summary alone, so drawing a
 * screenful costs no flow loads however many flows are stored. Pure: unit-tested. */
#ifndef MITM_UI_CONSOLE_ROW_H
#define MITM_UI_CONSOLE_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/store.h"
#include "ui/console/style.h"

#define MITM_ROW_TEXT_MAX 2048
#define MITM_ROW_SEGS_MAX 24

/* A line of text with styled byte ranges; display columns are counted with wcwidth. */
struct mitm_row {
    char text[MITM_ROW_TEXT_MAX];
    size_t len;
    struct {
        uint16_t off, len;
        uint8_t style;
    } segs[MITM_ROW_SEGS_MAX];
    size_t nsegs;
};

/* Append s (UTF-8, n bytes) to r in style st. Text beyond the buffer is dropped. */
void mitm_row_add(struct mitm_row *r, const char *s, size_t n, enum mitm_con_style st);

/* Display columns of n bytes of UTF-8 (invalid bytes and control characters count 1). */
size_t mitm_text_width(const char *s, size_t n);

/* How many bytes of s (n bytes) fit in cols columns from its start; *used: their columns. */
size_t mitm_text_fit(const char *s, size_t n, size_t cols, size_t *used);

/* Append s fitted to exactly cols columns: padded with spaces (pad_left: before it), or
 * cut with an ellipsis ("…") at its end (cut_left: at its start, keeping the end). */
void mitm_row_add_fixed(struct mitm_row *r, const char *s, size_t n, size_t cols, bool pad_left,
                        bool cut_left, enum mitm_con_style st);

/* What a row shows besides the summary. */
struct mitm_row_opts {
    bool focused;
    bool intercepted; /* waiting in the intercept (highlighted) */
};

/* The table layout row for flow sm, width columns wide (at least 15). */
void mitm_row_format(const struct mitm_store_summary *sm, const struct mitm_row_opts *o, size_t width,
                     struct mitm_row *out);

/* The list layout (format_http_flow_list: terminals under 100 columns, or
 * console_flowlist_layout=list): two lines, the request (">>", method, URL, indicators)
 * and under it the response ("<- 200 text/html 2.4k 8ms") or the error. */
void mitm_row_format_list(const struct mitm_store_summary *sm, const struct mitm_row_opts *o, size_t width,
                          struct mitm_row *line1, struct mitm_row *line2);

/* Does the flow list use the two-line list layout at this width (the option's value)? */
bool mitm_row_list_layout(const char *layout, size_t width);

/* mitmproxy's human.pretty_duration: "123ms", "1.23s", "12.3s", "123s". out: 16 bytes. */
void mitm_pretty_duration(double secs, char out[16]);

/* The style of a response media type (format_http_content_type). */
enum mitm_con_style mitm_content_type_style(const char *ct);

#endif
