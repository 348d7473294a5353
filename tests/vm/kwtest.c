/*
 * kwtest.c - workload helper for tests/vm (built with gcc -static, runs in
 * the busybox VM and, for "expect", on the host).
 *
 *   kwtest hostile             exec "kwtest hold" with a hostile argv
 *   kwtest expect cmdline|name what the kernel module must report for it
 *   kwtest hold [args...]      sleep forever (argv is the payload)
 *   kwtest plainhold NAME ...  sleep forever with comm NAME
 *   kwtest park N READYFILE    fork N sleeping children, then write READYFILE;
 *                              on SIGTERM kill and reap them, then exit
 *   kwtest spin READYFILE      touch 8 MiB, burn 1 s in a thread that exits, write
 *                              READYFILE, start two busy threads on SIGUSR1
 *   kwtest storm SECONDS       fork/exit (some children threaded) for SECONDS
 *   kwtest churn N LOADED READYFILE
 *                              N idle threads, LOADED threads that burn
 *                              50 ms each and exit one per 50 ms, and
 *                              short-lived threads in between, forever
 *   kwtest cpumono FILE PID S [N]
 *                              read FILE for S seconds (and on until PID
 *                              was seen N times, up to 10 S); print how
 *                              often its cpu_ns went backwards (torn sum)
 * Stress (debug kernel), each for S seconds, printing what it did:
 *   kwtest randread FILE S     random-size reads, lseeks and preads
 *   kwtest cgchurn DIR S       create, fill, rename, empty, remove cgroups
 *   kwtest threxec S           exec from a thread that is not the leader
 *   kwtest argvstorm S         short-lived processes with a 3000-byte
 *                              hostile argv
 *   kwtest mmargv S            argv area moved (PR_SET_MM) onto memory
 *                              that is then unmapped, again and again
 *   kwtest math                check kmods/kwmath.h (runs on the host)
 * Delta file:
 *   kwtest pidreuse S          for S seconds: a child named "kwold" is
 *                              killed and its pid handed to a new child
 *                              "kwnew" (ns_last_pid); prints the count
 *   kwtest changer S           for S seconds changes its comm, argv, RSS
 *                              and thread count, one every ~50 ms
 *   kwtest outsider S CGDIR    for S seconds changes sleeping processes
 *                              from outside, one change every 250 ms: a
 *                              child's RSS (process_vm_writev), another's
 *                              state (SIGSTOP, SIGCONT), a third's cgroup
 *                              (CGDIR/kwout1 and kwout2, cgroup2), and a
 *                              grandchild's parent (its parent killed);
 *                              prints counts
 *   kwtest deltaseq DELTA FULL N MS PREFIX
 *                              open DELTA once; N + 1 times read it from
 *                              offset 0 to EOF into PREFIX.dK and, but
 *                              the last time, FULL right after into
 *                              PREFIX.fK ("-": no FULL), MS ms apart;
 *                              DELTA in 4096- and 701-byte reads one
 *                              pass in three each
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What <linux/math64.h> gives kmods/kwmath.h in the kernel. */
typedef uint32_t u32;
typedef uint64_t u64;

static u64
div64_u64(u64 a, u64 b)
{
	return a / b;
}

static u64
div_u64_rem(u64 a, u32 b, u32 *rem)
{
	*rem = a % b;
	return a / b;
}

#include "../../kmods/kwmath.h"

#define CMDLINE_MAX 4096 /* KW_CMDLINE_MAX in kmods/common.h */
#define BIG_ARG_LEN 10240

static const char hostile_comm[] = "ev\"il\\\n\t\x01z\xff";

