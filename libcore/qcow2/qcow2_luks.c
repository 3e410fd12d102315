/* SPDX-License-Identifier: MIT */
/*
 * qcow2_luks.c --- describe an encrypted qcow2's encryption header, as
 * qemu-img info does without the key.
 *
 * The LUKS1 header (the crypto header extension says where) is public:
 * cipher, mode, hash, payload offset, master key digest iterations, UUID
 * and eight key slots.  QEMU names the cipher with its key size (for XTS
 * half the key bytes: two keys) and splits the mode "xts-plain64" or
 * "cbc-essiv:sha256" into mode, IV generator and IV hash.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

#define LUKS_HDR_LEN		592
#define LUKS_SLOTS		8
#define LUKS_SLOT_ACTIVE	0x00ac71f3U
#define LUKS_NAME_LEN		32
#define LUKS_UUID_LEN		40

/* A NUL-terminated copy of a fixed-size, maybe unterminated, field. */
static void
field(struct rd *r, char *out, size_t n)
{
	rd_bytes(r, out, n);
	out[n] = '\0';
	img_str_clean(out);
}

/* QEMU's name for cipher with key_bytes of key: "aes-256". */
static void
cipher_alg(const char *cipher, uint32_t key_bytes, bool xts, char *out,
    size_t len)
{
	uint32_t	bits = (xts ? key_bytes / 2 : key_bytes) * 8;

	if (strcmp(cipher, "cast5") == 0)
		snprintf(out, len, "cast5-128");
	else if (strcmp(cipher, "sm4") == 0)
		snprintf(out, len, "sm4");
	else
		snprintf(out, len, "%s-%u", cipher, bits);
}

/* Add "encrypt" (QEMU's QCryptoBlockInfo) to the format-specific data. */
int
qcow2_info_encrypt(struct img *img, const struct qcow2 *q,
    struct json_object *data)
{
	struct json_object	*enc, *slots, *s;
	struct rd		 r;
	uint8_t			 buf[LUKS_HDR_LEN];
	char			 cipher[LUKS_NAME_LEN + 1];
	char			 mode[LUKS_NAME_LEN + 1], hash[LUKS_NAME_LEN + 1];
	char			 uuid[LUKS_UUID_LEN + 1], alg[48], *iv, *ivh;
	uint32_t		 payload, key_bytes, mk_iters, i;
	int			 rc;

	if (q->h.crypt_method == 1) {
		enc = json_object_new_object();
		info_add_str(enc, "format", "aes");
		json_object_object_add(data, "encrypt", enc);
		return 0;
	}
	if (q->h.crypt_method != 2 || !q->has_crypto_ext ||
	    q->crypto_len < LUKS_HDR_LEN)
		return 0;
	if ((rc = img_pread(img, q->crypto_off, buf, sizeof(buf))) != 0)
		return rc;
	rd_init(&r, buf, sizeof(buf));
	if (memcmp(buf, "LUKS\xba\xbe", 6) != 0 || be16_at(buf + 6) != 1)
		return 0;	/* qemu cannot open it; the check says why */
	rd_skip(&r, 8);
	field(&r, cipher, LUKS_NAME_LEN);
	field(&r, mode, LUKS_NAME_LEN);
	field(&r, hash, LUKS_NAME_LEN);
	payload = rd_be32(&r);
	key_bytes = rd_be32(&r);
	rd_skip(&r, 20 + 32);		/* master key digest and salt */
	mk_iters = rd_be32(&r);
	field(&r, uuid, LUKS_UUID_LEN);

	/* "xts-plain64", "cbc-essiv:sha256". */
	iv = strchr(mode, '-');
	if (iv != NULL)
		*iv++ = '\0';
	ivh = iv != NULL ? strchr(iv, ':') : NULL;
	if (ivh != NULL)
		*ivh++ = '\0';
	cipher_alg(cipher, key_bytes, strcmp(mode, "xts") == 0, alg,
	    sizeof(alg));

	enc = json_object_new_object();
	info_add_str(enc, "ivgen-alg", iv != NULL ? iv : "plain");
	if (ivh != NULL)
		info_add_str(enc, "ivgen-hash-alg", ivh);
	info_add_str(enc, "hash-alg", hash);
	info_add_str(enc, "cipher-alg", alg);
	info_add_str(enc, "uuid", uuid);
	info_add_str(enc, "format", "luks");
	info_add_str(enc, "cipher-mode", mode);
	slots = json_object_new_array();
	for (i = 0; i < LUKS_SLOTS; i++) {
		uint32_t	active = rd_be32(&r), iters = rd_be32(&r);
		uint32_t	keyoff, stripes;

		rd_skip(&r, 32);	/* salt */
		keyoff = rd_be32(&r);
		stripes = rd_be32(&r);
		s = json_object_new_object();
		/* qemu's order: active, iters, key-offset, stripes. */
		info_add_bool(s, "active", active == LUKS_SLOT_ACTIVE);
		if (active == LUKS_SLOT_ACTIVE)
			info_add_u64(s, "iters", iters);
		info_add_u64(s, "key-offset", (uint64_t)keyoff * 512);
		if (active == LUKS_SLOT_ACTIVE)
			info_add_u64(s, "stripes", stripes);
		json_object_array_add(slots, s);
	}
	json_object_object_add(enc, "slots", slots);
	info_add_u64(enc, "payload-offset", (uint64_t)payload * 512);
	info_add_u64(enc, "master-key-iters", mk_iters);
	if (rd_end(&r) != 0) {
		json_object_put(enc);
		return 0;
	}
	json_object_object_add(data, "encrypt", enc);
	return 0;
}
