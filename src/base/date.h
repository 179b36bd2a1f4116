/* Dates as HTTP and e-mail write them: parsing the forms Python's email.utils.parsedate_tz
 * accepts (what mitmproxy reads Date, Expires, Last-Modified and cookie expiry with), and
 * formatting the one form HTTP senders must use. Pure functions, no locale, no time zone
 * database: thread-safe. */
#ifndef MITM_BASE_DATE_H
#define MITM_BASE_DATE_H

#include <stddef.h>

/* Bytes an IMF-fixdate takes, and the buffer mitm_date_format_imf needs (with the NUL). */
#define MITM_DATE_IMF_LEN 29
#define MITM_DATE_IMF_CAP (MITM_DATE_IMF_LEN + 1)

/* Parse the date in s[0..n) (not NUL-terminated) as Python's email._parseaddr._parsedate_tz
 * does: RFC 5322 §3.3 ("Sun, 06 Nov 1994 08:49:37 GMT", day name optional, seconds
 * optional), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37
 * 1994"); the zone named (UT, UTC, GMT, Z, the US zones of RFC 822 §5) or numeric (+hhmm); no
 * zone or an unknown one = UTC (mitmproxy would take local time). Two-digit years are
 * 1969..2068. Rejects more than 8 tokens, a token of 40 bytes or more, no month name, a
 * time not of the form H:M[:S], and fields out of range (year 1..9999, day 1..31, hour
 * 0..24, minute 0..59, second 0..61). Returns 0 with *t the Unix time, or -1 (*t untouched). */
int mitm_date_parse_rfc2822(const char *s, size_t n, long long *t);

/* Format the Unix time t as an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110
 * §5.6.7), into out (cap bytes, MITM_DATE_IMF_CAP is enough; NUL-terminated when cap > 0).
 * Returns the length (MITM_DATE_IMF_LEN), or 0 with out empty for a time whose year is not
 * 0..9999. A cap too small truncates as snprintf does and still returns the full length. */
size_t mitm_date_format_imf(long long t, char *out, size_t cap);

#endif
