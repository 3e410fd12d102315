/* SPDX-License-Identifier: MIT */
/*
 * core.h --- what format code sees of the core (never the tools).
 *
 * struct img is the open file and the format's private state; struct
 * fmt_ops is the table each format exports; img_pread()/img_pwrite() are
 * the only ways to touch the file.
 */
#ifndef CORE_CORE_H
#define CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcore.h"
#include "core/ck.h"
#include "core/rd.h"

struct json_object;
struct map_req;
struct hmap_sink;

/* What probe() may look at: the first bytes, the name, the size. */
struct img_probe {
	const uint8_t	*buf;
	size_t		 len;
	const char	*name;
	uint64_t	 file_size;
};

struct fmt_ops {
	const char	*name;		/* "qcow2": CLI and report prefix */
	uint32_t	 pr_base;	/* its problem-code range, 0x010000 */
	int		(*probe)(const struct img_probe *p);	/* 0..100 */
	int		(*open)(struct img *img);
	int		(*info)(struct img *img, struct json_object *obj);
	int		(*check)(struct img *img, struct report *rp);
	int		(*repair)(struct img *img, struct report *rp,
			    const char *out_path);
	/*
	 * The guest runs of this layer alone covering at least
	 * [rq->start, rq->end), in order (more is clipped by the core).
	 * Unallocated runs have present, zero and data all false.  A
	 * damaged table fails with img_set_error() naming the finding,
	 * unless rq->force: then its range comes with ext->damage.
	 */
	int		(*map)(struct img *img, const struct map_req *rq,
			    map_fn *fn, void *arg);
	/*
	 * Read guest bytes [off, off + len) of this layer, all inside run
	 * (one of its own map runs, present data).  Problems to rp.
	 */
	int		(*read)(struct img *img, const struct map_ext *run,
			    uint64_t off, void *buf, size_t len,
			    struct report *rp);
	/*
	 * The backing file as the header names it (name, and format or ""),
	 * 1 when there is one, 0 when not.
	 */
	int		(*backing)(struct img *img, char *name, size_t namelen,
			    char *fmt, size_t fmtlen);
	/* Guest disk size. */
	uint64_t	(*vsize)(struct img *img);
	/* Every structure's host bytes to hm_add() (core/hostmap.c). */
	int		(*hostmap)(struct img *img, struct hmap_sink *hs);
	int		(*chain)(struct img **imgs, size_t n,
			    struct report *rp);
	int		(*extract)(struct img *img, const char *what, int fd,
			    struct report *rp);
	/*
	 * The field holding host byte off (img_describe()); w may be NULL.
	 * -IMG_ENOOP when the format has nothing to say of that byte.
	 */
	int		(*describe)(struct img *img, uint64_t off,
			    const struct img_where *w, struct img_field *out);
	/* The entry holding the value f is about (img_finding_entry()). */
	int		(*locate)(struct img *img, const struct finding *f,
			    uint64_t *off, uint64_t *len);
	void		(*close)(struct img *img);
	unsigned	 caps;		/* enum fmt_caps */
};

enum fmt_caps {
	FMT_REPAIR_INPLACE	= 1u << 0,	/* repair(img, rp, NULL) */
	FMT_REPAIR_COPY		= 1u << 1,	/* repair(img, rp, path) */
	/*
	 * Its content cannot be recognised (encrypted): a forced -f is
	 * taken even when probe() says 0.
	 */
	FMT_OPAQUE		= 1u << 2,
	/* extract's what names objects (archive files), never "leaked" */
	FMT_NAMED		= 1u << 3,
	/*
	 * Its probe claims any file (raw): forced, nothing is read to ask
	 * it, as QEMU reads nothing for -f raw.
	 */
	FMT_ANYFILE		= 1u << 4,
	/* Its repair plans every change first (rp->plan, core/plan.c). */
	FMT_REPAIR_PLAN		= 1u << 5
};

/* What fmt_ops.map is asked for. */
struct map_req {
	uint64_t	start;
	uint64_t	end;
	bool		force;
};
/* The core's map stops early when fn returns this (not an error). */
#define MAP_STOP	1

