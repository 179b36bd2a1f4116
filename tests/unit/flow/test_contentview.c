/* Content views: exact renderings (mitmdump 8.1.1's formats, JSON key order as mitmproxy >= 11). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "flow/contentview.h"
#include "proto/http/http.h"
#include "util.h"

/* Render and join the lines with '\n'. */
static char *render(const char *view, const void *data, size_t len, const char *ct, size_t max, char *desc,
                    bool *cut)
{
    struct mitm_cv_meta meta = {ct, ct ? strlen(ct) : 0, NULL};
    struct mitm_cv_result r = {0};
    mitm_cv_render(view, data, len, &meta, max, &r);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (size_t i = 0; i < r.nlines; i++) {
        if (i)
            mitm_buf_append(&b, "\n", 1);
        mitm_cv_line_text(&r, i, &b);
    }
    if (desc)
        snprintf(desc, 160, "%s", r.description);
    if (cut)
        *cut = r.cut;
    mitm_cv_result_free(&r);
    size_t n;
    return (char *)mitm_buf_steal(&b, &n);
}

static void expect(const char *view, const char *data, const char *ct, const char *want,
                   const char *want_desc)
{
    char desc[160];
    char *got = render(view, data, strlen(data), ct, SIZE_MAX, desc, NULL);
    if (want)
        cr_assert_str_eq(got, want, "view %s on %s: got\n%s", view ? view : "auto", data, got);
    if (want_desc)
        cr_assert_str_eq(desc, want_desc);
    free(got);
}

Test(json, pretty_print_like_python)
{
    expect(
        NULL,
        "{\"b\": [1, 2.50, {\"x\": null, \"y\": true}], \"a\": \"h\\u00e9llo\\n\\/\", \"e\": {}, \"f\": []}",
        "application/json",
        "{\n"
        "    \"b\": [\n"
        "        1,\n"
        "        2.5,\n"
        "        {\n"
        "            \"x\": null,\n"
        "            \"y\": true\n"
        "        }\n"
        "    ],\n"
        "    \"a\": \"h\xc3\xa9llo\\n/\",\n"
        "    \"e\": {},\n"
        "    \"f\": []\n"
        "}",
        "JSON");
}

Test(json, numbers_strings_scalars)
{
    expect("json",
           "[1e5, -0, -0.0, 1E+2, 0.00001, 1e16, 123.4560, 1e999, 12345678901234567890, "
           "\"\\ud83d\\ude00\\u0001\\\"\"]",
           NULL,
           "[\n    100000.0,\n    0,\n    -0.0,\n    100.0,\n    1e-05,\n    1e+16,\n    123.456,\n    "
           "Infinity,\n"
           "    12345678901234567890,\n    \"\xf0\x9f\x98\x80\\u0001\\\"\"\n]",
           "JSON");
    expect("json", "  \"x\"  ", NULL, "\"x\"", "JSON");
    expect("json", "NaN", NULL, "NaN", "JSON");
    expect(NULL, "[]", "application/vnd.api+json", "[]", "JSON");
}

Test(json, invalid_falls_back_to_raw)
{
    expect(NULL, "{\"a\": 1,}", "application/json", "{\"a\": 1,}", "[failed to parse as json] Raw");
    expect(NULL, "{\"a\": \"\x01\"}", "application/json", "{\"a\": \"\\x01\"}",
           "[failed to parse as json] Raw");
    expect(NULL, "[1] x", "application/json", "[1] x", "[failed to parse as json] Raw");
    expect(NULL, "\"\xff\"", "application/json", "\"\\xff\"", "[failed to parse as json] Raw");
    /* nesting beyond the cap is refused, not recursed into */
    char deep[2000];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = 0;
    char desc[160];
    char *got = render("json", deep, strlen(deep), NULL, SIZE_MAX, desc, NULL);
    cr_assert_str_eq(desc, "[failed to parse as json] Raw");
    free(got);
}

Test(json, cut_at_max_lines)
{
    bool cut;
    char *got = render("json", "[1, 2, 3, 4]", 12, NULL, 3, NULL, &cut);
    cr_assert_str_eq(got, "[\n    1,\n    2,");
    cr_assert(cut);
    free(got);
    got = render("json", "[1]", 3, NULL, 3, NULL, &cut);
    cr_assert_str_eq(got, "[\n    1\n]");
    cr_assert(!cut);
    free(got);
}

Test(raw, escapes_and_lines)
{
    expect(NULL, "hello\tworld\x01\\\r\nnext\rthird\n\xc3\xa9\xff", "text/plain",
           "hello\tworld\\x01\\\\\nnext\nthird\n\xc3\xa9\\xff", "Raw");
    expect("raw", "", NULL, "", NULL);
}

Test(hex, dump)
{
    const char data[] = "0123456789abcdef\x00\x01\xff";
    char *got = render("hex dump", data, 19, NULL, SIZE_MAX, NULL, NULL);
    cr_assert_str_eq(got, "0000000000 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66   0123456789abcdef\n"
                          "0000000010 00 01 ff                                          ...");
    free(got);
    /* auto picks hex for mostly binary data */
    uint8_t bin[64] = {0};
    char desc[160];
    got = render(NULL, bin, sizeof(bin), "application/octet-stream", SIZE_MAX, desc, NULL);
    cr_assert_str_eq(desc, "Hex Dump");
    free(got);
}

