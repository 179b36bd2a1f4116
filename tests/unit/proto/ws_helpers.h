/* Shared by the WebSocket codec tests: run a parser over an input and describe what it reported
 * as one canonical text, so that any split of the input can be compared with any other. */
#ifndef MITM_TESTS_WS_HELPERS_H
#define MITM_TESTS_WS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/ws/ws.h"

struct ws_conf {
    bool from_client;
    const struct mitm_ws_limits *lim; /* NULL = defaults */
    const struct mitm_ws_pmd *pmd;    /* NULL = no permessage-deflate */
};

/* The transcript of parsing in[0..len) fed in pieces: first split bytes, then the rest; split
 * = SIZE_MAX feeds one byte per call. Data of consecutive DATA events is merged up to the
 * FRAME_END, so every split gives the same text:
 *   "T<op>[z]:<escaped payload>|" per data frame that ended without FIN, "T<op>[z]:<...>$" with FIN
 *   "C<op>:<escaped payload>|" per control frame, "C8:<code>:<reason>|" for Close
 *   "E<code>:<reason>" once on error (the transcript ends there)
 * Every call is also checked: DATA non-empty and at most MITM_WS_CHUNK bytes when it does not
 * point into the input, consumed <= fed, NONE only with everything consumed, errors sticky.
 * out must be initialised; the text is appended. */
void ws_transcript(const struct ws_conf *c, const uint8_t *in, size_t len, size_t split,
                   struct mitm_buf *out);

/* ws_transcript for every split 0..len and one byte at a time; all must equal the whole-input
 * transcript, which is returned as a NUL-terminated string (caller frees). */
char *ws_transcript_all_splits(const struct ws_conf *c, const uint8_t *in, size_t len);

/* Hex to bytes: "81 05 48" (spaces ignored); returns a new buffer (caller frees) and *len. */
uint8_t *ws_hex(const char *hex, size_t *len);

#endif
