/*
 * Workload: burns CPU only through short-lived children, for the
 * high_fork_img image. Each child spins for argv[1] ms (default 40) and
 * exits; the parent waits for it and starts the next. No process lives
 * through a 1 s sample, so only the container's cgroup sees the CPU.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

static unsigned long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	unsigned long spin = argc > 1 ? strtoul(argv[1], NULL, 10) : 40;
	unsigned long long end;
	volatile unsigned long x = 0;
	pid_t pid;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		if ((pid = fork()) == -1) {
			sleep(1);
			continue;
		}
		if (pid == 0) {
			end = now_ms() + spin;
			while (now_ms() < end)
				x++;
			_exit(0);
		}
		while (waitpid(pid, NULL, 0) == -1 && !stop)
			;
	}
	return 0;
}
