/* The pure parts of the flow sinks: URI redaction, filter terms and the SQL they become. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "sink/pg.h"
#include "sink/sink.h"

static void redacts(const char *uri, const char *want)
{
    char *got = mitm_sink_redact(uri);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(sink, redact_password)
{
    redacts("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db");
    redacts("postgresql://u@h/db", "postgresql://u@h/db");
    redacts("postgresql://h/db?user=u&password=pw&sslmode=require",
            "postgresql://h/db?user=u&password=***&sslmode=require");
    redacts("postgresql://u:p%40ss@h/db?password=x", "postgresql://u:***@h/db?password=***");
    redacts("postgresql:///db?xpassword=keep", "postgresql:///db?xpassword=keep");
}

static char *where_of(const char *expr, char **params, int *n)
{
    char err[256];
    struct mitm_filter *f = expr ? mitm_filter_parse(expr, err, sizeof(err)) : NULL;
    cr_assert(!expr || f, "%s", err);
    char *w = mitm_sink_pg_where(f, params, n, 16);
    mitm_filter_free(f);
    return w;
}

static void free_params(char **p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i]);
}

Test(sink, where_from_filter)
{
    char *p[16];
    int n;
    char *w = where_of("~d api.example.com & ~c 500", p, &n);
    cr_assert_str_eq(w, "(lower(host) LIKE $1 OR lower(coalesce(host_header, '')) LIKE $1) AND "
                        "status = $2::integer");
    cr_assert_eq(n, 2);
    cr_assert_str_eq(p[0], "%api_example_com%"); /* "." matches any character */
    cr_assert_str_eq(p[1], "500");
    free_params(p, n);
    free(w);

    /* anchors dropped, LIKE's own characters escaped; a quoted string is unescaped before it is
     * a regex (pyparsing's QuotedString), so there "\\." is a "." again */
    w = where_of("~m ^POST$ & ~d 'a\\.b_c%' & ~d x\\.y", p, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(p[0], "%post%");
    cr_assert_str_eq(p[1], "%a_b\\_c\\%%");
    cr_assert_str_eq(p[2], "%x.y%");
    free_params(p, n);
    free(w);
}

Test(sink, where_widens_never_narrows_what_sql_cannot_say)
{
    char *p[16];
    int n;
    const char *const wide[] = {"~d \"a|b\"", "~d a.*b", "~c 500 | ~c 404", "!~c 500", "~u /x", "~d \\w+"};
    for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
        char *w = where_of(wide[i], p, &n);
        cr_assert_str_eq(w, "true", "%s -> %s", wide[i], w);
        cr_assert_eq(n, 0);
        free(w);
    }
    char *w = where_of(NULL, p, &n);
    cr_assert_str_eq(w, "true");
    free(w);
    /* only the AND chain's SQL-able parts */
    w = where_of("~c 200 & (~d x | ~d y) & ~q", p, &n);
    cr_assert_str_eq(w, "status = $1::integer");
    free_params(p, n);
    free(w);
}
