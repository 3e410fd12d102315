/* SPDX-License-Identifier: MIT */
/*
 * libcore.h --- the one header the tools include.
 *
 * libcore opens an image, detects its format, and runs the format's info,
 * check, map and repair operations.  It never prints and never exits:
 * results come back as return codes, a struct report full of findings,
 * JSON objects (info) or callbacks (map).
 */
#ifndef LIBCORE_H
#define LIBCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Our error codes, returned negated; below IMG_EBASE a value is an errno. */
enum img_err {
	IMG_EBASE = 1000,
	IMG_ESHORT,		/* a decoder ran past its buffer */
	IMG_ERANGE,		/* a read or write beyond the end of the file */
	IMG_EFORMAT,		/* not a format we know */
	IMG_EINVAL,		/* the image cannot be opened (see img_errmsg) */
	IMG_EUNSUP,		/* a feature we do not handle */
	IMG_ELIMIT,		/* an on-disk size beyond a named limit */
	IMG_ENOCHECK,		/* the format has no check */
	IMG_ENOOP,		/* the format lacks this operation */
	IMG_ERDONLY,		/* a write to an image opened read-only */
	IMG_ECHECK,		/* the check could not complete */
	IMG_EKEY,		/* a key is needed or is wrong */
	IMG_ELOCKED,		/* another process holds the image (QEMU locks) */
	IMG_ELAST
};

/* Return a static description of err (negative or positive). */
const char	*img_strerror(int err);

/* ---- problem table ---------------------------------------------------- */

enum pr_sev {
	PR_SEV_FATAL,		/* the check cannot go on; counts check-errors */
	PR_SEV_CORRUPT,		/* data at risk; counts corruptions */
	PR_SEV_LEAK,		/* space wasted, data safe; counts leaks */
	PR_SEV_WARN,
	PR_SEV_INFO
};

enum pr_fix {
	PR_FIX_NONE,
	PR_FIX_SETREF,		/* set a reference count */
	PR_FIX_CLEAR,		/* clear a bad entry or bit */
	PR_FIX_REBUILD,		/* rebuild a structure from the walk */
	PR_FIX_TRUNCATE,	/* drop bytes past the last good structure */
	PR_FIX_REWRITE		/* rewrite the structure */
};

enum pr_id {
#define PR(code, id, sev, fix, msg)	PR_##id,
#include "core/problems.def"
#undef PR
	PR_COUNT
};

struct pr_info {
	uint32_t	 code;		/* 0xFFSSNN, stable */
	const char	*name;		/* kebab-case id: "qcow2-refcount-leak" */
	enum pr_sev	 sev;
	enum pr_fix	 fix;
	const char	*msg;		/* template: %O %I %N %M %n %m %S */
};

/* Table entry of id; NULL when id is out of range. */
const struct pr_info	*pr_info_get(enum pr_id id);
/* The id with problem code code (PR_COUNT if none), and its entry. */
enum pr_id		 pr_id_by_code(uint32_t code);
const struct pr_info	*pr_info_by_code(uint32_t code);
/* "fatal", "corruption", "leak", "warning", "info". */
const char		*pr_sev_name(enum pr_sev sev);
const char		*pr_fix_name(enum pr_fix fix);
/*
 * Can a repair fix id today: the table names a fix and its format has a
 * repair (the format's ops, not a list).
 */
bool			 pr_fixable(enum pr_id id);

/*
 * What a caller tells report_problem() about one problem.  off/len are
 * the host bytes at fault, path the structure path, goff/glen the guest
 * range at risk (PC_GUEST set).  idx, found, want and str fill the message
 * template: %O off (hex), %I idx, %N found, %M want (decimal), %n %m the
 * same in hex, %S str.
 */
enum pc_flags {
	PC_HOST    = 1u << 0,	/* off/len are meaningful */
	PC_GUEST   = 1u << 1,	/* goff/glen are meaningful */
	PC_NOCOUNT = 1u << 2,	/* the format keeps the counters itself */
	PC_ENTRY   = 1u << 3,	/* finding: entry_off/entry_len are known */
	/*
	 * The fix is made at the leaks level too (qemu-img check -r leaks
	 * makes it: a COPIED flag when nothing else is wrong, header bits
	 * qemu rewrites whenever it opens the image for writing).
	 */
	PC_LEAKS_OK = 1u << 4,
	/* This instance cannot be fixed (another finding says why). */
	PC_NOFIX   = 1u << 5
};

