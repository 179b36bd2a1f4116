/* config.yaml fuzzing: arbitrary bytes as config.yaml content. Invariants: no crash, no
 * leak; a failed load leaves the options untouched; and whatever loads also survives the
 * --options round trip (dump, load the dump into defaults, get identical values), which
 * checks the YAML quoting of every string the loader can produce. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/options.h"
#include "base/log.h"

static bool same(const struct mitm_options *a, const struct mitm_options *b)
{
    size_t n;
    const struct mitm_opt_info *all = mitm_options_all(&n);
    for (size_t i = 0; i < n; i++) {
        const void *x = (const char *)a + all[i].offset, *y = (const char *)b + all[i].offset;
        switch (all[i].type) {
        case MITM_OPT_TYPE_BOOL:
            if (*(const bool *)x != *(const bool *)y)
                return false;
            break;
        case MITM_OPT_TYPE_INT:
        case MITM_OPT_TYPE_OPT_INT:
            if (*(const long *)x != *(const long *)y)
                return false;
            break;
        case MITM_OPT_TYPE_STR:
        case MITM_OPT_TYPE_OPT_STR:
        case MITM_OPT_TYPE_SIZE: {
            const char *s = *(char *const *)x, *t = *(char *const *)y;
            if ((!s || !t) ? s != t : strcmp(s, t) != 0)
                return false;
            break;
        }
        case MITM_OPT_TYPE_STRLIST: {
            const struct mitm_strvec *v = x, *w = y;
            if (v->n != w->n)
                return false;
            for (size_t k = 0; k < v->n; k++)
                if (strcmp(v->v[k], w->v[k]) != 0)
                    return false;
            break;
        }
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mitm_options o = {0}, before = {0}, back = {0};
    char err[256];
    mitm_log_set_level(MITM_LOG_ERROR); /* unknown keys warn; keep the run quiet */
    mitm_options_init(&o);
    mitm_options_copy(&before, &o);
    int rc = mitm_options_load_yaml_string(&o, (const char *)data, size, "fuzz.yaml", err, sizeof(err));
    if (rc < 0 && !same(&o, &before))
        abort(); /* a failed load must not change anything */
    if (rc == 0) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            abort();
        mitm_options_dump(&o, f);
        fclose(f);
        mitm_options_init(&back);
        if (len <= MITM_OPTIONS_YAML_MAX && /* escapes can make a huge dump larger than the cap */
            (mitm_options_load_yaml_string(&back, text, len, "dump", err, sizeof(err)) != 0 ||
             !same(&o, &back))) {
            fprintf(stderr, "round trip failed: %s\n%s\n", err, text);
            abort();
        }
        free(text);
        mitm_options_free(&back);
    }
    mitm_options_free(&before);
    mitm_options_free(&o);
    return 0;
}
