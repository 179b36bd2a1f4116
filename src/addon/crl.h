/* crl: the magic CRL responder (mitmproxy's tlsconfig request hook). A leaf forged for a
 * server whose certificate names a CRL distribution point names one too, at the same
 * origin with the path mitm_cert_signer_crl_path() (see cert/leaf.h). A request whose path
 * ends with that path is answered by the proxy with an empty CRL signed by the CA
 * (200, application/pkix-crl), fresh for every request, and never forwarded. */
#ifndef MITM_ADDON_CRL_H
#define MITM_ADDON_CRL_H

#include "addon/addon.h"

struct mitm_cert_signer;

/* The signer whose CA signs the CRL (startup, before any worker runs; NULL: the addon
 * does nothing, as when TLS interception is not set up). Borrowed: it must outlive the
 * workers. */
void mitm_addon_crl_set_signer(const struct mitm_cert_signer *s);

extern const struct mitm_addon mitm_addon_crl;

#endif
