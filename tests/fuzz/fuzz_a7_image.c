/* SPDX-License-Identifier: MIT */
/*
 * fuzz_a7_image.c --- libFuzzer harness for a whole angelos archive7
 * file.  The first input byte chooses the key: low bit set, the key the
 * test fixtures use (bytes 00 01 .. 1f, tests/fixtures/a7_fix.c); clear,
 * no key.  The rest is the archive: open as archive7, info, check, map,
 * extract the first member the map names, then an in-place repair of a
 * copy (fuzz_img.h).
 *
 * Every block is sealed (XSalsa20-Poly1305), so a byte flipped in a
 * keyed input only ever fails a MAC.  The custom mutator therefore opens
 * one block of a keyed input with the key, mutates its plaintext (links,
 * stream id, digest, tree pages, entries), usually recomputes the
 * block's SHA-1, and seals it again under the same nonce; one mutation
 * in four, and all of an unkeyed input's, work on the raw bytes.  Build
 * and run: see tests/fuzz/README.md.
 */
#define _GNU_SOURCE
#include "fuzz_img.h"

#include <openssl/evp.h>
#include <sodium.h>

#define A7F_BLOCK	4096	/* on disk: nonce, MAC, ciphertext */
#define A7F_NONCE	24
#define A7F_MAC		16
#define A7F_PLAIN	(A7F_BLOCK - A7F_NONCE - A7F_MAC)
#define A7F_DATA_OFF	48	/* plaintext: header, then the data */
#define A7F_DIGEST_OFF	28	/* SHA-1 of the data */

size_t	LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
	    __attribute__((weak));
size_t	LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
	    unsigned int seed);

static void
fuzz_a7_key(uint8_t *key)
{
	size_t	i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
}

/* Mutate one sealed block of a keyed input in the clear; see above. */
size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
    unsigned int seed)
{
	static int	 ready;
	uint8_t		 key[32], plain[A7F_PLAIN], *raw;
	unsigned int	 mdlen = 0;
	size_t		 nb, n, off, w;

	if (LLVMFuzzerMutate == NULL)
		return 0;
	if (!ready)
		ready = sodium_init() >= 0 ? 1 : -1;
	if (ready < 0 || size < 1 + A7F_BLOCK || !(data[0] & 1) ||
	    seed % 4 == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	fuzz_a7_key(key);
	nb = (size - 1) / A7F_BLOCK;
	raw = data + 1 + (size_t)(seed / 4) % nb * A7F_BLOCK;
	if (crypto_secretbox_open_easy(plain, raw + A7F_NONCE,
	    A7F_BLOCK - A7F_NONCE, raw, key) != 0)
		return LLVMFuzzerMutate(data, size, max_size);
	/*
	 * A window of 512 bytes, mostly at the start (links, stream id,
	 * digest, a tree page's header and first records); one time in
	 * four the whole plaintext.
	 */
	if ((seed >> 8) % 4 == 0) {
		off = 0;
		w = A7F_PLAIN;
	} else {
		off = (seed >> 10) % 4 == 0 ?
		    (size_t)(seed >> 12) % (A7F_PLAIN - 512) : 0;
		w = 512;
	}
	n = LLVMFuzzerMutate(plain + off, w, w);
	if (n < w)
		memset(plain + off + n, 0, w - n);
	if ((seed >> 20) % 8 != 0 &&
	    EVP_Digest(plain + A7F_DATA_OFF, A7F_PLAIN - A7F_DATA_OFF,
	    plain + A7F_DIGEST_OFF, &mdlen, EVP_sha1(), NULL) != 1)
		return LLVMFuzzerMutate(data, size, max_size);
	if (crypto_secretbox_easy(raw + A7F_NONCE, plain, A7F_PLAIN, raw,
	    key) != 0)
		return LLVMFuzzerMutate(data, size, max_size);
	return size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	key[32];

	if (size < 1)
		return 0;
	fuzz_a7_key(key);
	fuzz_img_run("archive7", data + 1, size - 1,
	    (data[0] & 1) ? key : NULL);
	return 0;
}
