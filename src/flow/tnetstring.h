/* tnetstrings as mitmproxy writes them (reference §10, mitmproxy/io/tnetstring.py):
 * `<length>:<payload><tag>` with tags `,` bytes, `;` UTF-8 str (mitmproxy's extension),
 * `#` int, `^` float, `!` bool, `~` null, `]` list, `}` dict (alternating key, value).
 *
 * The parser builds a small tree of struct mitm_tns nodes. Byte and string payloads are
 * views: they point into the parsed input (or into memory a builder was given), so the
 * input must outlive the tree. Dicts keep their entries in input order; lookups return
 * the last entry with a key (like Python's dict built from the wire).
 *
 * The writer emits dict entries in the tree's (insertion) order. mitmproxy's writer emits
 * them in reverse insertion order; readers, ours and mitmproxy's, do not depend on it. */
#ifndef MITM_FLOW_TNETSTRING_H
#define MITM_FLOW_TNETSTRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/slice.h"

enum mitm_tns_type {
    MITM_TNS_BYTES = 0, /* `,` */
    MITM_TNS_STR,       /* `;` (UTF-8 is not validated: mitmproxy's own files are valid) */
    MITM_TNS_INT,       /* `#` 64-bit signed */
    MITM_TNS_FLOAT,     /* `^` */
    MITM_TNS_BOOL,      /* `!` */
    MITM_TNS_NULL,      /* `~` */
    MITM_TNS_LIST,      /* `]` */
    MITM_TNS_DICT,      /* `}` items alternate key, value */
};

struct mitm_tns {
    enum mitm_tns_type type;
    union {
        struct mitm_slice s; /* BYTES, STR: borrowed, or held by own */
        int64_t i;
        double f;
        bool b;
    } v;
    struct mitm_tns **items; /* LIST: n values; DICT: 2n children (key, value, key, ...) */
    size_t n;                /* LIST: number of values; DICT: number of entries */
    size_t cap;              /* allocated slots in items */
    uint8_t *own;            /* if non-NULL, the bytes v.s points to; freed with the node */
    size_t wsize;            /* scratch of mitm_tns_write: the payload's encoded size */
};

/* Caps of one parse. A value whose declared length exceeds max_size is refused at once
 * (no waiting for the bytes); nesting deeper than max_depth is refused. */
struct mitm_tns_limits {
    size_t max_size;    /* bytes of the whole top-level value, prefix and tag included; 0 = none */
    unsigned max_depth; /* nesting of lists/dicts; 0 = MITM_TNS_DEFAULT_MAX_DEPTH */
};

#define MITM_TNS_DEFAULT_MAX_DEPTH 64

/* Where and why a parse failed. offset is relative to the start of the parse input. */
struct mitm_tns_error {
    const char *reason; /* static string */
    size_t offset;
};

/* Parse one value from the start of p[0..len).
 * Returns the bytes consumed (> 0) and sets *out to a new tree (caller frees it with
 * mitm_tns_free; it borrows bytes from p). Returns MITM_INCOMPLETE if p is a valid
 * prefix of a value that needs more bytes (never if the declared length is over the
 * cap), or MITM_PARSE_ERROR with err filled in (err may be NULL). *out is NULL unless
 * the parse succeeded. Rejects: a length prefix that is empty, longer than 12 digits or
 * has a leading zero; a missing ':'; an unknown tag; invalid int/float/bool/null
 * payloads (ints must fit int64); nested values that do not exactly fill their parent;
 * a dict with a key but no value, or with a key that is not bytes/str; caps exceeded. */
ssize_t mitm_tns_parse(const uint8_t *p, size_t len, const struct mitm_tns_limits *lim, struct mitm_tns **out,
                       struct mitm_tns_error *err);

/* Read only the frame header at p: returns the total size of the value (prefix, payload
 * and tag) without looking at the payload, or MITM_INCOMPLETE (the prefix is not
 * complete yet), or MITM_PARSE_ERROR (bad prefix, or a size over max_size; err set). */
ssize_t mitm_tns_frame_size(const uint8_t *p, size_t len, size_t max_size, struct mitm_tns_error *err);

