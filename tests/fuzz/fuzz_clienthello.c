/* Fuzz target: the TLS ClientHello parser. Besides "no crash, no leak", it checks the
 * parser's contract on every input: a complete parse consumes at most the input, the
 * SNI is printable ASCII, every count stays under its cap, and re-parsing the consumed
 * prefix gives the same result; any shorter prefix of a complete hello is never
 * complete. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tls/clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mitm_clienthello ch;
    ssize_t rc = mitm_tls_parse_clienthello(data, size, &ch);
    if (rc == MITM_PARSE_ERROR && !ch.error)
        abort();
    if (rc <= 0)
        return 0;
    if ((size_t)rc > size || ch.alpn_count > MITM_TLS_ALPN_MAX || ch.hello_len > MITM_TLS_CLIENTHELLO_MAX)
        abort();
    if (!mitm_tls_is_clienthello_start(data, size))
        abort();
    for (const char *p = ch.sni; p && *p; p++) {
        if (*p < 0x21 || *p > 0x7e)
            abort();
    }
    for (size_t i = 0; i < ch.alpn_count; i++) {
        if (ch.alpn[i].len == 0)
            abort();
    }
    struct mitm_clienthello again;
    if (mitm_tls_parse_clienthello(data, (size_t)rc, &again) != rc ||
        again.extension_count != ch.extension_count || again.cipher_suite_count != ch.cipher_suite_count ||
        (ch.sni == NULL) != (again.sni == NULL) || (ch.sni && strcmp(ch.sni, again.sni) != 0))
        abort();
    mitm_tls_clienthello_free(&again);
    if (mitm_tls_parse_clienthello(data, (size_t)rc - 1, &again) > 0)
        abort();
    mitm_tls_clienthello_free(&again);
    mitm_tls_clienthello_free(&ch);
    return 0;
}
