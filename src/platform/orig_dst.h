/* Original destination of a transparently redirected connection (DESIGN §4: src/platform/).
 *
 * Transparent mode accepts connections that the kernel redirected to the proxy's port, e.g.
 *   iptables  -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-port 8080
 *   ip6tables -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-port 8080
 * and asks the kernel where each connection was going (docs/internals/transparent.md).
 * On Linux that is netfilter's connection tracking, read with getsockopt(SO_ORIGINAL_DST)
 * (IPv4) or getsockopt(IP6T_SO_ORIGINAL_DST) (IPv6). Other platforms (BSD/macOS pf) come
 * later; until then mitm_orig_dst() fails there with "not supported on this platform".
 *
 * This module takes a plain socket fd and uses no libuv: the io driver gets the fd of an
 * accepted connection (uv_fileno) and passes it here before the mode layer starts. */
#ifndef MITM_PLATFORM_ORIG_DST_H
#define MITM_PLATFORM_ORIG_DST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A socket address as numeric text. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
 * dual-stack listener sees for an IPv4 client) is stored as the IPv4 address it maps. */
struct mitm_platform_addr {
    int family;      /* AF_INET or AF_INET6 */
    char host[46];   /* INET6_ADDRSTRLEN: dotted IPv4 or IPv6 text without brackets, NUL-terminated */
    uint16_t port;   /* host order */
    uint8_t raw[16]; /* the address bytes (4 for AF_INET), network order, for comparisons */
};

/* Fill *out from sa (AF_INET or AF_INET6, len bytes; a mapped IPv6 address becomes AF_INET).
 * Returns 0, or -1 for another family or a short len (*out untouched). Pure. */
int mitm_platform_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                                     struct mitm_platform_addr *out);

/* The original destination of the accepted TCP connection fd, as the kernel's NAT saw it
 * before REDIRECT/DNAT rewrote it. The IPv4 lookup (SOL_IP) is used when the socket's local
 * address is IPv4 or IPv4-mapped, the IPv6 one (SOL_IPV6) otherwise: the socket family alone
 * does not tell (a dual-stack AF_INET6 socket carries IPv4 connections). local, if not NULL,
 * receives the socket's own address (getsockname), for mitm_orig_dst_is_self().
 *
 * Returns 0 with *dst (and *local) filled, or -1 with err (NUL-terminated, cut to errlen) set to
 *   "getsockname failed: <strerror>" (fd is not a connected socket),
 *   "getsockopt(SO_ORIGINAL_DST) failed: <strerror>" (or IP6T_SO_ORIGINAL_DST), with a hint for
 *     ENOENT: there is no connection-tracking entry (nothing redirected the connection, or
 *     conntrack is not active in this network namespace: no nat rule was ever loaded there),
 *   "transparent mode is not supported on this platform" (every platform but Linux for now).
 * A connection that reached the listener directly, with conntrack active, succeeds with the
 * listener's own address: check it with mitm_orig_dst_is_self(). */
int mitm_orig_dst(int fd, struct mitm_platform_addr *dst, struct mitm_platform_addr *local, char *err,
                  size_t errlen);

/* True when dst is the proxy itself, i.e. the connection was not redirected (a client that
 * connected straight to the transparent port) or was redirected from the proxy's own port:
 * dst has local's port and local's address, a loopback address (127.0.0.0/8, ::1) or the
 * unspecified address (0.0.0.0, ::). Connecting there would loop back into the proxy, so the
 * mode layer refuses the connection instead (mitmproxy's proxyserver refuses the same targets
 * with "Request destination unknown. Unable to figure out where this request should be forwarded
 * to."). local is the accepted socket's address (mitm_orig_dst's local). Pure. */
bool mitm_orig_dst_is_self(const struct mitm_platform_addr *dst, const struct mitm_platform_addr *local);

#endif
