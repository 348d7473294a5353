/*
 * kwcg.c - workloads for the cgroup v2 phase of tests/vm (built with
 * gcc -static, runs in the busybox VM), and the host's side of it.
 *
 *   kwcg burn                  burn CPU forever
 *   kwcg touch MIB             touch MIB MiB of anonymous memory, then sleep
 *                              (over a memory.max: the OOM killer's victim)
 *   kwcg forker MS             forever: fork a child that burns MS ms of
 *                              CPU and exits, reap it, sleep MS ms (the
 *                              CPU is charged to the cgroup by children
 *                              no snapshot sees; half a CPU leaves the VM
 *                              room for the reader)
 *   kwcg rule CGROUP_PATH      (host) the container id the project's
 *                              attribution rule (common/cgroup.c) gives
 *                              a process whose unified cgroup is that path,
 *                              "-" for none
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef KWCG_RULE
#include "kwarden.h"
#endif

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
burn_for(double s)
{
	double end = cpu_now() + s;
	volatile unsigned long x = 0;

	while (cpu_now() < end)
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i;
}

static int
touch(long mib)
{
	size_t len = (size_t)mib << 20;
	char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("kwcg touch: mmap");
		return 1;
	}
	for (size_t i = 0; i < len; i += 4096)
		p[i] = (char)(i >> 12 | 1);
	for (;;)
		pause();
}

static int
forker(long ms)
{
	pid_t pid;

	for (;;) {
		pid = fork();
		if (pid == -1) {
			perror("kwcg forker: fork");
			usleep(100000);
			continue;
		}
		if (pid == 0) {
			burn_for((double)ms / 1000.0);
			_exit(0);
		}
		while (waitpid(pid, NULL, 0) == -1)
			;
		usleep((useconds_t)ms * 1000);
	}
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "burn") == 0) {
		for (;;)
			burn_for(1.0);
	}
	if (argc == 3 && strcmp(argv[1], "touch") == 0)
		return touch(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "forker") == 0)
		return forker(atol(argv[2]));
#ifdef KWCG_RULE
	if (argc == 3 && strcmp(argv[1], "rule") == 0) {
		char content[8192], id[KW_CONTAINER_ID_LEN + 1], path[4096];

		snprintf(content, sizeof(content), "0::%s\n", argv[2]);
		if (kw_cgroup_file_container_id(content, id, path,
			sizeof(path)) &&
		    id[0] != '\0')
			printf("%s\n", id);
		else
			printf("-\n");
		return 0;
	}
#endif
	fprintf(stderr,
	    "usage: kwcg burn | touch MIB | forker MS"
#ifdef KWCG_RULE
	    " | rule CGROUP_PATH"
#endif
	    "\n");
	return 2;
}
