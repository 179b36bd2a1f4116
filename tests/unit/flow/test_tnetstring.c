#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/tnetstring.h"

static struct mitm_tns *parse_ok(const char *s)
{
    struct mitm_tns *v = NULL;
    struct mitm_tns_error e = {"", 0};
    ssize_t n = mitm_tns_parse((const uint8_t *)s, strlen(s), NULL, &v, &e);
    cr_assert_eq(n, (ssize_t)strlen(s), "parse of %s: %zd (%s at %zu)", s, n, e.reason, e.offset);
    cr_assert_not_null(v);
    return v;
}

static void parse_fails(const char *s, const char *reason_part, size_t offset)
{
    struct mitm_tns *v = (void *)1;
    struct mitm_tns_error e = {"", 0};
    ssize_t n = mitm_tns_parse((const uint8_t *)s, strlen(s), NULL, &v, &e);
    cr_assert_eq(n, MITM_PARSE_ERROR, "%s must be refused, got %zd", s, n);
    cr_assert_null(v);
    cr_assert(strstr(e.reason, reason_part), "%s: reason '%s' lacks '%s'", s, e.reason, reason_part);
    cr_assert_eq(e.offset, offset, "%s: error offset %zu, want %zu", s, e.offset, offset);
}

static void assert_text(const struct mitm_tns *v, enum mitm_tns_type t, const char *want)
{
    cr_assert_not_null(v);
    cr_assert_eq(v->type, t);
    cr_assert_eq(v->v.s.len, strlen(want));
    cr_assert_eq(memcmp(v->v.s.base, want, strlen(want)), 0);
}

static char *encode(const struct mitm_tns *v)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_tns_write(&b, v), 0);
    size_t n;
    char *s = (char *)mitm_buf_steal(&b, &n);
    cr_assert_eq(n, mitm_tns_encoded_size(v), "encoded_size must match the bytes written");
    return s;
}

Test(tnetstring, scalars)
{
    struct mitm_tns *v = parse_ok("5:hello,");
    assert_text(v, MITM_TNS_BYTES, "hello");
    mitm_tns_free(v);
    v = parse_ok("6:h\xc3\xa9llo;");
    assert_text(v, MITM_TNS_STR, "h\xc3\xa9llo");
    mitm_tns_free(v);
    v = parse_ok("0:,");
    assert_text(v, MITM_TNS_BYTES, "");
    mitm_tns_free(v);
    v = parse_ok("19:9223372036854775807#");
    cr_assert_eq(v->type, MITM_TNS_INT);
    cr_assert_eq(v->v.i, INT64_MAX);
    mitm_tns_free(v);
    v = parse_ok("20:-9223372036854775808#");
    cr_assert_eq(v->v.i, INT64_MIN);
    mitm_tns_free(v);
    v = parse_ok("17:1700000000.123456^");
    cr_assert_eq(v->type, MITM_TNS_FLOAT);
    cr_assert_eq(v->v.f, 1700000000.123456);
    mitm_tns_free(v);
    v = parse_ok("4:-inf^");
    cr_assert(isinf(v->v.f) && v->v.f < 0);
    mitm_tns_free(v);
    v = parse_ok("4:true!");
    cr_assert_eq(v->type, MITM_TNS_BOOL);
    cr_assert(v->v.b);
    mitm_tns_free(v);
    v = parse_ok("5:false!");
    cr_assert_not(v->v.b);
    mitm_tns_free(v);
    v = parse_ok("0:~");
    cr_assert_eq(v->type, MITM_TNS_NULL);
    mitm_tns_free(v);
}

Test(tnetstring, payload_is_binary_safe)
{
    const uint8_t in[] = "4:\x00:,}"
                         ",";
    struct mitm_tns *v;
    cr_assert_eq(mitm_tns_parse(in, 7, NULL, &v, NULL), 7);
    cr_assert_eq(v->v.s.len, 4);
    cr_assert_eq(memcmp(v->v.s.base, "\x00:,}", 4), 0);
    cr_assert_eq(v->v.s.base, in + 2, "payloads are views into the input");
    mitm_tns_free(v);
}