/* The hostile argv after argv[0] = "/bin/kwtest", argv[1] = "hold". */
static char **
hostile_argv(void)
{
	static char *argv[32];
	static char big[BIG_ARG_LEN + 1];
	int n = 0;

	memset(big, 'A', BIG_ARG_LEN);
	big[BIG_ARG_LEN - 1] = 'Z';
	argv[n++] = "/bin/kwtest";
	argv[n++] = "hold";
	argv[n++] = "quote\"d";
	argv[n++] = "back\\slash";
	argv[n++] = "new\nline";
	argv[n++] = "tab\tbed";
	argv[n++] = "ctl\x01\x02\x1b\x1f\x7f";
	argv[n++] =
	    "bad\xff\xfe\xc3\x28|\xe2\x82|\xed\xa0\x80|\xf4\x90\x80\x80|\xc0\xaf|\xf8\x88\x80\x80\x80";
	argv[n++] = "good\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3";
	argv[n++] =
	    "\", \"container_id\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"pid\": 1, \"x\": \"";
	argv[n++] = "\"}, {\"pid\": 4242, \"name\": \"forged\"}, {\"y\": \"";
	argv[n++] = big;
	argv[n++] = "after-big";
	argv[n] = NULL;
	return argv;
}

/* Same rules as kw_utf8_len() in kmods/common.h (RFC 3629). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Write @s decoded as a JSON reader sees it: bad bytes become U+FFFD. */
static void
put_decoded(const unsigned char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if (s[i] < 0x80) {
			putchar(s[i++]);
			continue;
		}
		n = utf8_len(s + i, len - i);
		if (n) {
			fwrite(s + i, 1, n, stdout);
			i += n;
		} else {
			fputs("\xef\xbf\xbd", stdout);
			i++;
		}
	}
}

static int
expect(const char *what)
{
	static unsigned char area[BIG_ARG_LEN * 2 + 4096];
	char **argv = hostile_argv();
	size_t len = 0, i, l;

	if (!strcmp(what, "name")) {
		/* comm holds at most 15 bytes */
		l = strlen(hostile_comm);
		put_decoded((const unsigned char *)hostile_comm,
		    l > 15 ? 15 : l);
		return 0;
	}
	for (i = 0; argv[i]; i++) {
		l = strlen(argv[i]) + 1;
		memcpy(area + len, argv[i], l);
		len += l;
	}
	if (len > CMDLINE_MAX)
		len = CMDLINE_MAX;
	while (len && area[len - 1] == '\0')
		len--;
	for (i = 0; i < len; i++)
		if (area[i] == '\0')
			area[i] = ' ';
	put_decoded(area, len);
	return 0;
}

static void *
burn(void *arg)
{
	struct timespec ts;
	double limit = *(double *)arg;

	for (;;) {
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		if (limit > 0 && ts.tv_sec + ts.tv_nsec / 1e9 >= limit)
			return NULL;
	}
}

static volatile sig_atomic_t go;

static void
on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void
touch(const char *path, long value)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fprintf(f, "%ld\n", value);
		fclose(f);
	}
}

static int
spin(const char *ready)
{
	static double one = 1.0, forever;
	pthread_t t[2];
	sigset_t none;

	volatile char *ballast = malloc(8 << 20);
	long i;

	/* 8 MiB touched, so that rss_kb is worth comparing */
	for (i = 0; ballast && i < 8 << 20; i += 4096)
		ballast[i] = 1;
	signal(SIGUSR1, on_usr1);
	pthread_create(&t[0], NULL, burn, &one);
	pthread_join(t[0], NULL);
	touch(ready, getpid());
	sigemptyset(&none);
	while (!go)
		sigsuspend(&none);
	pthread_create(&t[0], NULL, burn, &forever);
	pthread_create(&t[1], NULL, burn, &forever);
	pthread_join(t[0], NULL);
	return 0;
}

static volatile sig_atomic_t stop_parking;

static void
on_term(int sig)
{
	(void)sig;
	stop_parking = 1;
}

