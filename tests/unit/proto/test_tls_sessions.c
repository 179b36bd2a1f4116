/* The upstream TLS session cache: keys, take-once, bounds, expiry, slot reuse. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/tls/sessions.h"

/* A resumable session (it has an ID) of TLS `version` made at `made` for `life` seconds. */
static SSL_SESSION *sess_v(int version, unsigned char id, time_t made, long life)
{
    SSL_SESSION *s = SSL_SESSION_new();
    cr_assert_not_null(s);
    cr_assert(SSL_SESSION_set_protocol_version(s, version));
    unsigned char sid[8] = {id, 1, 2, 3, 4, 5, 6, 7};
    cr_assert(SSL_SESSION_set1_id(s, sid, sizeof(sid)));
    SSL_SESSION_set_time(s, made);
    SSL_SESSION_set_timeout(s, life);
    return s;
}

static SSL_SESSION *sess(unsigned char id, time_t made, long life)
{
    return sess_v(TLS1_3_VERSION, id, made, life);
}

static unsigned char id_of(const SSL_SESSION *s)
{
    unsigned int n;
    const unsigned char *p = SSL_SESSION_get_id(s, &n);
    cr_assert_eq(n, 8);
    return p[0];
}

Test(tls_sessions, key_names_address_sni_name_and_alpn)
{
    char a[160], b[160];
    const uint8_t h1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    cr_assert(mitm_tls_sessions_key(a, sizeof(a), "example.com", 443, "example.com", "example.com", h1,
                                    sizeof(h1)));
    cr_assert_str_eq(a, "11:example.com|443|11:example.com|11:example.com|08687474702f312e31");
    cr_assert(mitm_tls_sessions_key(b, sizeof(b), "example.com", 443, NULL, "example.com", NULL, 0));
    cr_assert_str_eq(b, "11:example.com|443|0:|11:example.com|");
    cr_assert(mitm_tls_sessions_key(b, sizeof(b), "example.com", 8443, "example.com", "example.com", h1,
                                    sizeof(h1)));
    cr_assert_str_neq(a, b);
    cr_assert(mitm_tls_sessions_key(b, sizeof(b), "example.com", 443, "www.example.com", "www.example.com",
                                    h1, sizeof(h1)));
    cr_assert_str_neq(a, b);
    /* no SNI can be sent for an IP: the name verified still tells connections apart */
    cr_assert(mitm_tls_sessions_key(a, sizeof(a), "10.0.0.1", 443, NULL, "10.0.0.1", NULL, 0));
    cr_assert(mitm_tls_sessions_key(b, sizeof(b), "10.0.0.1", 443, NULL, "10.0.0.9", NULL, 0));
    cr_assert_str_neq(a, b);
    /* length prefixes: a '|' inside a field cannot shift the others */
    cr_assert(mitm_tls_sessions_key(a, sizeof(a), "h", 1, "a|b", "c", NULL, 0));
    cr_assert(mitm_tls_sessions_key(b, sizeof(b), "h", 1, "a", "b|c", NULL, 0));
    cr_assert_str_neq(a, b);
    /* too long for the buffer: no key rather than a truncated one that could collide */
    cr_assert_not(
        mitm_tls_sessions_key(b, 20, "example.com", 443, "example.com", "example.com", h1, sizeof(h1)));
}

Test(tls_sessions, each_session_is_taken_once_newest_first)
{
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(16);
    mitm_tls_sessions_put(c, "k", sess(1, 1000, 100));
    mitm_tls_sessions_put(c, "k", sess(2, 1000, 100));
    cr_assert_eq(mitm_tls_sessions_count(c), 2);
    cr_assert_null(mitm_tls_sessions_take(c, "other", 1010));
    SSL_SESSION *s = mitm_tls_sessions_take(c, "k", 1010);
    cr_assert_not_null(s);
    cr_assert_eq(id_of(s), 2);
    SSL_SESSION_free(s);
    s = mitm_tls_sessions_take(c, "k", 1010);
    cr_assert_eq(id_of(s), 1);
    SSL_SESSION_free(s);
    cr_assert_null(mitm_tls_sessions_take(c, "k", 1010));
    cr_assert_eq(mitm_tls_sessions_count(c), 0);
    mitm_tls_sessions_free(c);
}

