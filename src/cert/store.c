#include "cert/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cert/util.h"

#define CUSTOM_BUCKETS 256

struct mitm_cert_entry {
    atomic_uint refs;
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) * chain;
    bool custom;
    /* Cache bookkeeping, guarded by the store's lock. */
    char *id; /* canonical name list + organization */
    size_t id_len;
    uint64_t hash;
    struct mitm_cert_entry *hnext;
    struct mitm_cert_entry *prev, *next; /* LRU list: head is the most recently used */
};

struct custom_name {
    char *name;
    struct mitm_cert_entry *entry; /* one reference per registration */
    struct custom_name *next;
};

struct mitm_cert_store {
    pthread_mutex_t lock;
    struct mitm_cert_signer *signer;
    STACK_OF(X509) * leaf_chain; /* sent after every generated leaf */
    EVP_PKEY *ca_pub;            /* for --certs files without a key */

    size_t cap;
    size_t count;
    size_t nbuckets; /* power of two */
    struct mitm_cert_entry **buckets;
    struct mitm_cert_entry *head, *tail;

    struct custom_name *custom[CUSTOM_BUCKETS];
    size_t ncustom;

    struct mitm_cert_store_stats stats;
};

/* FNV-1a: short keys, no adversary who can pick them cheaply (they come from
 * certificates we fetched and SNI that we also dial). */
static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- entries ---- */