/* Children sleep until SIGTERM to the parent, which kills and reaps them. */
static int
park(long n, const char *ready)
{
	pid_t *pids = calloc(n > 0 ? n : 1, sizeof(*pids));
	sigset_t none;
	long i, made;

	signal(SIGTERM, on_term);
	for (made = 0; made < n; made++) {
		pid_t pid = fork();

		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			for (;;)
				pause();
		}
		if (pid == -1) {
			fprintf(stderr, "kwtest park: fork %ld: %s\n", made,
			    strerror(errno));
			break;
		}
		pids[made] = pid;
	}
	touch(ready, made);
	sigemptyset(&none);
	while (!stop_parking)
		sigsuspend(&none);
	for (i = 0; i < made; i++)
		kill(pids[i], SIGKILL);
	for (i = 0; i < made; i++)
		waitpid(pids[i], NULL, 0);
	return 0;
}

static void *
quick(void *arg)
{
	return arg;
}

static int
storm(long seconds)
{
	time_t end = time(NULL) + seconds;
	long forks = 0;
	int inflight = 0;

	while (time(NULL) < end) {
		pid_t pid = fork();

		if (pid == 0) {
			if (forks % 4 == 0) {
				pthread_t t;

				pthread_create(&t, NULL, quick, NULL);
				pthread_join(t, NULL);
			}
			_exit(0);
		}
		if (pid > 0) {
			forks++;
			inflight++;
		}
		while (inflight > 16 || (pid == -1 && inflight > 0)) {
			if (wait(NULL) > 0)
				inflight--;
			else
				break;
		}
	}
	while (wait(NULL) > 0)
		;
	printf("%ld\n", forks);
	return 0;
}

