#include <criterion/criterion.h>
#include <stdlib.h>

#include "base/buf.h"

Test(buf, append_consume_and_cap)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 10);
    cr_assert_eq(mitm_buf_append(&b, "hello", 5), 0);
    cr_assert_eq(mitm_buf_append(&b, "world", 5), 0);
    cr_assert_eq(mitm_buf_append(&b, "!", 1), -1, "cap of 10 must refuse the 11th byte");
    cr_assert_eq(b.len, 10);
    mitm_buf_consume(&b, 5);
    cr_assert_eq(memcmp(mitm_buf_data(&b), "world", 5), 0);
    cr_assert_eq(mitm_buf_append(&b, "12345", 5), 0, "consumed bytes free room under the cap");
    cr_assert_eq(memcmp(mitm_buf_data(&b), "world12345", 10), 0);
    size_t n;
    uint8_t *m = mitm_buf_steal(&b, &n);
    cr_assert_eq(n, 10);
    cr_assert_eq(m[10], 0);
    cr_assert_eq(b.len, 0);
    free(m);
    mitm_buf_free(&b);
}

Test(buf, printf_large)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    cr_assert_eq(mitm_buf_printf(&b, "%s-%d", big, 7), 0);
    cr_assert_eq(b.len, sizeof(big) - 1 + 2);
    mitm_buf_free(&b);
}

Test(buf, unquote_plus)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    const char *s = "a+b%20c%2Fd%zz%4%41%";
    mitm_buf_unquote_plus(&b, s, strlen(s));
    cr_assert_eq(b.len, strlen("a b c/d%zz%4A%"));
    cr_assert(memcmp(mitm_buf_data(&b), "a b c/d%zz%4A%", b.len) == 0);
    mitm_buf_free(&b);
    cr_assert_eq(mitm_pct_at("%7e", 3, 0), 0x7e);
    cr_assert_eq(mitm_pct_at("%7", 2, 0), -1);
    cr_assert_eq(mitm_pct_at("x%7E", 4, 0), -1);
}
