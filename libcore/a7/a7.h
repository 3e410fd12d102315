/* SPDX-License-Identifier: MIT */
/*
 * a7.h --- private state of the angelos archive7 (v2) format.
 *
 * An archive is a file of 4096-byte blocks, each nonce[24] MAC[16] and
 * 4056 bytes of XSalsa20-Poly1305 ciphertext.  The plaintext carries
 * previous/next/index/stream links and a SHA-1 of its 4008 data bytes.
 * Streams are chains of blocks; block 0 records five special streams
 * (trash and four B+trees: registry, entries, paths, listings).  See
 * shared/specs/archive7.md; section numbers below refer to it.
 *
 * a7_analyse() reads everything once into struct a7: one struct a7_blk
 * per block (headers only, never the data), the streams with their walked
 * chains, the four trees' records and the entries.  check, info, map,
 * extract and repair all start from it.
 */
#ifndef A7_A7_H
#define A7_A7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct img_crypto;

#define A7_BLOCK		4096	/* §1 block size on disk */
#define A7_NONCE		24	/* §2 */
#define A7_MAC			16
#define A7_PLAIN		4056	/* §3 plaintext */
#define A7_DATA			4008	/* §3 data field */
#define A7_HDR			48	/* §3 header before data */
#define A7_HDR_DIGEST		28
#define A7_NSPECIAL		5	/* §4.2 */
#define A7_SREC			38	/* §5 stream record */
#define A7_AHDR			344	/* §4.1 archive header */
#define A7_THDR			21	/* §7 tree header */
#define A7_NODE_HDR		9	/* §7 page header */
#define A7_REF			24	/* §7 reference size */
#define A7_ITEMS_MAX		248	/* §7 items in an I page */
#define A7_ENTRY		396	/* §8 entry record */

/* Limits on values from disk. */
#define A7_MAX_BLOCKS		(1u << 22)	/* 16 GiB archives */
#define A7_MAX_TREE_BLOCKS	8192		/* 32 MiB per tree stream */
#define A7_MAX_DEPTH		16		/* B+tree levels */
#define A7_MAX_STREAMS		(1u << 20)	/* registry records */
#define A7_MAX_PATH_DEPTH	64		/* directory nesting */
#define A7_READ_CHUNK		256		/* blocks per read, scan */

enum a7_bstate {
	A7_BS_OK,		/* decrypted */
	A7_BS_MAC,		/* MAC failed */
	A7_BS_NOKEY		/* not decrypted: no key */
};

enum a7_bflags {
	A7_BF_DIGEST_BAD = 1u << 0,
	A7_BF_BLANK      = 1u << 1,	/* §3 blank block */
	A7_BF_FIX_TRASH  = 1u << 2,	/* repair: move to the trash */
	A7_BF_FIX_HDR    = 1u << 3,	/* repair: rewrite prev/index */
	A7_BF_FIX_BLANK  = 1u << 4	/* repair: reset to blank first */
};

#define A7_OWN_NONE	(-1)
#define A7_OWN_META	(-2)

struct a7_blk {
	int32_t		 prev;
	int32_t		 next;
	uint32_t	 index;
	int32_t		 owner;		/* stream number or A7_OWN_* */
	uint8_t		 sid[16];
	uint8_t		 st;		/* enum a7_bstate */
	uint8_t		 flags;		/* enum a7_bflags */
};

/* One stream: the record as stored, and what the walk found. */
struct a7_stream {
	uint8_t		 id[16];
	int32_t		 begin;
	int32_t		 end;
	uint32_t	 count;
	uint64_t	 length;
	uint16_t	 comp;
	int		 slot;		/* special slot, -1 for data streams */
	int32_t		 wend;		/* walked end, -1 if none */
	uint32_t	 wcount;	/* blocks walked */
	int32_t		 rec_block;	/* block holding the record */
	size_t		 rec_off;	/* registry: record offset in stream */
	long		 entry;		/* file entry using it, -1 */
	bool		 walked;
	bool		 norec;		/* no usable record: walk decides */
	bool		 broken;	/* walk stopped early (cut there) */
	bool		 fix_cut;	/* repair: cut the chain at wend */
	bool		 fix_rec;	/* repair: rewrite the record */
};