static void *
idle_thread(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static double
thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static sem_t loaded_go;
static volatile long loaded_ready;

/* Burns 50 ms of CPU, then waits for its turn to exit with it. */
static void *
loaded(void *arg)
{
	double end = thread_cpu_s() + 0.050;

	while (thread_cpu_s() < end)
		;
	__sync_fetch_and_add(&loaded_ready, 1);
	while (sem_wait(&loaded_go) == -1)
		;
	return arg;
}

/*
 * N idle threads make a long for_each_thread() walk; behind them, LOADED
 * threads that burned 50 ms each exit one every 50 ms, while short-lived
 * threads keep exiting in between (every exit bumps the stats seqlock).  A
 * reader that stops retrying may sum the signal struct before a loaded
 * thread's exit and the thread list after it: 50 ms go missing, more than
 * the group burns between two reads, so cpu_ns goes back.
 */
static int
churn(long n, long nloaded, const char *ready)
{
	struct timespec now, next;
	pthread_attr_t attr;
	pthread_t t;
	long i, made = 0, released = 0;

	sem_init(&loaded_go, 0, 0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (i = 0; i < n; i++)
		if (pthread_create(&t, &attr, idle_thread, NULL) == 0)
			made++;
	for (i = 0; i < nloaded; i++)
		if (pthread_create(&t, &attr, loaded, NULL) == 0)
			made++;
	while (loaded_ready < made - n)
		usleep(10000);
	touch(ready, made);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (released < made - n &&
		    (now.tv_sec > next.tv_sec ||
			(now.tv_sec == next.tv_sec &&
			    now.tv_nsec >= next.tv_nsec))) {
			sem_post(&loaded_go);
			released++;
			next.tv_nsec += 50000000;
			if (next.tv_nsec >= 1000000000) {
				next.tv_nsec -= 1000000000;
				next.tv_sec++;
			}
		}
		if (pthread_create(&t, &attr, quick, NULL) == 0)
			pthread_join(t, NULL);
	}
	return 0;
}

/* The number after "key": in the record of @pid in @buf, or -1. */
static long long
record_field(const char *buf, long pid, const char *key)
{
	char pat[64];
	const char *rec, *end, *f;

	snprintf(pat, sizeof(pat), "{\"pid\": %ld,", pid);
	rec = strstr(buf, pat);
	if (!rec)
		return -1;
	end = strchr(rec, '}');
	f = strstr(rec, key);
	if (!f || (end && f > end))
		return -1;
	return atoll(f + strlen(key));
}

static int
cpumono(const char *path, long pid, long seconds, long min_found)
{
	static char buf[8 << 20];
	time_t start = time(NULL), end = start + seconds;
	long long v, prev = -1, dip, maxdip = 0;
	long reads = 0, found = 0, backwards = 0;
	ssize_t n;
	size_t len;
	int fd;

	/* on a slow machine, go on until min_found reads, up to 10 times */
	while (time(NULL) < end ||
	    (found < min_found && time(NULL) < start + 10 * seconds)) {
		fd = open(path, O_RDONLY);
		if (fd == -1) {
			perror(path);
			return 1;
		}
		len = 0;
		while (len < sizeof(buf) - 1 &&
		    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += n;
		close(fd);
		buf[len] = '\0';
		reads++;
		v = record_field(buf, pid, "\"cpu_ns\": ");
		if (v < 0)
			continue;
		found++;
		if (prev >= 0 && v < prev) {
			backwards++;
			dip = prev - v;
			if (dip > maxdip)
				maxdip = dip;
		}
		prev = v;
	}
	printf("%ld %ld %ld %lld\n", reads, found, backwards, maxdip);
	return 0;
}

static unsigned int rnd_state = 1;

static unsigned int
rnd(void)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return rnd_state >> 8;
}

static int
randread(const char *path, long seconds)
{
	static char buf[70000];
	time_t end = time(NULL) + seconds;
	long opens = 0, reads = 0, seeks = 0, errors = 0;
	int fd = -1;

	rnd_state = getpid();
	while (time(NULL) < end) {
		unsigned int op = rnd() % 16;
		ssize_t n;

		if (fd == -1 || op == 0) {
			if (fd != -1)
				close(fd);
			fd = open(path, O_RDONLY);
			if (fd == -1) {
				errors++;
				usleep(1000);
				continue;
			}
			opens++;
		}
		if (op == 1 || op == 2) {
			off_t off = op == 1 ? (off_t)(rnd() % 600000) :
					      (off_t)(rnd() % 4096);

			if (lseek(fd, off, op == 1 ? SEEK_SET : SEEK_CUR) ==
			    -1)
				errors++;
			seeks++;
		} else if (op == 3) {
			n = pread(fd, buf, 1 + rnd() % sizeof(buf),
			    rnd() % 600000);
			if (n == -1)
				errors++;
			reads++;
		} else {
			n = read(fd, buf,
			    1 + rnd() % (op < 8 ? 64 : sizeof(buf)));
			if (n == -1)
				errors++;
			else if (n == 0 && lseek(fd, 0, SEEK_SET) == -1)
				errors++;
			reads++;
		}
	}
	printf("opens %ld reads %ld seeks %ld errors %ld\n", opens, reads,
	    seeks, errors);
	return 0;
}

/* Write @s to the file @path; 0 or -1. */
static int
write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Docker-style cgroup names, a process moved in and out, renames. */
static int
cgchurn(const char *dir, long seconds)
{
	time_t end = time(NULL) + seconds;
	char a[512], b[512], procs[600], pidstr[32], root[600];
	long made = 0, renamed = 0, moved = 0, removed = 0;
	unsigned int i;
	pid_t child;

	child = fork();
	if (child == 0) {
		prctl(PR_SET_NAME, "cgchurn-child");
		for (;;)
			pause();
	}
	snprintf(pidstr, sizeof(pidstr), "%d", (int)child);
	snprintf(root, sizeof(root), "%s/cgroup.procs", dir);
	for (i = 0; time(NULL) < end; i++) {
		snprintf(a, sizeof(a), "%s/docker-%064x.scope", dir, i);
		snprintf(b, sizeof(b), "%s/docker-%064x.scope", dir,
		    i + 1000000);
		if (mkdir(a, 0755) == -1)
			continue;
		made++;
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", a);
		if (write_str(procs, pidstr) == 0)
			moved++;
		if (rename(a, b) == 0) {
			renamed++;
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", b);
		}
		usleep(rnd() % 2000);
		write_str(root, pidstr);
		if (rmdir(b) == 0 || rmdir(a) == 0)
			removed++;
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	printf("made %ld renamed %ld moved %ld removed %ld\n", made, renamed,
	    moved, removed);
	return 0;
}

static void *
exec_from_thread(void *arg)
{
	char *argv[] = { "/bin/kwtest", "true", NULL };

	execv(argv[0], argv);
	_exit(127);
	return arg;
}

static void *
sleeper(void *arg)
{
	usleep(200000);
	return arg;
}

/* The exec'ing thread takes over the leader's pid (de_thread()). */
static int
threxec(long seconds)
{
	time_t end = time(NULL) + seconds;
	long runs = 0, ok = 0;
	int status;

	while (time(NULL) < end) {
		pid_t pid = fork();

		if (pid == 0) {
			pthread_t t1, t2;

			pthread_create(&t1, NULL, sleeper, NULL);
			pthread_create(&t2, NULL, exec_from_thread, NULL);
			pause();
			_exit(1);
		}
		if (pid == -1)
			continue;
		runs++;
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			ok++;
	}
	printf("runs %ld exec_ok %ld\n", runs, ok);
	return 0;
}

static int
argvstorm(long seconds)
{
	static char args[8][400];
	char *argv[12];
	time_t end = time(NULL) + seconds;
	long runs = 0;
	int i, j, status;

	rnd_state = getpid();
	while (time(NULL) < end) {
		pid_t pid;

		argv[0] = "/bin/kwtest";
		argv[1] = "true";
		for (i = 0; i < 8; i++) {
			for (j = 0; j < 399; j++)
				args[i][j] = 1 + rnd() % 255;
			args[i][399] = '\0';
			argv[2 + i] = args[i];
		}
		argv[10] = NULL;
		pid = fork();
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid > 0 && waitpid(pid, &status, 0) == pid)
			runs++;
	}
	printf("runs %ld\n", runs);
	return 0;
}

/* Needs CAP_SYS_RESOURCE; "prctl_ok 0" means the kernel said no. */
static int
mmargv(long seconds)
{
	time_t end = time(NULL) + seconds;
	long rounds = 0, prctl_ok = 0;
	long page = sysconf(_SC_PAGESIZE);

	while (time(NULL) < end) {
		char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned long lo, hi;

		if (p == MAP_FAILED)
			break;
		memset(p, 'M', 4 * page);
		lo = (unsigned long)p + 100;
		hi = (unsigned long)p + 3 * page + 50;
		/* the order that keeps arg_start <= arg_end at each step */
		if (prctl(PR_SET_MM, PR_SET_MM_ARG_END, hi, 0, 0) == 0 &&
		    prctl(PR_SET_MM, PR_SET_MM_ARG_START, lo, 0, 0) == 0)
			prctl_ok++;
		else if (prctl(PR_SET_MM, PR_SET_MM_ARG_START, lo, 0, 0) ==
			0 &&
		    prctl(PR_SET_MM, PR_SET_MM_ARG_END, hi, 0, 0) == 0)
			prctl_ok++;
		usleep(rnd() % 3000);
		if (rounds % 2)
			munmap(p + page, page); /* a hole in the middle */
		else
			munmap(p, 4 * page); /* all of it */
		usleep(rnd() % 3000);
		if (rounds % 2)
			munmap(p, 4 * page);
		rounds++;
	}
	printf("rounds %ld prctl_ok %ld\n", rounds, prctl_ok);
	return 0;
}

/*
 * The kernel's mem_pct and kB arithmetic on values a 32-bit unsigned long
 * product gets wrong.  Operands are passed as uint32_t, as a 32-bit
 * kernel's unsigned long would be; each case also says what the old
 * expression (rss_kb * 10000 / total_kb in unsigned long) gave there.
 */
static int
math(void)
{
	static const struct {
		uint32_t rss_kb, total_kb;
		uint64_t whole;
		uint32_t hundredths;
	} pct[] = {
		{ 0, 0, 0, 0 },
		{ 1, 3, 33, 33 },
		{ 1024, 2014152, 0, 5 },
		{ 429497, 1000000, 42, 94 }, /* 4294970000 > 2^32 */
		{ 3000000, 4000000, 75, 0 },
		{ 2014152, 2014152, 100, 0 },
		{ 4000000000u, 4294967295u, 93, 13 },
	};
	static const struct {
		uint32_t count, unit;
		uint64_t kb;
	} units[] = {
		{ 262144, 4096, 1048576 },    /* 1 GiB */
		{ 1048576, 4096, 4194304 },   /* 4 GiB: 2^32 bytes */
		{ 16777216, 4096, 67108864 }, /* 64 GiB, PAE */
	};
	unsigned int i, bad = 0, wraps = 0;
	uint64_t whole, kb;
	uint32_t hundredths, old;

	for (i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
		kw_mem_pct(pct[i].rss_kb, pct[i].total_kb, &whole,
		    &hundredths);
		old = pct[i].total_kb ?
		    (uint32_t)(pct[i].rss_kb * 10000u) / pct[i].total_kb :
		    0;
		if (old != whole * 100 + hundredths)
			wraps++;
		if (whole != pct[i].whole || hundredths != pct[i].hundredths) {
			printf(
			    "kw_mem_pct(%u, %u) = %llu.%02u, want %llu.%02u\n",
			    pct[i].rss_kb, pct[i].total_kb,
			    (unsigned long long)whole, hundredths,
			    (unsigned long long)pct[i].whole,
			    pct[i].hundredths);
			bad++;
		}
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		kb = kw_units_kb(units[i].count, units[i].unit);
		if ((uint32_t)(units[i].count * units[i].unit) >> 10 != kb)
			wraps++;
		if (kb != units[i].kb) {
			printf("kw_units_kb(%u, %u) = %llu, want %llu\n",
			    units[i].count, units[i].unit,
			    (unsigned long long)kb,
			    (unsigned long long)units[i].kb);
			bad++;
		}
	}
	printf("%u cases, %u wrong, %u of them wrong in 32-bit arithmetic\n",
	    i + (unsigned int)(sizeof(pct) / sizeof(pct[0])), bad, wraps);
	return bad ? 1 : 0;
}

/* A child that sleeps with comm @name until killed. */
static pid_t
named_child(const char *name)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_NAME, name);
		for (;;)
			pause();
	}
	return pid;
}

