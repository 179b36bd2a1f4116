/* onboarding: the certificate install app at onboarding_host (mitm.it), answered by the
 * proxy itself on the request hook, never forwarded (mitmproxy addons/onboarding.py). */
#ifndef MITM_ADDON_ONBOARDING_H
#define MITM_ADDON_ONBOARDING_H

#include "addon/addon.h"

/* Cap on a CA file we serve (the public certificate files are a few KiB). */
#define MITM_ONBOARDING_FILE_MAX 65536

/* Routes, on any port of onboarding_host (case-insensitive) while the onboarding option
 * is on: "/" (install instructions per platform), "/cert/pem", "/cert/cer", "/cert/p12"
 * (confdir/mitmproxy-ca-cert.{pem,cer,p12} as attachments). Only those public files are
 * ever read: never the key files. Anything else on the host is a 404. A file that cannot
 * be read is a 404 naming it. */
extern const struct mitm_addon mitm_addon_onboarding;

#endif
