/*
 * Workload: a pre-forking server's memory, for the prefork_img image. The
 * parent touches argv[1] MiB (default 256), then forks argv[2] children
 * (default 7) that share those pages copy-on-write and only read them.
 * The kernel charges the container the pages once; a sum of the
 * processes' RSS counts them once per process.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1024UL * 1024UL)

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

int
main(int argc, char **argv)
{
	unsigned long mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	unsigned long kids = argc > 2 ? strtoul(argv[2], NULL, 10) : 7, i, j;
	volatile unsigned long sum = 0;
	char *p;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((p = malloc(mb * MB)) == NULL)
		return 1;
	memset(p, 0x5a, mb * MB);
	for (i = 0; i < kids; i++)
		if (fork() == 0) {
			/* Read every page: mapped (RSS), still shared. */
			for (j = 0; j < mb * MB; j += 4096)
				sum += (unsigned long)p[j];
			while (!stop)
				pause();
			_exit(0);
		}
	while (!stop)
		pause();
	kill(0, SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
