/* SPDX-License-Identifier: MIT */
/* The command line's pieces, one file per command. */
#ifndef TCEMU_CLI_H
#define TCEMU_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <tcemu/platform.h>

#define EXIT_USAGE 2

/* tcemu exec: run a program against the emulated /dev/vfio (exec.c). */
int cmd_exec(int argc, char **argv, struct tcemu_logger lg);
/* "16 KiB", "2 GiB", "20.5 MiB" (main.c). Returns buf. */
const char *human_size(uint64_t bytes, char *buf, size_t len);
/* tcemu run: the whole stack end to end (run.c). */
int cmd_run(int argc, char **argv, struct tcemu_logger lg);
struct tcemu_host;
/* The fake sysfs tree of a host's platform under root (exec.c). 0 or a negative errno. */
int build_sysfs(struct tcemu_host *h, const char *root);
/* Removes a directory tree (exec.c). */
void remove_tree(const char *root);

#endif
