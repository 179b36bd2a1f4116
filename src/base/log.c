#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static _Atomic int level = MITM_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *names[] = {"error", "warn", "info", "alert", "debug"};
static mitm_log_tap_fn tap; /* under lock */
static void *tap_arg;

void mitm_log_set_tap(mitm_log_tap_fn fn, void *arg)
{
    pthread_mutex_lock(&lock);
    tap = fn;
    tap_arg = arg;
    pthread_mutex_unlock(&lock);
}

void mitm_log_set_level(enum mitm_log_level lvl)
{
    atomic_store(&level, (int)lvl);
}

enum mitm_log_level mitm_log_get_level(void)
{
    return (enum mitm_log_level)atomic_load(&level);
}

int mitm_log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* "alert" sits between info and warn in mitmproxy; we print it whenever info is on. */
static int enabled(enum mitm_log_level lvl)
{
    int cur = atomic_load(&level);
    if (lvl == MITM_LOG_ALERT)
        return cur >= MITM_LOG_INFO;
    return (int)lvl <= cur;
}

void mitm_log(enum mitm_log_level lvl, const char *peer, const char *fmt, ...)
{
    if (!enabled(lvl))
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "[%02d:%02d:%02d.%03d]", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000));
    if (peer)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s]", peer);
    n += snprintf(line + n, sizeof(line) - (size_t)n, " ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    FILE *out = lvl == MITM_LOG_ERROR ? stderr : stdout;
    pthread_mutex_lock(&lock);
    if (tap) {
        tap(tap_arg, lvl, line, (unsigned long)n - 1);
    } else {
        fwrite(line, 1, (size_t)n, out);
        fflush(out);
    }
    pthread_mutex_unlock(&lock);
}

void mitm_log_raw(const char *text, unsigned long len)
{
    pthread_mutex_lock(&lock);
    if (tap) {
        while (len && text[len - 1] == '\n')
            len--;
        tap(tap_arg, MITM_LOG_INFO, text, len);
    } else {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    pthread_mutex_unlock(&lock);
}
