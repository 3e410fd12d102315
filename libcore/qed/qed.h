/* SPDX-License-Identifier: MIT */
/*
 * qed.h --- private declarations of the QED format (never seen by tools).
 *
 * QED ("QEMU Enhanced Disk") is a two-level, append-only format: a 64-byte
 * little-endian header, one L1 table and L2 tables of table_size clusters
 * each, data clusters.  The offset rules and qemu-img check's counting
 * (with its cluster index quirk) follow QEMU 7.2, block/qed*.c.
 */
#ifndef QED_QED_H
#define QED_QED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* 0: "QED\0" read as a little-endian u32. */
#define QED_MAGIC			0x00444551u
#define QED_HDR_LEN			64

#define QED_MIN_CLUSTER_SIZE		4096u
#define QED_MAX_CLUSTER_SIZE		(64u * 1024 * 1024)
#define QED_MIN_TABLE_SIZE		1u
#define QED_MAX_TABLE_SIZE		16u
/* The backing file name must be shorter than QEMU's PATH_MAX buffer. */
#define QED_BACKING_NAME_MAX		4095u
#define QED_SECTOR_SIZE			512u
/* QEMU's BDRV_MAX_LENGTH: INT64_MAX aligned down to 1 GiB. */
#define QED_BDRV_MAX_LENGTH		((UINT64_C(1) << 63) - (UINT64_C(1) << 30))

/* 16: features. */
#define QED_F_BACKING_FILE		UINT64_C(0x1)
#define QED_F_NEED_CHECK		UINT64_C(0x2)
#define QED_F_BACKING_FORMAT_NO_PROBE	UINT64_C(0x4)
#define QED_FEATURE_MASK		UINT64_C(0x7)

/* L2 entry values that are not offsets. */
#define QED_L2_UNALLOC			UINT64_C(0)
#define QED_L2_ZERO			UINT64_C(1)

/* Table entries read from the file per chunk (64 KiB of buffer). */
#define QED_CHUNK_ENTRIES		8192u
/* Pages of the cluster bitmaps: 64 Ki clusters (8 KiB) per page. */
#define QED_BM_PAGE_BITS		65536u
/* At most this many bitmap pages (a 32 MiB page directory). */
#define QED_BM_MAX_PAGES		(1u << 22)

/* The header as decoded, host order ("Header", qed spec 1.1). */
struct qed_hdr {
	uint32_t	magic;
	uint32_t	cluster_size;
	uint32_t	table_size;
	uint32_t	header_size;
	uint64_t	features;
	uint64_t	compat_features;
	uint64_t	autoclear_features;
	uint64_t	l1_table_offset;
	uint64_t	image_size;
	uint32_t	backing_filename_offset;
	uint32_t	backing_filename_size;
};

/* Why a header is refused, in QEMU's order of tests (spec 3). */
enum qed_hdr_err {
	QED_HDR_OK = 0,
	QED_HDR_MAGIC,
	QED_HDR_FEATURES,
	QED_HDR_CLUSTER_SIZE,
	QED_HDR_TABLE_SIZE,
	QED_HDR_IMAGE_SIZE,
	QED_HDR_L1_OFFSET,
	QED_HDR_HEADER_SIZE,
	QED_HDR_BACKING_OFFSET,
	QED_HDR_BACKING_SIZE,
	QED_HDR_TOO_LARGE
};

/* Why an offset taken from a table is invalid (spec 2). */
enum qed_off_err {
	QED_OFF_OK = 0,
	QED_OFF_MISALIGNED,	/* not a multiple of the cluster size */
	QED_OFF_IN_HEADER,	/* below header_size clusters */
	QED_OFF_PAST_EOF,	/* at or past the rounded file length */
	QED_OFF_TABLE_WRAP	/* last cluster overflows, or table_size 1 */
};