static int
pidreuse(long seconds)
{
	time_t end = time(NULL) + seconds;
	long tries = 0, reused = 0;
	char last[32];
	pid_t old, new;
	int fd;

	while (time(NULL) < end) {
		old = named_child("kwold");
		if (old == -1)
			continue;
		usleep(300000);
		kill(old, SIGKILL);
		waitpid(old, NULL, 0);
		tries++;
		fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		if (fd == -1)
			break;
		snprintf(last, sizeof(last), "%d", old - 1);
		if (write(fd, last, strlen(last)) == -1) {
			close(fd);
			break;
		}
		close(fd);
		new = named_child("kwnew");
		if (new == -1)
			continue;
		if (new == old) {
			reused++;
			printf("reused %d\n", new);
			fflush(stdout);
		}
		usleep(300000);
		kill(new, SIGKILL);
		waitpid(new, NULL, 0);
	}
	printf("tries %ld reused %ld\n", tries, reused);
	return 0;
}

static int
changer(long seconds, char **argv)
{
	time_t end = time(NULL) + seconds;
	size_t argv_len = strlen(argv[0]);
	long step = 0;
	char *mem = NULL;
	pthread_t t;
	int have_thread = 0;

	while (time(NULL) < end) {
		char name[16];

		switch (step % 4) {
		case 0:
			snprintf(name, sizeof(name), "chg%ld", step % 1000);
			prctl(PR_SET_NAME, name);
			break;
		case 1: /* argv rewritten in place, same length */
			memset(argv[0], 'a' + step % 26, argv_len);
			break;
		case 2:
			if (mem) {
				munmap(mem, 4 << 20);
				mem = NULL;
			} else {
				mem =
				    mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				if (mem == MAP_FAILED)
					mem = NULL;
				else
					memset(mem, 1, 4 << 20);
			}
			break;
		case 3:
			if (have_thread) {
				pthread_cancel(t);
				pthread_join(t, NULL);
				have_thread = 0;
			} else {
				have_thread = !pthread_create(&t, NULL,
				    idle_thread, NULL);
			}
			break;
		}
		step++;
		usleep(50000);
	}
	printf("changes %ld\n", step);
	return 0;
}

