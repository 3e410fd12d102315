/* SPDX-License-Identifier: MIT */
/*
 * qcow2.h --- qcow2 private declarations (never included outside qcow2/).
 *
 * Reference: docs/interop/qcow2.txt and ../shared/specs/qcow2.md, which
 * also describes how qemu-img check 7.2 counts; our counters follow it.
 */
#ifndef QCOW2_H
#define QCOW2_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

#define QCOW2_MAGIC			0x514649fbU
#define QCOW2_V2_HDR_LEN		72
#define QCOW2_V3_HDR_MIN		104
#define QCOW2_MIN_CLUSTER_BITS		9
#define QCOW2_MAX_CLUSTER_BITS		21
#define QCOW2_MAX_REFCOUNT_ORDER	6
#define QCOW2_MAX_BACKING_NAME		1023
#define QCOW2_MAX_BACKING_FMT		15

/* Limits QEMU applies; we refuse or report beyond them. */
#define QCOW2_MAX_REFTABLE_BYTES	(8ULL << 20)
#define QCOW2_MAX_L1_BYTES		(32ULL << 20)
#define QCOW2_MAX_SNAPSHOTS		65536U
#define QCOW2_MAX_SNAP_EXTRA		1024U
#define QCOW2_MAX_SNAPTAB_BYTES		(64ULL << 20)
#define QCOW2_MAX_SNAP_L1_ENTRIES	4194304U
#define QCOW2_SNAP_HDR_LEN		40
#define QCOW2_MAX_BITMAPS		65535U
#define QCOW2_MAX_BITMAP_DIR_BYTES	(1024ULL * 65535)
#define QCOW2_MAX_BITMAP_TABLE		0x8000000U
#define QCOW2_MAX_BITMAP_BYTES		(512ULL << 20)
#define QCOW2_MAX_BITMAP_NAME		1023
/* All bitmap tables together: they must fit the file (twice, for slack). */
#define QCOW2_MAX_BITMAP_READ(fsz)	(2 * (fsz) + (64ULL << 20))
/* The computed refcount array is sized from the host file: cap it. */
#define QCOW2_MAX_HOST_CLUSTERS		((uint64_t)INT32_MAX)

/* Incompatible feature bits (header offset 72). */
#define QCOW2_INCOMPAT_DIRTY		(1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT		(1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE	(1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION	(1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2		(1ULL << 4)
#define QCOW2_INCOMPAT_MASK		0x1fULL
#define QCOW2_COMPAT_LAZY_REFCOUNTS	(1ULL << 0)
#define QCOW2_AUTOCLEAR_BITMAPS		(1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW	(1ULL << 1)
#define QCOW2_AUTOCLEAR_MASK		0x3ULL

/* Header extension types. */
#define QCOW2_EXT_END			0x00000000U
#define QCOW2_EXT_BACKING_FMT		0xe2792acaU
#define QCOW2_EXT_FEATURES		0x6803f857U
#define QCOW2_EXT_BITMAPS		0x23852875U
#define QCOW2_EXT_CRYPTO		0x0537be77U
#define QCOW2_EXT_DATA_FILE		0x44415441U

/* Table entry masks ("Table entries", spec 1.4). */
#define QCOW2_OFLAG_COPIED		(1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED		(1ULL << 62)
#define QCOW2_OFLAG_ZERO		(1ULL << 0)
#define QCOW2_L1E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_L1E_RESERVED		0x7f000000000001ffULL
#define QCOW2_L2E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_L2E_RESERVED		0x3f000000000001feULL
#define QCOW2_REFT_OFFSET_MASK		0xfffffffffffffe00ULL
#define QCOW2_REFT_RESERVED		0x1ffULL
#define QCOW2_BME_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_BME_RESERVED		0xff000000000001feULL
#define QCOW2_BME_ALL_ONES		1ULL

enum qcow2_l2_kind {
	QCOW2_L2_UNALLOCATED,
	QCOW2_L2_NORMAL,
	QCOW2_L2_ZERO_PLAIN,
	QCOW2_L2_ZERO_ALLOC,
	QCOW2_L2_COMPRESSED
};

