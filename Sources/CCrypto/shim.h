#ifndef BALCTL_CCRYPTO_SHIM_H
#define BALCTL_CCRYPTO_SHIM_H
/* OpenSSL's libcrypto, which libcurl (the OpenSSL build) already loads into the agent: Ed25519
 * signature checks and SHA-256 for self-update without a second crypto library. */
#include <openssl/evp.h>
#endif
