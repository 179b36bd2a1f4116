/* The flow list's rows from store summaries (src/ui/console/row.c): mitmproxy's table
 * layout, column widths, styles, truncation by display width. */
#include <criterion/criterion.h>
#include <locale.h>
#include <string.h>

#include "ui/console/row.h"

static void setup(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    setenv("TZ", "UTC", 1);
}

TestSuite(row, .init = setup);

static struct mitm_store_summary summary(void)
{
    struct mitm_store_summary sm = {0};
    sm.type = 0;
    sm.method = "GET";
    sm.scheme = "https";
    sm.host = "example.com";
    sm.path = "/index.html";
    sm.content_type = "text/html";
    sm.has_response = true;
    sm.status = 200;
    sm.response_size = 2400;
    sm.timestamp_start = 1000.0;
    sm.timestamp_end = 1000.25;
    return sm;
}

/* The style of the first segment covering byte offset of needle in the row. */
static enum mitm_con_style style_at(const struct mitm_row *r, const char *needle)
{
    const char *p = strstr(r->text, needle);
    cr_assert_not_null(p, "%s not in [%s]", needle, r->text);
    size_t off = (size_t)(p - r->text);
    for (size_t i = 0; i < r->nsegs; i++)
        if (off >= r->segs[i].off && off < (size_t)r->segs[i].off + r->segs[i].len)
            return (enum mitm_con_style)r->segs[i].style;
    cr_assert_fail("no segment");
    return MITM_ST_TEXT;
}

Test(row, table_layout)
{
    struct mitm_store_summary sm = summary();
    struct mitm_row r;
    struct mitm_row_opts o = {.focused = true};
    mitm_row_format(&sm, &o, 160, &r);
    cr_assert_eq(mitm_text_width(r.text, r.len), 160, "[%s]", r.text);
    cr_assert(strncmp(r.text, ">>00:16:40 HTTPS GET  example.com", 33) == 0, "[%s]", r.text);
    cr_assert_not_null(strstr(r.text, "/index.html"));
    cr_assert_not_null(strstr(r.text, " 200 "));
    cr_assert_not_null(strstr(r.text, "text/html"));
    cr_assert_not_null(strstr(r.text, " 2.3k"));
    cr_assert_not_null(strstr(r.text, "250ms"));
    cr_assert_eq(style_at(&r, "HTTPS"), MITM_ST_SCHEME_HTTPS);
    cr_assert_eq(style_at(&r, "GET"), MITM_ST_METHOD_GET);
    cr_assert_eq(style_at(&r, "200"), MITM_ST_CODE_200);
    cr_assert_eq(style_at(&r, "text/html"), MITM_ST_CONTENT_TEXT);
    cr_assert_eq(style_at(&r, ">>"), MITM_ST_FOCUS);
}

Test(row, intercepted_request_and_indicators)
{
    struct mitm_store_summary sm = summary();
    sm.has_response = false;
    sm.status = 0;
    sm.marked = true;
    sm.replay = true;
    struct mitm_row r;
    struct mitm_row_opts o = {.intercepted = true};
    mitm_row_format(&sm, &o, 100, &r);
    cr_assert(strncmp(r.text, "  00:16:40", 10) == 0);
    cr_assert_eq(style_at(&r, "00:16:40"), MITM_ST_INTERCEPT);
    cr_assert_eq(style_at(&r, "GET"), MITM_ST_INTERCEPT);
    cr_assert_eq(style_at(&r, "/index.html"), MITM_ST_INTERCEPT);
    cr_assert_eq(style_at(&r, "\xe2\x86\xba"), MITM_ST_REPLAY);
    cr_assert_eq(style_at(&r, "\xe2\x97\x8f"), MITM_ST_MARK);
    cr_assert_eq(mitm_text_width(r.text, r.len), 100);
}

Test(row, errors_and_empty_bodies)
{
    struct mitm_store_summary sm = summary();
    sm.has_response = false;
    sm.status = 0;
    sm.error = true;
    struct mitm_row r;
    struct mitm_row_opts o = {0};
    mitm_row_format(&sm, &o, 100, &r);
    cr_assert_eq(style_at(&r, "err"), MITM_ST_ERROR);
    sm = summary();
    sm.response_size = 0;
    mitm_row_format(&sm, &o, 200, &r);
    cr_assert_eq(style_at(&r, "[no content]"), MITM_ST_CONTENT_NONE);
}

