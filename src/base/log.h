/* Logging: one thread-safe sink for every thread. Lines look like mitmproxy's termlog:
 * "[HH:MM:SS.mmm][client] message". Errors go to stderr, everything else to stdout. */
#ifndef MITM_BASE_LOG_H
#define MITM_BASE_LOG_H

enum mitm_log_level {
    MITM_LOG_ERROR = 0,
    MITM_LOG_WARN,
    MITM_LOG_INFO,
    MITM_LOG_ALERT, /* mitmproxy's custom level INFO+1; we order it like theirs on output */
    MITM_LOG_DEBUG,
};

/* Set the highest level printed (default INFO). Thread-safe. */
void mitm_log_set_level(enum mitm_log_level lvl);
enum mitm_log_level mitm_log_get_level(void);

/* Parse "error|warn|info|alert|debug"; returns -1 on an unknown name. */
int mitm_log_level_parse(const char *name);

/* Print one line. peer may be NULL (no "[client]" part). Thread-safe: a line is
 * written with one call, never interleaved with another thread's. */
void mitm_log(enum mitm_log_level lvl, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a whole pre-formatted text block to stdout under the same lock (flow lines). */
void mitm_log_raw(const char *text, unsigned long len);

/* A tap takes every line instead of stdout and stderr (a full-screen UI keeps them in its
 * event log): it is called with the line (without its newline; raw blocks with level
 * INFO) under the log's lock, from whichever thread logs, so it must be quick and must not
 * log itself. NULL restores the terminal. */
typedef void (*mitm_log_tap_fn)(void *arg, enum mitm_log_level lvl, const char *line, unsigned long len);
void mitm_log_set_tap(mitm_log_tap_fn fn, void *arg);

#endif