struct pr_ctx {
	uint64_t	 off;
	uint64_t	 len;
	uint64_t	 idx;
	uint64_t	 found;
	uint64_t	 want;
	uint64_t	 goff;
	uint64_t	 glen;
	const char	*str;
	const char	*path;
	unsigned	 flags;
};

/* ---- findings and counters -------------------------------------------- */

struct finding {
	enum pr_id	 id;
	unsigned	 flags;		/* PC_HOST, PC_GUEST */
	uint64_t	 host_off;
	uint64_t	 host_len;
	uint64_t	 guest_off;
	uint64_t	 guest_len;
	char		*path;		/* owned */
	char		*msg;		/* owned */
	bool		 fixed;		/* repaired (or would be, dry run) */
	/*
	 * The on-disk entry that holds the bad value (PC_ENTRY), when it
	 * is not the host range at stake: for a bad pointer, the table
	 * entry naming the range.  img_check() fills it in.
	 */
	uint64_t	 entry_off;
	uint64_t	 entry_len;
};

/* qemu-img check's counters, kept by every format that has a check. */
struct check_counts {
	uint64_t	corruptions;
	uint64_t	leaks;
	uint64_t	check_errors;
	uint64_t	corruptions_fixed;
	uint64_t	leaks_fixed;
	uint64_t	total_clusters;
	uint64_t	allocated_clusters;
	uint64_t	fragmented_clusters;
	uint64_t	compressed_clusters;
	uint64_t	image_end_offset;
};

enum report_repair {
	REPAIR_LEAKS = 1u << 0,	/* may fix leaks */
	REPAIR_ALL   = 1u << 1	/* may fix corruptions too */
};

struct plan;

struct report {
	struct check_counts	 c;
	struct finding		*f;		/* findings kept, in order */
	size_t			 nf;
	size_t			 capf;
	size_t			 max_per_code;	/* 0 = keep all */
	uint64_t		 seen[PR_COUNT];	/* per id, all reported */
	uint64_t		 omitted;	/* findings not kept */
	unsigned		 repair;	/* enum report_repair */
	bool			 dry_run;
	bool			 force;		/* walk what qemu would refuse */
	bool			 nomem;		/* a finding was lost to ENOMEM */
	struct json_object	*extra;		/* format facts for the JSON */
	/*
	 * Told of each finding as it is kept, from the thread running the
	 * check (may be NULL): a viewer shows findings as they are found.
	 * f is valid during the call only.
	 */
	void			(*on_finding)(void *arg,
				    const struct finding *f);
	void			*on_arg;
	/*
	 * The repair's changes (formats that plan; img_repair() makes it).
	 * With a plan, "may I fix this?" is answered in a dry run too: the
	 * fix goes into the plan, and a dry run never applies it.  Freed by
	 * report_release().
	 */
	struct plan		*plan;
};

void	report_init(struct report *rp);
void	report_release(struct report *rp);

/*
 * Record one problem: count it by severity (unless PC_NOCOUNT), keep it as
 * a finding (unless its code is past max_per_code), and answer whether the
 * caller may fix it now.  The only policy point: format code never looks
 * at repair options itself.
 */
bool	report_problem(struct report *rp, enum pr_id id,
	    const struct pr_ctx *pc);

/* Add one fact (integer, string or bool) to rp->extra; ENOMEM is ignored. */
void	report_extra_int(struct report *rp, const char *key, int64_t v);
void	report_extra_str(struct report *rp, const char *key, const char *v);
void	report_extra_bool(struct report *rp, const char *key, bool v);

/* Render pr template msg with pc into buf (always NUL-terminated). */
void	pr_format(char *buf, size_t len, const char *msg,
	    const struct pr_ctx *pc);

/* ---- images ----------------------------------------------------------- */

struct img;

