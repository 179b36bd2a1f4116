#include "cert/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "base/alloc.h"

void *mitm_cert_err(char *err, size_t errlen, const char *fmt, ...)
{
    unsigned long e = ERR_peek_last_error();
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (e) {
            size_t n = strlen(err);
            char reason[256];
            ERR_error_string_n(e, reason, sizeof(reason));
            snprintf(err + n, errlen - n, " (%s)", reason);
        }
    }
    ERR_clear_error();
    return NULL;
}

uint8_t *mitm_cert_read_file(const char *path, size_t cap, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mitm_cert_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
    uint8_t *buf = mitm_alloc(cap + 1);
    size_t n = fread(buf, 1, cap + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > cap) {
        free(buf);
        return mitm_cert_err(err, errlen, bad ? "cannot read %s" : "%s is larger than %zu bytes", path, cap);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mitm_cert_write_file(const char *path, const void *data, size_t len, int mode, int exclusive, char *err,
                         size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = mitm_alloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int rc = -1;
    int fd = mkstemp(tmp); /* created 0600: secrets are never readable, even briefly */
    if (fd < 0) {
        mitm_cert_err(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        mitm_cert_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        goto Exit;
    }
    if (close(fd) != 0) {
        mitm_cert_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto Exit;
    }
    if (exclusive) {
        if (link(tmp, path) == 0)
            rc = 0;
        else if (errno == EEXIST)
            rc = 1;
        else
            mitm_cert_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
    } else if (rename(tmp, path) == 0) {
        rc = 0;
        tmp[0] = 0; /* renamed away: nothing to unlink */
    } else {
        mitm_cert_err(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    }
Exit:
    if (tmp[0])
        unlink(tmp);
    free(tmp);
    return rc;
}

int mitm_cert_pem_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pass = u;
    if (!pass || size <= 0)
        return -1; /* encrypted key and no passphrase: fail instead of prompting */
    size_t n = strlen(pass);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pass, n);
    return (int)n;
}

int mitm_cert_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int ok = bn && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}