Test(forms, urlencoded_and_query)
{
    expect(NULL, "a=1&b=x%20y&a=2&longkeyname=v+w&flag", "application/x-www-form-urlencoded",
           "a:           1\nb:           x y\na:           2\nlongkeyname: v w\nflag:        ",
           "URLEncoded form");
    /* keys longer than 30 columns do not widen the column further */
    expect("url-encoded", "k=1&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=2", NULL,
           "k:                              1\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:2", NULL);
    expect("url-encoded", "a=\xc3\xa9", NULL, "a=\xc3\xa9", "[failed to parse as url-encoded] Raw");
    struct mitm_flow *f = t_flow("GET", "http", "h", 80, "/q?x=1&y=2&x=3#frag", NULL, 0, NULL);
    struct mitm_cv_result r = {0};
    mitm_cv_render_message(NULL, &f->request->headers, &f->request->content, false, f->request, SIZE_MAX, &r);
    cr_assert_str_eq(r.description, "Query");
    cr_assert_eq(r.nlines, 3);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_cv_line_text(&r, 2, &b);
    cr_assert_eq(b.len, 4);
    cr_assert(memcmp(mitm_buf_data(&b), "x: 3", 4) == 0);
    mitm_buf_free(&b);
    mitm_cv_result_free(&r);
    mitm_flow_unref(f);
}

Test(forms, multipart)
{
    const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"f1\"\r\n\r\nv1\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
                        "Content-Type: application/octet-stream\r\n\r\nline1\r\nline2\x01\r\n--XyZ--\r\n";
    expect(NULL, body, "multipart/form-data; boundary=XyZ", "Form data:\nf1:   v1\nfile: line1line2\\x01",
           "Multipart form");
    expect(NULL, body, "multipart/form-data", NULL, "[failed to parse as multipart form] Raw");
}

Test(xml, indent)
{
    expect(NULL, "<?xml version=\"1.0\"?><root><a x=\"1\">text</a><b/><c><d></d></c><!-- c --></root>",
           "text/xml",
           "<?xml version=\"1.0\"?>\n<root>\n  <a x=\"1\">text</a>\n  <b/>\n  <c>\n    <d></d>\n  </c>\n"
           "  <!-- c -->\n</root>",
           "XML/HTML");
    expect(NULL, "<html><body><p>hi<br>there</p>\n<img src=x></body></html>", "text/html",
           "<html>\n<body>\n  <p>\n    hi\n    <br>\n    there\n  </p>\n  <img src=x>\n</body>\n</html>",
           NULL);
    /* sniffed: data starting with '<' and no better type */
    char desc[160];
    char *got = render(NULL, " <a>b</a>", 9, "text/plain", SIZE_MAX, desc, NULL);
    cr_assert_str_eq(desc, "XML/HTML");
    cr_assert_str_eq(got, "<a>b</a>");
    free(got);
}

Test(css_js, beautify)
{
    expect(NULL, "a,b{color:red;margin : 0}p{}", "text/css",
           "a, b {\n    color: red;\n    margin: 0\n}\n\np {\n}", "CSS");
    expect(NULL, "function f(){var a=\"{;}\";for(i=0;i<2;i++){g();}}", "application/javascript",
           "function f() {\n  var a=\"{;}\";\n  for(i=0;i<2;i++) {\n    g();\n  }\n}", "JavaScript");
}

/* ---- images built in the test ---- */

static void png_chunk(struct mitm_buf *b, const char *type, const void *data, uint32_t len)
{
    uint8_t hdr[8] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    memcpy(hdr + 4, type, 4);
    mitm_buf_append(b, hdr, 8);
    mitm_buf_append(b, data, len);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    crc = crc32(crc, data, len);
    uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    mitm_buf_append(b, c, 4);
}