Test(tnetstring, nesting_and_lookup)
{
    /* mitmproxy's own example: {'a': 1, 'b': [...]} written in reverse order */
    const char *s = "49:1:b;25:5:hello,4:true!0:~4:1:x;]]1:a;1:1#1:b,1:2#}";
    struct mitm_tns *v = parse_ok(s);
    cr_assert_eq(v->type, MITM_TNS_DICT);
    cr_assert_eq(v->n, 3);
    /* b appears as a str and as a bytes key: lookups accept both, the last one wins */
    struct mitm_tns *b = mitm_tns_get(v, "b");
    cr_assert_eq(b->type, MITM_TNS_INT);
    cr_assert_eq(b->v.i, 2);
    cr_assert_eq(mitm_tns_get(v, "a")->v.i, 1);
    cr_assert_null(mitm_tns_get(v, "c"));
    cr_assert_null(mitm_tns_get(b, "a"), "lookup in a non-dict is NULL");
    struct mitm_tns *l = v->items[1];
    cr_assert_eq(l->type, MITM_TNS_LIST);
    cr_assert_eq(l->n, 4);
    assert_text(l->items[0], MITM_TNS_BYTES, "hello");
    cr_assert_eq(l->items[2]->type, MITM_TNS_NULL);
    cr_assert_eq(l->items[3]->type, MITM_TNS_LIST);
    assert_text(l->items[3]->items[0], MITM_TNS_STR, "x");
    /* writing keeps the tree's order, so the bytes come back unchanged */
    char *out = encode(v);
    cr_assert_str_eq(out, s);
    free(out);
    mitm_tns_free(v);
}

Test(tnetstring, empty_containers)
{
    struct mitm_tns *v = parse_ok("0:]");
    cr_assert_eq(v->type, MITM_TNS_LIST);
    cr_assert_eq(v->n, 0);
    mitm_tns_free(v);
    v = parse_ok("0:}");
    cr_assert_eq(v->type, MITM_TNS_DICT);
    cr_assert_eq(v->n, 0);
    mitm_tns_free(v);
}

Test(tnetstring, errors)
{
    parse_fails("01:a,", "leading zero", 0);
    parse_fails("1234567890123:", "absurdly large", 0);
    parse_fails(":a,", "length prefix", 0);
    parse_fails("a:", "length prefix", 0);
    parse_fails("3x", "length prefix", 1);
    parse_fails("1:a?", "unknown type tag", 3);
    parse_fails("2:1a#", "invalid integer", 2);
    parse_fails("0:#", "invalid integer", 2);
    parse_fails("19:9223372036854775808#", "invalid integer", 3);
    parse_fails("3:1.x^", "invalid float", 2);
    parse_fails("3:0x1^", "invalid float", 2);
    parse_fails("4:True!", "invalid boolean", 2);
    parse_fails("1:x~", "invalid null", 2);
    parse_fails("6:9:abc,]", "runs past its container", 2);
    parse_fails("3:1:a]", "runs past its container", 2); /* prefix ok, payload short */
    parse_fails("2:12]", "runs past its container", 4);
    parse_fails("4:1:a;}", "key without a value", 6);
    parse_fails("7:0:]1:1#}", "key is a list", 2);
    parse_fails("0:x", "unknown type tag", 2);
}

Test(tnetstring, depth_cap)
{
    char s[512];
    /* 10 nested empty lists: 0:] inside 3:0:]] inside ... */
    strcpy(s, "0:]");
    for (int i = 0; i < 9; i++) {
        char t[600];
        int n = snprintf(t, sizeof(t), "%zu:%s]", strlen(s), s);
        cr_assert(n > 0 && (size_t)n < sizeof(s));
        memcpy(s, t, (size_t)n + 1);
    }
    struct mitm_tns *v;
    struct mitm_tns_limits lim = {0, 10};
    cr_assert_eq(mitm_tns_parse((const uint8_t *)s, strlen(s), &lim, &v, NULL), (ssize_t)strlen(s));
    mitm_tns_free(v);
    lim.max_depth = 9;
    struct mitm_tns_error e;
    cr_assert_eq(mitm_tns_parse((const uint8_t *)s, strlen(s), &lim, &v, &e), MITM_PARSE_ERROR);
    cr_assert(strstr(e.reason, "deeper"));
    cr_assert_null(v);
}

Test(tnetstring, size_cap_refuses_before_waiting)
{
    struct mitm_tns_limits lim = {100, 0};
    struct mitm_tns *v;
    struct mitm_tns_error e;
    /* the declared size is over the cap: refused although only 5 bytes are here */
    cr_assert_eq(mitm_tns_parse((const uint8_t *)"200:x", 5, &lim, &v, &e), MITM_PARSE_ERROR);
    cr_assert(strstr(e.reason, "cap"));
    /* 96 + "96:" + tag = 100 bytes exactly: fits */
    char s[101];
    memcpy(s, "96:", 3);
    memset(s + 3, 'a', 96);
    s[99] = ',';
    cr_assert_eq(mitm_tns_parse((const uint8_t *)s, 100, &lim, &v, &e), 100);
    mitm_tns_free(v);
    lim.max_size = 99;
    cr_assert_eq(mitm_tns_parse((const uint8_t *)s, 100, &lim, &v, &e), MITM_PARSE_ERROR);
    cr_assert_eq(mitm_tns_frame_size((const uint8_t *)s, 100, 99, &e), MITM_PARSE_ERROR);
    cr_assert_eq(mitm_tns_frame_size((const uint8_t *)s, 100, 100, &e), 100);
    cr_assert_eq(mitm_tns_frame_size((const uint8_t *)s, 2, 100, &e), MITM_INCOMPLETE);
}

