/*
 * Workload: a CPU hog for the high_cpu_img image. Spins on one core until
 * SIGTERM or SIGINT (it runs as PID 1 in its container, so it must catch
 * them itself to stop promptly). With KW_IGNORE_TERM set it leaves SIGTERM
 * alone, so as PID 1 it ignores it and `docker stop` must wait and kill.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

int
main(void)
{
	volatile unsigned long n = 0;

	if (getenv("KW_IGNORE_TERM") == NULL)
		signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		n++;
	return 0;
}
