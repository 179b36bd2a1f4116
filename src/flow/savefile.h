/* `-w` / save_stream_file (mitmproxy addons/save.py): finished flows streamed to a flow
 * file as they complete.
 *
 * The spec is the option value: "+PATH" appends, "PATH" truncates when the file is opened;
 * a leading "~" is the home directory; strftime() patterns in PATH (local time) rotate the
 * file: before each write the pattern is formatted again, and when the name changes the
 * old file is closed and the new one opened (missing directories are created). A name
 * without patterns never changes, so a plain PATH is one file for the whole session.
 *
 * Durability: every record is handed to the kernel with one write(2) before the caller
 * lets the flow go on (the save addon writes in the response hook, before the client gets
 * the response's last byte), so a killed process (SIGKILL, a crash) loses no flow a client
 * saw complete: the page cache belongs to the kernel, not to the process.
 * Surviving a power loss also needs the bytes on the disk: with fsync_s > 0 the file is
 * fdatasync'ed at most fsync_s seconds after a record was written (mitm_savefile_tick,
 * called by the owner's timer, and on close or rotation); fsync_s = 0 leaves write-back
 * to the kernel (mitmproxy's behaviour; Linux writes dirty pages back within about 30 s).
 *
 * Thread-safe: the worker threads write (their hooks) while the main thread's timer ticks.
 * A mutex covers write, rotation, tick and count, so records never interleave (each is one
 * write(2) under the lock) and a rotation never closes a descriptor in use. The fdatasync
 * itself runs outside the lock on a dup()ed descriptor: a worker never waits for the disk,
 * only for another record's write(2); only a rotation, which syncs the old file before it
 * closes it, holds the lock for a sync. Open and close are for one thread, with no writer
 * running. */
#ifndef MITM_FLOW_SAVEFILE_H
#define MITM_FLOW_SAVEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mitm_savefile; /* opaque */

/* Open the file the spec names at time now (seconds since the epoch). Returns the writer,
 * or NULL with err = "PATH: REASON" if the path is empty or the file (or a missing
 * directory) cannot be created. Free with mitm_savefile_close. */
struct mitm_savefile *mitm_savefile_open(const char *spec, long fsync_s, double now, char *err,
                                         size_t errlen);

/* Append one flow-file record (rec[0..len), from mitm_flowfile_encode) at time now,
 * rotating first if the formatted name changed. The record reaches the kernel in one
 * write(2) (continued only after a short write). Returns 0, or -1 with err =
 * "Error while writing to PATH: REASON" (the caller decides whether to go on; mitmproxy
 * exits with status 1). */
int mitm_savefile_write(struct mitm_savefile *sf, const uint8_t *rec, size_t len, double now, char *err,
                        size_t errlen);

/* The same with the holes of mitm_flowfile_encode_holes filled from their body files (a
 * large body is copied file to file, never held in RAM). */
struct mitm_flowfile_hole;
int mitm_savefile_write_holes(struct mitm_savefile *sf, const uint8_t *rec, size_t len,
                              const struct mitm_flowfile_hole *holes, size_t n_holes, double now, char *err,
                              size_t errlen);

/* fdatasync the file if records were written since the last sync and fsync_s seconds have
 * passed since the first of them (or if force). Returns 0, or -1 with err set. */
int mitm_savefile_tick(struct mitm_savefile *sf, double now, bool force, char *err, size_t errlen);

/* The path of the file currently open (formatted, "~" expanded). Not locked: a rotation by
 * a concurrent write changes it, so read it only while no other thread writes. */
const char *mitm_savefile_path(const struct mitm_savefile *sf);

/* Records written (over all rotated files). */
uint64_t mitm_savefile_count(struct mitm_savefile *sf);

/* Sync (if fsync_s > 0 and records are pending) and close. Accepts NULL. */
void mitm_savefile_close(struct mitm_savefile *sf);

#endif
