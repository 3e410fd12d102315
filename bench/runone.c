// SPDX-License-Identifier: MIT
/*
 * runone.c --- time one command for bench/table.py.
 *
 * runone OUT CMD [ARG...] runs CMD with its stdout and stderr on
 * /dev/null and writes one line to OUT:
 *
 *	WALL_SECONDS SYS_SECONDS USER_SECONDS MAXRSS_KIB EXIT
 *
 * The wall time runs from just before the spawn to just after wait4(),
 * so it holds the command's exec, run and exit and nothing of the
 * harness: timed from Python, with GNU time between, every run carried
 * about 2 ms of the harness's own work, which hid the ratio of the short
 * rows (a QED check is 3 ms).  posix_spawn() starts the child without
 * copying this process, so ru_maxrss is the command's own peak.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	struct timespec t0, t1;
	struct rusage ru;
	FILE *out;
	pid_t pid;
	int status, rc, code;

	if (argc < 3) {
		fprintf(stderr, "usage: runone OUT CMD [ARG...]\n");
		return 2;
	}
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
					     0) ||
	    posix_spawn_file_actions_adddup2(&fa, 1, 2)) {
		perror("runone: posix_spawn_file_actions");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ);
	if (rc) {
		fprintf(stderr, "runone: %s: %s\n", argv[2], strerror(rc));
		return 2;
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("runone: wait4");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	posix_spawn_file_actions_destroy(&fa);

	code = WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
	out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "%.9f %.6f %.6f %ld %d\n",
		(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		seconds(&ru.ru_stime), seconds(&ru.ru_utime), ru.ru_maxrss,
		code);
	if (fclose(out)) {
		perror(argv[1]);
		return 2;
	}
	return 0;
}
