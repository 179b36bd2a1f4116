/* Dates: the forms Python's email.utils.parsedate_tz reads (expected values from
 * email.utils.mktime_tz(parsedate_tz(s)) under TZ=UTC), and the IMF-fixdate formatter. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/date.h"

static int parse(const char *s, long long *t)
{
    return mitm_date_parse_rfc2822(s, strlen(s), t);
}

Test(date, parses_the_three_http_forms_and_rfc5322)
{
    static const struct {
        const char *s;
        long long t;
    } ok[] = {
        {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},   /* IMF-fixdate */
        {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},  /* RFC 850 */
        {"Sun Nov  6 08:49:37 1994", 784111777},        /* asctime, no zone = UTC */
        {"6 Nov 1994 09:49:37 +0100", 784111777},       /* RFC 5322, numeric zone, no day name */
        {"Sun, 06 Nov 1994 03:49:37 EST", 784111777},   /* RFC 822 named zone */
        {"06 November 1994 08:49:37 PST", 784140577},   /* full month name */
        {"Sun, 06 Nov 1994 08:49:37 -0130", 784117177}, /* negative zone with minutes */
        {"Sun, 06 Nov 1994 08:49 GMT", 784111740},      /* no seconds */
        {"Nov 6 1994 08:49:37 GMT", 784111777},         /* month before day */
        {"Sun,06 Nov 1994 08:49:37 GMT", 784111777},    /* day name glued by its comma */
        {"6 Nov 1994 08:49:37+0100", 784108177},        /* zone glued to the time */
        {"\tSun, 06 Nov 1994 08:49:37 GMT  ", 784111777},
        {"Sun, 06 Nov 1994 08:49:37 XYZ", 784111777}, /* unknown zone = UTC */
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Wed, 01 Jan 69 00:00:00 GMT", -31536000},  /* two-digit years: 69..99 = 19xx */
        {"Sat, 01 Jan 68 00:00:00 GMT", 3092601600}, /* ... 00..68 = 20xx */
        {"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799},
        {"Sun, 06 Nov 1994 24:00:00 GMT", 784166400}, /* hour 24 and leap seconds, as Python */
        {"Sun, 06 Nov 1994 08:49:60 GMT", 784111800},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        long long t = -42;
        cr_assert_eq(parse(ok[i].s, &t), 0, "%s", ok[i].s);
        cr_assert_eq(t, ok[i].t, "%s -> %lld, want %lld", ok[i].s, t, ok[i].t);
    }
}

Test(date, rejects_what_is_not_a_date_and_leaves_the_result_alone)
{
    static const char *const bad[] = {
        "",
        "0",
        "-1",
        "tomorrow",
        "Sun, 06 Foo 1994 08:49:37 GMT",    /* no month */
        "Sun, 06 Nov 1994 08-49-37 GMT",    /* time without colons */
        "Sun, 06 Nov 1994 08:49:37:01 GMT", /* H:M:S:x */
        "Sun, 06 Nov 1994",                 /* no time */
        "Sun, 32 Nov 1994 08:49:37 GMT",    /* out of range (Python would roll over) */
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 10000 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT a b c d",                               /* more than 8 tokens */
        "Sun, 06 Nov 1994 08:49:37 GMTxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* a 40-byte token */
        "Sun, 0x Nov 1994 08:49:37 GMT",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long t = -42;
        cr_assert_eq(parse(bad[i], &t), -1, "%s", bad[i]);
        cr_assert_eq(t, -42, "%s: *t is untouched on failure", bad[i]);
    }
}

Test(date, reads_only_the_bytes_given)
{
    const char *s = "Sun, 06 Nov 1994 08:49:37 GMT, and then garbage";
    long long t = 0;
    cr_assert_eq(mitm_date_parse_rfc2822(s, 29, &t), 0);
    cr_assert_eq(t, 784111777);
    cr_assert_eq(mitm_date_parse_rfc2822(s, 16, &t), -1, "cut before the time");
}

Test(date, formats_imf_fixdate)
{
    char buf[MITM_DATE_IMF_CAP];
    cr_assert_eq(mitm_date_format_imf(784111777, buf, sizeof(buf)), MITM_DATE_IMF_LEN);
    cr_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    cr_assert_eq(mitm_date_format_imf(0, buf, sizeof(buf)), MITM_DATE_IMF_LEN);
    cr_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    cr_assert_eq(mitm_date_format_imf(-31536000, buf, sizeof(buf)), MITM_DATE_IMF_LEN);
    cr_assert_str_eq(buf, "Wed, 01 Jan 1969 00:00:00 GMT");
    cr_assert_eq(mitm_date_format_imf(253402300799, buf, sizeof(buf)), MITM_DATE_IMF_LEN);
    cr_assert_str_eq(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
}

Test(date, refuses_years_it_cannot_write_in_four_digits)
{
    char buf[MITM_DATE_IMF_CAP] = "x";
    cr_assert_eq(mitm_date_format_imf(253402300800, buf, sizeof(buf)), 0, "year 10000");
    cr_assert_str_eq(buf, "");
    strcpy(buf, "x");
    cr_assert_eq(mitm_date_format_imf(-62167219201, buf, sizeof(buf)), 0, "year -1");
    cr_assert_str_eq(buf, "");
}

Test(date, a_short_buffer_truncates_like_snprintf)
{
    char buf[10];
    cr_assert_eq(mitm_date_format_imf(0, buf, sizeof(buf)), MITM_DATE_IMF_LEN);
    cr_assert_str_eq(buf, "Thu, 01 J");
}

Test(date, round_trips_through_the_parser)
{
    static const long long times[] = {0, 1, 784111777, 951782400 /* 2000-02-29 */, 4102444799, -86400};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char buf[MITM_DATE_IMF_CAP];
        long long t = 0;
        cr_assert_eq(mitm_date_format_imf(times[i], buf, sizeof(buf)), MITM_DATE_IMF_LEN);
        cr_assert_eq(parse(buf, &t), 0, "%s", buf);
        cr_assert_eq(t, times[i], "%s", buf);
    }
}
