/* main.c - ckpt: the command-line tool of joint checkpoints (list, inspect, checkpoint, rollback, keygen). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const char usage_text[] =
	"usage: ckpt COMMAND [ARGS]\n"
	"\n"
	"  list        the jobs and generations a server keeps (--server ADDR, or its\n"
	"              store: --store ROOT / --state-dir DIR)\n"
	"  inspect     describe a joint checkpoint file or a process image, checked first\n"
	"  checkpoint  ask a running program for a checkpoint and wait for the outcome\n"
	"  rollback    roll a job's files back on its servers and fetch the image to\n"
	"              restart (the first step of ckpt-restart)\n"
	"  keygen      make a server key (ckpt-server --key) or a job's key from it\n"
	"\n"
	"'ckpt COMMAND --help' tells more. Server addresses are tcp:HOST:PORT or unix:PATH.\n"
	"CKPT_KEY_FILE: the key proven to servers started with --key.\n"
	"Exit status: 0 done, 1 failed (one line on stderr says why), 2 usage.\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"list", cmd_list},
		{"inspect", cmd_inspect},
		{"checkpoint", cmd_checkpoint},
		{"rollback", cmd_rollback},
		{"keygen", cmd_keygen},
	};

	/* a reader that goes away (ckpt inspect | head) is not an error to report */
	signal(SIGPIPE, SIG_DFL);
	if (argc < 2)
		return tool_usage(NULL, "name a command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf(TOOL_NAME " %s\n", CKPT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return tool_usage(NULL, "unknown command '%s' (list, inspect, checkpoint, rollback, keygen)", argv[1]);
}
