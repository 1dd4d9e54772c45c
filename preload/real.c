/* real.c - resolves the real libc symbol behind every interposed name, once.
 *
 * The table is real.def. Each pointer is looked up with dlsym(RTLD_NEXT); a
 * lookup that lands back in this library would recurse forever, so it aborts
 * with a clear message. A name the C library lacks (an old compat symbol, or
 * a call a newer glibc added) stays NULL and its wrapper falls back or fails
 * with ENOSYS.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "shim.h"

#define REAL(ret, name, params) ret(*real_##name) params;
#include "real.def"
#undef REAL

static char unresolved[1024];

static void note_unresolved(const char *name)
{
	size_t used = strlen(unresolved);
	size_t need = strlen(name) + 2;

	if (used + need >= sizeof(unresolved))
		return;
	if (used)
		strcat(unresolved, ",");
	strcat(unresolved, name);
}

/* The shim's own extent, from the linker: a lookup landing inside it found
 * one of our wrappers. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/* Resolve one symbol; abort if it is our own. */
static void *load_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		note_unresolved(name);
		return NULL;
	}
	if ((const char *)p >= __ehdr_start && (const char *)p < _end) {
		static const char msg[] = "ckptshim: fatal: dlsym(RTLD_NEXT) returned the shim's own wrapper"
					  " (is libckptshim.so loaded twice?)\n";
		if (write(2, msg, sizeof(msg) - 1) < 0) {
			/* nothing more to do */
		}
		abort();
	}
	return p;
}

void shim_resolve_reals(void)
{
#define REAL(ret, name, params) real_##name = (ret(*) params)load_sym(#name);
#include "real.def"
#undef REAL
}

const char *shim_unresolved(void)
{
	return unresolved;
}
