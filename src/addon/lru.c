/* Bounded LRU map: see lru.h. Chained hash buckets (a power of two at least the entry
 * cap, so chains stay short) and one recency list. */
#include "addon/lru.h"
#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct node {
    uint8_t *key, *val; /* one allocation: key bytes, then value bytes */
    size_t klen, vlen;
    uint64_t hash;
    struct node *chain;       /* bucket */
    struct node *prev, *next; /* recency: head = most recent */
};

struct mitm_lru {
    struct node **buckets;
    size_t nbuckets, n, bytes, max_entries, max_bytes;
    struct node *head, *tail;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

struct mitm_lru *mitm_lru_new(size_t max_entries, size_t max_bytes)
{
    struct mitm_lru *m = mitm_calloc(1, sizeof(*m));
    m->max_entries = max_entries ? max_entries : 1;
    m->max_bytes = max_bytes;
    m->nbuckets = 16;
    while (m->nbuckets < m->max_entries)
        m->nbuckets *= 2;
    m->buckets = mitm_calloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

void mitm_lru_free(struct mitm_lru *m)
{
    if (!m)
        return;
    for (struct node *n = m->head, *next; n; n = next) {
        next = n->next;
        free(n->key);
        free(n);
    }
    free(m->buckets);
    free(m);
}

static struct node **find(struct mitm_lru *m, struct mitm_slice key, uint64_t h)
{
    struct node **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->klen == key.len &&
                    (!key.len || memcmp((*pp)->key, key.base, key.len) == 0)))
        pp = &(*pp)->chain;
    return pp;
}

static void unlink_recency(struct mitm_lru *m, struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        m->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        m->tail = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(struct mitm_lru *m, struct node *n)
{
    n->next = m->head;
    n->prev = NULL;
    if (m->head)
        m->head->prev = n;
    m->head = n;
    if (!m->tail)
        m->tail = n;
}

static void drop(struct mitm_lru *m, struct node **pp)
{
    struct node *n = *pp;
    *pp = n->chain;
    unlink_recency(m, n);
    m->n--;
    m->bytes -= n->klen + n->vlen;
    free(n->key);
    free(n);
}

bool mitm_lru_get(struct mitm_lru *m, struct mitm_slice key, struct mitm_slice *value)
{
    struct node *n = *find(m, key, fnv1a(key.base, key.len));
    if (!n)
        return false;
    unlink_recency(m, n);
    push_front(m, n);
    *value = mitm_slice(n->val, n->vlen);
    return true;
}

bool mitm_lru_del(struct mitm_lru *m, struct mitm_slice key)
{
    struct node **pp = find(m, key, fnv1a(key.base, key.len));
    if (!*pp)
        return false;
    drop(m, pp);
    return true;
}

void mitm_lru_put(struct mitm_lru *m, struct mitm_slice key, struct mitm_slice value)
{
    mitm_lru_del(m, key);
    size_t need = key.len + value.len;
    if (m->max_bytes && need > m->max_bytes)
        return;
    while (m->tail && (m->n >= m->max_entries || (m->max_bytes && m->bytes + need > m->max_bytes))) {
        struct node *old = m->tail;
        drop(m, find(m, mitm_slice(old->key, old->klen), old->hash));
    }
    struct node *n = mitm_calloc(1, sizeof(*n));
    n->key = mitm_alloc(need + 1);
    if (key.len)
        memcpy(n->key, key.base, key.len);
    if (value.len)
        memcpy(n->key + key.len, value.base, value.len);
    n->val = n->key + key.len;
    n->klen = key.len;
    n->vlen = value.len;
    n->hash = fnv1a(key.base, key.len);
    struct node **pp = &m->buckets[n->hash & (m->nbuckets - 1)];
    n->chain = *pp;
    *pp = n;
    push_front(m, n);
    m->n++;
    m->bytes += need;
}

size_t mitm_lru_count(const struct mitm_lru *m)
{
    return m->n;
}

size_t mitm_lru_bytes(const struct mitm_lru *m)
{
    return m->bytes;
}
