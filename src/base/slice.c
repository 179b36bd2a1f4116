#include "base/slice.h"

#include <ctype.h>

int mitm_slice_ieq(struct mitm_slice a, const char *s)
{
    size_t n = strlen(s);
    if (a.len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower(a.base[i]) != tolower((unsigned char)s[i]))
            return 0;
    return 1;
}
