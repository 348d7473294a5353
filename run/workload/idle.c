/*
 * Workload: an idle container for the low_img image. Sleeps until SIGTERM
 * or SIGINT.
 */
#include <signal.h>
#include <unistd.h>

static void
on_signal(int sig)
{
	_exit(0);
}

int
main(void)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (;;)
		pause();
}