/* One record found in a tree: offsets into the tree's stream bytes. */
struct a7_rec {
	size_t		 off;		/* of the record (page field) */
	uint32_t	 page;
	uint32_t	 slot;
	uint32_t	 nitems;	/* listings: value */
	size_t		 item0;		/* listings: first in a7_tree.items */
	size_t		 nitem;		/* listings: items collected */
	bool		 fix_sum;	/* repair: recompute the checksum */
};

struct a7_tree {
	int		 slot;		/* 1..4 */
	bool		 ok;		/* header sound, records usable */
	uint8_t		 kind;
	int32_t		 root;
	int32_t		 free;
	uint32_t	 order;
	uint32_t	 ref_order;
	uint32_t	 vsize;
	uint8_t		*buf;		/* the stream bytes */
	size_t		 len;
	uint32_t	 npages;
	int32_t		*chain;		/* blocks of the stream, in order */
	uint32_t	 nchain;
	uint8_t		*pst;		/* per page: 0 unseen, 1 reached... */
	int		 leaf_depth;
	struct a7_rec	*recs;
	size_t		 nrecs;
	size_t		 caprecs;
	size_t		*items;		/* listings: item offsets */
	size_t		 nitems;
	size_t		 capitems;
};

struct a7_ent {
	uint8_t		 type;		/* 'f', 'd', 'l' */
	uint8_t		 id[16];
	uint8_t		 parent[16];
	uint8_t		 owner[16];
	uint8_t		 sid[16];
	uint64_t	 length;
	bool		 deleted;
	char		 name[257];
	bool		 name_full;	/* 256 bytes: key not re-derivable */
	char		*path;		/* full path, owned */
	long		 stream;	/* index in a7.st, -1 */
	size_t		 rec_off;	/* in the entries stream */
	bool		 fix_len;	/* repair: set length to the stream's */
};

struct a7_ahdr {
	bool		 present;	/* magic archive7 + 'a' */
	char		 magic[9];
	uint16_t	 major;
	uint16_t	 minor;
	int8_t		 type;
	int8_t		 role;
	int8_t		 use;
	uint8_t		 id[16];
	uint8_t		 owner[16];
	uint8_t		 domain[16];
	uint8_t		 node[16];
	uint64_t	 created;
	char		 title[257];
};

struct a7 {
	uint64_t	 nblocks;	/* whole blocks */
	uint64_t	 tail;		/* bytes past the last whole block */
	bool		 analysed;
	int		 arc;		/* a7_analyse()'s result */
	struct a7_blk	*blk;
	uint64_t	 nok;		/* blocks that decrypted */
	uint64_t	 nonce_reuse;
	bool		 keyfail;	/* no block decrypts */
	bool		 meta_ok;	/* block 0 decrypted */
	bool		 meta_stale;
	bool		 fix_meta;	/* repair: rewrite block 0 records */
	bool		 fix_tail;	/* repair: drop the partial block */
	bool		 fix_trash_rec;	/* repair: the trash grew */
	uint8_t		 meta[A7_PLAIN];
	struct a7_ahdr	 ahdr;
	struct a7_stream *st;		/* 0..4 special, then data streams */
	size_t		 nst;
	size_t		 capst;
	struct a7_tree	 tree[A7_NSPECIAL];	/* [1..4] used */
	struct a7_ent	*ent;
	size_t		 nent;
	long		 root;		/* root entry, -1 */
	const struct img_crypto *c;	/* core/crypto.h, once loaded */
	const char	*why;		/* why it could not be */
	void		*md;		/* EVP_MD_CTX for SHA-1 */
	void		*sha1;		/* EVP_MD */
};

extern const char *const a7_slot_names[A7_NSPECIAL];

/* a7_blk.c: crypto on one block. */
int	a7_crypto_init(struct a7 *a);
void	a7_crypto_release(struct a7 *a);
/* Decrypt raw (4096 bytes) into plain (4056); false on MAC failure. */
bool	a7_blk_open(const struct img *img, const uint8_t *raw,
	    uint8_t *plain);
