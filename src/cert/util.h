/* Helpers shared by the cert module's files (internal; not for other modules). */
#ifndef MITM_CERT_UTIL_H
#define MITM_CERT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* Format a message into err (may be NULL), then append ": <OpenSSL reason>" when the
 * OpenSSL error queue holds one; the queue is cleared either way. Returns NULL so that
 * callers can `return mitm_cert_err(...)`. */
void *mitm_cert_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Read a whole file of at most cap bytes. Returns a malloc'd buffer (NUL-terminated,
 * *len set), or NULL with err set (cannot open, too big, read error). */
uint8_t *mitm_cert_read_file(const char *path, size_t cap, size_t *len, char *err, size_t errlen);

/* Write data to path atomically: a temporary file in the same directory with the given
 * mode, fsync, then rename over path (or, if exclusive, link(2), which fails with
 * EEXIST when path exists). Returns 0, 1 if exclusive and path already existed (nothing
 * written), or -1 with err set. */
int mitm_cert_write_file(const char *path, const void *data, size_t len, int mode, int exclusive, char *err,
                         size_t errlen);

/* Password callback for PEM readers: u is the NUL-terminated passphrase or NULL. Never
 * prompts on a terminal (OpenSSL's default callback would). */
int mitm_cert_pem_password_cb(char *buf, int size, int rwflag, void *u);

/* Give x a random positive serial of 159 bits. RFC 5280 §4.1.2.2 allows 20 octets; like
 * pyca's random_serial_number we keep the top bit clear so the INTEGER stays positive.
 * Returns 1, or 0 on failure. */
int mitm_cert_random_serial(X509 *x);

#endif
