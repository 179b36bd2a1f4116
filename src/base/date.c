/* Dates: see date.h. The parser follows Python's email._parseaddr step by step, so that a
 * recorded response refreshed by server replay gets the dates mitmproxy would give it. */
#include "base/date.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const month_names[] = {
    "jan", "feb",  "mar",  "apr",    "may",       "jun",      "jul",      "aug",
    "sep", "oct",  "nov",  "dec",    "january",   "february", "march",    "april",
    "may", "june", "july", "august", "september", "october",  "november", "december"};
static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

struct tok {
    char s[40];
};

static int month_index(const char *m)
{
    for (int i = 0; i < 24; i++)
        if (strcasecmp(m, month_names[i]) == 0)
            return i % 12;
    return -1;
}

static bool parse_int(const char *s, long *v)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (*end || errno)
        return false;
    *v = x;
    return true;
}

static void chop_comma(char *s)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == ',')
        s[n - 1] = 0;
}

/* Named zones of email._parseaddr, as +-hhmm. */
static bool zone(const char *tz, long *off)
{
    static const struct {
        const char *n;
        long v;
    } z[] = {{"UT", 0},     {"UTC", 0},    {"GMT", 0},    {"Z", 0},      {"AST", -400},
             {"ADT", -300}, {"EST", -500}, {"EDT", -400}, {"CST", -600}, {"CDT", -500},
             {"MST", -700}, {"MDT", -600}, {"PST", -800}, {"PDT", -700}};
    for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++)
        if (strcasecmp(tz, z[i].n) == 0) {
            *off = z[i].v;
            return true;
        }
    return parse_int(tz, off);
}

/* Split into at most 8 whitespace-separated tokens (each shorter than 40 bytes). */
static int tokenize(const char *s, size_t n, struct tok *t, int max)
{
    int cnt = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\t')
            j++;
        if (j == i)
            break;
        if (cnt == max || j - i >= sizeof(t->s))
            return -1;
        memcpy(t[cnt].s, s + i, j - i);
        t[cnt++].s[j - i] = 0;
        i = j;
    }
    return cnt;
}

/* Python's email._parseaddr._parsedate_tz, step by step. */
int mitm_date_parse_rfc2822(const char *s, size_t n, long long *t)
{
    struct tok d[9];
    int cnt = tokenize(s, n, d, 8);
    if (cnt <= 0)
        return -1;
    size_t l0 = strlen(d[0].s);
    char low[40];
    snprintf(low, sizeof(low), "%s", d[0].s);
    bool dayname = false;
    for (int i = 0; i < 7; i++)
        dayname |= strcasecmp(low, day_names[i]) == 0;
    if (d[0].s[l0 - 1] == ',' || dayname) {
        memmove(d, d + 1, (size_t)--cnt * sizeof(*d));
    } else {
        char *c = strrchr(d[0].s, ',');
        if (c)
            memmove(d[0].s, c + 1, strlen(c + 1) + 1);
    }
    if (cnt == 3) { /* RFC 850: 06-Nov-94 */
        char *a = strchr(d[0].s, '-'), *b = a ? strchr(a + 1, '-') : NULL;
        if (a && b && !strchr(b + 1, '-')) {
            struct tok rest[2] = {d[1], d[2]};
            *a = *b = 0;
            struct tok x = d[0];
            snprintf(d[0].s, sizeof(d[0].s), "%s", x.s);
            snprintf(d[1].s, sizeof(d[1].s), "%s", a + 1);
            snprintf(d[2].s, sizeof(d[2].s), "%s", b + 1);
            d[3] = rest[0];
            d[4] = rest[1];
            cnt = 5;
        }
    }
    if (cnt == 4) {
        char *p = strchr(d[3].s, '+');
        if (!p)
            p = strchr(d[3].s, '-');
        if (p && p > d[3].s) {
            snprintf(d[4].s, sizeof(d[4].s), "%s", p);
            *p = 0;
        } else {
            d[4].s[0] = 0;
        }
        cnt = 5;
    }
    if (cnt < 5)
        return -1;
    char *dd = d[0].s, *mm = d[1].s, *yy = d[2].s, *tm = d[3].s, *tz = d[4].s;
    if (!*dd || !*mm || !*yy)
        return -1;
    int mon = month_index(mm);
    if (mon < 0) {
        char *x = dd;
        dd = mm;
        mm = x;
        chop_comma(mm);
        mon = month_index(mm);
        if (mon < 0)
            return -1;
    }
    chop_comma(dd);
    if (strchr(yy, ':') && strchr(yy, ':') > yy) {
        char *x = yy;
        yy = tm;
        tm = x;
    }
    chop_comma(yy);
    if (!(*yy >= '0' && *yy <= '9')) {
        char *x = yy;
        yy = tz;
        tz = x;
    }
    chop_comma(tm);
    long Y, D, H, M, S = 0;
    char *c1 = strchr(tm, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || (c2 && strchr(c2 + 1, ':')))
        return -1;
    *c1 = 0;
    if (c2)
        *c2 = 0;
    if (!parse_int(yy, &Y) || !parse_int(dd, &D) || !parse_int(tm, &H) || !parse_int(c1 + 1, &M) ||
        (c2 && !parse_int(c2 + 1, &S)))
        return -1;
    if (Y < 100)
        Y += Y > 68 ? 1900 : 2000;
    long off = 0;
    if (*tz && zone(tz, &off)) {
        long sign = off < 0 ? -1 : 1;
        off = labs(off);
        off = sign * ((off / 100) * 3600 + (off % 100) * 60);
    } else {
        off = 0; /* no zone: mitmproxy would use local time; we take UTC */
    }
    if (Y < 1 || Y > 9999 || D < 1 || D > 31 || H < 0 || H > 24 || M < 0 || M > 59 || S < 0 || S > 61)
        return -1;
    struct tm tmv = {.tm_year = (int)(Y - 1900),
                     .tm_mon = mon,
                     .tm_mday = (int)D,
                     .tm_hour = (int)H,
                     .tm_min = (int)M,
                     .tm_sec = (int)S};
    *t = (long long)timegm(&tmv) - off;
    return 0;
}

size_t mitm_date_format_imf(long long t, char *out, size_t cap)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm g;
    if (!gmtime_r(&tt, &g) || g.tm_year + 1900 > 9999 || g.tm_year + 1900 < 0) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    int n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[g.tm_wday], g.tm_mday, mo[g.tm_mon],
                     g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
    return n < 0 ? 0 : (size_t)n;
}
