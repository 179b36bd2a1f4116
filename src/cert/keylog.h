/* TLS key logging for Wireshark & co (NSS key log format), as mitmproxy does when
 * MITMPROXY_SSLKEYLOGFILE or SSLKEYLOGFILE is set. */
#ifndef MITM_CERT_KEYLOG_H
#define MITM_CERT_KEYLOG_H

#include <openssl/ssl.h>

/* If env MITMPROXY_SSLKEYLOGFILE (preferred) or SSLKEYLOGFILE names a file, install a
 * keylog callback on ctx that appends one NSS key-log line per secret to that file.
 * The file is opened once per process, lazily on the first secret, in append mode with
 * mode 0600 (the lines decrypt traffic); lines from all threads go through one mutex
 * and are flushed line by line, so a crash loses none. Returns 1 if the callback was
 * installed, 0 when neither variable is set (nothing done). A file that cannot be
 * opened is reported once in the log; the connections themselves are unaffected. */
int mitm_keylog_attach(SSL_CTX *ctx);

/* Close the key-log file (tests, shutdown). A later secret reopens it. Thread-safe. */
void mitm_keylog_close(void);

#endif
