/* Injected messages: see inject.h. */
#include "proto/inject.h"
#include "base/alloc.h"

#include <stdlib.h>

static void inject_free(void *p)
{
    struct mitm_inject *m = p;
    free(m->data);
    free(m);
}

static size_t inject_size(const void *p)
{
    return ((const struct mitm_inject *)p)->len;
}

static const struct mitm_payload_vt inject_vt = {.name = "inject", .free = inject_free, .size = inject_size};

struct mitm_payload mitm_inject_payload(bool to_client, bool is_text, const void *data, size_t len)
{
    struct mitm_inject *m = mitm_calloc(1, sizeof(*m));
    m->to_client = to_client;
    m->is_text = is_text;
    m->data = mitm_memdup(data, len);
    m->len = len;
    return (struct mitm_payload){.vt = &inject_vt, .p = m};
}

const struct mitm_inject *mitm_payload_inject(const struct mitm_payload *p)
{
    return p->vt == &inject_vt ? p->p : NULL;
}