static struct mitm_cert_entry *entry_new(X509 *cert, EVP_PKEY *key, STACK_OF(X509) * chain, bool custom)
{
    struct mitm_cert_entry *e = mitm_calloc(1, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->cert = cert; /* takes ownership */
    e->key = key;   /* takes ownership */
    e->chain = chain;
    e->custom = custom;
    return e;
}

struct mitm_cert_entry *mitm_cert_entry_ref(struct mitm_cert_entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void mitm_cert_entry_release(struct mitm_cert_entry *e)
{
    if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    X509_free(e->cert);
    EVP_PKEY_free(e->key);
    sk_X509_pop_free(e->chain, X509_free);
    free(e->id);
    free(e);
}

X509 *mitm_cert_entry_cert(const struct mitm_cert_entry *e)
{
    return e->cert;
}

EVP_PKEY *mitm_cert_entry_key(const struct mitm_cert_entry *e)
{
    return e->key;
}

STACK_OF(X509) * mitm_cert_entry_chain(const struct mitm_cert_entry *e)
{
    return e->chain;
}

bool mitm_cert_entry_is_custom(const struct mitm_cert_entry *e)
{
    return e->custom;
}

int mitm_cert_entry_apply(const struct mitm_cert_entry *e, SSL *ssl)
{
    return SSL_use_certificate(ssl, e->cert) == 1 && SSL_use_PrivateKey(ssl, e->key) == 1 &&
           SSL_set1_chain(ssl, e->chain) == 1;
}

/* ---- store ---- */

struct mitm_cert_store *mitm_cert_store_new(const struct mitm_ca *ca, const struct mitm_cert_store_opts *opts,
                                            char *err, size_t errlen)
{
    struct mitm_cert_store_opts o = opts ? *opts : (struct mitm_cert_store_opts){0};
    struct mitm_cert_signer *signer =
        mitm_cert_signer_new(ca, o.key_type, o.rsa_bits ? o.rsa_bits : 2048, err, errlen);
    if (!signer)
        return NULL;
    struct mitm_cert_store *st = mitm_calloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    st->signer = signer;
    st->cap = o.capacity ? o.capacity : MITM_CERT_CACHE_DEFAULT;
    st->nbuckets = 16;
    while (st->nbuckets < st->cap * 2 && st->nbuckets < (1u << 24))
        st->nbuckets <<= 1;
    st->buckets = mitm_calloc(st->nbuckets, sizeof(*st->buckets));
    /* When mitmproxy-ca.pem carries a chain (an intermediate CA), mitmproxy has OpenSSL
     * build the chain from that file: CA cert and the certs after it. Without one, the
     * leaf goes alone: clients trust the CA itself. */
    st->leaf_chain = sk_X509_new_null();
    STACK_OF(X509) *extra = mitm_cert_signer_ca_chain(signer);
    if (sk_X509_num(extra) > 0) {
        X509 *cacert = mitm_cert_signer_ca(signer);
        X509_up_ref(cacert);
        sk_X509_push(st->leaf_chain, cacert);
        for (int i = 0; i < sk_X509_num(extra); i++) {
            X509_up_ref(sk_X509_value(extra, i));
            sk_X509_push(st->leaf_chain, sk_X509_value(extra, i));
        }
    }
    st->ca_pub = X509_get_pubkey(mitm_ca_cert(ca));
    return st;
}

void mitm_cert_store_free(struct mitm_cert_store *st)
{
    if (!st)
        return;
    for (struct mitm_cert_entry *e = st->head, *next; e; e = next) {
        next = e->next;
        mitm_cert_entry_release(e);
    }
    for (size_t b = 0; b < CUSTOM_BUCKETS; b++) {
        for (struct custom_name *c = st->custom[b], *next; c; c = next) {
            next = c->next;
            mitm_cert_entry_release(c->entry);
            free(c->name);
            free(c);
        }
    }
    free(st->buckets);
    sk_X509_pop_free(st->leaf_chain, X509_free);
    EVP_PKEY_free(st->ca_pub);
    mitm_cert_signer_free(st->signer);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

const struct mitm_cert_signer *mitm_cert_store_signer(const struct mitm_cert_store *st)
{
    return st->signer;
}

void mitm_cert_store_stats(struct mitm_cert_store *st, struct mitm_cert_store_stats *out)
{
    pthread_mutex_lock(&st->lock);
    *out = st->stats;
    out->cached = st->count;
    pthread_mutex_unlock(&st->lock);
}

/* ---- custom certificates (--certs) ---- */

static struct custom_name *custom_find(struct mitm_cert_store *st, const char *name, size_t len)
{
    struct custom_name *c = st->custom[hash_bytes(name, len) % CUSTOM_BUCKETS];
    for (; c; c = c->next) {
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

/* Register e under name (lowercased). Caller holds the lock. */
static int custom_put(struct mitm_cert_store *st, const char *name, struct mitm_cert_entry *e)
{
    char low[MITM_CERT_NAME_MAX + 1];
    size_t len = strlen(name);
    if (len == 0 || len > MITM_CERT_NAME_MAX)
        return 0; /* nothing to register; not an error */
    for (size_t i = 0; i < len; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[len] = 0;
    struct custom_name *c = custom_find(st, low, len);
    if (c) {
        mitm_cert_entry_release(c->entry);
        c->entry = mitm_cert_entry_ref(e);
        return 0;
    }
    if (st->ncustom == MITM_CERT_CUSTOM_MAX)
        return -1;
    c = mitm_calloc(1, sizeof(*c));
    c->name = mitm_strdup(low);
    c->entry = mitm_cert_entry_ref(e);
    size_t b = hash_bytes(low, len) % CUSTOM_BUCKETS;
    c->next = st->custom[b];
    st->custom[b] = c;
    st->ncustom++;
    return 0;
}

/* mitmproxy's asterisk_forms: www.a.com -> www.a.com, *.a.com, *.com. */
static struct mitm_cert_entry *custom_lookup(struct mitm_cert_store *st, const char *name)
{
    size_t len = strlen(name);
    struct custom_name *c = custom_find(st, name, len);
    if (c)
        return c->entry;
    char buf[MITM_CERT_NAME_MAX + 3] = "*";
    for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
        size_t rest = len - (size_t)(dot - name);
        memcpy(buf + 1, dot, rest + 1);
        if ((c = custom_find(st, buf, rest + 1)))
            return c->entry;
    }
    return NULL;
}

static struct mitm_cert_entry *load_custom(struct mitm_cert_store *st, const char *path,
                                           const char *passphrase, char *err, size_t errlen)
{
    size_t len;
    uint8_t *raw = mitm_cert_read_file(path, MITM_CERT_FILE_MAX, &len, err, errlen);
    if (!raw)
        return NULL;
    BIO *bio = BIO_new_mem_buf(raw, (int)len);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    STACK_OF(X509) *chain = sk_X509_new_null();
    for (int i = 0; cert && i < MITM_CERT_FILE_CHAIN_MAX; i++) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        sk_X509_push(chain, x);
    }
    BIO_free(bio);
    ERR_clear_error();
    EVP_PKEY *key = NULL;
    const char *why = NULL;
    if (!cert) {
        why = "no certificate";
    } else if (strstr((const char *)raw, "PRIVATE KEY-----")) {
        bio = BIO_new_mem_buf(raw, (int)len);
        key = PEM_read_bio_PrivateKey(bio, NULL, mitm_cert_pem_password_cb, (void *)passphrase);
        BIO_free(bio);
        if (!key)
            why = passphrase ? "cannot read the private key (wrong cert_passphrase?)"
                             : "cannot read the private key (encrypted? set cert_passphrase)";
        else if (!X509_check_private_key(cert, key))
            why = "the private key does not match the certificate";
    } else {
        EVP_PKEY *pub = X509_get0_pubkey(cert);
        if (pub && EVP_PKEY_eq(pub, st->ca_pub) == 1) {
            key = mitm_cert_signer_ca_key(st->signer);
            EVP_PKEY_up_ref(key);
        } else {
            why = "no private key in the file, and the certificate's key is not the CA's";
        }
    }
    free(raw);
    if (why) {
        X509_free(cert);
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        return mitm_cert_err(err, errlen, "%s: %s", path, why);
    }
    if (X509_check_ca(cert))
        mitm_log(MITM_LOG_WARN, NULL,
                 "%s: this is a CA certificate; clients will reject it as a server certificate", path);
    return entry_new(cert, key, chain, true);
}

int mitm_cert_store_add_file(struct mitm_cert_store *st, const char *spec, const char *passphrase, char *err,
                             size_t errlen)
{
    const char *eq = strchr(spec, '=');
    char *domain = eq ? mitm_strndup(spec, (size_t)(eq - spec)) : mitm_strdup("*");
    const char *path = eq ? eq + 1 : spec;
    struct mitm_cert_entry *e = load_custom(st, path, passphrase, err, errlen);
    if (!e) {
        free(domain);
        return -1;
    }
    /* mitmproxy's add_cert: the certificate's CN and SANs, then the given domain. */
    struct mitm_cert_names names;
    mitm_cert_names_build(&names, e->cert, NULL, NULL, NULL);
    int rc = 0;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; rc == 0 && i < names.count; i++)
        rc = custom_put(st, names.v[i].value, e);
    if (rc == 0)
        rc = custom_put(st, domain, e);
    pthread_mutex_unlock(&st->lock);
    if (rc != 0)
        mitm_cert_err(err, errlen, "%s: more than %d custom certificate names", path, MITM_CERT_CUSTOM_MAX);
    mitm_cert_names_free(&names);
    mitm_cert_entry_release(e);
    free(domain);
    return rc;
}

/* ---- generated leaves ---- */

/* "D<name>\n" / "I<ip>\n" per name, then "C<crl origin>\n" and "O<organization>".
 * Unambiguous: names and origins never contain a newline. */
static char *make_id(const struct mitm_cert_names *n, size_t *len)
{
    size_t total =
        2 + (n->organization ? strlen(n->organization) : 0) + 2 + (n->crl_origin ? strlen(n->crl_origin) : 0);
    for (size_t i = 0; i < n->count; i++)
        total += strlen(n->v[i].value) + 2;
    char *id = mitm_alloc(total + 1);
    size_t off = 0;
    for (size_t i = 0; i < n->count; i++)
        off += (size_t)sprintf(id + off, "%c%s\n", n->v[i].ip ? 'I' : 'D', n->v[i].value);
    off += (size_t)sprintf(id + off, "C%s\n", n->crl_origin ? n->crl_origin : "");
    off += (size_t)sprintf(id + off, "O%s", n->organization ? n->organization : "");
    *len = off;
    return id;
}

static struct mitm_cert_entry *cache_find(struct mitm_cert_store *st, const char *id, size_t len, uint64_t h)
{
    for (struct mitm_cert_entry *e = st->buckets[h & (st->nbuckets - 1)]; e; e = e->hnext) {
        if (e->hash == h && e->id_len == len && memcmp(e->id, id, len) == 0)
            return e;
    }
    return NULL;
}

static void lru_unlink(struct mitm_cert_store *st, struct mitm_cert_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        st->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        st->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct mitm_cert_store *st, struct mitm_cert_entry *e)
{
    e->next = st->head;
    e->prev = NULL;
    if (st->head)
        st->head->prev = e;
    st->head = e;
    if (!st->tail)
        st->tail = e;
}

static void evict_tail(struct mitm_cert_store *st)
{
    struct mitm_cert_entry *e = st->tail;
    lru_unlink(st, e);
    struct mitm_cert_entry **pp = &st->buckets[e->hash & (st->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    st->count--;
    st->stats.evicted++;
    mitm_cert_entry_release(e);
}

static struct mitm_cert_entry *mint_entry(struct mitm_cert_store *st, const struct mitm_cert_names *names,
                                          char *err, size_t errlen)
{
    X509 *x = mitm_cert_mint(st->signer, names, err, errlen);
    if (!x)
        return NULL;
    EVP_PKEY *key = mitm_cert_signer_key(st->signer);
    EVP_PKEY_up_ref(key);
    return entry_new(x, key, X509_chain_up_ref(st->leaf_chain), false);
}

struct mitm_cert_entry *mitm_cert_store_get(struct mitm_cert_store *st, const struct mitm_cert_names *names,
                                            char *err, size_t errlen)
{
    if (!names || names->count == 0)
        return mitm_cert_err(err, errlen, "no names to find a certificate for");
    size_t len;
    char *id = make_id(names, &len);
    uint64_t h = hash_bytes(id, len);
    struct mitm_cert_entry *e = NULL;

    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; st->ncustom > 0 && !e && i < names->count; i++)
        e = custom_lookup(st, names->v[i].value);
    if (!e && st->ncustom > 0)
        e = custom_lookup(st, "*");
    if (e) {
        st->stats.custom++;
    } else if ((e = cache_find(st, id, len, h))) {
        st->stats.hits++;
        lru_unlink(st, e);
        lru_push_front(st, e);
    }
    if (e) {
        mitm_cert_entry_ref(e);
        pthread_mutex_unlock(&st->lock);
        free(id);
        return e;
    }
    pthread_mutex_unlock(&st->lock);

    /* Mint without the lock: other threads keep hitting the cache meanwhile. Two threads
     * missing on the same names both mint; the second keeps the first one's entry. */
    struct mitm_cert_entry *fresh = mint_entry(st, names, err, errlen);
    if (!fresh) {
        free(id);
        return NULL;
    }
    pthread_mutex_lock(&st->lock);
    st->stats.minted++;
    e = cache_find(st, id, len, h);
    if (e) {
        lru_unlink(st, e);
        lru_push_front(st, e);
        mitm_cert_entry_ref(e);
        free(id);
    } else {
        e = fresh;
        fresh = NULL;
        e->id = id;
        e->id_len = len;
        e->hash = h;
        size_t b = h & (st->nbuckets - 1);
        e->hnext = st->buckets[b];
        st->buckets[b] = e;
        lru_push_front(st, e);
        st->count++;
        mitm_cert_entry_ref(e); /* one for the cache, one for the caller */
        while (st->count > st->cap)
            evict_tail(st);
    }
    pthread_mutex_unlock(&st->lock);
    mitm_cert_entry_release(fresh);
    return e;
}
