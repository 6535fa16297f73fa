/* SPDX-License-Identifier: MIT */
/* Death tests for debug assertions: see death.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "death.h"

const char *death(void (*fn)(void), const char *file, const char *func, const char *want, char *why, size_t whylen)
{
	char out[1024], where[64], cond[512];
	size_t len = 0;
	ssize_t n;
	int fds[2], status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe(fds))
		return strerror(errno);
	pid = fork();
	if (pid < 0)
		return strerror(errno);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		fn();
		_exit(0); /* survived */
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	snprintf(where, sizeof(where), "%s:", file);
	if (func)
		snprintf(cond, sizeof(cond), "%s: assertion '%s' failed", func, want);
	else
		snprintf(cond, sizeof(cond), "%s", want);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		snprintf(why, whylen, "child did not abort (status 0x%x), wrote \"%s\"", (unsigned)status, out);
	else if (!strstr(out, where) || !strstr(out, cond) || !strstr(out, "assertion"))
		snprintf(why, whylen, "abort message \"%s\" lacks \"%s\" or \"%s\"", out, where, cond);
	else
		return NULL;
	return why;
}
