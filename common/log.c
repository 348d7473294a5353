/*
 * Logging: one line per event on stderr, OpenBSD style (log_warn appends
 * strerror(errno), log_warnx does not). Remembers the last warning or
 * error for `status`; safe to call from libuv worker threads.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kwarden.h"

#define LOG_LINE_MAX 2048

static const char *const level_names[] = {
	[KW_LOG_DEBUG] = "debug",
	[KW_LOG_INFO] = "info",
	[KW_LOG_WARN] = "warn",
	[KW_LOG_ERROR] = "error",
};

static char log_progname[32] = "kwarden";
static enum kw_log_level log_level = KW_LOG_INFO;

static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;
static char log_last[512];
static uint64_t log_last_ns;
static uint64_t log_errors;

/*
 * systemd's journal reads our stderr when JOURNAL_STREAM names it: then
 * lines carry a syslog priority ("<4>") and no timestamp or pid of ours.
 */
static int log_journal;
static const int level_prio[] = { 7, 6, 4, 3 };

static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%lu:%lu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long)st.st_dev == dev &&
	    (unsigned long)st.st_ino == ino;
}

void
kw_log_init(const char *progname, enum kw_log_level level)
{
	log_journal = stderr_is_journal();
	if (progname != NULL)
		snprintf(log_progname, sizeof(log_progname), "%s", progname);
	if (level >= KW_LOG_DEBUG && level <= KW_LOG_ERROR)
		log_level = level;
}

int
kw_log_parse_level(const char *name, enum kw_log_level *level)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum kw_log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Format and emit one line; errnum != 0 appends ": strerror(errnum)". */
static void
log_emit(enum kw_log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], ebuf[128];
	struct timespec ts;
	struct tm tm;
	size_t hdr, len, i;
	int n;
	uint64_t now_ns;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	gmtime_r(&ts.tv_sec, &tm);
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ", level_prio[level],
		    level_names[level]);
	else
		n = snprintf(line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_progname,
		    (long)getpid(), level_names[level]);
	if (n < 0)
		return;
	hdr = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;

	n = vsnprintf(line + hdr, sizeof(line) - hdr, fmt, ap);
	len = hdr + (n < 0 ? 0 : (size_t)n);
	if (len > sizeof(line) - 1)
		len = sizeof(line) - 1;
	if (errnum != 0) {
		/* GNU strerror_r returns the message, maybe not in ebuf. */
		const char *es = strerror_r(errnum, ebuf, sizeof(ebuf));

		n = snprintf(line + len, sizeof(line) - len, ": %s", es);
		len += n < 0 ? 0 : (size_t)n;
		if (len > sizeof(line) - 1)
			len = sizeof(line) - 1;
	}
	/* One event, one line: no embedded newlines or other controls. */
	for (i = hdr; i < len; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';

	if (level >= KW_LOG_WARN) {
		pthread_mutex_lock(&log_mtx);
		snprintf(log_last, sizeof(log_last), "%.*s", (int)(len - hdr),
		    line + hdr);
		log_last_ns = now_ns;
		log_errors++;
		pthread_mutex_unlock(&log_mtx);
	}
	if (level < log_level)
		return;

	line[len++] = '\n';
	/* A single write so lines from threads do not interleave. */
	while (write(STDERR_FILENO, line, len) == -1 && errno == EINTR)
		;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (log_level > KW_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	log_emit(KW_LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (log_level > KW_LOG_INFO)
		return;
	va_start(ap, fmt);
	log_emit(KW_LOG_INFO, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit(KW_LOG_WARN, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit(KW_LOG_WARN, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit(KW_LOG_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(KW_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
kw_log_last_error(uint64_t *ts_ns)
{
	/*
	 * A per-thread copy so the caller's string stays valid while other
	 * threads keep logging.
	 */
	static __thread char copy[sizeof(log_last)];

	pthread_mutex_lock(&log_mtx);
	memcpy(copy, log_last, sizeof(copy));
	if (ts_ns != NULL)
		*ts_ns = log_last_ns;
	pthread_mutex_unlock(&log_mtx);
	return copy;
}

uint64_t
kw_log_error_count(void)
{
	uint64_t n;

	pthread_mutex_lock(&log_mtx);
	n = log_errors;
	pthread_mutex_unlock(&log_mtx);
	return n;
}
