/* Original destination where we have no lookup yet (BSD/macOS pf, OpenBSD divert-to and
 * Windows come later, as in mitmproxy/platform/): transparent mode reports it cannot work. */
#include "platform/orig_dst.h"
#include "base/err.h"

int mitm_orig_dst(int fd, struct mitm_platform_addr *dst, struct mitm_platform_addr *local, char *err,
                  size_t errlen)
{
    (void)fd;
    (void)dst;
    (void)local;
    mitm_errf(err, errlen, "transparent mode is not supported on this platform");
    return -1;
}
