/* A bounded map from byte-string keys to byte-string values that forgets the least
 * recently used entry when it is full (entry count or bytes), for addon state that
 * grows with traffic: stickyauth's hosts, proxyauth's authenticated connections. Not
 * thread-safe: the owner holds its own lock around every call. */
#ifndef MITM_ADDON_LRU_H
#define MITM_ADDON_LRU_H

#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"

struct mitm_lru;

/* A map of at most max_entries entries whose keys and values take at most max_bytes
 * together (an entry larger than that on its own is not stored). Never NULL. */
struct mitm_lru *mitm_lru_new(size_t max_entries, size_t max_bytes);
void mitm_lru_free(struct mitm_lru *m); /* accepts NULL */

/* The value of key (a view valid until the next change of m), marked as just used; false
 * if absent. */
bool mitm_lru_get(struct mitm_lru *m, struct mitm_slice key, struct mitm_slice *value);
/* Set key to value (copied), evicting the least recently used entries as needed. */
void mitm_lru_put(struct mitm_lru *m, struct mitm_slice key, struct mitm_slice value);
/* Remove key; returns whether it was there. */
bool mitm_lru_del(struct mitm_lru *m, struct mitm_slice key);
/* Entries and bytes held. */
size_t mitm_lru_count(const struct mitm_lru *m);
size_t mitm_lru_bytes(const struct mitm_lru *m);

#endif
