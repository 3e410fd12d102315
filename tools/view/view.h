/* SPDX-License-Identifier: MIT */
/*
 * view.h --- the ncurses viewer, as imgcheck --tui and imgmap --tui run it.
 */
#ifndef VIEW_VIEW_H
#define VIEW_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "libcore.h"

struct view_opts {
	const char	*prog;		/* for messages: "imgcheck" */
	const char	*path;
	struct img_opts	 img;		/* format, key, -U */
	bool		 host;		/* start on the host map */
	bool		 findings;	/* start in the findings pane */
	bool		 force;		/* check and map through damage */
	size_t		 maxf;		/* findings kept per code, 0 all */
};

/*
 * Run the viewer on o->path until the user quits; the exit status to
 * return (0 on q).  Refuses with one line on stderr and 1 when stdin or
 * stdout is not a terminal, or the image cannot be opened.  Restores the
 * terminal on every way out, signals included.
 */
int	view_main(const struct view_opts *o);

#endif /* VIEW_VIEW_H */