/* The decoded header: host order, validated. */
struct qcow2_hdr {
	uint32_t	version;
	uint64_t	backing_file_offset;
	uint32_t	backing_file_size;
	uint32_t	cluster_bits;
	uint64_t	size;
	uint32_t	crypt_method;
	uint32_t	l1_size;
	uint64_t	l1_table_offset;
	uint64_t	refcount_table_offset;
	uint32_t	refcount_table_clusters;
	uint32_t	nb_snapshots;
	uint64_t	snapshots_offset;
	uint64_t	incompatible;
	uint64_t	compatible;
	uint64_t	autoclear;
	uint32_t	refcount_order;
	uint32_t	header_length;
	uint8_t		compression_type;
	uint8_t		padding[7];	/* 105..111 when header_length >= 112 */
};

struct qcow2_bitmap {
	uint64_t	table_offset;
	uint32_t	table_size;
	uint32_t	flags;
	uint8_t		type;
	uint8_t		granularity_bits;
	char		name[QCOW2_MAX_BITMAP_NAME + 1];
};

struct qcow2_snap {
	uint64_t	l1_table_offset;
	uint32_t	l1_size;
	uint32_t	date_sec;
	uint32_t	date_nsec;
	uint64_t	vm_clock_nsec;
	uint32_t	vm_state_size32;
	uint32_t	extra_data_size;
	uint64_t	vm_state_size;
	uint64_t	disk_size;
	uint64_t	icount;
	bool		has_icount;
	char		*id;
	char		*name;
	/* Where the record lies in the table, for a rewrite (repair). */
	uint64_t	rec_off;	/* from the table's start */
	uint16_t	id_size;
	uint16_t	name_size;
	uint32_t	extra_kept;	/* extra bytes a rewrite keeps */
};

/* Open image state (img->priv). */
struct qcow2 {
	struct qcow2_hdr	 h;
	uint64_t		 cs;		/* cluster size */
	uint32_t		 l2_bits;	/* log2 entries per L2 */
	uint64_t		 l2_size;	/* entries per L2 table */
	uint32_t		 l2_entry_size;	/* 8 or 16 */
	bool			 extl2;
	bool			 data_file;
	uint32_t		 rc_bits;	/* refcount width */
	uint64_t		 rc_max;
	uint32_t		 rb_bits;	/* log2 refcounts per block */
	uint32_t		 csize_shift;	/* compressed descriptor split */
	uint64_t		 csize_mask;
	uint64_t		 coffset_mask;
	uint64_t		 l1_needed;
	uint64_t		*reftable;	/* refcount table, host order */
	uint64_t		 reftable_n;
	char			 backing_file[QCOW2_MAX_BACKING_NAME + 1];
	char			 backing_fmt[QCOW2_MAX_BACKING_FMT + 1];
	char			*data_file_name;
	bool			 has_crypto_ext;
	uint64_t		 crypto_off;
	uint64_t		 crypto_len;
	bool			 has_bitmaps_ext;
	bool			 bitmaps_ignored;	/* autoclear bit clear */
	/*
	 * Opened for a repair (IMG_REPAIR) with a bitmap directory QEMU
	 * would refuse: no bitmaps are loaded, bitmaps_why says what is
	 * wrong, and the repair drops the extension.
	 */
	bool			 bitmaps_bad;
	char			 bitmaps_why[IMG_ERRMSG_MAX];
	uint32_t		 nb_bitmaps;
	uint64_t		 bitmap_dir_size;
	uint64_t		 bitmap_dir_offset;
	struct qcow2_bitmap	*bitmaps;
	uint32_t		 unknown_exts;
	uint64_t		 unknown_autoclear;
	/* The external data file: its path as QEMU resolves it, open. */
	char			*data_file_path;
	int			 data_fd;
	/*
	 * Why QEMU would not read the image (io: map, extract, check) or
	 * not even open it (all but our check), once computed.
	 */
	enum pr_id		 refuse_id;
	char			 refuse[IMG_ERRMSG_MAX];
	bool			 refuse_io;
	bool			 refuse_done;
};

/* qcow2_hdr.c */
int	qcow2_probe(const struct img_probe *p);
/* Decode and validate the fixed header from buf (>= 72 bytes). */
int	qcow2_hdr_decode(const uint8_t *buf, size_t len, struct qcow2_hdr *out,
	    char *why, size_t whylen);
/* Derived quantities and open-time limits (qemu's refusals). */
int	qcow2_hdr_validate(const struct qcow2_hdr *h, uint64_t file_size,
	    char *why, size_t whylen);
/* Walk the header extension area of cluster 0 into q. */
int	qcow2_ext_decode(struct qcow2 *q, const uint8_t *c0, size_t len,
	    char *why, size_t whylen);
