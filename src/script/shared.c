#include "script/shared.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct entry {
    struct entry *next; /* bucket chain */
    uint64_t hash;
    char *key;
    size_t klen;
    struct mitm_shared_value v; /* STR: v.s owned */
};

struct mitm_shared {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t n;
    size_t size, cap;
};

/* FNV-1a: keys are short and chosen by scripts, not by peers. */
static uint64_t hash(const char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 0x100000001b3ull;
    return h;
}

struct mitm_shared *mitm_shared_new(size_t cap)
{
    struct mitm_shared *sh = mitm_calloc(1, sizeof(*sh));
    pthread_mutex_init(&sh->lock, NULL);
    sh->nbuckets = 64;
    sh->buckets = mitm_calloc(sh->nbuckets, sizeof(*sh->buckets));
    sh->cap = cap;
    return sh;
}

static size_t entry_size(size_t klen, const struct mitm_shared_value *v)
{
    return MITM_SHARED_ENTRY_OVERHEAD + klen + (v->type == MITM_SHARED_STR ? v->len : 0);
}

static void entry_free(struct entry *e)
{
    if (e->v.type == MITM_SHARED_STR)
        free(e->v.s);
    free(e->key);
    free(e);
}

void mitm_shared_free(struct mitm_shared *sh)
{
    if (!sh)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        for (struct entry *e = sh->buckets[i], *next; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    free(sh->buckets);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

/* The link that points at key's entry (or the chain's end). Under the lock. */
static struct entry **find(struct mitm_shared *sh, const char *key, size_t klen, uint64_t h)
{
    struct entry **p = &sh->buckets[h & (sh->nbuckets - 1)];
    while (*p && !((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->key, key, klen) == 0))
        p = &(*p)->next;
    return p;
}

static void grow(struct mitm_shared *sh)
{
    size_t nb = sh->nbuckets * 2;
    struct entry **b = mitm_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < sh->nbuckets; i++) {
        for (struct entry *e = sh->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = nb;
}

static void copy_out(const struct mitm_shared_value *v, struct mitm_shared_value *out)
{
    *out = *v;
    if (v->type == MITM_SHARED_STR)
        out->s = mitm_memdup(v->s, v->len);
}

void mitm_shared_get(struct mitm_shared *sh, const char *key, size_t klen, struct mitm_shared_value *out)
{
    uint64_t h = hash(key, klen);
    pthread_mutex_lock(&sh->lock);
    struct entry *e = *find(sh, key, klen, h);
    if (e)
        copy_out(&e->v, out);
    else
        *out = (struct mitm_shared_value){.type = MITM_SHARED_NIL};
    pthread_mutex_unlock(&sh->lock);
}

/* Store v in the entry at *p (creating it). Under the lock. Returns 0 or -1 (cap). */
static int store(struct mitm_shared *sh, struct entry **p, const char *key, size_t klen, uint64_t h,
                 const struct mitm_shared_value *v)
{
    struct entry *e = *p;
    size_t old = e ? entry_size(klen, &e->v) : 0;
    if (v->type == MITM_SHARED_NIL) {
        if (e) {
            *p = e->next;
            sh->size -= old;
            sh->n--;
            entry_free(e);
        }
        return 0;
    }
    size_t want = entry_size(klen, v);
    if (sh->cap && want > old && sh->size - old + want > sh->cap)
        return -1;
    if (!e) {
        e = mitm_calloc(1, sizeof(*e));
        e->key = mitm_memdup(key, klen);
        e->klen = klen;
        e->hash = h;
        e->next = NULL;
        *p = e;
        sh->n++;
    } else if (e->v.type == MITM_SHARED_STR) {
        free(e->v.s);
    }
    e->v = *v;
    if (v->type == MITM_SHARED_STR)
        e->v.s = mitm_memdup(v->s, v->len);
    sh->size = sh->size - old + want;
    if (sh->n > sh->nbuckets)
        grow(sh);
    return 0;
}

int mitm_shared_set(struct mitm_shared *sh, const char *key, size_t klen, const struct mitm_shared_value *v)
{
    uint64_t h = hash(key, klen);
    pthread_mutex_lock(&sh->lock);
    int rc = store(sh, find(sh, key, klen, h), key, klen, h, v);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static bool is_number(const struct mitm_shared_value *v)
{
    return v->type == MITM_SHARED_INT || v->type == MITM_SHARED_NUM;
}

int mitm_shared_incr(struct mitm_shared *sh, const char *key, size_t klen, const struct mitm_shared_value *by,
                     struct mitm_shared_value *out)
{
    uint64_t h = hash(key, klen);
    int rc = 0;
    pthread_mutex_lock(&sh->lock);
    struct entry **p = find(sh, key, klen, h);
    struct mitm_shared_value cur = {.type = MITM_SHARED_INT};
    if (*p)
        cur = (*p)->v;
    if (!is_number(&cur) || !is_number(by)) {
        rc = -1;
    } else {
        struct mitm_shared_value r = {.type = MITM_SHARED_INT};
        if (cur.type == MITM_SHARED_INT && by->type == MITM_SHARED_INT) {
            r.i = (int64_t)((uint64_t)cur.i + (uint64_t)by->i);
        } else {
            r.type = MITM_SHARED_NUM;
            r.d = (cur.type == MITM_SHARED_INT ? (double)cur.i : cur.d) +
                  (by->type == MITM_SHARED_INT ? (double)by->i : by->d);
        }
        rc = store(sh, p, key, klen, h, &r) < 0 ? -2 : 0;
        if (rc == 0)
            *out = r;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **mitm_shared_keys(struct mitm_shared *sh, size_t *n)
{
    pthread_mutex_lock(&sh->lock);
    char **v = sh->n ? mitm_calloc(sh->n, sizeof(*v)) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < sh->nbuckets; i++)
        for (struct entry *e = sh->buckets[i]; e; e = e->next)
            v[k++] = mitm_memdup(e->key, e->klen);
    pthread_mutex_unlock(&sh->lock);
    if (k > 1)
        qsort(v, k, sizeof(*v), cmp_keys);
    *n = k;
    return v;
}

size_t mitm_shared_size(struct mitm_shared *sh)
{
    pthread_mutex_lock(&sh->lock);
    size_t s = sh->size;
    pthread_mutex_unlock(&sh->lock);
    return s;
}