enum img_open_flags {
	IMG_RDWR = 1u << 0,	/* open for writing (imgrepair --in-place) */
	IMG_NOLOCK = 1u << 1,	/* -U: read without QEMU's image locks */
	/*
	 * Opened to be repaired (imgrepair, also a dry run): a format may
	 * then open an image whose damage it can repair although QEMU would
	 * refuse it (a broken bitmap directory), and report that damage.
	 */
	IMG_REPAIR = 1u << 2
};

struct img_opts {
	const char	*format;	/* NULL: detect */
	unsigned	 flags;		/* enum img_open_flags */
	bool		 has_key;
	uint8_t		 key[32];	/* formats with encryption */
	const char	*undo_path;	/* save overwritten bytes here */
};

/*
 * Open path and detect or force its format.  On failure returns a negative
 * error and, where the format said why, a message in errbuf.  On success
 * *out owns the image; release it with img_close().
 */
int		 img_open(const char *path, const struct img_opts *opts,
		    struct img **out, char *errbuf, size_t errlen);
void		 img_close(struct img *img);

const char	*img_format(const struct img *img);
/* Why the last operation on img failed, when a format said; else NULL. */
const char	*img_error(const struct img *img);
/*
 * Can this image be repaired in place (inplace) or into a new file?  The
 * tools ask before they print a plan or write anything.
 */
bool		 img_can_repair(const struct img *img, bool inplace);
uint64_t	 img_file_size(const struct img *img);
const char	*img_path(const struct img *img);

/*
 * Does the format's repair make a write-level plan (rp->plan: every byte
 * it would change, old and new)?  Formats without one only say, in a dry
 * run, which findings they would fix.
 */
bool		 img_repair_plans(const struct img *img);

/* Run the format's check into rp (read-only).  -IMG_ENOCHECK if none. */
int		 img_check(struct img *img, struct report *rp);
/*
 * Run the format's repair with rp->repair as permission.  out_path NULL:
 * repair in place (the image must be open IMG_RDWR); otherwise write a
 * new, repaired image there and leave the original untouched.  With
 * rp->dry_run nothing is written (out_path is ignored, the image may be
 * read-only); a format that plans leaves its plan in rp->plan.
 */
int		 img_repair(struct img *img, struct report *rp,
		    const char *out_path);

/*
 * Check several images as one chain (a full backup and its increments,
 * in order): each alone, then the links between them.  All must have the
 * same format.
 */
int		 img_check_chain(struct img **imgs, size_t n,
		    struct report *rp);

/*
 * Write guest data to fd: what NULL = the whole guest disk as raw bytes,
 * otherwise a named object (a file inside an archive).  Problems met on
 * the way go to rp.
 */
int		 img_extract(struct img *img, const char *what, int fd,
		    struct report *rp);
/*
 * The same with options.  For qcow2, QED and raw the guest disk is read
 * through the backing chain as the map resolves it; zero runs are left as
 * holes (fd must be a new, empty regular file or a pipe), and ranges met
 * through damage (force) are reported to rp and written as zeros.  what
 * "leaked" (formats without named objects) writes the bytes of leaked and
 * free-but-nonzero host ranges at their own offsets, holes elsewhere.
 */
struct img_extract_opts {
	bool		 no_backing;
	bool		 force;
	/* Called now and then with bytes done of total; may be NULL. */
	void		(*progress)(void *arg, uint64_t done, uint64_t total);
	void		*parg;
};
int		 img_extract_ex(struct img *img, const char *what, int fd,
		    struct report *rp, const struct img_extract_opts *o);

/*
 * Fill *out with a new JSON object holding the image's description; keys
 * are a superset of qemu-img info --output=json.  Caller puts *out.
 */
int		 img_info(struct img *img, struct json_object **out);

/*
 * One run of guest bytes with the same status, as qemu-img map gives.
 * Inside a format's own map, a run that is neither present, zero nor data
 * is unallocated in that layer: the core reads it from the backing file
 * (depth + 1) or, without one, makes it a zero run, as qemu does.
 */
struct map_ext {
	uint64_t	 start;
	uint64_t	 length;
	uint64_t	 offset;	/* host offset when has_offset */
	int		 depth;
	bool		 present;
	bool		 zero;
	bool		 data;
	bool		 has_offset;
	bool		 compressed;
	const char	*owner;		/* structure or stream, may be NULL */
	const char	*file;		/* the file offset is in; NULL: image */
	uint32_t	 damage;	/* code of the finding that makes this
					   range unreadable (map --force) */
};
typedef int map_fn(void *arg, const struct map_ext *ext);