int	qcow2_open(struct img *img);
/*
 * 0 when QEMU would open the image (and, io, read its data); otherwise
 * the error, with img's message saying QEMU's reason and our code.
 */
int	qcow2_usable(struct img *img, struct qcow2 *q, bool io);
void	qcow2_close(struct img *img);

/* qcow2_bitmap.c: the directory (open time) and its references. */
int	qcow2_bitmap_dir_decode(const uint8_t *buf, size_t len, uint32_t nb,
	    uint64_t cs, uint64_t disk_size, struct qcow2_bitmap *out,
	    char *why, size_t whylen);

/* Is bitmap table entry e valid (QEMU's check_table_entry())? */
bool	qcow2_bitmap_entry_ok(uint64_t e, uint64_t cs);
/*
 * Read bitmap b's table into *out (caller frees); *bad is the index of
 * the first invalid entry, UINT64_MAX if none.
 */
int	qcow2_bitmap_table_read(struct img *img, const struct qcow2 *q,
	    const struct qcow2_bitmap *b, uint64_t **out, uint64_t *bad);
#define QCOW2_BME_IN_USE	(1U << 0)
#define QCOW2_BME_AUTO		(1U << 1)

/* qcow2_snapshot.c */
struct qcow2_snaptab {
	struct qcow2_snap	*s;
	uint32_t		 n;
	uint64_t		 offset;
	uint64_t		 bytes;		/* to the end of the last name */
};
/* Decode nb records from buf; fails naming the record. */
int	qcow2_snaptab_decode(const uint8_t *buf, size_t len, uint32_t nb,
	    uint32_t version, struct qcow2_snaptab *out, uint32_t *bad_idx);
/*
 * The same; clip: a record with more than 1 KiB of extra data is kept
 * (extra_kept 1024) and decoding goes on, as qemu-img check -r all does.
 */
int	qcow2_snaptab_decode_ex(const uint8_t *buf, size_t len, uint32_t nb,
	    uint32_t version, bool clip, struct qcow2_snaptab *out,
	    uint32_t *bad_idx);
void	qcow2_snaptab_release(struct qcow2_snaptab *t);
int	qcow2_snaptab_read(struct img *img, struct qcow2 *q,
	    struct qcow2_snaptab *t, struct report *rp);
struct qcow2_fix;
/*
 * The same for a repair (fx): with permission, too many snapshots, too
 * much extra data and a table past 64 MiB are cut instead of failing,
 * and fx is told the table must be rewritten.
 */
int	qcow2_snaptab_read_fix(struct img *img, struct qcow2 *q,
	    struct qcow2_snaptab *t, struct report *rp, struct qcow2_fix *fx);

/*
 * Classify an L2 entry; the exact order of "Table entries" (spec 1.4)
 * matters.  Inline: the walk calls it for every entry.
 */
/*
 * Do the QCOW2_RUN_BLOCK big-endian entries at p continue a run: entry
 * k, masked, is want + k * step?  0 if so (the entries' differences ORed
 * together otherwise).
 */
#define QCOW2_RUN_BLOCK	16
uint64_t	qcow2_run_block(const uint8_t *p, uint64_t want, uint64_t step,
		    uint64_t mask);

