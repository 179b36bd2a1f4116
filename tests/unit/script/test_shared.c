/* mitm.shared's store: values, incr, the cap, and incr from many threads at once. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script/shared.h"

static struct mitm_shared_value str(const char *s)
{
    return (struct mitm_shared_value){.type = MITM_SHARED_STR, .s = (char *)s, .len = strlen(s)};
}

Test(shared, set_get_remove)
{
    struct mitm_shared *sh = mitm_shared_new(0);
    struct mitm_shared_value v = str("hello"), out;
    cr_assert_eq(mitm_shared_set(sh, "k", 1, &v), 0);
    mitm_shared_get(sh, "k", 1, &out);
    cr_assert_eq(out.type, MITM_SHARED_STR);
    cr_assert_eq(out.len, 5);
    cr_assert_str_eq(out.s, "hello");
    free(out.s);
    struct mitm_shared_value num = {.type = MITM_SHARED_NUM, .d = 2.5};
    cr_assert_eq(mitm_shared_set(sh, "k", 1, &num), 0, "a key may change type");
    mitm_shared_get(sh, "k", 1, &out);
    cr_assert_eq(out.type, MITM_SHARED_NUM);
    cr_assert_float_eq(out.d, 2.5, 1e-9);
    struct mitm_shared_value nil = {.type = MITM_SHARED_NIL};
    cr_assert_eq(mitm_shared_set(sh, "k", 1, &nil), 0);
    mitm_shared_get(sh, "k", 1, &out);
    cr_assert_eq(out.type, MITM_SHARED_NIL);
    cr_assert_eq(mitm_shared_size(sh), 0);
    mitm_shared_free(sh);
}

Test(shared, binary_keys_and_many_entries)
{
    struct mitm_shared *sh = mitm_shared_new(0);
    for (int i = 0; i < 5000; i++) {
        char k[32];
        int n = snprintf(k, sizeof(k), "kk%d", i);
        k[1] = 0; /* keys are bytes: a NUL inside is part of the key */
        struct mitm_shared_value v = {.type = MITM_SHARED_INT, .i = i};
        cr_assert_eq(mitm_shared_set(sh, k, (size_t)n, &v), 0);
    }
    for (int i = 0; i < 5000; i += 777) {
        char k[32];
        int n = snprintf(k, sizeof(k), "kk%d", i);
        k[1] = 0;
        struct mitm_shared_value out;
        mitm_shared_get(sh, k, (size_t)n, &out);
        cr_assert_eq(out.type, MITM_SHARED_INT);
        cr_assert_eq(out.i, i);
    }
    size_t n;
    char **keys = mitm_shared_keys(sh, &n);
    cr_assert_eq(n, 5000);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    mitm_shared_free(sh);
}

Test(shared, incr_types)
{
    struct mitm_shared *sh = mitm_shared_new(0);
    struct mitm_shared_value one = {.type = MITM_SHARED_INT, .i = 1},
                             half = {.type = MITM_SHARED_NUM, .d = 0.5}, out;
    cr_assert_eq(mitm_shared_incr(sh, "n", 1, &one, &out), 0);
    cr_assert_eq(out.type, MITM_SHARED_INT);
    cr_assert_eq(out.i, 1, "an absent key starts at 0");
    cr_assert_eq(mitm_shared_incr(sh, "n", 1, &half, &out), 0);
    cr_assert_eq(out.type, MITM_SHARED_NUM);
    cr_assert_float_eq(out.d, 1.5, 1e-9);
    struct mitm_shared_value s = str("x");
    mitm_shared_set(sh, "s", 1, &s);
    cr_assert_eq(mitm_shared_incr(sh, "s", 1, &one, &out), -1, "a string is not a number");
    struct mitm_shared_value max = {.type = MITM_SHARED_INT, .i = INT64_MAX};
    mitm_shared_set(sh, "w", 1, &max);
    cr_assert_eq(mitm_shared_incr(sh, "w", 1, &one, &out), 0);
    cr_assert_eq(out.i, INT64_MIN, "integers wrap as Lua's do");
    mitm_shared_free(sh);
}

Test(shared, cap)
{
    struct mitm_shared *sh = mitm_shared_new(MITM_SHARED_ENTRY_OVERHEAD * 2 + 10);
    struct mitm_shared_value v = str("12345");
    cr_assert_eq(mitm_shared_set(sh, "a", 1, &v), 0);
    cr_assert_eq(mitm_shared_set(sh, "b", 1, &v), -1, "over the cap");
    struct mitm_shared_value small = str("1");
    cr_assert_eq(mitm_shared_set(sh, "b", 1, &small), 0);
    struct mitm_shared_value big = str("123456789012");
    cr_assert_eq(mitm_shared_set(sh, "a", 1, &big), -1, "growing a value counts too");
    struct mitm_shared_value out;
    mitm_shared_get(sh, "a", 1, &out);
    cr_assert_str_eq(out.s, "12345", "a refused set changes nothing");
    free(out.s);
    struct mitm_shared_value one = {.type = MITM_SHARED_INT, .i = 1};
    cr_assert_eq(mitm_shared_incr(sh, "c", 1, &one, &out), -2, "a new counter over the cap");
    mitm_shared_free(sh);
}

static void *incr_many(void *arg)
{
    struct mitm_shared_value one = {.type = MITM_SHARED_INT, .i = 1}, out;
    for (int i = 0; i < 20000; i++)
        mitm_shared_incr(arg, "hits", 4, &one, &out);
    return NULL;
}

Test(shared, incr_is_atomic_across_threads)
{
    struct mitm_shared *sh = mitm_shared_new(0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, incr_many, sh);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct mitm_shared_value out;
    mitm_shared_get(sh, "hits", 4, &out);
    cr_assert_eq(out.i, 80000);
    mitm_shared_free(sh);
}
