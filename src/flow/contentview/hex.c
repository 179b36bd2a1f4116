/* The hex dump view (mitmproxy's hex.py). */
#include "flow/contentview/contentview-int.h"

#include <stdio.h>
#include <string.h>

/* strutils.hexdump: offset, 16 bytes in hex padded to 47 columns, the ASCII with '.' for the rest. */
static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    for (size_t i = 0; i < n && !mitm_cv_full(r); i += 16) {
        char off[24], hex[64], asc[17];
        snprintf(off, sizeof(off), "%010zx ", i);
        size_t k = n - i < 16 ? n - i : 16, hl = 0;
        for (size_t j = 0; j < k; j++) {
            hl += (size_t)snprintf(hex + hl, sizeof(hex) - hl, j ? " %02x" : "%02x", d[i + j]);
            asc[j] = d[i + j] >= 0x20 && d[i + j] < 0x7f ? (char)d[i + j] : '.';
        }
        while (hl < 47)
            hex[hl++] = ' ';
        memcpy(hex + hl, "   ", 4);
        mitm_cv_put(r, MITM_CV_OFFSET, off, strlen(off));
        mitm_cv_put(r, MITM_CV_TEXT, hex, hl + 3);
        mitm_cv_put(r, MITM_CV_TEXT, asc, k);
        mitm_cv_endline(r);
    }
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)t, (void)m;
    return mitm_cv_is_mostly_bin(d, n) ? 0.5 : 0;
}

const struct mitm_cv_view mitm_cv_view_hex = {"hex dump", "Hex Dump", render, priority};
