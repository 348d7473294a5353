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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMDLINE_MAX 4096	/* KW_CMDLINE_MAX in kmods/common.h */
#define BIG_ARG_LEN 10240

static const char hostile_comm[] = "ev\"il\\\n\t\x01z\xff";

/* The hostile argv after argv[0] = "/bin/kwtest", argv[1] = "hold". */
static char **hostile_argv(void)
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
	argv[n++] = "bad\xff\xfe\xc3\x28|\xe2\x82|\xed\xa0\x80|\xf4\x90\x80\x80|\xc0\xaf|\xf8\x88\x80\x80\x80";
	argv[n++] = "good\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3";
	argv[n++] = "\", \"container_id\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"pid\": 1, \"x\": \"";
	argv[n++] = "\"}, {\"pid\": 4242, \"name\": \"forged\"}, {\"y\": \"";
	argv[n++] = big;
	argv[n++] = "after-big";
	argv[n] = NULL;
	return argv;
}

/* Same rules as kw_utf8_len() in kmods/common.h (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n)
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
static void put_decoded(const unsigned char *s, size_t len)
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

static int expect(const char *what)
{
	static unsigned char area[BIG_ARG_LEN * 2 + 4096];
	char **argv = hostile_argv();
	size_t len = 0, i, l;

	if (!strcmp(what, "name")) {
		/* comm holds at most 15 bytes */
		l = strlen(hostile_comm);
		put_decoded((const unsigned char *)hostile_comm, l > 15 ? 15 : l);
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

static void *burn(void *arg)
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

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void touch(const char *path, long value)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fprintf(f, "%ld\n", value);
		fclose(f);
	}
}

static int spin(const char *ready)
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

static void on_term(int sig)
{
	(void)sig;
	stop_parking = 1;
}

/* Children sleep until SIGTERM to the parent, which kills and reaps them. */
static int park(long n, const char *ready)
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

static void *quick(void *arg)
{
	return arg;
}

static int storm(long seconds)
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

int main(int argc, char **argv)
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
	fprintf(stderr, "usage: kwtest hostile|expect|hold|plainhold|park|spin|storm ...\n");
	return 2;
}
