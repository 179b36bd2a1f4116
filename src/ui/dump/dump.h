/* mitmdump's flow printer (mitmproxy addons/dumper.py): one request line and one response
 * (or error) line per finished flow at flow_detail 1, headers at 2, bodies at 3 and 4. */
#ifndef MITM_UI_DUMP_H
#define MITM_UI_DUMP_H

#include <stdbool.h>
#include <stdio.h>

#include "base/buf.h"
#include "flow/flow-t.h"

struct mitm_options;

struct mitm_dump_style {
    int flow_detail;
    bool showhost;
    bool color;        /* VT colour codes (stdout is a terminal) */
    int columns;       /* terminal width for URL truncation at detail 1 */
    long lines_cutoff; /* body lines shown at detail 3 */
};

/* Style from the options and the terminal on stdout. */
void mitm_dump_style_init(struct mitm_dump_style *st, const struct mitm_options *o);

/* Append the text for one finished flow to out (nothing at flow_detail 0). */
void mitm_dump_format(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *out);

/* mitmproxy human.pretty_size: "6b", "1.2k", "34m". out has room for 16 bytes. */
void mitm_pretty_size(uint64_t size, char out[16]);

#endif
