/* SPDX-License-Identifier: MIT */
/*
 * sparse.h --- private interface of the virtnbdbackup sparse stream
 * format (spec: shared/specs/sparsestream.md).
 */
#ifndef SPARSE_SPARSE_H
#define SPARSE_SPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct json_object;

/* Section 2: every frame header is 40 bytes of text. */
#define SPARSE_HDR_LEN		40
/* Meta JSON larger than this is not a meta frame (spec section 8.2). */
#define SPARSE_META_MAX		(1u << 20)
/* Trailer JSON we parse; larger ones are skipped (lz4 frames suffice). */
#define SPARSE_TRAILER_MAX	(4u << 20)
/* Elements of one trailer object (pieces of one extent). */
#define SPARSE_PIECES_MAX	(1u << 20)
/* The read window: the largest lz4 block (4 MiB) plus headers. */
#define SPARSE_BUF_LEN		(8u << 20)
/* Decoded lz4 output per call. */
#define SPARSE_DEC_LEN		(4u << 20)
/* The .chksum file is a decimal number; more bytes is not one. */
#define SPARSE_CHKSUM_MAX	64
/* Extents a salvage keeps in memory (16 bytes and more each). */
#define SPARSE_SALVAGE_MAX	(64u << 20)
/*
 * Upstream restores an extent of this size or more piece by piece, one
 * lz4 frame per piece of this size, and smaller ones as a single frame
 * (its NBD maximum request size); salvage re-encodes to match.
 */
#define SPARSE_UPSTREAM_PIECE	(32u << 20)
/* Strings we keep from the meta JSON. */
#define SPARSE_STR_MAX		256

enum sparse_kind {
	SK_META,
	SK_DATA,
	SK_ZERO,
	SK_STOP,
	SK_COMP,
	SK_UNKNOWN
};

/* What a header said, and what was wrong with it (sparse_hdr.c). */
enum sparse_hdr_flags {
	SH_BAD_KIND	= 1u << 0,	/* kind word not in section 1 */
	SH_BAD_SEP	= 1u << 1,	/* byte 4 or 21 is not a space */
	SH_NONHEX	= 1u << 2,	/* a number no parser accepts */
	SH_NONCANON	= 1u << 3,	/* a number only int(x, 16) accepts */
	SH_TERM_SPACE	= 1u << 4,	/* bytes 38-39 whitespace, not CR LF */
	SH_TERM_BAD	= 1u << 5	/* bytes 38-39 anything else */
};

struct sparse_hdr {
	enum sparse_kind	 kind;
	uint64_t		 start;
	uint64_t		 len;
	unsigned		 flags;		/* enum sparse_hdr_flags */
	unsigned		 bad_byte;	/* first bad byte (0..39) */
	const char		*bad_field;	/* "start", "length" */
	char			 word[8];	/* kind word, printable */
	uint16_t		 term;		/* bytes 38-39, big endian */
};

/* Decode one 40-byte header; never fails, flags say what is wrong. */
void	sparse_hdr_parse(const uint8_t *b, struct sparse_hdr *h);
/*
 * Report what a lenient reader accepts but a canonical header never has
 * (a non-canonical number, a whitespace terminator); every header kind
 * shares these.  pc names the frame; str and found are overwritten.
 */
void	sparse_hdr_report_lenient(struct report *rp,
	    const struct sparse_hdr *h, struct pr_ctx *pc);
/* Does b look like a header a writer made (for resynchronising)? */
bool	sparse_hdr_plausible(const uint8_t *b);
/* Format a canonical header into b (40 bytes, no NUL). */
void	sparse_hdr_format(uint8_t *b, enum sparse_kind kind, uint64_t start,
	    uint64_t len);
const char	*sparse_kind_name(enum sparse_kind kind);

/* How the walk starts after the meta frame (sparse_meta.c). */
enum sparse_start {
	SS_AT,		/* frames start at meta.first_frame */
	SS_RESYNC,	/* look for the first header after first_frame */
	SS_NONE		/* not a stream: nothing to walk */
};

/* The meta frame, decoded (section 4). */
struct sparse_meta {
	bool		 ok; /* JSON parsed and required keys there */
	int		 version;	/* 1, 2; 0 unknown */
	bool		 prototype;	/* hyphenated keys */
	uint64_t	 virtual_size;
	uint64_t	 data_size;
	bool		 compressed;
	int64_t		 level;		/* compressed level, 1 for true */
	bool		 incremental;
	bool		 has_vsize;
	bool		 has_dsize;
	char		 method[SPARSE_STR_MAX];
	char		 checkpoint[SPARSE_STR_MAX];
	char		 parent[SPARSE_STR_MAX];
	char		 disk[SPARSE_STR_MAX];
	char		 disk_format[SPARSE_STR_MAX];
	char		 date[SPARSE_STR_MAX];
	uint64_t	 json_len;	/* J */
	uint64_t	 first_frame;	/* offset after meta + CR LF */
	enum sparse_start start;	/* how the walk begins */
	struct json_object *json;	/* the parsed object, owned; NULL */
};