/*
 * Host map claims (core/hostmap.c): cls a static class name, owner any
 * string (copied), code a finding's problem code or 0.  Claims may come
 * in any order and overlap.
 */
struct hmap_sink;
int	hm_add(struct hmap_sink *hs, uint64_t off, uint64_t len,
	    const char *cls, const char *owner, uint32_t code);

/*
 * extract "leaked" (core/hostmap.c): the bytes of leaked and free but
 * nonzero host ranges of img written to fd at their own offsets, holes
 * elsewhere.
 */
int	hostmap_extract_leaked(struct img *img, int fd, struct report *rp);

/*
 * The findings of rp that name host bytes, as [off, end) with their code,
 * sorted by offset (a finding at a point covers the byte there): formats
 * put codes on the claims those bytes fall in.  Caller frees *out.
 */
struct hm_find {
	uint64_t	off;
	uint64_t	end;
	uint32_t	code;
};
int	hm_findings(const struct report *rp, struct hm_find **out,
	    size_t *nout);

#define IMG_ERRMSG_MAX	256

struct img {
	int			 fd;
	int			 undo_fd;	/* -1 until the first write */
	char			*undo_path;	/* NULL: no undo file */
	uint64_t		 undo_end;	/* its length */
	uint64_t		 size;		/* file length at open */
	char			*path;
	unsigned		 flags;		/* enum img_open_flags */
	const struct fmt_ops	*ops;
	void			*priv;		/* the format's state */
	bool			 has_key;
	bool			 unrecognised;	/* forced, probe said 0 */
	bool			 nowait_off;	/* no RWF_NOWAIT here */
	bool			 scattered;	/* img_scattered() is on */
	unsigned		 readers;	/* img_set_readers(); 0 auto */
	uint64_t		 group_bytes;	/* tests: of a reader's group */
	struct img		*backing;	/* opened by the chain map */
	img_progress_fn		*progress;
	void			*parg;
	int			 depth;		/* in the chain: 0 top */
	uint8_t			 key[32];
	char			 errmsg[IMG_ERRMSG_MAX];
	/*
	 * A plan laid over the file (plan_attach()): reads see the planned
	 * bytes and size is the planned length; writes are refused.
	 */
	struct plan		*plan;
};

/*
 * The formats, in probe order (core/fmt.c); absent ones are NULL.  Raw
 * is last: its probe says 1 for anything, so it wins only when no other
 * format claims the file (ties go to the earlier entry).
 */
#define FMT_NTAB	5
extern const struct fmt_ops *const fmt_table[FMT_NTAB];
const struct fmt_ops	*fmt_find(const char *name);

/*
 * Read len bytes at off.  -IMG_ERANGE when [off, off+len) is not inside
 * the file (nothing is read), -errno on I/O errors.
 */
int	img_pread(struct img *img, uint64_t off, void *buf, size_t len);
/*
 * Like img_pread(), but bytes past the end of the file read as zeros,
 * the way QEMU's file driver returns them.  *got (may be NULL) says how
 * many bytes came from the file.
 */
int	img_pread_zf(struct img *img, uint64_t off, void *buf, size_t len,
	    size_t *got);
/*
 * A read-only view of [off, off+len) inside the file, without a copy:
 * for large sequential metadata reads.  -IMG_ERANGE when the range is not
 * all inside the file (use img_pread_zf() then).  The bytes may change
 * only if someone else writes the file; decoders still go through struct
 * rd or bounds they checked.  Release with img_view_release().
 */
struct img_view {
	const uint8_t	*p;
	size_t		 len;
	void		*map;
	size_t		 maplen;
};
int	img_view(struct img *img, uint64_t off, size_t len,
	    struct img_view *v);
void	img_view_release(struct img_view *v);

/*
 * Room for item n of the array *arrp (a pointer to any element type, of
 * size bytes each) holding *cap: doubled from first when full.  0, or
 * -ENOMEM with the array as it was.
 */
int	grow_array(void *arrp, size_t *cap, size_t n, size_t size,
	    size_t first);