/* SHA-1 of the data field of plain into md (20 bytes). */
int	a7_sha1(struct a7 *a, const uint8_t *p, size_t len, uint8_t *md);
/* Set the digest of plain and seal it with a fresh nonce into raw. */
int	a7_blk_seal(struct img *img, struct a7 *a, uint8_t *plain,
	    uint8_t *raw);
/* Read and decrypt block b: 0, 1 on MAC failure, or a negative error. */
int	a7_blk_read(struct img *img, uint64_t b, uint8_t *plain);
/* Pass 1: read and decrypt every block, check nonces, MACs, digests. */
int	a7_scan(struct img *img, struct a7 *a, struct report *rp);
/* After the walks: report digests and bad links, naming their files. */
void	a7_blocks_report(struct a7 *a, struct report *rp);

/* a7_meta.c: block 0. */
int	a7_meta_decode(struct img *img, struct a7 *a, struct report *rp);

/* a7_chain.c: walks and ownership. */
int	a7_stream_add(struct a7 *a, const uint8_t *id, long *idx);
void	a7_chain_walk(struct img *img, struct a7 *a, size_t s,
	    struct report *rp);
void	a7_chain_compare(struct a7 *a, size_t s, struct report *rp);
void	a7_orphans(struct img *img, struct a7 *a, struct report *rp);
/* Block number of the k-th block of stream s, -1 past its walked end. */
int32_t	a7_chain_nth(const struct a7 *a, size_t s, uint32_t k);

/* a7_tree.c: the four B+trees. */
int	a7_tree_read(struct img *img, struct a7 *a, int slot,
	    struct report *rp);
void	a7_tree_release(struct a7_tree *t);
/* File offset of the block holding stream byte off of tree t. */
uint64_t a7_tree_host(const struct a7_tree *t, size_t off);

/* a7_fs.c: registry, entries, paths, listings. */
int	a7_registry_load(struct img *img, struct a7 *a, struct report *rp);
int	a7_fs_load(struct img *img, struct a7 *a, struct report *rp);
void	a7_fs_check(struct img *img, struct a7 *a, struct report *rp);
long	a7_ent_find(const struct a7 *a, const uint8_t *id);
long	a7_stream_find(const struct a7 *a, const uint8_t *id);

/* a7_check.c: the whole analysis. */
int	a7_analyse(struct img *img, struct report *rp);
void	a7_reset(struct a7 *a);
/* Format "block B, stream S[, PATH]" into buf for a finding's path. */
void	a7_where(const struct a7 *a, char *buf, size_t len, int64_t b,
	    long s);
void	a7_uuid_str(const uint8_t *id, char *buf, size_t len);
/* A short name of stream s: "entries" or its uuid. */
void	a7_stream_name(const struct a7 *a, size_t s, char *buf, size_t len);
bool	a7_is_nil(const uint8_t *id);
void	a7_uuid_n(uint8_t *id, unsigned n);

/* Ops. */
int	a7_check(struct img *img, struct report *rp);
int	a7_info(struct img *img, struct json_object *obj);
int	a7_map(struct img *img, const struct map_req *rq, map_fn *fn,
	    void *arg);
/*
 * a7_map.c: who owns block b, as the guest map names it ("meta", "stream
 * S PATH", "orphan", "unreadable", "encrypted"), into buf.
 */
void	a7_owner_str(const struct a7 *a, uint64_t b, char *buf, size_t len);
/* a7_hostmap.c: every block of the file to hm_add(). */
int	a7_hostmap(struct img *img, struct hmap_sink *hs);
/* a7_describe.c: the block field under a byte (the viewer). */
int	a7_describe(struct img *img, uint64_t off, const struct img_where *w,
	    struct img_field *out);
int	a7_extract(struct img *img, const char *what, int fd,
	    struct report *rp);
int	a7_repair(struct img *img, struct report *rp, const char *out_path);

#endif /* A7_A7_H */
