/* Original destination: the platform-independent part (address text, loop detection). The
 * kernel lookup is in orig_dst_linux.c, or orig_dst_stub.c elsewhere. */
#include "platform/orig_dst.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

int mitm_platform_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct mitm_platform_addr *out)
{
    struct mitm_platform_addr a = {0};
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a.family = AF_INET;
        memcpy(a.raw, &s4->sin_addr, 4);
        a.port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a.port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            a.family = AF_INET;
            memcpy(a.raw, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            a.family = AF_INET6;
            memcpy(a.raw, &s6->sin6_addr, 16);
        }
    } else {
        return -1;
    }
    /* Cannot fail: a valid family and a buffer of INET6_ADDRSTRLEN. */
    inet_ntop(a.family, a.raw, a.host, sizeof(a.host));
    *out = a;
    return 0;
}

static bool is_loopback_or_any(const struct mitm_platform_addr *a)
{
    static const uint8_t zero[16], one6[16] = {[15] = 1};
    if (a->family == AF_INET)
        return a->raw[0] == 127 || memcmp(a->raw, zero, 4) == 0;
    return memcmp(a->raw, zero, 16) == 0 || memcmp(a->raw, one6, 16) == 0;
}

bool mitm_orig_dst_is_self(const struct mitm_platform_addr *dst, const struct mitm_platform_addr *local)
{
    if (dst->port != local->port)
        return false;
    if (is_loopback_or_any(dst))
        return true;
    size_t n = dst->family == AF_INET ? 4 : 16;
    return dst->family == local->family && memcmp(dst->raw, local->raw, n) == 0;
}
