/* SPDX-License-Identifier: MIT */
/*
 * The main of a fuzz harness in builds without libFuzzer: runs LLVMFuzzerTestOneInput on every
 * file named on the command line, and on every file of every directory named there (not
 * recursively). An input that breaks an invariant or crashes aborts the process, so the test
 * fails. Each argument (a directory of inputs or one input) counts as one test in the closing line;
 * the number of inputs replayed from each is printed before it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto fail;
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;

fail:
	free(buf);
	fclose(f);
	return -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;
	size_t inputs = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		size_t n = 0;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: cannot stat\n", argv[i]);
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			replay_file(argv[i]) ? failed++ : passed++;
			printf("# %s: 1 input\n", argv[i]);
			continue;
		}
		d = opendir(argv[i]);
		while (d && (e = readdir(d))) {
			char **more;

			if (e->d_name[0] == '.')
				continue;
			more = realloc(names, (n + 1) * sizeof(*names));
			if (!more)
				break;
			names = more;
			if (asprintf(&names[n], "%s/%s", argv[i], e->d_name) >= 0)
				n++;
		}
		if (d)
			closedir(d);
		qsort(names, n, sizeof(*names), by_name);
		inputs = 0;
		for (size_t k = 0; k < n; k++) {
			if (replay_file(names[k]))
				fprintf(stderr, "replay: %s: cannot read\n", names[k]);
			else
				inputs++;
			free(names[k]);
		}
		free(names);
		printf("# %s: %zu inputs\n", argv[i], inputs);
		inputs == n && d ? passed++ : failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