Test(tls_sessions, tls12_sessions_stay_for_reuse_until_they_expire)
{
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(4);
    mitm_tls_sessions_put(c, "k", sess_v(TLS1_2_VERSION, 7, 1000, 100));
    for (int i = 0; i < 3; i++) {
        SSL_SESSION *s = mitm_tls_sessions_take(c, "k", 1050);
        cr_assert_not_null(s);
        cr_assert_eq(id_of(s), 7);
        SSL_SESSION_free(s);
    }
    cr_assert_eq(mitm_tls_sessions_count(c), 1);
    cr_assert_null(mitm_tls_sessions_take(c, "k", 1100));
    cr_assert_eq(mitm_tls_sessions_count(c), 0);
    mitm_tls_sessions_free(c);
}

Test(tls_sessions, a_key_keeps_its_newest_few)
{
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(4);
    for (unsigned char i = 1; i <= MITM_TLS_SESSIONS_PER_KEY + 3; i++)
        mitm_tls_sessions_put(c, "k", sess(i, 1000, 100));
    cr_assert_eq(mitm_tls_sessions_count(c), MITM_TLS_SESSIONS_PER_KEY);
    for (unsigned char i = MITM_TLS_SESSIONS_PER_KEY + 3; i > 3; i--) {
        SSL_SESSION *s = mitm_tls_sessions_take(c, "k", 1000);
        cr_assert_eq(id_of(s), i);
        SSL_SESSION_free(s);
    }
    cr_assert_null(mitm_tls_sessions_take(c, "k", 1000));
    mitm_tls_sessions_free(c);
}

Test(tls_sessions, expired_sessions_are_never_handed_out)
{
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(4);
    mitm_tls_sessions_put(c, "k", sess(1, 1000, 100)); /* valid until 1100 */
    mitm_tls_sessions_put(c, "k", sess(2, 900, 100));  /* until 1000 */
    cr_assert_null(mitm_tls_sessions_take(c, "k", 1100));
    cr_assert_eq(mitm_tls_sessions_count(c), 0, "stale sessions are dropped, not kept");
    mitm_tls_sessions_put(c, "k", sess(3, 1000, 100));
    mitm_tls_sessions_put(c, "k", sess(4, 900, 100));
    SSL_SESSION *s = mitm_tls_sessions_take(c, "k", 1050);
    cr_assert_eq(id_of(s), 3, "the expired newer entry is skipped");
    SSL_SESSION_free(s);
    mitm_tls_sessions_free(c);
}

Test(tls_sessions, sessions_no_longer_resumable_are_dropped)
{
    /* A stored session can stop being resumable afterwards: OpenSSL marks the session of
     * a connection that ended in an error, and the cache may hold that very object (TLS
     * 1.2 sessions stay for reuse). Here its ID is cleared, which OpenSSL reads the same. */
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(4);
    SSL_SESSION *s12 = sess_v(TLS1_2_VERSION, 9, 1000, 100);
    SSL_SESSION_up_ref(s12);
    mitm_tls_sessions_put(c, "k", s12);
    SSL_SESSION *first = mitm_tls_sessions_take(c, "k", 1050);
    cr_assert_eq(first, s12, "resumable: handed out and kept");
    SSL_SESSION_free(first);
    cr_assert(SSL_SESSION_set1_id(s12, (const unsigned char *)"", 0));
    cr_assert_not(SSL_SESSION_is_resumable(s12));
    cr_assert_null(mitm_tls_sessions_take(c, "k", 1050));
    cr_assert_eq(mitm_tls_sessions_count(c), 0);
    SSL_SESSION_free(s12);
    mitm_tls_sessions_free(c);
}

Test(tls_sessions, unresumable_sessions_are_not_kept)
{
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(4);
    mitm_tls_sessions_put(c, "k", SSL_SESSION_new()); /* no ID, no ticket */
    cr_assert_eq(mitm_tls_sessions_count(c), 0);
    cr_assert_null(mitm_tls_sessions_take(c, "k", 0));
    mitm_tls_sessions_free(c);
}

Test(tls_sessions, a_slot_belongs_to_one_key_at_a_time)
{
    /* one slot: a second key evicts the first, whose sessions can never be handed out
     * under the wrong name */
    struct mitm_tls_sessions *c = mitm_tls_sessions_new(1);
    mitm_tls_sessions_put(c, "a.test|443||", sess(1, 1000, 100));
    mitm_tls_sessions_put(c, "b.test|443||", sess(2, 1000, 100));
    cr_assert_eq(mitm_tls_sessions_count(c), 1);
    cr_assert_null(mitm_tls_sessions_take(c, "a.test|443||", 1000));
    SSL_SESSION *s = mitm_tls_sessions_take(c, "b.test|443||", 1000);
    cr_assert_eq(id_of(s), 2);
    SSL_SESSION_free(s);
    mitm_tls_sessions_free(c);
}
