/*
 * Clocks, duration and size parsing (tables of good and bad input), and
 * the log line format and last-error bookkeeping of log.c.
 */
#include <errno.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kwarden.h"

struct parse_case {
	const char *in;
	int ok;
	uint64_t want;
};

static void
time__clocks__advance(void **state)
{
	uint64_t r1, m1, r2, m2;

	r1 = kw_now_ns();
	m1 = kw_mono_ns();
	usleep(2000);
	r2 = kw_now_ns();
	m2 = kw_mono_ns();
	assert_true(r1 > 1600000000ULL * 1000000000ULL); /* after 2020 */
	assert_true(m2 - m1 >= 2000000);
	assert_true(r2 > r1);
}

static void
duration__table__parsed_or_rejected(void **state)
{
	static const struct parse_case cases[] = {
		{ "500ms", 1, 500 },
		{ "1s", 1, 1000 },
		{ "2.5s", 1, 2500 },
		{ "0.5s", 1, 500 },
		{ "5m", 1, 300000 },
		{ "1h", 1, 3600000 },
		{ "7d", 1, 604800000 },
		{ "1.5h", 1, 5400000 },
		{ "0", 1, 0 },
		{ "0ms", 1, 0 },
		{ "30", 1, 30000 }, /* bare number: seconds */
		{ "1.25", 1, 1250 },
		{ "18446744073709551615ms", 1, UINT64_MAX },
		{ "", 0, 0 },
		{ "s", 0, 0 },
		{ "abc", 0, 0 },
		{ "-1s", 0, 0 },
		{ "+1s", 0, 0 },
		{ " 1s", 0, 0 },
		{ "1s ", 0, 0 },
		{ "1 s", 0, 0 },
		{ "1S", 0, 0 },
		{ "1sec", 0, 0 },
		{ "1x", 0, 0 },
		{ "1.", 0, 0 },
		{ ".5s", 0, 0 },
		{ "1..5s", 0, 0 },
		{ "1e3ms", 0, 0 },
		{ "0x10s", 0, 0 },
		{ "0.5ms", 0, 0 }, /* not a whole millisecond */
		{ "18446744073709551616ms", 0, 0 },
		{ "18446744073709551615s", 0, 0 },
		{ "99999999999999999999999d", 0, 0 },
		{ "1.0000000001s", 0, 0 },
	};
	size_t i;
	uint64_t ms;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = 12345;
		r = kw_parse_duration_ms(cases[i].in, &ms);
		if ((r == 0) != cases[i].ok)
			print_error("duration \"%s\": got %d\n", cases[i].in,
			    r);
		assert_int_equal(r == 0, cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(ms, cases[i].want);
	}
	assert_int_equal(kw_parse_duration_ms(NULL, &ms), -1);
}

