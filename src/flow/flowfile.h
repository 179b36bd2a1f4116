/* mitmproxy flow files (reference §10): a concatenation of tnetstring dicts, one per
 * flow, each a Flow.get_state(). No header, no magic; EOF at a record boundary ends
 * the file. A file whose first byte (after an optional UTF-8 BOM) is '{' is HAR JSON.
 *
 * Reading migrates every version mitmproxy's compat.py migrates from 4 to 21 (the
 * field renames and moves of each step, done on the parsed tree), then converts the
 * version-21 dict into a struct mitm_flow. HTTP flows (with their WebSocket data) and TCP
 * flows are read; other types (udp, dns) are skipped with a warning. `backup` is not kept.
 *
 * The 11 -> 12 step merges the separate WebSocket flows of mitmproxy <= 6 into their handshake
 * flow as compat.py does: a reader remembers every version-11 handshake flow (metadata
 * "websocket") until the WebSocket flow naming it arrives, which is then loaded as a copy of the
 * handshake (same id) with flow.websocket set and metadata "duplicated"; the handshake flow is
 * loaded too. Without its handshake (not in the file, already used, or forgotten: at most 4096
 * copies and 64 MiB are kept) a WebSocket flow gets compat.py's stand-in handshake ("GET
 * http://unknown/"). mitm_flowfile_from_tns, having no reader, always uses the stand-in.
 *
 * Writing emits version 21 with mitmproxy's types (str vs bytes). */
#ifndef MITM_FLOW_FLOWFILE_H
#define MITM_FLOW_FLOWFILE_H

#include <stddef.h>

#include "base/buf.h"
#include "flow/flow-t.h"
#include "flow/tnetstring.h"

#define MITM_FLOWFILE_VERSION     21                /* FLOW_FORMAT_VERSION written and read natively */
#define MITM_FLOWFILE_OLDEST      4                 /* oldest integer version migrated */
#define MITM_FLOWFILE_DEFAULT_CAP ((size_t)1 << 30) /* default max bytes of one record */

/* Results of mitm_flowfile_next. */
enum {
    MITM_FLOWFILE_FLOW = 1,       /* *out holds a flow */
    MITM_FLOWFILE_EOF = 0,        /* clean end of file (also after TRUNCATED and HAR) */
    MITM_FLOWFILE_ERROR = -1,     /* a record could not be read; see err */
    MITM_FLOWFILE_TRUNCATED = -2, /* the file ends inside a record; see err */
    MITM_FLOWFILE_HAR = -3,       /* the file is HAR JSON, not tnetstring: hand it to the HAR reader */
};

struct mitm_flowfile_reader;

/* A reader on fd (a file, pipe or socket), reading from its current position. The
 * caller keeps ownership of fd (close it after mitm_flowfile_close). Never NULL. */
struct mitm_flowfile_reader *mitm_flowfile_open(int fd);

/* A reader over len bytes at p (borrowed: they must outlive the reader). Never NULL. */
struct mitm_flowfile_reader *mitm_flowfile_open_mem(const void *p, size_t len);

/* Largest record accepted (default MITM_FLOWFILE_DEFAULT_CAP); a record declaring more is
 * an error before any of it is read. */
void mitm_flowfile_set_max_record(struct mitm_flowfile_reader *r, size_t max);

/* Read the next flow.
 * Returns MITM_FLOWFILE_FLOW and sets *out to a new flow (refs = 1, the caller owns it);
 * MITM_FLOWFILE_EOF at a clean end; MITM_FLOWFILE_HAR (first call only) if the input is
 * HAR (an fd reader has read up to 64 KiB by then: seek fd back to where reading began,
 * or reopen the file, before handing it to the HAR reader); MITM_FLOWFILE_TRUNCATED if
 * the input ends inside a record, with err = "file truncated at byte N: the last record
 * is incomplete; K flows were read" (N = bytes in the file; every complete
 * record was returned before; later calls return EOF); MITM_FLOWFILE_ERROR with a
 * message naming the byte offset of the record, when:
 *   - the bytes are not a tnetstring dict, or a cap is exceeded, or read(2) failed:
 *     fatal, every later call returns the same error;
 *   - the record is well-formed but not a flow we can load (a field of the wrong type,
 *     a version older than 4 or newer than 21: "flow file version N is newer than this
 *     mitmc supports"): the reader has moved past it and the next call continues.
 * Skipped flow types are logged (mitm_log WARN) and counted, never returned.
 * err (errlen bytes, may be NULL/0) is always NUL-terminated when errlen > 0. */
int mitm_flowfile_next(struct mitm_flowfile_reader *r, struct mitm_flow **out, char *err, size_t errlen);

/* Byte offset just past the last record consumed (complete records only): truncating
 * a damaged file to this length keeps every complete flow. */
