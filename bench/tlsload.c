/* bench/tlsload: HTTPS (or, with -P, plain HTTP) load through an explicit proxy (CONNECT),
 * a SOCKS5 proxy (-5), or directly.
 *   -m new        every request on a new connection: TCP + CONNECT + TLS handshake + GET
 *   -m keepalive  one connection per thread, GETs back to back
 * Threads (-c) run blocking clients for -d seconds; prints one parseable line:
 *   BENCH requests=N handshakes=H errors=E duration_us=D
 * Certificates are verified against -C CAFILE (the proxy's CA, or the test CA direct). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static SSL_CTX *ctx;
static struct sockaddr_in addr; /* where we connect: the proxy, or the target directly */
static bool via_proxy, socks5, plain;
static char target[300], sni[256];
static bool keepalive;
static double deadline;
static atomic_long requests, handshakes, errors;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_head(int fd, SSL *ssl, char *buf, size_t cap)
{
    size_t have = 0;
    while (have < cap - 1) {
        int n = ssl ? SSL_read(ssl, buf + have, (int)(cap - 1 - have))
                    : (int)read(fd, buf + have, cap - 1 - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            int ok = strncmp(buf + 8, " 200", 4) == 0;
            /* our upstream sends Content-Length bodies; read them whole */
            char *cl = strstr(buf, "Content-Length: ");
            size_t body = cl ? (size_t)atoi(cl + 16) : 0, got = have - (size_t)(end + 4 - buf);
            while (got < body) {
                n = ssl ? SSL_read(ssl, buf, (int)(cap - 1)) : (int)read(fd, buf, cap - 1);
                if (n <= 0)
                    return -1;
                got += (size_t)n;
            }
            return ok ? 0 : -1;
        }
    }
    return -1;
}

/* RFC 1928 CONNECT to target (an IPv4 host:port) without authentication. */
static int socks5_connect(int fd)
{
    unsigned char b[10] = {5, 1, 0};
    if (write(fd, b, 3) != 3 || read(fd, b, 2) != 2 || b[0] != 5 || b[1] != 0)
        return -1;
    char host[300];
    snprintf(host, sizeof(host), "%s", target);
    char *colon = strrchr(host, ':');
    if (!colon)
        return -1;
    *colon = 0;
    uint16_t port = htons((uint16_t)atoi(colon + 1));
    unsigned char req[10] = {5, 1, 0, 1};
    if (inet_pton(AF_INET, host, req + 4) != 1)
        return -1;
    memcpy(req + 8, &port, 2);
    size_t got = 0;
    if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req))
        return -1;
    while (got < sizeof(b)) {
        ssize_t n = read(fd, b + got, sizeof(b) - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return b[1] == 0 ? 0 : -1;
}

/* A connection ready for GETs: *sslp NULL with -P. Returns 0 or -1. */
static int open_conn(int *fdp, SSL **sslp)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    char buf[4096];
    if (via_proxy && socks5) {
        if (socks5_connect(fd) < 0) {
            close(fd);
            return -1;
        }
    } else if (via_proxy) {
        int n = snprintf(buf, sizeof(buf), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
        if (write(fd, buf, (size_t)n) != n || read_head(fd, NULL, buf, sizeof(buf)) < 0) {
            close(fd);
            return -1;
        }
    }
    *fdp = fd;
    *sslp = NULL;
    if (plain)
        return 0;
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    SSL_set1_host(ssl, sni);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    atomic_fetch_add(&handshakes, 1);
    *sslp = ssl;
    return 0;
}

static void close_conn(int fd, SSL *ssl, bool clean)
{
    if (ssl && clean)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
}

static void *run(void *arg)
{
    (void)arg;
    char req[512], buf[16384];
    int rn = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", sni);
    SSL *ssl = NULL;
    int fd = -1;
    while (now() < deadline) {
        if (fd < 0 && open_conn(&fd, &ssl) < 0) {
            fd = -1;
            atomic_fetch_add(&errors, 1);
            continue;
        }
        int w = ssl ? SSL_write(ssl, req, rn) : (int)write(fd, req, (size_t)rn);
        if (w != rn || read_head(fd, ssl, buf, sizeof(buf)) < 0) {
            atomic_fetch_add(&errors, 1);
            close_conn(fd, ssl, false);
            fd = -1;
            ssl = NULL;
            continue;
        }
        atomic_fetch_add(&requests, 1);
        if (!keepalive) {
            close_conn(fd, ssl, true);
            fd = -1;
            ssl = NULL;
        }
    }
    if (fd >= 0)
        close_conn(fd, ssl, false);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *proxy = NULL, *cafile = NULL, *mode = "keepalive";
    int conns = 8, opt;
    double duration = 10;
    while ((opt = getopt(argc, argv, "x:t:s:C:m:c:d:5P")) != -1) {
        switch (opt) {
        case 'x':
            proxy = optarg;
            break;
        case 't':
            snprintf(target, sizeof(target), "%s", optarg);
            break;
        case 's':
            snprintf(sni, sizeof(sni), "%s", optarg);
            break;
        case 'C':
            cafile = optarg;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'c':
            conns = atoi(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case '5':
            socks5 = true;
            break;
        case 'P':
            plain = true;
            break;
        default:
            fprintf(
                stderr,
                "usage: %s [-x proxyhost:port [-5]] [-P] -t host:port -s sni -C ca.pem [-m new|keepalive] "
                "[-c N] [-d s]\n",
                argv[0]);
            return 2;
        }
    }
    if (!target[0] || !sni[0] || (!cafile && !plain) || conns < 1 || conns > 256) {
        fprintf(stderr, "tlsload: -t, -s and -C are required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    keepalive = strcmp(mode, "keepalive") == 0;
    via_proxy = proxy != NULL;
    const char *hp = proxy ? proxy : target;
    char host[320];
    snprintf(host, sizeof(host), "%s", hp);
    char *colon = strrchr(host, ':');
    if (!colon)
        return 2;
    *colon = 0;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "tlsload: %s: need an IPv4 address\n", host);
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!plain && SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* full handshakes: the cost we measure */
    double t0 = now();
    deadline = t0 + duration;
    pthread_t th[256];
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, run, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    printf("BENCH requests=%ld handshakes=%ld errors=%ld duration_us=%ld\n", atomic_load(&requests),
           atomic_load(&handshakes), atomic_load(&errors), (long)((now() - t0) * 1e6));
    SSL_CTX_free(ctx);
    return 0;
}