/* A child that forks a sleeping grandchild, then sleeps itself. */
static pid_t
mid_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_NAME, "kwmid");
		if (fork() == 0) {
			prctl(PR_SET_NAME, "kwleaf");
			alarm(30);
			for (;;)
				pause();
		}
		for (;;)
			pause();
	}
	return pid;
}

/*
 * Changes to processes that sleep through them, made by this one, each
 * kind to a sleeper of its own (a wakeup would make it run, and a process
 * that runs is read anyway): the delta file must name them though they
 * never run.
 */
static int
outsider(long seconds, const char *cgdir)
{
	time_t end = time(NULL) + seconds;
	long step = 0, rss = 0, stops = 0, moves = 0, orphans = 0, errs = 0;
	size_t len = 16 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
	pid_t grow, stop, move, mid = -1;
	struct iovec local, remote;
	char path[512], val[64];
	char data[64];
	char *mem;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	/* Base pages: a huge page would make one write fault in 2 MiB. */
	madvise(mem, len, MADV_NOHUGEPAGE);
	grow = named_child("kwgrow");
	stop = named_child("kwstop");
	move = named_child("kwmove");
	if (grow == -1 || stop == -1 || move == -1)
		return 1;
	memset(data, 'x', sizeof(data));
	while (time(NULL) < end) {
		/*
		 * Each sleeper changes once a second, every fourth or fifth
		 * pass of the test's reads: a process found changed is read
		 * again at the next pass, so changes at every pass would be
		 * seen without the tracepoint this is to test.
		 */
		usleep(250000);
		switch (step++ % 4) {
		case 0: /* one more resident page in a sleeper */
			local.iov_base = data;
			local.iov_len = sizeof(data);
			remote.iov_base =
			    mem + (size_t)(rss % (len / page)) * page;
			remote.iov_len = sizeof(data);
			if (process_vm_writev(grow, &local, 1, &remote, 1,
				0) == (ssize_t)sizeof(data))
				rss++;
			else
				errs++;
			break;
		case 1: /* stopped, then running again */
			if (kill(stop, stops++ % 2 ? SIGCONT : SIGSTOP) == -1)
				errs++;
			break;
		case 2:
			snprintf(path, sizeof(path),
			    "%s/kwout%ld/cgroup.procs", cgdir, 1 + moves % 2);
			snprintf(val, sizeof(val), "%d", (int)move);
			if (write_str(path, val) == 0)
				moves++;
			else
				errs++;
			break;
		case 3: /* the last mid dies: its sleeping child is reparented */
			if (mid > 0) {
				kill(mid, SIGKILL);
				waitpid(mid, NULL, 0);
				orphans++;
			}
			mid = mid_child();
			break;
		}
	}
	if (mid > 0) {
		kill(mid, SIGKILL);
		waitpid(mid, NULL, 0);
	}
	kill(grow, SIGKILL);
	kill(stop, SIGKILL);
	kill(move, SIGKILL);
	while (wait(NULL) > 0)
		;
	printf("rss %ld stops %ld moves %ld orphans %ld errors %ld\n", rss,
	    stops, moves, orphans, errs);
	return 0;
}

