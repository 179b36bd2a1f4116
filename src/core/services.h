/* The services a layer stack and its hooks use (DESIGN §6 "Services, not globals"): the
 * options snapshot, the addons, the TLS configuration. One instance per proxy, made by
 * the front end on the main thread before the workers start; every connection's context
 * points at it (ctx->svc). */
#ifndef MITM_CORE_SERVICES_H
#define MITM_CORE_SERVICES_H

#include <pthread.h>

#include "core/options.h"

struct mitm_addons;
struct mitm_tls_config;
struct mitm_next_config;

/* An immutable, refcounted copy of the options. A connection holds the snapshot that was
 * current when it started, so `:set` from a UI (mitm_services_set_options) never changes
 * options under a running worker: new connections see the new snapshot. */
struct mitm_optsnap {
    int refs; /* atomic */
    struct mitm_options o;
};

/* A snapshot holding a deep copy of o (refs 1). */
struct mitm_optsnap *mitm_optsnap_new(const struct mitm_options *o);
struct mitm_optsnap *mitm_optsnap_ref(struct mitm_optsnap *s);
/* Drop a reference; frees at zero. Accepts NULL. Any thread. */
void mitm_optsnap_unref(struct mitm_optsnap *s);

struct mitm_services {
    struct mitm_addons *addons;    /* hook dispatch; NULL: no addons */
    struct mitm_tls_config *tls;   /* HTTPS interception; NULL: TLS is relayed untouched */
    struct mitm_next_config *next; /* ignore_hosts, allow_hosts, tcp_hosts; NULL: none */
    /* private: the current options snapshot, swapped under lock */
    pthread_mutex_t lock;
    struct mitm_optsnap *opts;
};

/* Initialise with a snapshot of o (fields addons and tls start NULL; the caller sets
 * them). */
void mitm_services_init(struct mitm_services *svc, const struct mitm_options *o);
/* Release the snapshot (not addons or tls, which the caller owns). */
void mitm_services_deinit(struct mitm_services *svc);
/* The current snapshot, with a reference for the caller. Any thread. */
struct mitm_optsnap *mitm_services_options(const struct mitm_services *svc);
/* Make a snapshot of o current for connections started from now on. Main thread. */
void mitm_services_set_options(struct mitm_services *svc, const struct mitm_options *o);

#endif
