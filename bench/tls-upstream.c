/* bench/tls-upstream: a small HTTPS/1.1 keep-alive server for the TLS benchmark. A fixed
 * pool of threads (-t, default 64) that each accept and serve one connection at a time
 * (blocking OpenSSL): no thread is created per connection, which would cost the server
 * more than a resumed handshake. A fixed 200 response with a small body; it answers
 * pipelined requests in order. Not for production: bounded buffers, no timeouts; more
 * simultaneous connections than threads wait in the listen queue. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static SSL_CTX *ctx;
static int listen_fd;
static const char resp[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, bench\n";

static void serve(int fd)
{
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    char buf[16384];
    size_t have = 0;
    if (SSL_accept(ssl) != 1)
        goto out;
    for (;;) {
        int n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - have));
        if (n <= 0)
            break;
        have += (size_t)n;
        char *end;
        /* answer every complete request head (GETs without bodies) */
        while ((end = memmem(buf, have, "\r\n\r\n", 4))) {
            size_t used = (size_t)(end + 4 - buf);
            if (SSL_write(ssl, resp, (int)sizeof(resp) - 1) <= 0)
                goto out;
            memmove(buf, buf + used, have - used);
            have -= used;
        }
        if (have == sizeof(buf))
            break; /* a head larger than our buffer: not a benchmark client */
    }
out:
    SSL_free(ssl);
    close(fd);
}

static void *accept_loop(void *arg)
{
    (void)arg;
    int one = 1;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        serve(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
    int port = 0, threads = 64, opt;
    while ((opt = getopt(argc, argv, "H:p:c:k:t:")) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-H host] [-p port] [-t threads] -c cert.pem -k key.pem\n", argv[0]);
            return 2;
        }
    }
    if (!cert || !key || threads < 1) {
        fprintf(stderr, "usage: %s [-H host] [-p port] [-t threads] -c cert.pem -k key.pem\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1024) < 0) {
        perror("bind");
        return 1;
    }
    listen_fd = ls;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, &at, accept_loop, NULL) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    pthread_attr_destroy(&at);
    socklen_t alen = sizeof(a);
    getsockname(ls, (struct sockaddr *)&a, &alen);
    printf("listening on %s:%d\n", host, ntohs(a.sin_port));
    fflush(stdout);
    for (;;)
        pause();
}
