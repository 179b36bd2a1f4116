/* mitm.shared: the one place where Lua states of different worker threads can share
 * values (DESIGN §3: workers share nothing else). A small map of string keys to nil,
 * boolean, integer, number or string values; every operation takes one mutex for the time
 * of a hash lookup and a copy, so a call costs an uncontended lock plus the copy (about
 * 50-100 ns) and contends only with other calls of mitm.shared. Total size (keys, values
 * and a fixed overhead per entry) is capped. Thread-safe. */
#ifndef MITM_SCRIPT_SHARED_H
#define MITM_SCRIPT_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes an entry costs on top of its key and value, for the cap. */
#define MITM_SHARED_ENTRY_OVERHEAD 64

enum mitm_shared_type {
    MITM_SHARED_NIL = 0, /* absent; setting it removes the key */
    MITM_SHARED_BOOL,
    MITM_SHARED_INT,
    MITM_SHARED_NUM,
    MITM_SHARED_STR,
};

/* A value. For STR, s/len: on set borrowed from the caller (copied in); on get a new
 * allocation the caller frees (NUL-terminated). */
struct mitm_shared_value {
    enum mitm_shared_type type;
    bool b;
    int64_t i;
    double d;
    char *s;
    size_t len;
};

struct mitm_shared;

/* A new, empty store holding at most cap bytes (0 = no cap). Never NULL. */
struct mitm_shared *mitm_shared_new(size_t cap);
/* Free it and everything in it. Accepts NULL. */
void mitm_shared_free(struct mitm_shared *sh);

/* Copy the value of key (klen bytes) into *out (type NIL when absent). */
void mitm_shared_get(struct mitm_shared *sh, const char *key, size_t klen, struct mitm_shared_value *out);

/* Set key to v (a copy is kept); type NIL removes the key. Returns 0, or -1 when the store
 * would grow past its cap (nothing changes then). */
int mitm_shared_set(struct mitm_shared *sh, const char *key, size_t klen, const struct mitm_shared_value *v);

/* Add by to the number at key (absent = 0) atomically; the result is an INT when both are
 * integers (wrapping on overflow, as Lua's integers do), else a NUM, stored and copied into
 * *out. Returns 0, -1 when the key holds a value that is not a number (nothing changes), or
 * -2 when a new key would pass the cap. */
int mitm_shared_incr(struct mitm_shared *sh, const char *key, size_t klen, const struct mitm_shared_value *by,
                     struct mitm_shared_value *out);

/* The keys, sorted bytewise: a new array of *n new NUL-terminated strings (free each, then
 * the array; NULL when *n is 0). */
char **mitm_shared_keys(struct mitm_shared *sh, size_t *n);

/* Bytes accounted against the cap. */
size_t mitm_shared_size(struct mitm_shared *sh);

#endif
