#ifndef BALCTL_CCRYPTO_SHIM_H
#define BALCTL_CCRYPTO_SHIM_H
/* OpenSSL's libcrypto, which libcurl (the OpenSSL build) already loads into the agent: Ed25519
 * signature checks and SHA-256 for self-update without a second crypto library, and certificates'
 * expiry dates. */
#include <openssl/evp.h>
/* X.509 expiry of the certificates stacks report (tls_expiry thresholds). */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#endif
