/* SPDX-License-Identifier: MIT */
/*
 * crypto.c --- libcrypto and libsodium, opened on first use (crypto.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/banned.h"

#ifndef IMG_CRYPTO_SONAME
#define IMG_CRYPTO_SONAME	"libcrypto.so.3"
#endif
#ifndef IMG_SODIUM_SONAME
#define IMG_SODIUM_SONAME	"libsodium.so.23"
#endif

/* dlsym() hands back an object pointer; POSIX makes the two the same. */
_Static_assert(sizeof(void (*)(void)) == sizeof(void *),
    "function pointers must be as wide as void *");

/*
 * systemd's ELF dlopen metadata (uapi-group.org, "ELF dlopen
 * Metadata"): an FDO note holding JSON, so that packaging tools see the
 * libraries this binary opens as they see its DT_NEEDED entries.
 */
#define DLOPEN_JSON \
	"[{\"feature\":\"crypto\",\"description\":\"archive7 decryption " \
	"and SHA-1, undo-file and key digests\",\"priority\":\"required\"," \
	"\"soname\":[\"" IMG_CRYPTO_SONAME "\",\"" IMG_SODIUM_SONAME "\"]}]"
#define NOTE_FDO_DLOPEN	0x407c0c0aU

__attribute__((used, section(".note.dlopen"), aligned(4)))
static const struct {
	uint32_t	namesz, descsz, type;
	char		name[4];
	char		desc[(sizeof(DLOPEN_JSON) + 3) & ~(size_t)3];
} dlopen_note = {
	4, sizeof(DLOPEN_JSON), NOTE_FDO_DLOPEN, "FDO", DLOPEN_JSON
};

enum { LIB_CRYPTO, LIB_SODIUM, NLIBS };

static const char *const	sonames[NLIBS] = {
	IMG_CRYPTO_SONAME, IMG_SODIUM_SONAME
};

#define SYM(lib, name)	{ lib, #name, offsetof(struct img_crypto, name) }

static const struct {
	int		 lib;
	const char	*name;
	size_t		 off;
} syms[] = {
	SYM(LIB_CRYPTO, EVP_MD_CTX_new),
	SYM(LIB_CRYPTO, EVP_MD_CTX_free),
	SYM(LIB_CRYPTO, EVP_DigestInit_ex),
	SYM(LIB_CRYPTO, EVP_DigestUpdate),
	SYM(LIB_CRYPTO, EVP_DigestFinal_ex),
	SYM(LIB_CRYPTO, EVP_Digest),
	SYM(LIB_CRYPTO, EVP_sha256),
	SYM(LIB_CRYPTO, EVP_sha512),
	SYM(LIB_CRYPTO, EVP_MD_fetch),
	SYM(LIB_CRYPTO, EVP_MD_free),
	SYM(LIB_SODIUM, crypto_secretbox_easy),
	SYM(LIB_SODIUM, crypto_secretbox_open_easy),
	SYM(LIB_SODIUM, randombytes_buf),
};

static pthread_once_t		once = PTHREAD_ONCE_INIT;
static struct img_crypto	table;
static const struct img_crypto	*loaded;
static char			why_buf[512];

static void
load(void)
{
	void		*h[NLIBS];
	void		*s;
	int		(*init)(void);
	const char	*e;
	size_t		 i;

	for (i = 0; i < NLIBS; i++) {
		/* Kept open for the life of the process, as if linked. */
		if ((h[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL)) ==
		    NULL) {
			e = dlerror();
			snprintf(why_buf, sizeof(why_buf), "%s",
			    e ? e : sonames[i]);
			return;
		}
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if ((s = dlsym(h[syms[i].lib], syms[i].name)) == NULL) {
			snprintf(why_buf, sizeof(why_buf), "%s has no %s",
			    sonames[syms[i].lib], syms[i].name);
			return;
		}
		memcpy((char *)&table + syms[i].off, &s, sizeof(s));
	}
	if ((s = dlsym(h[LIB_SODIUM], "sodium_init")) == NULL) {
		snprintf(why_buf, sizeof(why_buf), "%s has no sodium_init",
		    sonames[LIB_SODIUM]);
		return;
	}
	memcpy(&init, &s, sizeof(s));
	if (init() < 0) {
		snprintf(why_buf, sizeof(why_buf), "sodium_init() failed");
		return;
	}
	loaded = &table;
}

const struct img_crypto *
img_crypto(const char **why)
{
	(void)dlopen_note;
	pthread_once(&once, load);
	if (loaded == NULL && why != NULL)
		*why = why_buf;
	return loaded;
}
