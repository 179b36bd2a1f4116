/* The PostgreSQL store of the flow sinks (libpq): schema, batched COPY, reading back for
 * -r postgresql://... The schema is in docs/internals/sinks.md. */
#ifndef MITM_SINK_PG_H
#define MITM_SINK_PG_H

#include <stdbool.h>

#include "filter/filter.h"
#include "flow/flow-t.h"
#include "sink/sink.h"

/* Its vtable; mitm_sink_pg_new(uri) makes its state (no connection yet: the sink thread
 * connects at the first batch). Never NULL. */
extern const struct mitm_sink_vt mitm_sink_pg_vt;
void *mitm_sink_pg_new(const char *uri);

/* Is path a database URI that -r reads (postgresql://, postgres://)? */
bool mitm_sink_pg_is_uri(const char *path);

/* Read every stored flow (all instances) in time order, narrowed in SQL by what filter
 * (NULL: all) certainly requires (~d, ~m, ~c and AND of them; the caller still applies the
 * whole filter), each rebuilt from its record and handed to fn (which takes the flow).
 * Returns the number of flows handed over, or -1 (err set, password never in it). */
long mitm_sink_pg_read(const char *uri, const struct mitm_filter *filter,
                       void (*fn)(void *, struct mitm_flow *), void *arg, char *err, size_t errlen);

/* The WHERE clause (without "WHERE"; "true" for none) that filter narrows to, with its
 * parameters in params[0..*n) (caller frees each and the clause). Exposed for tests. */
char *mitm_sink_pg_where(const struct mitm_filter *filter, char **params, int *n, int cap);

#endif