static void
time__table__parsed_or_rejected(void **state)
{
	static const uint64_t now = 1796205600ULL * 1000000000ULL;
	static const struct parse_case cases[] = {
		{ "1796205600", 1, 1796205600ULL * 1000000000ULL },
		{ "1796205600.5", 1, 1796205600500000000ULL },
		{ "1796205600.000000001", 1, 1796205600000000001ULL },
		{ "100000", 1, 100000ULL * 1000000000ULL },
		{ "now", 1, 1796205600ULL * 1000000000ULL },
		{ "-1h", 1, (1796205600ULL - 3600) * 1000000000ULL },
		{ "-90m", 1, (1796205600ULL - 5400) * 1000000000ULL },
		{ "-500ms", 1, 1796205600ULL * 1000000000ULL - 500000000ULL },
		{ "2026-12-02T10:00:00Z", 1, 1796205600ULL * 1000000000ULL },
		{ "2026-12-02T10:00:00", 1, 1796205600ULL * 1000000000ULL },
		{ "2026-12-02 10:00:00", 1, 1796205600ULL * 1000000000ULL },
		{ "2026-12-02T10:00", 1, 1796205600ULL * 1000000000ULL },
		{ "2026-12-02", 1, 1796169600ULL * 1000000000ULL },
		{ "2026-12-02T12:00:00+02:00", 1,
		    1796205600ULL * 1000000000ULL },
		{ "2026-12-02T05:30:00-0430", 1,
		    1796205600ULL * 1000000000ULL },
		{ "2026-12-02T10:00:00.25Z", 1, 1796205600250000000ULL },
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "2024-02-29", 1, 1709164800ULL * 1000000000ULL },
		{ "", 0, 0 }, { "yesterday", 0, 0 }, { "-", 0, 0 },
		{ "-1x", 0, 0 }, { "-99999d", 0, 0 }, /* before 1970 */
		{ "1796205600.", 0, 0 }, { "1796205600.1234567891", 0, 0 },
		{ "1796205600x", 0, 0 },
		{ "999999999999", 0, 0 }, /* after 9999 */
		{ "2026-13-01", 0, 0 }, { "2026-02-30", 0, 0 },
		{ "2025-02-29", 0, 0 }, { "2026-12-02T24:00", 0, 0 },
		{ "2026-12-02T10", 0, 0 }, { "2026-12-02T10:00:00+2", 0, 0 },
		{ "2026-12-02T10:00:00 ", 0, 0 }, { "1969-12-31", 0, 0 },
		{ "26-12-02", 0, 0 },
		{ "1234", 0, 0 }, /* neither: too short for either */
	};
	size_t i;
	uint64_t ns;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ns = 12345;
		r = kw_parse_time(cases[i].in, now, &ns);
		if ((r == 0) != cases[i].ok)
			print_error("time \"%s\": got %d\n", cases[i].in, r);
		assert_int_equal(r == 0, cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(ns, cases[i].want);
	}
	assert_int_equal(kw_parse_time(NULL, now, &ns), -1);
}

static void
size__table__parsed_or_rejected(void **state)
{
	static const struct parse_case cases[] = {
		{ "4096", 1, 4096 },
		{ "0", 1, 0 },
		{ "64k", 1, 65536 },
		{ "64K", 1, 65536 },
		{ "64kb", 1, 65536 },
		{ "64KiB", 1, 65536 },
		{ "16M", 1, 16777216 },
		{ "16mib", 1, 16777216 },
		{ "1G", 1, 1073741824 },
		{ "1GB", 1, 1073741824 },
		{ "1.5G", 1, 1610612736 },
		{ "2T", 1, 2199023255552ULL },
		{ "100B", 1, 100 },
		{ "100b", 1, 100 },
		{ "", 0, 0 },
		{ "k", 0, 0 },
		{ "-1", 0, 0 },
		{ "1.5", 0, 0 }, /* half a byte */
		{ "64 k", 0, 0 },
		{ "64kk", 0, 0 },
		{ "64x", 0, 0 },
		{ "64i", 0, 0 },
		{ "64ib", 0, 0 },
		{ "16777216T", 0, 0 }, /* 2^64 */
		{ "0x40", 0, 0 },
	};
	size_t i;
	uint64_t b;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = 12345;
		r = kw_parse_size(cases[i].in, &b);
		if ((r == 0) != cases[i].ok)
			print_error("size \"%s\": got %d\n", cases[i].in, r);
		assert_int_equal(r == 0, cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(b, cases[i].want);
	}
}

static void
log__parse_level__names(void **state)
{
	enum kw_log_level l;

	assert_int_equal(kw_log_parse_level("debug", &l), 0);
	assert_int_equal(l, KW_LOG_DEBUG);
	assert_int_equal(kw_log_parse_level("info", &l), 0);
	assert_int_equal(l, KW_LOG_INFO);
	assert_int_equal(kw_log_parse_level("warn", &l), 0);
	assert_int_equal(l, KW_LOG_WARN);
	assert_int_equal(kw_log_parse_level("error", &l), 0);
	assert_int_equal(l, KW_LOG_ERROR);
	assert_int_equal(kw_log_parse_level("WARN", &l), -1);
	assert_int_equal(kw_log_parse_level("", &l), -1);
	assert_int_equal(kw_log_parse_level(NULL, &l), -1);
}

