/* status.h - the status line the shim writes after a checkpoint attempt (RUNDIR/JOB.status), as `ckpt checkpoint` reads it. */
#ifndef CKPT_TOOL_STATUS_H
#define CKPT_TOOL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

struct tstatus {
	char result[16];          /* "ok", "failed" */
	char job[WIRE_MAX_JOB + 1];
	uint64_t pid, gen, image, memory, servers;
	double seconds;
	char error[1024];         /* error=: the rest of the line */
	bool has_pid, has_image, has_seconds, has_error;
};

/* Parse one line of len bytes (it must end with '\n'): space-separated
 * key=value pairs, error= last and running to the end of the line; unknown
 * keys are skipped. 0, or -1 with tool_err. */
int status_parse(const char *line, size_t len, struct tstatus *s);
/* "job NAME: generation G, image X MiB, T s, R MB/s" */
void status_report(const struct tstatus *s, const char *job, FILE *out);
/* The job name the shim makes up for a program started without CKPT_JOB. */
void default_job(const char *argv0, long pid, char *out, size_t cap);

#endif