/*
 * Read @fd from offset 0 to EOF into @out, @chunk bytes (at most 128 KiB)
 * a read(); -1 on a read error.
 */
static int
read_pass(int fd, const char *out, size_t chunk)
{
	static char buf[128 * 1024];
	ssize_t n;
	int o, rc = 0;

	o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (o == -1 || lseek(fd, 0, SEEK_SET) == -1) {
		if (o != -1)
			close(o);
		return -1;
	}
	if (chunk == 0 || chunk > sizeof(buf))
		chunk = sizeof(buf);
	while ((n = read(fd, buf, chunk)) > 0)
		if (write(o, buf, n) != n)
			rc = -1;
	close(o);
	return n == -1 ? -1 : rc;
}

static int
deltaseq(const char *delta, const char *full, long n, long ms,
    const char *prefix)
{
	char out[4096];
	long k, errors = 0;
	size_t chunk;
	int dfd, ffd;

	dfd = open(delta, O_RDONLY);
	if (dfd == -1) {
		printf("open %s: %s\n", delta, strerror(errno));
		return 1;
	}
	for (k = 0; k <= n; k++) {
		/*
		 * one pass in three in reads of 4096 and of 701 bytes: seq_file
		 * then restarts the walk at every read(), at the record that
		 * did not fit, which the module must read again
		 */
		chunk = k % 3 == 0 ? 0 : k % 3 == 1 ? 4096 : 701;
		snprintf(out, sizeof(out), "%s.d%ld", prefix, k);
		if (read_pass(dfd, out, chunk) == -1)
			errors++;
		if (k < n && strcmp(full, "-")) {
			snprintf(out, sizeof(out), "%s.f%ld", prefix, k);
			ffd = open(full, O_RDONLY);
			if (ffd == -1 || read_pass(ffd, out, 0) == -1)
				errors++;
			if (ffd != -1)
				close(ffd);
		}
		usleep(ms * 1000);
	}
	close(dfd);
	printf("passes %ld errors %ld\n", n + 1, errors);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "hold")) {
		prctl(PR_SET_NAME, hostile_comm);
		for (;;)
			pause();
	}
	if (argc >= 2 && !strcmp(argv[1], "plainhold")) {
		if (argc >= 3)
			prctl(PR_SET_NAME, argv[2]);
		for (;;)
			pause();
	}
	if (argc >= 2 && !strcmp(argv[1], "hostile")) {
		execv("/bin/kwtest", hostile_argv());
		perror("kwtest: execv");
		return 1;
	}
	if (argc >= 3 && !strcmp(argv[1], "expect"))
		return expect(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "park"))
		return park(atol(argv[2]), argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "spin"))
		return spin(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "storm"))
		return storm(atol(argv[2]));
	if (argc >= 5 && !strcmp(argv[1], "churn"))
		return churn(atol(argv[2]), atol(argv[3]), argv[4]);
	if (argc >= 5 && !strcmp(argv[1], "cpumono"))
		return cpumono(argv[2], atol(argv[3]), atol(argv[4]),
		    argc >= 6 ? atol(argv[5]) : 0);
	if (argc >= 2 && !strcmp(argv[1], "true"))
		return 0;
	if (argc >= 2 && !strcmp(argv[1], "math"))
		return math();
	if (argc >= 4 && !strcmp(argv[1], "randread"))
		return randread(argv[2], atol(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "cgchurn"))
		return cgchurn(argv[2], atol(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "threxec"))
		return threxec(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "argvstorm"))
		return argvstorm(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "mmargv"))
		return mmargv(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "pidreuse"))
		return pidreuse(atol(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "outsider"))
		return outsider(atol(argv[2]), argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "changer"))
		return changer(atol(argv[2]), argv);
	if (argc >= 7 && !strcmp(argv[1], "deltaseq"))
		return deltaseq(argv[2], argv[3], atol(argv[4]), atol(argv[5]),
		    argv[6]);
	fprintf(stderr,
	    "usage: kwtest hostile|expect|hold|plainhold|park|spin|storm|churn|cpumono|randread|cgchurn|threxec|argvstorm|mmargv|pidreuse|changer|outsider|deltaseq ...\n");
	return 2;
}
