/* Test helper for tests/e2e/test_netns_harness.py: a TCP server that tells each client where
 * the kernel says its connection was going, through the same mitm_orig_dst() and
 * mitm_orig_dst_is_self() that transparent mode uses.
 *
 *   origdst_echo HOST PORT     (HOST "::" listens dual-stack; PORT 0 picks a free port)
 *
 * Prints "listening at HOST:PORT" once, then per connection one line, to stdout and, after
 * reading the client's request head (or EOF, or 3 s), as the body of an HTTP/1.0 response:
 *   "orig_dst PEER -> DST local=LOCAL self=0|1"   or   "error PEER: <mitm_orig_dst's text>"
 * with addresses as "a.b.c.d:port" / "[v6]:port". SIGTERM or SIGINT: exits 0. One connection
 * at a time; every wait is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/orig_dst.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void fmt(char *out, size_t n, const struct mitm_platform_addr *a)
{
    snprintf(out, n, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a->host, a->port);
}

static int listen_on(const char *host, const char *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    int v6 = strchr(host, ':') != NULL, one = 1, zero = 0;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(port));
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -1;
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)atoi(port));
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return -1;
        sl = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6) /* dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d, the case SOL_IP must handle */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read until the end of a request head, EOF, 8 KiB or 3 s, so closing sends FIN, not RST. */
static void drain_head(int fd)
{
    char buf[8192];
    size_t have = 0;
    while (have < sizeof(buf) - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 3000) <= 0)
            return;
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            return;
        have += (size_t)r;
        buf[have] = 0;
        if (strstr(buf, "\r\n\r\n"))
            return;
    }
}

static void serve(int c)
{
    char line[512], err[256], peer[64] = "?", d[64], l[64];
    struct sockaddr_storage ps;
    socklen_t pl = sizeof(ps);
    struct mitm_platform_addr pa, dst, local;
    if (getpeername(c, (struct sockaddr *)&ps, &pl) == 0 &&
        mitm_platform_addr_from_sockaddr((struct sockaddr *)&ps, pl, &pa) == 0)
        fmt(peer, sizeof(peer), &pa);
    if (mitm_orig_dst(c, &dst, &local, err, sizeof(err)) == 0) {
        fmt(d, sizeof(d), &dst);
        fmt(l, sizeof(l), &local);
        snprintf(line, sizeof(line), "orig_dst %s -> %s local=%s self=%d", peer, d, l,
                 mitm_orig_dst_is_self(&dst, &local));
    } else {
        snprintf(line, sizeof(line), "error %s: %s", peer, err);
    }
    printf("%s\n", line);
    fflush(stdout);
    drain_head(c);
    char resp[1024];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     strlen(line) + 1, line);
    if (write(c, resp, (size_t)n) != n)
        fprintf(stderr, "origdst_echo: short write to %s\n", peer);
    shutdown(c, SHUT_WR);
    drain_head(c); /* until the client's FIN (bounded) */
    close(c);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int fd = listen_on(argv[1], argv[2]);
    if (fd < 0) {
        fprintf(stderr, "origdst_echo: cannot listen on %s port %s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct mitm_platform_addr me;
    char l[64];
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    mitm_platform_addr_from_sockaddr((struct sockaddr *)&ss, sl, &me);
    fmt(l, sizeof(l), &me);
    printf("listening at %s\n", l);
    fflush(stdout);
    while (!stop) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            serve(c);
    }
    close(fd);
    return 0;
}
