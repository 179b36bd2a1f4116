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

/* The websocket_message or tcp_message hook's lines for message index of f (mitmproxy prints
 * messages[-1]; the index lets the caller replay a loaded flow without truncating its list):
 *   "<client> -> WebSocket text message -> <server><path>"  (<- for the server's messages)
 *   "<client> -> tcp -> <server>"                          (QUIC streams: "quic stream N -> ...")
 * addresses as mitmproxy's human.format_address; at flow_detail >= 3 the content through the
 * default content view (indented, cut at lines_cutoff at 3, blank lines around), as a body.
 * Nothing at flow_detail 0, for an index out of range, or for an HTTP flow without WebSocket
 * data. The caller applies dumper_filter. */
void mitm_dump_format_message(const struct mitm_dump_style *st, const struct mitm_flow *f, size_t index,
                              struct mitm_buf *out);

/* The websocket_end hook's line: "WebSocket connection closed by client|server: <code> <reason>"
 * for codes 1000, 1001 and 1005, else in red "Error in WebSocket connection to <server>: WebSocket
 * Error: <NAME>[ (reason: <reason>)]" (NAME as wsproto's CloseReason, or UNKNOWN_ERROR=<code>). */
void mitm_dump_format_websocket_end(const struct mitm_dump_style *st, const struct mitm_flow *f,
                                    struct mitm_buf *out);

/* The tcp_error hook's line, in red: "Error in TCP connection to <server>: <error>" (nothing
 * without an error). */
void mitm_dump_format_tcp_error(const struct mitm_dump_style *st, const struct mitm_flow *f,
                                struct mitm_buf *out);

/* mitmproxy human.pretty_size: "6b", "1.2k", "34m". out has room for 16 bytes. */
void mitm_pretty_size(uint64_t size, char out[16]);

#endif