/* One trailer element (section 5.2). */
struct sparse_telem {
	uint64_t	 total;		/* payload bytes */
	uint64_t	 key; /* object key (== total unless damaged) */
	uint32_t	 first;		/* index into pieces; UINT32_MAX: int */
	uint32_t	 npieces;
	bool		 valid;		/* a well-formed element */
};

struct sparse_trailer {
	bool			 present;	/* a comp header at EOF-40 */
	bool			 ok;		/* JSON parsed into elements */
	bool			 located;	/* json_off is known */
	/* reported; bytes after stop are it */
	bool			 damaged;
	uint64_t		 comp_off;	/* EOF - 40 */
	uint64_t		 json_off;	/* EOF - 42 - T */
	uint64_t		 json_len;	/* T */
	struct sparse_telem	*el;
	size_t			 nel;
	uint64_t		*pieces;
	size_t			 npieces;
};

/* Private state of an open stream. */
struct sparse {
	struct sparse_meta	 meta;
	bool			 meta_read;	/* sparse_meta_read() ran */
	char			 kind_name[8];	/* full copy inc diff */
};

/* One extent frame as the walker saw it (for map, extract, salvage). */
struct sparse_ext {
	enum sparse_kind	 kind;		/* SK_DATA or SK_ZERO */
	uint64_t		 index;		/* frame index */
	uint64_t		 hdr_off;
	uint64_t		 start;		/* guest */
	uint64_t		 len;
	uint64_t		 pay_off;	/* data: payload in the file */
	uint64_t		 pay_len; /* stored bytes (lz4 or plain) */
	bool			 compressed;
	bool			 intact; /* header, range, payload all good */
	const uint64_t		*lz4_sizes;	/* stored size of each lz4 */
	size_t			 nlz4;		/* frame; valid in callback */
};

/* Totals of one walk (for info and the report's extra facts). */
struct sparse_totals {
	uint64_t	 frames;
	uint64_t	 data_frames;
	uint64_t	 zero_frames;
	uint64_t	 data_bytes;
	uint64_t	 zero_bytes;
	uint64_t	 stored_bytes;	/* payload bytes in the file */
	uint64_t	 lz4_frames;
	uint64_t	 stop_end;	/* 0 when no stop frame */
	uint64_t	 trailer_off;	/* trailer JSON, 0 when unknown */
	bool		 complete;	/* a stop frame was found */
};

typedef int sparse_ext_fn(void *arg, const struct sparse_ext *ext);
typedef int sparse_data_fn(void *arg, uint64_t goff, const uint8_t *buf,
	    size_t len);

struct sparse_walk_opts {
	bool		 decode;	/* decode lz4 and verify checksums */
	bool		 chksum;	/* verify a .chksum beside the file */
	sparse_ext_fn	*on_ext;
	sparse_data_fn	*on_data;	/* guest bytes of data frames */
	void		*arg;
};

/*
 * Report one problem when rp is not NULL; in a repair, count what may be
 * fixed.  Returns what report_problem() answers (false without rp).
 */
bool	sparse_pr(struct report *rp, enum pr_id id, const struct pr_ctx *pc);
/*
 * Parse len bytes of JSON strictly; the whole text must be one value.
 * Returns the value (caller puts) or NULL with a reason in why.
 */
struct json_object	*sparse_json_parse(const uint8_t *buf, size_t len,
			    char *why, size_t whylen);

/* sparse_meta.c: read and validate the meta frame into sp->meta. */
int	sparse_meta_read(struct img *img, struct sparse_meta *m,
	    struct report *rp);
void	sparse_meta_release(struct sparse_meta *m);
/* full, copy, inc or diff: from the file name where it says, else meta. */
const char	*sparse_backup_kind(const char *path,
		    const struct sparse_meta *m);

/* sparse_trailer.c: locate and parse the trailer (section 5.3). */
int	sparse_trailer_read(struct img *img, const struct sparse_meta *m,
	    struct sparse_trailer *t, struct report *rp);
void	sparse_trailer_release(struct sparse_trailer *t);

/*
 * sparse_walk.c: walk every frame once, reporting problems into rp and
 * calling the callbacks of o.  Returns 0 or an error (I/O, ENOMEM); all
 * damage is findings.  *tot (may be NULL) gets the totals.
 */
int	sparse_walk(struct img *img, struct report *rp,
	    const struct sparse_walk_opts *o, struct sparse_totals *tot);

/* sparse_chksum.c: verify <path>.chksum if there is one. */
int	sparse_chksum_check(struct img *img, struct report *rp);

/* sparse_chain.c */
int	sparse_chain(struct img **imgs, size_t n, struct report *rp);
/* sparse_repair.c */
int	sparse_repair(struct img *img, struct report *rp, const char *out);
/* sparse_map.c */
int	sparse_map(struct img *img, const struct map_req *rq, map_fn *fn,
	    void *arg);
int	sparse_extract(struct img *img, const char *what, int fd,
	    struct report *rp);
/* sparse_hostmap.c: every byte of the file to hm_add() (one walk). */
int	sparse_hostmap(struct img *img, struct hmap_sink *hs);

/* sparse_describe.c: the header field under a byte (the viewer). */
int	sparse_describe(struct img *img, uint64_t off,
	    const struct img_where *w, struct img_field *out);

#endif /* SPARSE_SPARSE_H */