Test(row, long_and_wide_text_is_cut_by_columns)
{
    struct mitm_store_summary sm = summary();
    char path[600];
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = 0;
    sm.path = path;
    sm.host =
        "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88.example.com"; /* wide characters */
    struct mitm_row r;
    struct mitm_row_opts o = {0};
    mitm_row_format(&sm, &o, 200, &r);
    cr_assert_eq(mitm_text_width(r.text, r.len), 200, "[%s]", r.text);
    cr_assert_not_null(strstr(r.text, "a\xe2\x80\xa6")); /* the path ends in an ellipsis */
    cr_assert_not_null(strstr(r.text, ".example.com"));  /* the host keeps its end */
}

Test(row, tcp_flows)
{
    struct mitm_store_summary sm = summary();
    sm.type = 1;
    sm.method = "";
    sm.scheme = "";
    sm.host = "10.0.0.1";
    sm.port = 22;
    sm.path = "192.168.1.5:40000"; /* a TCP summary's client address */
    sm.has_response = false;
    sm.response_size = 100;
    struct mitm_row r;
    struct mitm_row_opts o = {0};
    mitm_row_format(&sm, &o, 90, &r);
    cr_assert_not_null(strstr(r.text, "TCP  "));
    cr_assert_not_null(strstr(r.text, "192.168.1.5:40000 <-> 10.0.0.1:22"), "as mitmproxy: [%s]", r.text);
    cr_assert_not_null(strstr(r.text, "100b"));
    cr_assert_eq(mitm_text_width(r.text, r.len), 90, "[%s]", r.text);
    sm.host = "::1";
    sm.path = "";
    mitm_row_format(&sm, &o, 90, &r);
    cr_assert_not_null(strstr(r.text, "? <-> [::1]:22"), "[%s]", r.text);
}

Test(row, fixed_columns)
{
    struct mitm_row r = {0};
    mitm_row_add_fixed(&r, "abc", 3, 5, false, false, MITM_ST_TEXT);
    mitm_row_add_fixed(&r, "abc", 3, 5, true, false, MITM_ST_TEXT);
    mitm_row_add_fixed(&r, "abcdef", 6, 4, false, false, MITM_ST_TEXT);
    mitm_row_add_fixed(&r, "abcdef", 6, 4, false, true, MITM_ST_TEXT);
    cr_assert_str_eq(r.text, "abc    abcabc\xe2\x80\xa6\xe2\x80\xa6"
                             "def");
}

Test(row, durations)
{
    char t[16];
    mitm_pretty_duration(0.0123, t);
    cr_assert_str_eq(t, "12ms");
    mitm_pretty_duration(1.234, t);
    cr_assert_str_eq(t, "1.23s");
    mitm_pretty_duration(12.34, t);
    cr_assert_str_eq(t, "12.3s");
    mitm_pretty_duration(123.4, t);
    cr_assert_str_eq(t, "123s");
}

Test(row, list_layout)
{
    cr_assert(mitm_row_list_layout("default", 99));
    cr_assert_not(mitm_row_list_layout("default", 100));
    cr_assert(mitm_row_list_layout("list", 200));
    cr_assert_not(mitm_row_list_layout("table", 50));
    struct mitm_store_summary sm = summary();
    sm.port = 443;
    struct mitm_row a, b;
    struct mitm_row_opts o = {.focused = true};
    mitm_row_format_list(&sm, &o, 80, &a, &b);
    cr_assert(strncmp(a.text, ">> GET https://example.com/index.html", 37) == 0, "[%s]", a.text);
    cr_assert_eq(mitm_text_width(a.text, a.len), 80, "[%s]", a.text);
    cr_assert(strncmp(b.text, "       \xe2\x86\x90 200 text/html 2.3k 250ms", 33) == 0, "[%s]", b.text);
    cr_assert_eq(style_at(&b, "200"), MITM_ST_CODE_200);
    sm.port = 8080;
    sm.has_response = false;
    sm.error = true;
    mitm_row_format_list(&sm, &o, 80, &a, &b);
    cr_assert_not_null(strstr(a.text, "https://example.com:8080/index.html"));
    cr_assert_eq(style_at(&b, "error"), MITM_ST_ERROR);
}
