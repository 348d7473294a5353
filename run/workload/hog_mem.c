/*
 * Workload: a memory hog for the high_mem_img image. Grows to a size given
 * as argv[1] or KW_MEM_MB (MiB, default 256) in steps, touching every page
 * so it counts as RSS, then holds it until SIGTERM or SIGINT.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEP_MB 16
#define MB	(1024UL * 1024UL)

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct timespec step = { 0, 50 * 1000 * 1000 };
	const char *s = argc > 1 ? argv[1] : getenv("KW_MEM_MB");
	unsigned long want = s != NULL ? strtoul(s, NULL, 10) : 256, have = 0;
	char *p;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop && have < want) {
		if ((p = malloc(STEP_MB * MB)) == NULL)
			break;
		memset(p, 0x5a, STEP_MB * MB);
		have += STEP_MB;
		nanosleep(&step, NULL);
	}
	while (!stop)
		pause();
	return 0;
}
