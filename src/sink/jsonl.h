/* The JSON Lines over HTTP(S) store of the flow sinks (libcurl): each batch is one POST of
 * one JSON object per flow and line (the shape is in docs/internals/sinks.md). */
#ifndef MITM_SINK_JSONL_H
#define MITM_SINK_JSONL_H

#include <stdbool.h>

#include "sink/sink.h"

/* Is uri a JSON Lines sink (jsonl+http://, jsonl+https://)? */
bool mitm_sink_jsonl_is_uri(const char *uri);

/* Its vtable; mitm_sink_jsonl_new(uri) makes its state (uri with "jsonl+" removed is the
 * target). Never NULL. */
extern const struct mitm_sink_vt mitm_sink_jsonl_vt;
void *mitm_sink_jsonl_new(const char *uri);

/* Append the JSON object of one flow (no newline) to out (tests). */
struct mitm_buf;
void mitm_sink_jsonl_flow(const char *instance, const struct mitm_flow *f, struct mitm_buf *out);

#endif
