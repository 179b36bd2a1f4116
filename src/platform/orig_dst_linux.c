/* Original destination on Linux: netfilter connection tracking through SO_ORIGINAL_DST. */
#include "platform/orig_dst.h"
#include "base/err.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <linux/netfilter_ipv4.h>            /* SO_ORIGINAL_DST */
#include <linux/netfilter_ipv6/ip6_tables.h> /* IP6T_SO_ORIGINAL_DST */

static void lookup_error(char *err, size_t errlen, const char *opt, int e)
{
    /* ENOENT is what the kernel answers when conntrack has no entry for the socket. */
    mitm_errf(err, errlen, "getsockopt(%s) failed: %s%s", opt, strerror(e),
              e == ENOENT ? " (no connection-tracking entry: nothing redirected this connection, "
                            "or conntrack is not active in this network namespace)"
                          : "");
}

int mitm_orig_dst(int fd, struct mitm_platform_addr *dst, struct mitm_platform_addr *local, char *err,
                  size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct mitm_platform_addr me;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        mitm_errf(err, errlen, "getsockname failed: %s", strerror(errno));
        return -1;
    }
    if (mitm_platform_addr_from_sockaddr((struct sockaddr *)&ss, sl, &me) != 0) {
        mitm_errf(err, errlen, "getsockname failed: not an IPv4 or IPv6 socket");
        return -1;
    }
    /* Decide by the local address, not the socket family: an IPv4 connection on a dual-stack
     * socket (local ::ffff:a.b.c.d) is tracked as IPv4 and only SOL_IP knows it. */
    struct sockaddr_storage od;
    socklen_t ol;
    memset(&od, 0, sizeof(od));
    if (me.family == AF_INET) {
        ol = sizeof(struct sockaddr_in);
        if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &od, &ol) != 0) {
            lookup_error(err, errlen, "SO_ORIGINAL_DST", errno);
            return -1;
        }
    } else {
        ol = sizeof(struct sockaddr_in6);
        if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &od, &ol) != 0) {
            lookup_error(err, errlen, "IP6T_SO_ORIGINAL_DST", errno);
            return -1;
        }
    }
    if (mitm_platform_addr_from_sockaddr((struct sockaddr *)&od, ol, dst) != 0) {
        mitm_errf(err, errlen, "getsockopt(SO_ORIGINAL_DST) returned an unknown address family %d",
                  ((struct sockaddr *)&od)->sa_family);
        return -1;
    }
    if (local)
        *local = me;
    return 0;
}
