/* Original destination (src/platform/): address text and loop detection, which are pure, and
 * the kernel lookup's error paths on sockets that no nat rule touched. The redirected cases
 * need iptables in a network namespace: tests/e2e/test_netns_harness.py. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform/orig_dst.h"

static struct mitm_platform_addr v4(const char *ip, uint16_t port)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
    cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1);
    struct mitm_platform_addr a;
    cr_assert_eq(mitm_platform_addr_from_sockaddr((struct sockaddr *)&s, sizeof(s), &a), 0);
    return a;
}

static struct mitm_platform_addr v6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
    struct mitm_platform_addr a;
    cr_assert_eq(mitm_platform_addr_from_sockaddr((struct sockaddr *)&s, sizeof(s), &a), 0);
    return a;
}

Test(platform_addr, text_and_family)
{
    struct mitm_platform_addr a = v4("10.0.0.2", 80);
    cr_assert_eq(a.family, AF_INET);
    cr_assert_str_eq(a.host, "10.0.0.2");
    cr_assert_eq(a.port, 80);
    a = v6("fd00:0:0::0002", 443);
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_str_eq(a.host, "fd00::2", "canonical inet_ntop text, no brackets");
    cr_assert_eq(a.port, 443);
    a = v6("::ffff:192.0.2.7", 8080);
    cr_assert_eq(a.family, AF_INET, "a mapped address is the IPv4 address it maps");
    cr_assert_str_eq(a.host, "192.0.2.7");
    cr_assert_eq(memcmp(a.raw, "\xc0\x00\x02\x07", 4), 0);
}

Test(platform_addr, other_families_and_short_lengths)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "/tmp/x"};
    struct mitm_platform_addr a = {.port = 7};
    cr_assert_eq(mitm_platform_addr_from_sockaddr((struct sockaddr *)&s, sizeof(s) - 1, &a), -1);
    cr_assert_eq(mitm_platform_addr_from_sockaddr((struct sockaddr *)&u, sizeof(u), &a), -1);
    cr_assert_eq(a.port, 7, "untouched on failure");
}

Test(orig_dst_is_self, redirected_is_not_self)
{
    /* REDIRECT: the client went to 10.0.0.2:80 (or a remote address), the socket is on :8080 */
    cr_assert_not(
        mitm_orig_dst_is_self(&(struct mitm_platform_addr){0}, &(struct mitm_platform_addr){.port = 1}));
    struct mitm_platform_addr local = v4("10.0.0.2", 8080);
    cr_assert_not(mitm_orig_dst_is_self(&(struct mitm_platform_addr){0}, &local));
    struct mitm_platform_addr d = v4("10.0.0.2", 80);
    cr_assert_not(mitm_orig_dst_is_self(&d, &local));
    d = v4("203.0.113.9", 8080);
    cr_assert_not(mitm_orig_dst_is_self(&d, &local), "another host's 8080 is not us");
    struct mitm_platform_addr l6 = v6("fd00::2", 8080);
    d = v6("2001:db8::9", 8080);
    cr_assert_not(mitm_orig_dst_is_self(&d, &l6));
    d = v6("fd00::2", 80);
    cr_assert_not(mitm_orig_dst_is_self(&d, &l6));
}

Test(orig_dst_is_self, direct_connections_are_self)
{
    struct mitm_platform_addr local = v4("10.0.0.2", 8080), d = v4("10.0.0.2", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &local));
    d = v4("127.0.0.1", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &local), "loopback on our port loops back to us");
    d = v4("127.1.2.3", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &local));
    d = v4("0.0.0.0", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &local));
    struct mitm_platform_addr l6 = v6("fd00::2", 8080);
    d = v6("fd00::2", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &l6));
    d = v6("::1", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &l6));
    d = v6("::", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &l6));
    /* a dual-stack socket's mapped local address against the IPv4 original destination */
    struct mitm_platform_addr mapped = v6("::ffff:10.0.0.2", 8080);
    d = v4("10.0.0.2", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &mapped));
    d = v6("::ffff:10.0.0.2", 8080);
    cr_assert(mitm_orig_dst_is_self(&d, &local));
}

Test(orig_dst, not_a_socket_or_not_inet)
{
    char err[256];
    struct mitm_platform_addr d, l;
    cr_assert_eq(mitm_orig_dst(-1, &d, &l, err, sizeof(err)), -1);
#ifdef __linux__
    cr_assert_str_eq(err, "getsockname failed: Bad file descriptor");
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(mitm_orig_dst(sv[0], &d, NULL, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "getsockname failed: not an IPv4 or IPv6 socket");
    close(sv[0]);
    close(sv[1]);
#else
    cr_assert_str_eq(err, "transparent mode is not supported on this platform");
#endif
}

/* A loopback connection nobody redirected: without conntrack in this namespace the lookup
 * fails with ENOENT and says why; with it, the answer is the listener itself. */
static void loopback(int family)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        sl = sizeof(*s);
    }
    int lfd = socket(family, SOCK_STREAM, 0);
    cr_assert_geq(lfd, 0);
    if (bind(lfd, (struct sockaddr *)&ss, sl) != 0) {
        cr_assert_eq(family, AF_INET6, "IPv4 loopback must be there");
        close(lfd);
        cr_log_warn("no IPv6 loopback here: %s", strerror(errno));
        return;
    }
    cr_assert_eq(listen(lfd, 1), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&ss, &sl), 0);
    int c = socket(family, SOCK_STREAM, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&ss, sl), 0);
    int a = accept(lfd, NULL, NULL);
    cr_assert_geq(a, 0);
    char err[256];
    struct mitm_platform_addr d, l;
    if (mitm_orig_dst(a, &d, &l, err, sizeof(err)) == 0) {
        cr_assert(mitm_orig_dst_is_self(&d, &l), "%s:%u vs %s:%u", d.host, d.port, l.host, l.port);
        cr_assert_eq(d.family, family);
    } else {
#ifdef __linux__
        cr_assert(strstr(err, "No such file or directory (no connection-tracking entry"), "%s", err);
        cr_assert(strstr(err, family == AF_INET ? "(SO_ORIGINAL_DST)" : "(IP6T_SO_ORIGINAL_DST)"), "%s", err);
#endif
    }
    close(a);
    close(c);
    close(lfd);
}

Test(orig_dst, loopback_ipv4_not_redirected)
{
    loopback(AF_INET);
}

Test(orig_dst, loopback_ipv6_not_redirected)
{
    loopback(AF_INET6);
}