/* Free a node and everything below it. Accepts NULL. */
void mitm_tns_free(struct mitm_tns *v);

/* Builders. Each returns a new node the caller owns (never NULL; small allocations abort
 * on failure). _bytes/_str borrow p (it must outlive the node); _bytes_copy/_str_copy
 * copy it into node-owned memory. */
struct mitm_tns *mitm_tns_new_bytes(const void *p, size_t n);
struct mitm_tns *mitm_tns_new_str(const void *p, size_t n);
struct mitm_tns *mitm_tns_new_bytes_copy(const void *p, size_t n);
struct mitm_tns *mitm_tns_new_str_copy(const void *p, size_t n);
/* Borrowing a NUL-terminated C string as str. */
struct mitm_tns *mitm_tns_new_cstr(const char *s);
struct mitm_tns *mitm_tns_new_int(int64_t i);
struct mitm_tns *mitm_tns_new_float(double f);
struct mitm_tns *mitm_tns_new_bool(bool b);
struct mitm_tns *mitm_tns_new_null(void);
struct mitm_tns *mitm_tns_new_list(void);
struct mitm_tns *mitm_tns_new_dict(void);

/* Append item to a list; the list takes ownership of item. */
void mitm_tns_list_append(struct mitm_tns *list, struct mitm_tns *item);

/* Set key (a str key, borrowed C string) to value, taking ownership of value: replaces
 * the value of the last entry with that key (freeing the old value) or appends an entry. */
void mitm_tns_dict_set(struct mitm_tns *dict, const char *key, struct mitm_tns *value);

/* Value of the last entry whose key (bytes or str) equals key, or NULL (also when dict is
 * NULL or not a dict). The dict keeps ownership. */
struct mitm_tns *mitm_tns_get(const struct mitm_tns *dict, const char *key);

/* Remove every entry with key and return the last one's value (now owned by the caller),
 * or NULL if there was none. */
struct mitm_tns *mitm_tns_dict_pop(struct mitm_tns *dict, const char *key);

/* Move the value of key from to key to (dropping any entry that was at to). If from is
 * absent, sets to = the given default (taken over; may be NULL = do nothing); otherwise
 * the default is freed. */
void mitm_tns_dict_rename(struct mitm_tns *dict, const char *from, const char *to, struct mitm_tns *dflt);

/* Deep copy. Byte payloads stay borrowed from the same memory unless the original owned
 * them, in which case the copy owns a copy. */
struct mitm_tns *mitm_tns_copy(const struct mitm_tns *v);

/* True if v is bytes or str. */
static inline bool mitm_tns_is_text(const struct mitm_tns *v)
{
    return v && (v->type == MITM_TNS_BYTES || v->type == MITM_TNS_STR);
}

/* Python truthiness (None, False, 0, 0.0, empty bytes/str/list/dict are false). */
bool mitm_tns_truthy(const struct mitm_tns *v);

/* Append the encoding of v to b. Returns 0, or -1 if b's cap was hit (b then holds a
 * partial encoding: the caller discards it) or v is nested deeper than
 * MITM_TNS_DEFAULT_MAX_DEPTH * 4. Floats are written like Python's repr (shortest digits
 * that read back to the same double; "946681203.0", "1e+16", "inf", "nan"). */
int mitm_tns_write(struct mitm_buf *b, const struct mitm_tns *v);

/* Size in bytes of v's encoding. */
size_t mitm_tns_encoded_size(const struct mitm_tns *v);

/* Format f like Python's repr(float) into out (at least 32 bytes); returns the length. */
size_t mitm_tns_format_float(double f, char *out, size_t cap);

/* Decimal digits of n: the length prefix's size. */
static inline size_t mitm_tns_digits(size_t n)
{
    size_t d = 1;
    while (n >= 10)
        n /= 10, d++;
    return d;
}

/* n in decimal into out (at least 20 bytes, no NUL); returns the length. printf costs more than
 * the rest of an encode: every value has a length prefix. */
static inline size_t mitm_tns_u64_text(uint64_t n, char *out)
{
    char rev[20];
    size_t k = 0;
    do {
        rev[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < k; i++)
        out[i] = rev[k - 1 - i];
    return k;
}

#endif