/* Geometry derived from a valid header. */
struct qed_geom {
	uint64_t	cs;		/* cluster size */
	uint64_t	ts;		/* table size, clusters */
	uint64_t	nent;		/* entries per table */
	uint64_t	hdr_bytes;	/* header_size * cs */
	uint64_t	file_size;	/* file length rounded down to cs */
	uint64_t	table_bytes;	/* ts * cs */
};

/* The format's state behind img->priv. */
struct qed {
	struct qed_hdr	 hdr;
	struct qed_geom	 g;
	char		*backing;	/* NUL-terminated, NULL without */
};

/* A sparse bitmap of cluster indexes; pages appear when first set. */
struct qed_bm {
	uint64_t	  nbits;
	size_t		  npages;
	uint64_t	**pages;
};

/* qed_hdr.c */
/* Decode the fixed 64-byte header from r; returns rd_end(r). */
int	qed_hdr_decode(struct rd *r, struct qed_hdr *out);
/*
 * Validate h as QEMU's open does for a file of file_len bytes; on success
 * fill *g.  On failure return the first rule broken and write a message
 * naming the field and its offset to why.
 */
enum qed_hdr_err qed_hdr_validate(const struct qed_hdr *h, uint64_t file_len,
	    struct qed_geom *g, char *why, size_t whylen);

/* qed_table.c */
/* Is off a valid data cluster offset?  (qed_check_cluster_offset) */
enum qed_off_err qed_cluster_off_check(const struct qed_geom *g, uint64_t off);
/* Is off a valid table offset?  (qed_check_table_offset) */
enum qed_off_err qed_table_off_check(const struct qed_geom *g, uint64_t off);
/* The finding for an invalid L2 table offset in the L1 table. */
enum pr_id	qed_l1_problem(enum qed_off_err oe);
/* The finding for an invalid data cluster offset in an L2 table. */
enum pr_id	qed_l2_problem(enum qed_off_err oe);
/* QEMU's cluster index: roundup(x, cs) / (cs - 1) (spec 4.1). */
uint64_t	qed_qemu_index(const struct qed_geom *g, uint64_t x);
/*
 * Read count entries starting at entry first of the table at off into
 * out (count <= QED_CHUNK_ENTRIES), through the bounded reader.
 */
int	qed_table_read(struct img *img, const struct qed_geom *g, uint64_t off,
	    uint64_t first, size_t count, uint64_t *out);
/* Decode count little-endian entries from buf of len bytes. */
int	qed_table_decode(const uint8_t *buf, size_t len, size_t count,
	    uint64_t *out);

/* qed_bm.c */
/* Bitmap of nbits; -IMG_ELIMIT when it would need too many pages. */
int	qed_bm_init(struct qed_bm *bm, uint64_t nbits);
void	qed_bm_release(struct qed_bm *bm);
/* Set bit i; *was says whether it was set already.  -ENOMEM. */
int	qed_bm_set_slow(struct qed_bm *bm, uint64_t i, bool *was);

/* Set bit i (*was: it was set); the page is allocated on first use. */
static inline int
qed_bm_set(struct qed_bm *bm, uint64_t i, bool *was)
{
	uint64_t	*pg, bit;

	if (i >= bm->nbits ||
	    (pg = bm->pages[i / QED_BM_PAGE_BITS]) == NULL)
		return qed_bm_set_slow(bm, i, was);
	i %= QED_BM_PAGE_BITS;
	bit = 1ull << (i % 64);
	*was = (pg[i / 64] & bit) != 0;
	pg[i / 64] |= bit;
	return 0;
}
bool	qed_bm_test(const struct qed_bm *bm, uint64_t i);
/* Set bits [from, from + n), a word at a time. */
int	qed_bm_set_range(struct qed_bm *bm, uint64_t from, uint64_t n);
/* First index in [from, to) whose bit equals val, or to. */
uint64_t qed_bm_next(const struct qed_bm *bm, uint64_t from, uint64_t to,
	    bool val);
/* Number of clear bits in [from, to). */
uint64_t qed_bm_count_clear(const struct qed_bm *bm, uint64_t from,
	    uint64_t to);

