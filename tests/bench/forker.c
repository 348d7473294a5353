/*
 * forker: park N sleeping children for a benchmark, then clean them up.
 *
 *   forker N READYFILE [BUSY]
 *
 * Forks N children that sleep in pause() (each dies with its parent:
 * PR_SET_PDEATHSIG), the first BUSY of them (default 0) instead waking
 * every 200 ms to burn ~0.1 ms of CPU (they run between any two samples
 * but load the machine little), writes the number it made to READYFILE, and waits for
 * SIGTERM, SIGINT or SIGHUP; then it kills and reaps every child and exits
 * 0. Built static as well, to run inside the qemu VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
write_ready(const char *path, long made)
{
	char tmp[4096];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "forker: %s: %s\n", tmp, strerror(errno));
		return;
	}
	fprintf(fp, "%ld\n", made);
	fclose(fp);
	rename(tmp, path); /* readers never see a half-written file */
}

/* Wake every 200 ms and burn a little CPU, forever. */
static void
busy_child(void)
{
	volatile unsigned long x = 0;
	unsigned long k;

	for (;;) {
		usleep(200000);
		for (k = 0; k < 20000; k++)
			x += k;
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t block, old;
	pid_t *pids, parent = getpid();
	long n, made, i, busy = 0;

	if ((argc != 3 && argc != 4) || (n = atol(argv[1])) < 0 ||
	    (argc == 4 && (busy = atol(argv[3])) < 0)) {
		fprintf(stderr, "usage: forker N READYFILE [BUSY]\n");
		return 2;
	}
	if ((pids = calloc(n > 0 ? (size_t)n : 1, sizeof(*pids))) == NULL) {
		fprintf(stderr, "forker: out of memory\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Hold the stop signals while forking so no child inherits a race. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);

	for (made = 0; made < n; made++) {
		pid_t pid = fork();

		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGHUP, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (made < busy)
				busy_child();
			for (;;)
				pause();
		}
		if (pid == -1) {
			fprintf(stderr, "forker: fork %ld of %ld: %s\n",
			    made + 1, n, strerror(errno));
			break;
		}
		pids[made] = pid;
		if (stop)
			break;
	}
	write_ready(argv[2], made);
	while (!stop)
		sigsuspend(&old);
	for (i = 0; i < made; i++)
		kill(pids[i], SIGKILL);
	for (i = 0; i < made; i++)
		while (waitpid(pids[i], NULL, 0) == -1 && errno == EINTR)
			;
	free(pids);
	return 0;
}