static inline enum qcow2_l2_kind
qcow2_l2_kind(const struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_L2_COMPRESSED;
	if ((e & QCOW2_OFLAG_ZERO) && !q->extl2)
		return (e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_L2_ZERO_ALLOC :
		    QCOW2_L2_ZERO_PLAIN;
	if ((e & QCOW2_L2E_OFFSET_MASK) == 0) {
		/* Offset 0 is a real cluster in an external data file. */
		if (q->data_file && (e & QCOW2_OFLAG_COPIED))
			return QCOW2_L2_NORMAL;
		return QCOW2_L2_UNALLOCATED;
	}
	return QCOW2_L2_NORMAL;
}

/* qcow2_l2.c */
/* Host byte range of a compressed descriptor. */
void	qcow2_compressed_range(const struct qcow2 *q, uint64_t e,
	    uint64_t *off, uint64_t *len);

/* qcow2_refcount.c: the computed counts and stored refcount lookups. */
/*
 * One byte per host cluster: nearly every cluster is referenced once or
 * twice; counts from QCOW2_CNT_SPILL up live in a small hash table.  With
 * refcount width 1 a count is 0 or 1 (a second reference overflows and is
 * not kept), so one bit per cluster holds it, as QEMU's own table does.
 */
typedef uint8_t	qcow2_cnt_t;
#define QCOW2_CNT_SPILL	0xffU

struct qcow2_spill {
	uint64_t	k;		/* cluster + 1; 0 = empty slot */
	uint64_t	v;
};

struct qcow2_counts {
	qcow2_cnt_t		*a;	/* QCOW2_CNT_SPILL: see sp */
	uint64_t		*bits;	/* refcount width 1: a bit per
					   cluster, and a is NULL */
	uint64_t		 n;	/* clusters covered */
	uint64_t		 cap;
	uint64_t		 max;	/* maximum refcount of the width */
	qcow2_cnt_t		 fastmax;	/* below this, a[k]++ is safe */
	struct qcow2_spill	*sp;
	size_t			 sp_cap;	/* power of two */
	size_t			 sp_n;
};

int	qcow2_counts_new(uint64_t nclusters, uint64_t max,
	    struct qcow2_counts **out);
void	qcow2_counts_free(struct qcow2_counts *c);
/* Ask for the pages of clusters [k0, k1)'s counters at once. */
void	qcow2_counts_populate(struct qcow2_counts *c, uint64_t k0,
	    uint64_t k1);
uint64_t qcow2_counts_get_slow(const struct qcow2_counts *c, uint64_t k);
int	qcow2_counts_inc_slow(struct qcow2_counts *c, uint64_t k,
	    bool *overflow);
/* +m for cluster k, stopping at the maximum; *novf = increments lost. */
int	qcow2_counts_add(struct qcow2_counts *c, uint64_t k, uint64_t m,
	    uint64_t *novf);

static inline uint64_t
qcow2_counts_len(const struct qcow2_counts *c)
{
	return c->n;
}

static inline uint64_t
qcow2_counts_get(const struct qcow2_counts *c, uint64_t k)
{
	if (k < c->n && c->a != NULL && c->a[k] != QCOW2_CNT_SPILL)
		return c->a[k];
	return qcow2_counts_get_slow(c, k);
}

/* +1 for cluster k; *overflow when it is already at the maximum. */
static inline int
qcow2_counts_inc(struct qcow2_counts *c, uint64_t k, bool *overflow)
{
	if (k < c->n && c->a != NULL && c->a[k] < c->fastmax) {
		c->a[k]++;
		*overflow = false;
		return 0;
	}
	return qcow2_counts_inc_slow(c, k, overflow);
}
/* Refcount n of a refcount block buffer at index i. */
uint64_t qcow2_rb_get(const uint8_t *rb, uint32_t order, uint64_t i);

/* qcow2_check.c */
int	qcow2_check(struct img *img, struct report *rp);
/*
 * The check, telling cl about every reference it counts: host bytes,
 * what they are ("L2 table", "data cluster" ...), whose (for the host
 * map; the check's counters and findings are the same).
 */
struct qcow2_claims {
	int	(*fn)(void *arg, uint64_t off, uint64_t len, const char *what,
		    const char *owner);
	void	*arg;
};
int	qcow2_check_walk(struct img *img, struct report *rp,
	    const struct qcow2_claims *cl);
/* The check as one step of a repair: fixes go to fx (qcow2_repair.c). */
int	qcow2_check_fix(struct img *img, struct report *rp,
	    struct qcow2_fix *fx);

/*
 * qcow2_repair.c, qcow2_rebuild.c: the repair.  It runs the check over
 * the image with the plan laid over it, several times: each run fixes
 * one kind of problem into the plan (phase), and the next sees the
 * result.  The check calls the hooks below where it has permission.
 */
enum qcow2_fix_phase {
	QCOW2_FIX_STRUCT = 1,	/* L1/L2 entries, snapshots, bitmaps, header */
	QCOW2_FIX_REFCOUNT,	/* refcounts: adjust or rebuild */
	QCOW2_FIX_COPIED	/* COPIED flags of the active tables */
};

struct qcow2_mm {
	uint64_t	k;		/* host cluster */
	uint64_t	r2;		/* its count */
	enum pr_id	id;
};

struct qcow2_fix {
	struct img		*img;
	struct plan		*plan;
	enum qcow2_fix_phase	 phase;
	/*
	 * A survey before the structure step: the same walk and decisions,
	 * nothing planned; it learns what each cluster is used as (kinds),
	 * so the structure step writes into no table that shares a cluster.
	 */
	bool			 survey;
	uint64_t		 cfixed;	/* corruptions fixed */
	uint64_t		 lfixed;	/* leaks fixed */
	/* STRUCT: snapshot table and bitmaps, rewritten after the walk. */
	bool			 snap_rewrite;
	uint32_t		 snap_n;	/* records read */
	uint8_t			*snap_drop;	/* per record: drop it */
	bool			 snap_drop_all;
	enum pr_id		 snap_id;
	struct qcow2_snaptab	 snaps;		/* the records read */
	bool			 bm_drop_all;
	uint8_t			*bm_drop;	/* per bitmap: drop it */
	enum pr_id		 bm_id;
	uint64_t		 hdr_autoclear;	/* autoclear bits to clear */
	bool			 hdr_padding;
	/* Host offsets of the COPIED problems the image had (STRUCT). */
	uint64_t		*copied_seen;
	size_t			 ncopied_seen;
	size_t			 capcopied_seen;
	bool			 copied_all_ok;	/* leaks level: nothing else */
	/* REFCOUNT: what the compare found. */
	bool			 need_rebuild;	/* qemu's own flag */
	bool			 want_rebuild;	/* and we may rebuild */
	enum pr_id		 rebuild_id;
	struct qcow2_mm		*mm;		/* refcounts to set */
	size_t			 nmm;
	size_t			 capmm;
	struct qcow2_counts	*cnt;		/* the computed counts */
	uint64_t		 cnt_len;
	/*
	 * STRUCT: what each host cluster is used as (QCOW2_KIND_*), and
	 * the clusters referenced more often than a refcount can say.
	 */
	uint8_t			*kinds;
	uint64_t		 nkinds;
	struct qcow2_mm		*ovf;		/* k, r2 = references lost */
	size_t			 novf;
	size_t			 capovf;
	/* Copies made of tables and data clusters that shared a cluster. */
	uint64_t		 tables_copied;
	uint64_t		 data_copied;
	/* Entries (host offsets) that get a new cluster of zeros. */
	uint64_t		*zeros;
	size_t			 nzeros;
	size_t			 capzeros;
	/*
	 * New clusters are appended past the end of the file, and the file
	 * may grow to alloc_ceiling at most: what is referenced past its end
	 * and stays (metadata a repair cannot move) must still read zeros
	 * and still lie a cluster or more past the end.
	 */
	uint64_t		 alloc_ceiling;
	uint64_t		 alloc_floor;
	uint64_t		 next_free;
	bool			 force_rebuild;	/* one has no refcount block */
};

/* Does fx act in this phase? */
static inline bool
qcow2_fixing(const struct qcow2_fix *fx, enum qcow2_fix_phase ph)
{
	return fx != NULL && fx->phase == ph;
}
/* Count a fix of a finding with this id (n times). */
void	qcow2_fix_count(struct qcow2_fix *fx, enum pr_id id, uint64_t n);
/* An 8-byte big-endian entry at off becomes v. */
int	qcow2_fix_be64(struct qcow2_fix *fx, uint64_t off, uint64_t v,
	    enum pr_id id);
/* STRUCT: remember a COPIED problem of the image as it was. */
int	qcow2_fix_copied_note(struct qcow2_fix *fx, uint64_t off);
/* COPIED: may this entry's COPIED flag be fixed at the leaks level? */
bool	qcow2_fix_copied_leaks_ok(const struct qcow2_fix *fx, uint64_t off);
/*
 * REFCOUNT: a finding that needs the refcount structure rebuilt; qemu:
 * qemu-img check sets its own rebuild flag for it; fixed: permission.
 */
void	qcow2_fix_rebuild(struct qcow2_fix *fx, enum pr_id id, bool qemu,
	    bool fixed);
/* REFCOUNT: cluster k's stored refcount should be r2 (fixed: may be). */
int	qcow2_fix_refcount(struct qcow2_fix *fx, uint64_t k, uint64_t r2,
	    enum pr_id id, bool fixed);
/* Is any cluster of [off, off + len) used as two kinds of thing? */
bool	qcow2_fix_clash(const struct qcow2_fix *fx, uint64_t off, uint64_t len);
/* STRUCT: [off, off + len) is referenced as what (check's names). */
#define QCOW2_KIND_DATA		1U	/* data or compressed cluster */
#define QCOW2_KIND_L2		2U	/* an L2 table */
#define QCOW2_KIND_META		4U	/* any other metadata */
int	qcow2_fix_kind(struct qcow2_fix *fx, uint64_t off, uint64_t len,
	    const char *what, uint64_t file_len);
/*
 * STRUCT: [off, off + len) is referenced although past the end; it stays
 * (new clusters must not reach it), or it is the refcount or snapshot
 * table, which the repair replaces (new clusters go past it, so it reads
 * as before until then).
 */
void	qcow2_fix_ceiling(struct qcow2_fix *fx, uint64_t off, uint64_t len,
	    uint64_t file_len, bool replaced);
/* STRUCT: the L2 entry at host gets a new cluster of zeros. */
int	qcow2_fix_zero_cluster(struct qcow2_fix *fx, uint64_t host);
/* STRUCT: cluster k has n references more than its refcount can hold. */
int	qcow2_fix_overflow(struct qcow2_fix *fx, uint64_t k, uint64_t n);
/* The computed counts, at the end of a compare: fx may keep them. */
void	qcow2_fix_counts(struct qcow2_fix *fx, struct qcow2_counts **cnt);

int	qcow2_repair(struct img *img, struct report *rp, const char *out_path);
/*
 * The first cluster new metadata may use, when n of them fit below the
 * ceiling (qcow2_repair.c).
 */
int	qcow2_fix_first_free(struct qcow2_fix *fx, uint64_t n, uint64_t *k);
/* qcow2_rebuild.c: set the refcounts (REFCOUNT phase, after the walk). */
int	qcow2_refcounts_fix(struct qcow2_fix *fx);
/* Read or set the stored refcount of cluster k through the plan. */
int	qcow2_ref_read(struct img *img, const struct qcow2 *q, uint64_t k,
	    uint64_t *v, bool *has_block);
int	qcow2_ref_plan(struct qcow2_fix *fx, const struct qcow2 *q,
	    uint64_t k, uint64_t v, enum pr_id id);
/* Set refcount n of a refcount block buffer at index i. */
void	qcow2_rb_set(uint8_t *rb, uint32_t order, uint64_t i, uint64_t v);
int	qcow2_hostmap(struct img *img, struct hmap_sink *hs);

/* qcow2_read.c */
uint64_t qcow2_vsize(struct img *img);
int	qcow2_backing(struct img *img, char *name, size_t namelen, char *fmt,
	    size_t fmtlen);
int	qcow2_read(struct img *img, const struct map_ext *run, uint64_t off,
	    void *buf, size_t len, struct report *rp);

/* qcow2_luks.c: "encrypt" of qemu-img info's format-specific data. */
int	qcow2_info_encrypt(struct img *img, const struct qcow2 *q,
	    struct json_object *data);

/* qcow2_describe.c: the field under a byte; a finding's entry. */
int	qcow2_describe(struct img *img, uint64_t off, const struct img_where *w,
	    struct img_field *out);
int	qcow2_locate(struct img *img, const struct finding *f, uint64_t *off,
	    uint64_t *len);

/* qcow2_info.c, qcow2_map.c */
int	qcow2_info(struct img *img, struct json_object *obj);
int	qcow2_map(struct img *img, const struct map_req *rq, map_fn *fn,
	    void *arg);

/* qcow2_walk.c: the one walk of an L1 table and its L2 tables. */
struct qcow2_l2job {
	uint64_t	l2off;		/* table offset from the L1 entry */
	uint64_t	l1e;		/* the L1 entry */
	uint32_t	l1idx;
	uint64_t	mult;		/* host order: L1 entries naming it */
	bool		skip;		/* l1e said: do not read it */
	bool		flag;		/* the visitor's */
};

struct qcow2_walker {
	struct img		*img;
	const struct qcow2	*q;
	uint64_t		 l1off;		/* the L1 table */
	uint32_t		 l1n;
	uint32_t		 first, last;	/* L1 indices [first, last) */
	bool			 host_order;
	/*
	 * Each non-empty L1 entry, in L1 order, before any table is read:
	 * < 0 stops the walk, 0 reads the table, 1 leaves it unread (guest
	 * order: visited with a NULL table).
	 */
	int			(*l1e)(void *arg, struct qcow2_l2job *j);
	/* Each table with its cs bytes; NULL for an empty or skipped one. */
	int			(*l2)(void *arg, const struct qcow2_l2job *j,
				    const uint8_t *tab);
	void			*arg;
};
int	qcow2_walk(const struct qcow2_walker *w);

/* Read n L1/L2-style big-endian u64 entries at off; zeros past EOF. */
int	qcow2_read_table(struct img *img, uint64_t off, uint64_t n,
	    uint64_t **out);

#endif /* QCOW2_H */