/* What img_map_ex() maps and how. */
struct img_map_opts {
	uint64_t	 start;		/* --start-offset */
	uint64_t	 length;	/* --max-length; UINT64_MAX: to the end */
	bool		 no_backing;	/* the top layer alone */
	bool		 force;		/* map through damaged tables */
};
void		 img_map_opts_init(struct img_map_opts *o);
/*
 * The guest disk as qemu-img map sees it: backing files opened (relative
 * to the image, format from the header or probed), runs merged.  A
 * damaged table fails the map (img_error() names the finding) unless
 * force, which maps the range with ext->damage set.
 */
int		 img_map_ex(struct img *img, const struct img_map_opts *o,
		    map_fn *fn, void *arg);
/* img_map_ex() with defaults. */
int		 img_map(struct img *img, map_fn *fn, void *arg);
/* The guest disk size; the backing chain's images once a map opened it. */
uint64_t	 img_virtual_size(const struct img *img);

/*
 * The host map: what every byte of the image file is.  A format names
 * the byte ranges its structures occupy (any order, overlaps allowed);
 * the core tiles the file with them: overlapping claims become "shared"
 * with every owner, bytes nobody claims "free", claims past the end of
 * the file "past-end" (after the tiling, outside the file's length).
 */
#define HMAP_MAX_OWNERS	8
struct hmap_run {
	uint64_t	 offset;
	uint64_t	 length;
	const char	*cls;		/* "header", "l2", "data", "free" ... */
	const char	*owners[HMAP_MAX_OWNERS];
	size_t		 nowners;	/* may exceed HMAP_MAX_OWNERS */
	uint32_t	 codes[HMAP_MAX_OWNERS];	/* findings here */
	size_t		 ncodes;
};
typedef int hmap_fn(void *arg, const struct hmap_run *run);
int		 img_hostmap(struct img *img, hmap_fn *fn, void *arg);

/*
 * An output file (a repaired copy, an extract): written under a temporary
 * name beside path and renamed over it only by img_out_commit(), so an
 * existing file is never truncated by work that fails.  img_out_open()
 * refuses a path that is one of the inputs (same device and inode, through
 * any link) or an existing non-regular file.  img_out_cleanup() removes
 * the temporary file from a signal handler (async-signal-safe).
 */
struct img_out {
	int	 fd;
	char	*path;
	char	*tmp;
};
int		 img_out_open(struct img_out *o, const char *path,
		    struct img *const *in, size_t nin, char *err,
		    size_t errlen);
int		 img_out_commit(struct img_out *o, char *err, size_t errlen);
void		 img_out_abort(struct img_out *o);
void		 img_out_cleanup(void);

/*
 * Put back what a repair overwrote: replay the undo file's records, newest
 * first, onto image.  Nothing is written unless the whole file is sound
 * and the image is the one the repair left; an apply cut off may be run
 * again; a finished one is refused.
 */
int		 img_undo_apply(const char *image, const char *undo,
		    char *errbuf, size_t errlen);

/*
 * A repair plan (core/plan.c): the changes a repair makes, in offset
 * order, each with the bytes it replaces and the finding it fixes.  A
 * change of the file's length is a change too (PLAN_RESIZE: from off to
 * off + len bytes when growing; len is the new length's distance below
 * off when shrinking, shrink true).  Bytes past the old end of the file
 * read as zeros in before.
 */
enum plan_kind {
	PLAN_WRITE,
	PLAN_RESIZE
};
struct plan_change {
	enum plan_kind	 kind;
	uint64_t	 off;
	uint64_t	 len;
	bool		 shrink;	/* PLAN_RESIZE: the file gets shorter */
	const uint8_t	*before;	/* PLAN_WRITE: len bytes */
	const uint8_t	*after;
	enum pr_id	 id;		/* the finding it fixes */
};
/* Changes in the plan (the resize first), and change i (valid until the
   plan changes or is freed). */
