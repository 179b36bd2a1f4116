/* The parsed specs shared by modify_headers and modify_body (mitmproxy's ModifySpec, which
 * modifybody.py imports from modifyheaders.py). Private to src/addon/modify*.c. */
#ifndef MITM_ADDON_MODIFY_INT_H
#define MITM_ADDON_MODIFY_INT_H

#include "addon/modify.h"
#include "base/buf.h"

struct mitm_filter;
struct mitm_pyre;
struct mitm_pytemplate;

struct modify_spec {
    struct mitm_filter *filter; /* NULL: every flow */
    struct mitm_buf subject;    /* unescaped: header name, or the regex source */
    struct mitm_buf value;      /* the replacement bytes */
    struct mitm_pyre *re;       /* modify_body */
    struct mitm_pytemplate *tpl;
};

struct mitm_modify {
    struct modify_spec *v;
    size_t n;
};

#endif