/*
 * Helpers for a format's describe (core/describe.c): the field's name,
 * its meaning appended (never past its end), its place and raw value, the
 * offset it points at, and a len-byte (1..8) integer of the image read
 * through the bounded reader.
 */
void	fld_name(struct img_field *f, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	fld_add(struct img_field *f, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	fld_set(struct img_field *f, uint64_t off, uint64_t len, uint64_t v);
void	fld_target(struct img_field *f, uint64_t t);
int	fld_read(struct img *img, uint64_t off, uint32_t len, bool big_endian,
	    uint64_t *v);

/*
 * Tell the kernel [off, off + len) will be read soon, so it reads ahead
 * while we decode (cold caches); a hint, never an error.
 */
void	img_willneed(struct img *img, uint64_t off, uint64_t len);

/*
 * img_pread_zf() only from the page cache: -EAGAIN when a byte of the
 * range would wait for the disk (nothing is read from it then), so a
 * walker learns its caches are cold without paying for a probe.  Where
 * the kernel cannot tell (no RWF_NOWAIT), or a plan is laid over the
 * file, it reads as img_pread_zf().
 */
int	img_pread_cached(struct img *img, uint64_t off, void *buf, size_t len);

/*
 * Ordered parallel reads (preread.c): ngroups groups, each read by
 * fill(arg, g, buf) on one of threads reader threads into a slot of
 * slot_bytes (at most nslots read ahead); img_preread_next() waits for
 * group g, in order, and gives its slot and fill()'s return; the caller
 * frees the slot with img_preread_done() before it asks for g + nslots.
 * img_preread_threads() says how many readers a walk of img may use (0:
 * read on the caller's thread: one CPU, a write, a plan laid over it).
 */
#define IMG_PREREAD_MAX	4
#define IMG_PREREAD_MIN	(8ULL << 20)	/* bytes that repay the threads */
struct img_preread;
unsigned img_preread_threads(const struct img *img);
/* Readers for a walk of bytes: enough of them, or readers asked for. */
bool	img_preread_worth(const struct img *img, uint64_t bytes);
/* Bytes of a group: dflt, or what a test set in img->group_bytes. */
uint64_t img_preread_group(const struct img *img, uint64_t dflt);
int	img_preread_start(struct img_preread **out, unsigned threads,
	    size_t nslots, size_t slot_bytes, size_t ngroups,
	    int (*fill)(void *arg, size_t g, uint8_t *buf), void *arg);
int	img_preread_next(struct img_preread *pr, size_t g,
	    const uint8_t **buf);
void	img_preread_done(struct img_preread *pr, size_t g);
void	img_preread_stop(struct img_preread *pr);

/*
 * Scattered small reads ahead: the kernel's readahead off (it would
 * read, and on a sparse file zero-fill, the gaps between them) while the
 * caller names each range with img_willneed(); false restores it.
 */
void	img_scattered(struct img *img, bool on);

/*
 * Write len bytes at off; refuses on a read-only image.  With an undo
 * file, the bytes overwritten (and the old file length) are saved first.
 */
int	img_pwrite(struct img *img, uint64_t off, const void *buf,
	    size_t len);
/* Set the file length (repair only; saved to the undo file too). */
int	img_truncate(struct img *img, uint64_t len);

/*
 * Whole reads and writes on a plain descriptor (outputs, the undo file),
 * retried on EINTR and short counts.  A read that meets the end of the
 * file gives -IMG_ERANGE; errors are -errno.
 */
int	fd_pread_full(int fd, void *buf, size_t len, uint64_t off);
int	fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int	fd_write_full(int fd, const void *buf, size_t len);

/*
 * Copy img's file into fd (a new, empty regular file) for a repair into a
 * copy: data extents only, zero chunks left as holes, the same length,
 * synced.
 */
int	img_copy_sparse(struct img *img, int fd);

/*
 * Open a file we read (or, rdwr, repair): regular files and block devices
 * only (their real size in *size), never blocking on a FIFO, with QEMU's
 * image locks unless nolock.  On failure a message in err.
 */
int	img_file_open(const char *path, bool rdwr, bool nolock, int *fd,
	    uint64_t *size, char *err, size_t errlen);

/* 0, or -IMG_EFORMAT when a forced format did not recognise the file. */
int	img_recognised(struct img *img);

/* Say why open failed; the tool prints it after the file name. */
void	img_set_error(struct img *img, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Merge map pieces into maximal runs (core/map.c): add pieces in guest
 * order, then end to hand over the last run (and free the merger's
 * memory: end must be called, also after an error).  Owners are copied.
 */
struct map_merge {
	map_fn		*fn;
	void		*arg;
	struct map_ext	 cur;
	bool		 have;
	char		*obuf;		/* cur's owner, copied */
	size_t		 ocap;
};
/*
 * Host-file block status as QEMU's file-posix driver and block layer give
 * it (core/hole.c): is [off, off + *pnum) data or a hole?  Past the end
 * of the file is a hole with *eof set.  len > 0; *pnum > 0 unless off is
 * at or past the end.
 */
int	fd_block_status(int fd, uint64_t off, uint64_t len, bool *data,
	    uint64_t *pnum, bool *eof);
/*
 * Add run e (present data at a host offset in fd) split the way QEMU's
 * BDRV_BLOCK_RECURSE splits it by the host file's holes: holes and bytes
 * past the end become zero (data stays true).
 */
int	map_merge_add_recurse(struct map_merge *m, const struct map_ext *e,
	    int fd);

void	map_merge_init(struct map_merge *m, map_fn *fn, void *arg);
int	map_merge_add(struct map_merge *m, const struct map_ext *e);
int	map_merge_end(struct map_merge *m);
/* Drop the merger's state without handing anything over (errors). */
void	map_merge_free(struct map_merge *m);


/*
 * Add one member to an info object (core/fmt.c); ENOMEM is ignored, the
 * member is then missing.  u64 values above INT64_MAX print negative, as
 * json-c has no unsigned type; no field we print comes near that.
 */
void	info_add_int(struct json_object *o, const char *key, int64_t v);
void	info_add_u64(struct json_object *o, const char *key, uint64_t v);
void	info_add_str(struct json_object *o, const char *key, const char *v);
void	info_add_bool(struct json_object *o, const char *key, bool v);

/*
 * Building a plan (core/plan.c).  plan_new() starts an empty one.
 * plan_write() records that [off, off + len) becomes buf, for finding id;
 * the old bytes are the file's (zeros past its end), and a change that
 * overlaps earlier ones merges with them (the first one's id stays).  A
 * write past the planned length grows it.  plan_resize() sets the
 * planned length.  While attached to img (plan_attach), every read of
 * img sees the plan applied, so a format can check its own repair before
 * anything is written.  plan_apply() writes it through img_pwrite() and
 * img_truncate() (the undo file sees all): new clusters past the old end
 * first, the file's start last; it writes nothing on a dry run.
 */
struct plan	*plan_new(void);
int		 plan_write(struct plan *p, struct img *img, uint64_t off,
		    const void *buf, size_t len, enum pr_id id);
int		 plan_resize(struct plan *p, struct img *img, uint64_t len,
		    enum pr_id id);
void		 plan_set_after(struct plan *p, const struct check_counts *c);
void		 plan_attach(struct img *img, struct plan *p);
void		 plan_detach(struct img *img);
/* Read [off, off + len) of the planned file: zeros past the old end. */
int		 plan_pread(struct plan *p, struct img *img, uint64_t off,
		    void *buf, size_t len);
/* The file's own bytes, as they were before the plan. */
int		 plan_pread_orig(struct plan *p, struct img *img, uint64_t off,
		    void *buf, size_t len);
int		 plan_apply(struct img *img, struct plan *p,
		    const struct report *rp);
/* Forget every change (the plan stays usable). */
void		 plan_clear(struct plan *p);

/* Walkers say how far they got (cheap: call it per table or chunk). */
static inline void
img_progress(struct img *img, uint64_t done, uint64_t total)
{
	if (img->progress != NULL)
		img->progress(img->parg, done, total);
}

/* True once img_interrupt() was called: walkers stop between structures. */
bool	img_interrupted(void);

#endif /* CORE_CORE_H */