size_t		 plan_count(const struct plan *p);
const struct plan_change *plan_get(const struct plan *p, size_t i);
/* File length before and after the plan. */
uint64_t	 plan_size_before(const struct plan *p);
uint64_t	 plan_size_after(const struct plan *p);
/*
 * What a check of the image would count once the plan is applied, when
 * the format worked it out (NULL if not): a dry run's verdict.
 */
const struct check_counts *plan_after(const struct plan *p);
void		 plan_free(struct plan *p);

/*
 * Strings from images, made safe in place (core/str.c): img_str_clean()
 * turns control characters and bytes that are not valid UTF-8 into '?';
 * img_utf8_fix() only repairs invalid UTF-8 (for serialized JSON, whose
 * own control characters are escaped already).
 */
void		 img_str_clean(char *s);
void		 img_utf8_fix(char *s);

/* Names of the formats, NULL-terminated. */
const char	*const *img_format_names(void);
/* Is there a format called name, and does it have a check? */
bool		 img_format_known(const char *name);
bool		 img_format_has_check(const char *name);

/* ---- bytes and fields (the viewer) -------------------------------------- */

/*
 * Read len bytes of the image file at off into buf (read-only; the file
 * itself, not the guest disk).  Bytes past the end of the file read as
 * zeros; *got (may be NULL) says how many came from the file.
 */
int		 img_read_bytes(struct img *img, uint64_t off, void *buf,
		    size_t len, size_t *got);

/*
 * What the caller knows of a byte from the host map (img_hostmap()): the
 * class and first owner of the run holding it, and the run.  It tells a
 * format which structure the byte is in without a walk of its own.
 */
struct img_where {
	const char	*cls;		/* "l2", "frame-header"; may be NULL */
	const char	*owner;		/* may be NULL */
	uint64_t	 run_off;
	uint64_t	 run_len;
};

#define IMG_FIELD_NAME		64
#define IMG_FIELD_MEANING	160
/* One decoded on-disk field. */
struct img_field {
	uint64_t	 off;		/* its first byte in the file */
	uint64_t	 len;		/* its length in bytes */
	char		 name[IMG_FIELD_NAME];	/* "L2[17]", "header.size" */
	uint64_t	 value;		/* raw value (has_value) */
	bool		 has_value;
	/* What it says: "COPIED, offset 0x50000". */
	char		 meaning[IMG_FIELD_MEANING];
	uint64_t	 target;	/* the host offset it points at */
	bool		 has_target;
};

/*
 * Name and decode the field holding host byte host_off, given what the
 * host map says of it (w, may be NULL: header fields and tables whose
 * place the header gives are still found).  Strings from the image are
 * made safe.  0 with *out filled; -IMG_ENOOP when the format has nothing
 * to say of that byte; I/O errors.
 */
int		 img_describe(struct img *img, uint64_t host_off,
		    const struct img_where *w, struct img_field *out);

/*
 * The on-disk entry holding the value finding f is about (a table entry
 * for a bad pointer, a refcount entry for a wrong count) in *off and
 * *len.
 * 0 when the format can tell; -IMG_ENOOP when not.
 */
int		 img_finding_entry(struct img *img, const struct finding *f,
		    uint64_t *off, uint64_t *len);

/*
 * Progress of a long walk: fn is called now and then with how many bytes
 * of the image have been walked, done of total: bytes of tables for the
 * formats walked through tables (qcow2's L2 tables, QED's), bytes of the
 * file for those read from end to end (sparse streams, archive7).  The
 * tools show it on a terminal.
 */
typedef void	img_progress_fn(void *arg, uint64_t done, uint64_t total);
void		 img_set_progress(struct img *img, img_progress_fn *fn,
		    void *arg);

/*
 * How many threads a walk of img may read with: 0 (the default) as many
 * as the CPUs this process may use, at most 4, for walks of 8 MiB of
 * tables or more; 1 reads on the caller's thread only (a tool that walks
 * several images at once); 2 to 4 that many, for any walk.  The visitor
 * always runs on the caller's thread, in order.
 */
void		 img_set_readers(struct img *img, unsigned n);

/* Ask walkers to stop (from a signal handler): sets a flag only. */
void		 img_interrupt(void);

#endif /* LIBCORE_H */