/* Run fn with stderr sent to a temp file; return what it wrote. */
static char *
capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/kw_log_XXXXXX", *buf;
	int fd, saved;
	long len;
	FILE *fp;

	fd = mkstemp(path);
	assert_true(fd != -1);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fp = fdopen(fd, "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	return buf;
}

static void
emit_some(void)
{
	log_debug("hidden %d", 1);
	log_info("hello %s", "world");
	errno = ENOENT;
	log_warn("open %s", "/nope");
	log_warnx("two\nlines");
}

static void
log__lines__format_and_last_error(void **state)
{
	const char *last;
	char *out, *line2, *line3;
	uint64_t ts, before = kw_log_error_count(), t0 = kw_now_ns();

	kw_log_init("reader", KW_LOG_INFO);
	out = capture_stderr(emit_some);

	/* 2026-11-27T05:30:00.123Z reader[1234] info: hello world */
	assert_null(strstr(out, "hidden"));
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[19], '.');
	assert_int_equal(out[23], 'Z');
	assert_non_null(strstr(out, " reader["));
	assert_non_null(strstr(out, "] info: hello world\n"));
	line2 = strchr(out, '\n') + 1;
	assert_non_null(strstr(line2,
	    "] warn: open /nope: No such file or "
	    "directory\n"));
	line3 = strchr(line2, '\n') + 1;
	assert_non_null(strstr(line3, "] warn: two lines\n"));
	assert_string_equal(strchr(line3, '\n'), "\n");
	free(out);

	assert_int_equal(kw_log_error_count(), before + 2);
	last = kw_log_last_error(&ts);
	assert_string_equal(last, "two lines");
	assert_true(ts >= t0);
	assert_int_equal(errno, ENOENT); /* logging keeps errno */
}

static void
quiet_warn(void)
{
	log_info("not shown");
	log_warnx("counted %d", 7);
}

static void
log__below_level__dropped_but_counted(void **state)
{
	uint64_t before = kw_log_error_count();
	char *out;

	kw_log_init("decider", KW_LOG_ERROR);
	out = capture_stderr(quiet_warn);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(kw_log_error_count(), before + 1);
	assert_string_equal(kw_log_last_error(NULL), "counted 7");
	kw_log_init("decider", KW_LOG_INFO);
}

static void
journal_lines(void)
{
	struct stat st;
	char js[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%lu:%lu", (unsigned long)st.st_dev,
	    (unsigned long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	kw_log_init("recorder", KW_LOG_INFO);
	log_warnx("disk full");
	log_info("hello");
	unsetenv("JOURNAL_STREAM");
	kw_log_init("recorder", KW_LOG_INFO);
	log_info("plain again");
}

static void
log__stderr_is_the_journal__priority_prefix_no_timestamp(void **state)
{
	char *out;

	(void)state;
	out = capture_stderr(journal_lines);
	assert_true(
	    strncmp(out, "<4>warn: disk full\n<6>info: hello\n", 33) == 0);
	assert_non_null(strstr(out + 33, "Z recorder["));
	assert_non_null(strstr(out + 33, "] info: plain again\n"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time__clocks__advance),
		cmocka_unit_test(duration__table__parsed_or_rejected),
		cmocka_unit_test(size__table__parsed_or_rejected),
		cmocka_unit_test(time__table__parsed_or_rejected),
		cmocka_unit_test(log__parse_level__names),
		cmocka_unit_test(log__lines__format_and_last_error),
		cmocka_unit_test(log__below_level__dropped_but_counted),
		cmocka_unit_test(
		    log__stderr_is_the_journal__priority_prefix_no_timestamp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
