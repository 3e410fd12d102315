/* SPDX-License-Identifier: MIT */
/*
 * view_int.h --- the viewer's model and screen state (tools/view/ only).
 *
 * The model is built once from libcore by a worker thread with its own
 * handle on the image: the guest map, then the check (each finding handed
 * over as it is found), then the host map.  The screen thread takes what
 * is ready at each turn of its loop (vm_poll()), so the first screen
 * never waits for a walk, and it reads bytes and decodes fields through
 * its own handle.  Only the screen thread touches curses.
 */
#ifndef VIEW_INT_H
#define VIEW_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcore.h"
#include "view.h"

/* Most map classes one image can show (a table of them, by index). */
#define VC_MAX		48
#define VC_DAMAGED	0		/* the first class is damage */
/* Back (Backspace) remembers this many places. */
#define VH_MAX		256
/* The longest search pattern, in bytes. */
#define VS_MAX		128

/* How a class looks: a cell character, a colour and a priority. */
struct vclass {
	const char	*name;
	char		 ch;
	short		 color;		/* COLOR_*, or -1 */
	int		 prio;		/* wins a cell over lower ones */
};

/* One run of a map: guest runs (guest map) or host runs (host map). */
struct vrun {
	uint64_t	 off;
	uint64_t	 len;
	uint64_t	 host;		/* guest runs: where (has_host) */
	const char	*clsname;	/* interned */
	const char	*owner;		/* interned, may be NULL */
	uint32_t	 code;		/* a finding's code here, 0 none */
	uint16_t	 ncodes;
	uint8_t		 cls;		/* index in the class table */
	bool		 has_host;
	bool		 damaged;	/* drawn as damaged */
};

struct vruns {
	struct vrun	*r;
	size_t		 n;
	size_t		 cap;
};

/* A finding, copied out of the report. */
struct vfind {
	enum pr_id	 id;
	unsigned	 flags;		/* PC_HOST, PC_GUEST */
	uint64_t	 host_off;
	uint64_t	 host_len;
	uint64_t	 guest_off;
	uint64_t	 guest_len;
	char		*path;
	char		*msg;
};

/* Where a part of the model is. */
enum vstate {
	VS_WAIT,	/* not started */
	VS_RUN,
	VS_DONE,
	VS_FAIL,	/* err says why */
	VS_NONE		/* the format has none */
};

/* Interned strings: one copy each, stable pointers. */
struct vstrs {
	char		**s;
	size_t		  n;
	size_t		  cap;		/* a power of two, or 0 */
};

struct vmodel {
	const struct view_opts	*o;
	struct img		*img;		/* the screen thread's */
	struct img		*wimg;		/* the worker's */
	const char		*fmt;
	uint64_t		 fsize;		/* the image file's length */
	uint64_t		 vsize;		/* the guest disk's */
	double			 t0;		/* when the viewer started */

	/* The screen thread's copies, filled by vm_poll(). */
	struct vruns		 guest;
	struct vruns		 host;
	struct vfind		*f;
	size_t			 nf;
	size_t			 capf;
	enum vstate		 gst, cst, hst;
	char			 gerr[256], cerr[256], herr[256];
	struct check_counts	 counts;
	uint64_t		 omitted;
	double			 tg, tc, thm;	/* when each was done */
	struct vclass		 cls[VC_MAX];
	size_t			 ncls;
	uint64_t		 gpresent;	/* classes in each map */
	uint64_t		 hpresent;
	bool			 worker_done;

	/* Shared with the worker, under mu. */
	pthread_mutex_t		 mu;
	struct vfind		*pf;		/* findings not yet taken */
	size_t			 npf;
	size_t			 cappf;
	struct vruns		 pguest;	/* handed over when done */
	struct vruns		 phost;
	enum vstate		 sg, sc, sh;
	char			 sgerr[256], scerr[256], sherr[256];
	struct check_counts	 scounts;
	uint64_t		 svsize;
	uint64_t		 somitted;
	size_t			 sruns;		/* runs so far (progress) */
	size_t			 sfound;	/* findings so far */
	bool			 sdone;		/* the worker has finished */

	struct vstrs		 strs;		/* the worker's */
	pthread_t		 th;
	bool			 th_started;
};

/* view_model.c */
double	vm_now(void);
/* Open the image twice and start the worker; a message in err. */
int	vm_open(struct vmodel *m, const struct view_opts *o, char *err,
	    size_t errlen);
