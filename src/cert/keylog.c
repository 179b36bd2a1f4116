#include "cert/keylog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

/* Process-wide, because the file is: one handle, one lock, shared by every SSL_CTX. */
static pthread_mutex_t keylog_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *keylog_file;
static bool keylog_failed; /* reported once; not retried until mitm_keylog_close */

static const char *keylog_path(void)
{
    const char *p = getenv("MITMPROXY_SSLKEYLOGFILE");
    if (!p || !*p)
        p = getenv("SSLKEYLOGFILE");
    return p && *p ? p : NULL;
}

static FILE *open_locked(void)
{
    if (keylog_file || keylog_failed)
        return keylog_file;
    const char *path = keylog_path();
    if (!path)
        return NULL;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    keylog_file = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!keylog_file) {
        mitm_log(MITM_LOG_WARN, NULL, "cannot open TLS key log file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        keylog_failed = true;
        return NULL;
    }
    setvbuf(keylog_file, NULL, _IOLBF, 0);
    return keylog_file;
}

static void keylog_cb(const SSL *ssl, const char *line)
{
    (void)ssl;
    pthread_mutex_lock(&keylog_lock);
    FILE *f = open_locked();
    if (f) {
        fputs(line, f);
        fputc('\n', f); /* OpenSSL hands us the line without its newline */
    }
    pthread_mutex_unlock(&keylog_lock);
}

int mitm_keylog_attach(SSL_CTX *ctx)
{
    if (!keylog_path())
        return 0;
    SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    return 1;
}

void mitm_keylog_close(void)
{
    pthread_mutex_lock(&keylog_lock);
    if (keylog_file)
        fclose(keylog_file);
    keylog_file = NULL;
    keylog_failed = false;
    pthread_mutex_unlock(&keylog_lock);
}