/* qed_ops.c */
/*
 * The backing file name resolved against the image's folder, as QEMU
 * does; caller frees.  NULL on ENOMEM.
 */
char	*qed_backing_path(const struct img *img, const char *name);

/* qed_walk.c: the one walk of the tables (check, repair, map, host map). */
/* Where the walk is, for the visitor. */
struct qed_wpos {
	uint64_t	 l1i;		/* L1 index */
	uint64_t	 toff;		/* the L2 table: the L1 entry's value */
	uint64_t	 j;		/* L2 index (l2 callbacks) */
	uint64_t	 first;		/* the chunk of entries read: first */
	size_t		 cnt;		/* and count */
	uint64_t	*ep;		/* the entry: the visitor may change */
	enum qed_off_err oe;		/* *ep as a table (L1) or a cluster
					   (L2) offset; OK for 0 and 1 */
	bool		 dirty;		/* set by the visitor: *ep changed */
	bool		 skip;		/* set by l1: do not read the table */
};
/*
 * Callbacks return 0 to go on; anything else stops the walk and is what
 * qed_walk() returns.  ioerr (may be NULL: the error stops the walk) is
 * told of a chunk that could not be read; 0 from it skips that chunk of
 * the L1 table or the rest of that L2 table.  flush (may be NULL) gets a
 * chunk whose entries the visitor changed.
 */
struct qed_visit {
	void	*arg;
	int	(*l1)(void *arg, struct qed_wpos *p);
	int	(*l2)(void *arg, struct qed_wpos *p);
	/*
	 * May be NULL.  A run of n > 1 entries naming adjacent valid
	 * clusters (*p->ep, *p->ep + cs, ...), all at once; 1 from it: not
	 * taken, visit each entry with l2 instead.  It changes no entry.
	 */
	int	(*l2run)(void *arg, const struct qed_wpos *p, size_t n);
	/* l2 only for entries naming a cluster (not unallocated or zero). */
	bool	clusters_only;
	int	(*ioerr)(void *arg, const struct qed_wpos *p, bool l1, int rc);
	int	(*flush)(void *arg, uint64_t toff, uint64_t first, size_t cnt,
		    const uint64_t *ent, bool l1);
};
/*
 * Visit, in guest order, the L1 entries covering guest clusters [cfrom,
 * cto) (cluster index = L1 index * entries per table + L2 index; cto is
 * capped at the last cluster the tables can address) and the L2 entries
 * of that range in every valid table the visitor does not skip.  -EINTR
 * after img_interrupt(), between L1 entries.
 */
int	qed_walk(struct img *img, const struct qed_visit *v, uint64_t cfrom,
	    uint64_t cto);

/* qed_check.c */
int	qed_check(struct img *img, struct report *rp);
/*
 * The check as a visitor of the walk; with fix, also zero invalid
 * offsets the report lets us fix, write those tables back and clear
 * NEED_CHECK when consistent.  With hs, also claim every structure's
 * host bytes there (the host map).
 */
int	qed_check_walk(struct img *img, struct report *rp, bool fix,
	    struct hmap_sink *hs);
int	qed_hostmap(struct img *img, struct hmap_sink *hs);

/* qed_repair.c */
int	qed_repair(struct img *img, struct report *rp, const char *out_path);

/* qed_describe.c: the field under a byte; a finding's entry. */
int	qed_describe(struct img *img, uint64_t off, const struct img_where *w,
	    struct img_field *out);
int	qed_locate(struct img *img, const struct finding *f, uint64_t *off,
	    uint64_t *len);

/* qed_map.c */
int	qed_map(struct img *img, const struct map_req *rq, map_fn *fn,
	    void *arg);
/* The guest disk size as QEMU has it (image_size; 2^63 opens as 0). */
uint64_t qed_vsize(struct img *img);
/* Guest bytes of a present-data run (bytes past the file read as 0). */
int	qed_read(struct img *img, const struct map_ext *run, uint64_t off,
	    void *buf, size_t len, struct report *rp);

#endif /* QED_QED_H */