Test(image, png_gif_jpeg_ico)
{
    struct mitm_buf png;
    mitm_buf_init(&png, 0);
    mitm_buf_append(&png, "\x89PNG\r\n\x1a\n", 8);
    png_chunk(&png, "IHDR", "\0\0\0\x02\0\0\0\x03\x08\x02\0\0\0", 13);
    png_chunk(&png, "gAMA", "\0\0\xb1\x8f", 4);
    png_chunk(&png, "pHYs", "\0\0\x0b\x13\0\0\x0b\x13\x01", 9);
    png_chunk(&png, "tEXt", "Comment\0hi there", 16);
    png_chunk(&png, "IEND", "", 0);
    char desc[160];
    char *got = render(NULL, mitm_buf_data(&png), png.len, "image/png", SIZE_MAX, desc, NULL);
    cr_assert_str_eq(got, "Format:  Portable network graphics\nSize:    2 x 3 px\ngamma:   0.45455\n"
                          "aspect:  2835 x 2835\nComment: hi there");
    cr_assert_str_eq(desc, "Image");
    free(got);
    /* truncated: falls back to raw */
    got = render(NULL, mitm_buf_data(&png), 40, "image/png", SIZE_MAX, desc, NULL);
    cr_assert_str_eq(desc, "[failed to parse as image] Raw");
    free(got);
    mitm_buf_free(&png);

    static const uint8_t gif[] = {
        'G', 'I', 'F', '8', '9', 'a', 5,    0,    7, 0,   0x80, 3,    0, /* GCT of 2 colours */
        0,   0,   0,   255, 255, 255, 0x21, 0xfe, 5, 'h', 'e',  'l',  'l',  'o', 0,   0x2c,
        0,   0,   0,   0,   1,   0,   1,    0,    0, 2,   2,    0x44, 0x01, 0,   0x3b};
    got = render(NULL, gif, sizeof(gif), "image/gif", SIZE_MAX, NULL, NULL);
    cr_assert_str_eq(got,
                     "Format:     Compuserve GIF\nVersion:    GIF89a\nSize:       5 x 7 px\nbackground: 3\n"
                     "comment:    b'hello'");
    free(got);

    static const uint8_t jpeg[] = {
        0xff, 0xd8, 0xff, 0xe0, 0,    16,  'J',  'F',  'I', 'F', 0, 1, 2, 1, 0, 72, 0, 72,   0, 0,    0xff,
        0xfe, 0,    5,    'i',  '\'', 's', 0xff, 0xc0, 0,   11,  8, 0, 3, 0, 4, 1,  1, 0x11, 0, 0xff, 0xd9};
    got = render(NULL, jpeg, sizeof(jpeg), "image/jpeg", SIZE_MAX, NULL, NULL);
    cr_assert_str_eq(got, "Format:       JPEG (ISO 10918)\njfif_version: (1, 2)\njfif_density: (72, 72)\n"
                          "jfif_unit:    1\ncomment:      b\"i's\"\nSize:         4 x 3 px");
    free(got);

    static const uint8_t ico[] = {0, 0, 1, 0, 1, 0,  16, 0, 0, 0, 1, 0, 32,
                                  0, 4, 0, 0, 0, 22, 0,  0, 0, 1, 2, 3, 4};
    got = render(NULL, ico, sizeof(ico), "image/x-icon", SIZE_MAX, NULL, NULL);
    cr_assert_str_eq(got, "Format:           ICO\nNumber of images: 1\nImage 1:          Size: 16 x 256\n"
                          "                  Bits per pixel: 32\n                  PNG: False");
    free(got);
    got = render(NULL, "xx", 2, "image/webp", SIZE_MAX, NULL, NULL);
    cr_assert_str_eq(got, "Image Format: unknown");
    free(got);
}

Test(message, decoded_gzip_and_missing)
{
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                                 0x03, 0xab, 0x56, 0x4a, 0x54, 0xb2, 0x32, 0xac, 0x05,
                                 0x00, 0xaf, 0xac, 0x1b, 0x56, 0x07, 0x00, 0x00, 0x00}; /* {"a":1} */
    struct mitm_flow *f = t_flow("GET", "http", "h", 80, "/", NULL, 0, NULL);
    t_response(f, 200, gz, sizeof(gz), "Content-Type", "application/json; charset=utf-8", "Content-Encoding",
               "gzip", NULL);
    struct mitm_cv_result r = {0};
    mitm_cv_render_message("auto", &f->response->headers, &f->response->content, false, NULL, SIZE_MAX, &r);
    cr_assert_str_eq(r.description, "[decoded gzip] JSON");
    cr_assert_eq(r.nlines, 3);
    mitm_cv_result_free(&r);
    mitm_cv_render_message("auto", &f->response->headers, &f->response->content, true, NULL, SIZE_MAX, &r);
    cr_assert_eq(r.nlines, 1);
    cr_assert_eq(r.segs[0].style, MITM_CV_ERROR);
    mitm_cv_result_free(&r);
    mitm_headers_set(&f->response->headers, "Content-Encoding", "br", 2);
    mitm_cv_render_message("json", &f->response->headers, &f->response->content, false, NULL, SIZE_MAX, &r);
    cr_assert_str_eq(r.description, "[cannot decode] [failed to parse as json] Raw");
    mitm_cv_result_free(&r);
    mitm_flow_unref(f);
}

Test(views, names_and_safety)
{
    size_t n;
    const char *const *v = mitm_cv_names(&n);
    cr_assert_eq(n, 11);
    cr_assert_str_eq(v[0], "auto");
    cr_assert_str_eq(v[2], "hex dump");
    /* every view on hostile bytes: no crash, valid output (the fuzz target does more) */
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < n; i++) {
        char *got =
            render(v[i], junk, sizeof(junk), "multipart/form-data; boundary=\x03", SIZE_MAX, NULL, NULL);
        free(got);
    }
    cr_assert(mitm_cv_is_mostly_bin((const uint8_t *)"\x00\x01\x02", 3));
    cr_assert(!mitm_cv_is_mostly_bin((const uint8_t *)"abc\n", 4));
    cr_assert(!mitm_cv_is_mostly_bin(NULL, 0));
}
