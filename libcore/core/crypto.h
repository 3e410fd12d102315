/* SPDX-License-Identifier: MIT */
/*
 * crypto.h --- libcrypto and libsodium, opened on first use.
 *
 * Only archive7 (SHA-1 and secretbox), the undo file (SHA-256) and the
 * key derivation (SHA-512) need them, yet loading libcrypto costs every
 * process about 0.45 ms before main(): a third of a whole QED check.
 * So the tools do not link them; img_crypto() opens both by soname the
 * first time a caller needs them and hands back the functions, each of
 * the library's own type.  The sonames are the ones the build found;
 * the binaries name them in an ELF .note.dlopen note for packagers.
 */
#ifndef CORE_CRYPTO_H
#define CORE_CRYPTO_H

#include <openssl/evp.h>
#include <sodium.h>

struct img_crypto {
	__typeof__(EVP_MD_CTX_new)		*EVP_MD_CTX_new;
	__typeof__(EVP_MD_CTX_free)		*EVP_MD_CTX_free;
	__typeof__(EVP_DigestInit_ex)		*EVP_DigestInit_ex;
	__typeof__(EVP_DigestUpdate)		*EVP_DigestUpdate;
	__typeof__(EVP_DigestFinal_ex)		*EVP_DigestFinal_ex;
	__typeof__(EVP_Digest)			*EVP_Digest;
	__typeof__(EVP_sha256)			*EVP_sha256;
	__typeof__(EVP_sha512)			*EVP_sha512;
	__typeof__(EVP_MD_fetch)		*EVP_MD_fetch;
	__typeof__(EVP_MD_free)			*EVP_MD_free;
	__typeof__(crypto_secretbox_easy)	*crypto_secretbox_easy;
	__typeof__(crypto_secretbox_open_easy)	*crypto_secretbox_open_easy;
	__typeof__(randombytes_buf)		*randombytes_buf;
};

/*
 * Both libraries, loaded and sodium_init()ed once per process (safe from
 * any thread); NULL when either cannot be, with *why (if not NULL) the
 * loader's reason, which stays valid for the life of the process.
 */
const struct img_crypto	*img_crypto(const char **why);

#endif /* CORE_CRYPTO_H */