Test(tnetstring, every_prefix_is_incomplete)
{
    const char *s =
        "84:4:type;4:http;7:version;2:21#5:times;18:1795266014.6685452^1:l;10:0:~4:true!]1:d;0:}}";
    size_t n = strlen(s);
    struct mitm_tns *v = parse_ok(s);
    mitm_tns_free(v);
    for (size_t i = 0; i < n; i++) {
        struct mitm_tns *w = (void *)1;
        ssize_t r = mitm_tns_parse((const uint8_t *)s, i, NULL, &w, NULL);
        cr_assert_eq(r, MITM_INCOMPLETE, "prefix of %zu bytes: %zd", i, r);
        cr_assert_null(w);
    }
    /* trailing bytes after a complete value are not consumed */
    char two[256];
    snprintf(two, sizeof(two), "%s0:~", s);
    cr_assert_eq(mitm_tns_parse((const uint8_t *)two, strlen(two), NULL, &v, NULL), (ssize_t)n);
    mitm_tns_free(v);
}

Test(tnetstring, float_repr)
{
    static const struct {
        double f;
        const char *repr;
    } cases[] = {
        {1700000000.123456, "1700000000.123456"},
        {946681203.0, "946681203.0"},
        {1795266014.6685452, "1795266014.6685452"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.0, "1.0"},
        {0.1, "0.1"},
        {0.0001, "0.0001"},
        {1e-05, "1e-05"},
        {1e+16, "1e+16"},
        {123456789012345.6, "123456789012345.6"},
        {1234567890123456.0, "1234567890123456.0"},
        {12345678901234567.0, "1.2345678901234568e+16"},
        {1.5e-07, "1.5e-07"},
        {-2.5, "-2.5"},
        {3.141592653589793, "3.141592653589793"},
        {1e+22, "1e+22"},
        {5e-324, "5e-324"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"},
        {100.0, "100.0"},
        {0.3, "0.3"},
        {INFINITY, "inf"},
        {-INFINITY, "-inf"},
        {NAN, "nan"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        size_t n = mitm_tns_format_float(cases[i].f, out, sizeof(out));
        cr_assert_str_eq(out, cases[i].repr);
        cr_assert_eq(n, strlen(cases[i].repr));
        /* and the written form parses back to the same double */
        struct mitm_tns *v = mitm_tns_new_float(cases[i].f);
        char *enc = encode(v);
        mitm_tns_free(v);
        v = parse_ok(enc);
        cr_assert(v->v.f == cases[i].f || (isnan(v->v.f) && isnan(cases[i].f)), "%s", enc);
        mitm_tns_free(v);
        free(enc);
    }
}

Test(tnetstring, writer_exact_bytes)
{
    struct mitm_tns *d = mitm_tns_new_dict();
    mitm_tns_dict_set(d, "version", mitm_tns_new_int(21));
    mitm_tns_dict_set(d, "neg", mitm_tns_new_int(-5));
    mitm_tns_dict_set(d, "ts", mitm_tns_new_float(946681203.0));
    mitm_tns_dict_set(d, "b", mitm_tns_new_bytes("a\0b", 3));
    struct mitm_tns *l = mitm_tns_new_list();
    mitm_tns_list_append(l, mitm_tns_new_bool(true));
    mitm_tns_list_append(l, mitm_tns_new_bool(false));
    mitm_tns_list_append(l, mitm_tns_new_null());
    mitm_tns_dict_set(d, "l", l);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_tns_write(&b, d), 0);
    const char want[] =
        "82:7:version;2:21#3:neg;2:-5#2:ts;11:946681203.0^1:b;3:a\0b,1:l;18:4:true!5:false!0:~]}";
    cr_assert_eq(b.len, sizeof(want) - 1);
    cr_assert_eq(memcmp(mitm_buf_data(&b), want, b.len), 0, "%.*s", (int)b.len, mitm_buf_data(&b));
    /* a buffer cap makes the writer fail instead of growing */
    struct mitm_buf small;
    mitm_buf_init(&small, 20);
    cr_assert_eq(mitm_tns_write(&small, d), -1);
    mitm_buf_free(&small);
    mitm_buf_free(&b);
    mitm_tns_free(d);
}

Test(tnetstring, dict_editing)
{
    struct mitm_tns *d = parse_ok("31:1:a;1:1#1:b,1:2#1:a,1:3#1:c;0:~}");
    /* pop removes every "a" (str or bytes) and returns the last one's value */
    struct mitm_tns *a = mitm_tns_dict_pop(d, "a");
    cr_assert_eq(a->v.i, 3);
    mitm_tns_free(a);
    cr_assert_eq(d->n, 2);
    cr_assert_null(mitm_tns_dict_pop(d, "a"));
    /* rename moves the value; a missing source takes the default */
    mitm_tns_dict_rename(d, "b", "c", NULL);
    cr_assert_eq(d->n, 1);
    cr_assert_eq(mitm_tns_get(d, "c")->v.i, 2);
    mitm_tns_dict_rename(d, "zz", "y", mitm_tns_new_cstr("dflt"));
    assert_text(mitm_tns_get(d, "y"), MITM_TNS_STR, "dflt");
    mitm_tns_dict_rename(d, "zz", "w", NULL);
    cr_assert_null(mitm_tns_get(d, "w"));
    /* set replaces in place */
    mitm_tns_dict_set(d, "c", mitm_tns_new_bool(true));
    cr_assert_eq(d->n, 2);
    cr_assert_eq(mitm_tns_get(d, "c")->type, MITM_TNS_BOOL);
    /* a deep copy of owned bytes owns its own copy */
    struct mitm_tns *o = mitm_tns_new_bytes_copy("xyz", 3);
    mitm_tns_dict_set(d, "o", o);
    struct mitm_tns *c = mitm_tns_copy(d);
    mitm_tns_free(d);
    assert_text(mitm_tns_get(c, "o"), MITM_TNS_BYTES, "xyz");
    assert_text(mitm_tns_get(c, "y"), MITM_TNS_STR, "dflt");
    cr_assert(mitm_tns_truthy(c));
    cr_assert_not(mitm_tns_truthy(mitm_tns_get(c, "missing")));
    mitm_tns_free(c);
}

extern const char *flow_fixtures_dir;

/* 3000 doubles (timestamps and random bit patterns) against CPython's repr, generated by
 * fixtures/make_float_repr.py. */
Test(tnetstring, float_repr_matches_python)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/float-repr.txt", flow_fixtures_dir);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "%s", path);
    unsigned long long bits;
    char want[64];
    size_t n = 0;
    while (n < 10000 && fscanf(fp, "%llx %63s", &bits, want) == 2) {
        double d;
        uint64_t b = bits;
        memcpy(&d, &b, sizeof(d));
        char got[64];
        mitm_tns_format_float(d, got, sizeof(got));
        cr_assert_str_eq(got, want, "bits %016llx", bits);
        n++;
    }
    fclose(fp);
    cr_assert_eq(n, 3000);
}