/* Take what the worker has made; true when anything changed. */
bool	vm_poll(struct vmodel *m);
/* Stop the worker (img_interrupt()), wait for it, free everything. */
void	vm_close(struct vmodel *m);
/* Index of the first run of rs ending after off (rs->n if none). */
size_t	vm_find(const struct vruns *rs, uint64_t off);
/* The run holding off, or NULL. */
const struct vrun *vm_at(const struct vruns *rs, uint64_t off);
/* The class of [a, b): the highest priority of its runs, -1 if none. */
int	vm_cell(const struct vmodel *m, const struct vruns *rs, uint64_t a,
	    uint64_t b, size_t *hint);
/* Human size: 1536 -> "1.5 KiB". */
void	vm_size(char *buf, size_t len, uint64_t v);
/* The class index of name (added when new). */
uint8_t	vm_class(struct vmodel *m, const char *name);

/* The three panes, and what the screen loop shares with them. */
enum vpane {
	VP_MAP,
	VP_HEX,
	VP_FIND,
	VP_N
};

struct vui {
	struct vmodel	*m;
	int		 W, H;
	enum vpane	 focus;
	bool		 color;
	bool		 toosmall;
	/* Layout: first line and rows of each pane's body. */
	int		 map_y, map_rows, map_w;
	int		 hex_y, hex_rows;
	int		 find_y, find_rows;
	int		 keys_y;
	/* Map: per mode (0 guest, 1 host). */
	bool		 hostmode;
	uint64_t	 bpc[2];	/* bytes per cell, 0 until known */
	uint64_t	 mcur[2];	/* the cursor's offset */
	uint64_t	 mtop[2];	/* first row shown, in rows */
	bool		 zoomed[2];	/* else the map fits the pane */
	size_t		 mhint;
	size_t		*gidx;		/* guest runs in host order */
	size_t		 ngidx;
	bool		 gidx_done;
	/* Hex. */
	uint64_t	 hcur;
	uint64_t	 htop;		/* first row's offset */
	int		 hbpr;		/* bytes per row */
	int		 hdig;		/* offset digits */
	uint64_t	 hist[VH_MAX];
	size_t		 nhist;
	struct img_field fld;
	bool		 fld_ok;
	uint64_t	 fld_at;
	bool		 fld_valid;	/* fld is for fld_at */
	bool		 fld_host;	/* decoded with the host map known */
	/* Findings. */
	size_t		 fcur;
	size_t		 ftop;
	/* Search. */
	uint8_t		 pat[VS_MAX];
	size_t		 npat;
	/* One line of news for the user, until the next key. */
	char		 msg[256];
};

/* view_map.c */
void	vmap_draw(struct vui *u);
bool	vmap_key(struct vui *u, int ch);
/* The mode's space: guest size or file size. */
uint64_t vmap_space(const struct vui *u, bool host);
/* Put the map cursor on off (in the mode given), scrolled into view. */
void	vmap_goto(struct vui *u, bool host, uint64_t off);
void	vmap_fit(struct vui *u, bool host);
/* Keep the map in line with the hex cursor (host mode follows it). */
void	vmap_follow(struct vui *u);

/* view_hex.c */
void	vhex_draw(struct vui *u);
bool	vhex_key(struct vui *u, int ch);
/* Move the hex cursor to off; push the old place on the history. */
void	vhex_jump(struct vui *u, uint64_t off, bool remember);
void	vhex_layout(struct vui *u);
/* Search from the cursor for the pattern; false when not found. */
bool	vhex_search(struct vui *u);
/* Parse "0x1f", "4096", "4KiB": false on anything else. */
bool	vhex_parse_off(const char *s, uint64_t *out);
/* Parse a search: 0x.. hex bytes, else text.  false when empty/bad. */
bool	vhex_parse_pat(const char *s, uint8_t *pat, size_t *n);

/* view_find.c */
void	vfind_draw(struct vui *u);
bool	vfind_key(struct vui *u, int ch);

/* view.c */
/* Colour pair of class i (for text), or 0 without colour. */
int	vui_attr_cls(const struct vui *u, int cls, bool cell);
/* Print s at (y, x), at most w columns, made safe. */
void	vui_put(int y, int x, int w, const char *s);
/* Ask for a line at the bottom; false when cancelled. */
bool	vui_prompt(struct vui *u, const char *q, char *buf, size_t len);
/* The title line of a pane, reversed when it has the focus. */
void	vui_title(struct vui *u, int y, enum vpane p, const char *s);
/* True once SIGINT, SIGTERM or SIGHUP came: stop what you are doing. */
bool	vui_stopping(void);

#endif /* VIEW_INT_H */