size_t mitm_flowfile_offset(const struct mitm_flowfile_reader *r);
/* Flows returned so far, and records skipped (unsupported flow types). */
size_t mitm_flowfile_count(const struct mitm_flowfile_reader *r);
size_t mitm_flowfile_skipped(const struct mitm_flowfile_reader *r);

/* Free the reader (not its fd). Accepts NULL. */
void mitm_flowfile_close(struct mitm_flowfile_reader *r);

/* Convert one parsed record (any supported version; migrated in place, so rec is
 * modified) into a flow. Returns 1 and sets *out (caller owns it), 0 if the flow type is
 * skipped (err says why), -1 on error (err says which field). The flow copies every
 * byte it keeps; rec may be freed afterwards. */
int mitm_flowfile_from_tns(struct mitm_tns *rec, struct mitm_flow **out, char *err, size_t errlen);

/* Build the version-21 state dict of f. The tree borrows f's strings and bodies: free it
 * (mitm_tns_free) before f changes. Returns NULL (err set) if a metadata value is not a
 * valid tnetstring. */
struct mitm_tns *mitm_flowfile_to_tns(const struct mitm_flow *f, char *err, size_t errlen);

/* The flow-file versions mitmc writes: 21 (mitmproxy 10 and later, the default) and 17 (what
 * mitmproxy 8 and 9 write and read, Debian 12's mitmproxy 8.1.1 among them; later versions
 * read it too, migrating it). 17 differs in the connections only: the old key names
 * (address, ip_address, source_address, cipher_name, via2), a "state" (0, closed), no
 * proxy_mode or transport_protocol: a flow written as 17 reads back with proxy_mode
 * "regular", as mitmproxy's own migration says. */
#define MITM_FLOWFILE_VERSION_OLD 17

/* The version the save_flow_format option names ("17", else the default). */
static inline int mitm_flowfile_version_for(const char *save_flow_format)
{
    return save_flow_format && save_flow_format[0] == '1' && save_flow_format[1] == '7' &&
                   !save_flow_format[2]
               ? MITM_FLOWFILE_VERSION_OLD
               : MITM_FLOWFILE_VERSION;
}

/* mitm_flowfile_encode in a given version (MITM_FLOWFILE_VERSION or _OLD; anything else is
 * an error). */
int mitm_flowfile_encode_version(const struct mitm_flow *f, int version, struct mitm_buf *out, char *err,
                                 size_t errlen);

/* A file-backed body (flow/bodyfile.h) left out of a record: its len bytes, at offset off
 * of fd, belong at offset at of the record as written to out (which lacks them). */
struct mitm_flowfile_hole {
    size_t at;
    int fd;
    uint64_t off;
    uint64_t len;
};
#define MITM_FLOWFILE_MAX_HOLES 2           /* the request's and the response's content */
#define MITM_FLOWFILE_HOLE_MIN  (64 * 1024) /* smaller file-backed bodies are copied in */

/* mitm_flowfile_encode, with every file-backed body of at least MITM_FLOWFILE_HOLE_MIN bytes
 * left as a hole for mitm_flowfile_write_holes: the writers of -w and the store record a
 * body of any size without a copy of it in RAM. */
int mitm_flowfile_encode_holes(const struct mitm_flow *f, struct mitm_buf *out,
                               struct mitm_flowfile_hole holes[MITM_FLOWFILE_MAX_HOLES], size_t *n_holes,
                               char *err, size_t errlen);

/* Write the record rec[0..len) with its holes filled from their files to fd: at *pos with
 * pwrite (advanced), or pos NULL at the file's offset. Returns 0, or -1 with err set (the
 * reason only; part of the record may be written). */
int mitm_flowfile_write_holes(int fd, uint64_t *pos, const uint8_t *rec, size_t len,
                              const struct mitm_flowfile_hole *holes, size_t n_holes, char *err,
                              size_t errlen);

/* Append the version-21 record of f to out. Returns 0, or -1 (err set; out may hold a
 * partial record the caller drops) if out's cap is hit or metadata is invalid. */
int mitm_flowfile_encode(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen);

/* A deep copy of f that stays valid while f goes on (made through its flow-file record, so it
 * holds what a saved flow holds). last_message: of f's WebSocket messages only the last one is
 * copied (what a websocket_message consumer on another thread reads). NULL if f cannot be
 * encoded (invalid metadata). */
struct mitm_flow *mitm_flowfile_snapshot(const struct mitm_flow *f, bool last_message);

/* Append the record of f to fd. The record is built in memory first and handed to the
 * kernel with a single write(2), so a process killed (even by SIGKILL) after the call
 * returns has the whole record in the file, and one killed before it has none of it:
 * flows completed before a crash are never left half-written. (A short write, e.g. a
 * full disk, is continued with further calls and then reported if it still fails; open
 * fd with O_APPEND when several writers share a file.) Returns 0, or -1 with err set. */
int mitm_flowfile_write(int fd, const struct mitm_flow *f, char *err, size_t errlen);

#endif
