/* crl: the magic CRL responder (mitmproxy's tlsconfig request hook). A leaf forged for a
 * server whose certificate names a CRL distribution point names one too, at the same
 * origin with the path mitm_cert_signer_crl_path() (see cert/leaf.h). A request whose path
 * ends with that path is answered by the proxy with an empty CRL signed by the CA
 * (200, application/pkix-crl), fresh for every request, and never forwarded. */
#ifndef MITM_ADDON_CRL_H
#define MITM_ADDON_CRL_H

#include "addon/addon.h"

struct mitm_cert_signer;

/* The addon; its state is the signer whose CA signs the CRL (const struct
 * mitm_cert_signer *; NULL: the addon does nothing). */
extern const struct mitm_addon mitm_addon_crl;

#endif