/* The significant digits of a repr ("1.5e-07" -> "15", "0.0001" -> "1", "100.0" -> "1"). */
static void repr_digits(const char *s, char *out)
{
    size_t n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '1' && *s <= '9')
            out[n++] = *s;
        else if (*s == '0' && n)
            out[n++] = '0';
    while (n > 1 && out[n - 1] == '0')
        n--;
    out[n] = 0;
}

/* Every repr is the one Python's defines: it reads back as the double, no decimal with one
 * significant digit fewer does, and its digits are the nearest of their count (what %.*e
 * prints, exactly rounded). Timestamps (the integer fast path) and random bit patterns. */
Test(tnetstring, float_repr_shortest_and_nearest)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        if (i % 3 == 0) {
            uint64_t b = x;
            memcpy(&d, &b, sizeof(d));
            if (!isfinite(d))
                continue;
        } else if (i % 3 == 1) {
            d = 1.6e9 + (double)(x % 1000000000000ull) / 1e6; /* microsecond timestamps */
        } else {
            d = (double)(x % 100000000ull) / 1e4 * ((x >> 60) & 1 ? -1 : 1); /* durations, sizes */
        }
        char got[64], want[64], e[64];
        mitm_tns_format_float(d, got, sizeof(got));
        cr_assert(strtod(got, NULL) == d, "%a -> %s does not read back", d, got);
        repr_digits(got, want);
        size_t nd = strlen(want);
        snprintf(e, sizeof(e), "%.*e", (int)nd - 1, d);
        char near[64];
        repr_digits(e, near);
        cr_assert_str_eq(want, near, "%a -> %s, nearest with %zu digits %s", d, got, nd, e);
        if (nd > 1 && d != 0) {
            snprintf(e, sizeof(e), "%.*e", (int)nd - 2, d);
            cr_assert(strtod(e, NULL) != d, "%a -> %s, but %s reads back too", d, got, e);
        }
    }
}
