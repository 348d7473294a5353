/*
 * config_*.c: defaults, the INI file, overrides, classes, the views of the
 * result (print, JSON, argv), reload, and the shared command line (run in
 * a forked child, since kw_conf_cli exits).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "kwarden.h"

#define ERRLEN 1024

/* Temp files, removed by teardown. */
static char tmp_paths[8][64];
static int ntmp;

static const char *
write_tmp(const char *content)
{
	char *path;
	int fd;
	size_t len = strlen(content);

	assert_true(ntmp < 8);
	path = tmp_paths[ntmp++];
	snprintf(path, 64, "/tmp/kw_conf_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
rewrite(const char *path, const char *content)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static int
teardown(void **state)
{
	while (ntmp > 0)
		unlink(tmp_paths[--ntmp]);
	return 0;
}

static struct kw_conf *
load_ok(const char *content)
{
	struct kw_conf *conf;
	char err[ERRLEN];

	conf = kw_conf_load(write_tmp(content), err, sizeof(err));
	if (conf == NULL)
		print_error("load: %s\n", err);
	assert_non_null(conf);
	return conf;
}

/* Load content, expect an error equal to fmt with %s = the file name. */
static void
load_fails(const char *content, const char *want_fmt)
{
	char err[ERRLEN], want[ERRLEN];
	const char *path = write_tmp(content);

	assert_null(kw_conf_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), want_fmt, path);
	assert_string_equal(err, want);
}

static char *
print_str(const struct kw_conf *conf)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	kw_conf_print(conf, fp);
	fclose(fp);
	return buf;
}

static void
config__defaults__every_key(void **state)
{
	struct kw_conf *conf;
	char err[ERRLEN], items[4][64];

	conf = kw_conf_load(NULL, err, sizeof(err));
	assert_non_null(conf);
	assert_string_equal(kw_conf_str(conf, "paths.run_dir"),
	    "/run/kwarden");
	assert_string_equal(kw_conf_str(conf, "paths.database"),
	    "/var/lib/kwarden/kwarden.db");
	assert_string_equal(kw_conf_str(conf, "paths.socket_mode"), "0660");
	assert_int_equal(kw_conf_int(conf, "paths.socket_mode"), 0660);
	assert_int_equal(kw_conf_ms(conf, "reader.interval"), 1000);
	assert_string_equal(kw_conf_str(conf, "reader.source"), "auto");
	assert_string_equal(kw_conf_str(conf, "reader.kmod_path"),
	    "/proc/sysinfo_so1_202041390");
	assert_string_equal(kw_conf_str(conf, "reader.proc_root"), "/proc");
	assert_int_equal(kw_conf_size(conf, "reader.ring_size"), 4 << 20);
	assert_int_equal(kw_conf_int(conf, "reader.ring_msgs"), 1);
	assert_string_equal(kw_conf_str(conf, "reader.log_level"), "info");
	assert_int_equal(kw_conf_int(conf, "decider.top_k"), 10);
	assert_int_equal(kw_conf_size(conf, "decider.ring_size"), 32 << 20);
	assert_int_equal(kw_conf_int(conf, "recorder.batch_rows"), 1000);
	assert_int_equal(kw_conf_ms(conf, "recorder.batch_delay"), 500);
	assert_int_equal(kw_conf_ms(conf, "recorder.retention"),
	    7ULL * 86400 * 1000);
	assert_int_equal(kw_conf_ms(conf, "recorder.prune_interval"), 60000);
	assert_int_equal(kw_conf_int(conf, "recorder.prune_chunk"), 500);
	assert_int_equal(kw_conf_int(conf, "recorder.max_pending_rows"),
	    200000);
	assert_int_equal(kw_conf_ms(conf, "run.restart_delay"), 500);
	assert_int_equal(kw_conf_ms(conf, "run.restart_delay_max"), 30000);
	assert_int_equal(kw_conf_ms(conf, "run.stop_timeout"), 5000);
	assert_string_equal(kw_conf_str(conf, "run.log_level"), "info");
	assert_true(kw_conf_num(conf, "policy.cpu_threshold") == 20.0);
	assert_true(kw_conf_num(conf, "policy.mem_threshold") == 20.0);
	assert_int_equal(kw_conf_ms(conf, "policy.window"), 5000);
	assert_string_equal(kw_conf_str(conf, "policy.action"), "remove");
	assert_int_equal(kw_conf_list(conf, "policy.protect", items, 4), 2);
	assert_string_equal(items[0], "grafana");
	assert_string_equal(items[1], "kwarden");

	assert_int_equal(kw_conf_class_count(conf), 2);
	assert_string_equal(kw_conf_class_name(conf, 0), "high");
	assert_string_equal(kw_conf_class_name(conf, 1), "low");
	assert_null(kw_conf_class_name(conf, 2));
	assert_int_equal(kw_conf_list(conf, "class.high.match", items, 4), 3);
	assert_string_equal(items[2], "mem");
	assert_int_equal(kw_conf_int(conf, "class.high.min_alive"), 2);
	assert_int_equal(kw_conf_list(conf, "class.low.match", items, 4), 1);
	assert_string_equal(items[0], "*");
	assert_int_equal(kw_conf_int(conf, "class.low.min_alive"), 3);
	kw_conf_free(conf);
}

static const char design_example[] =
    "[policy]\n"
    "cpu_threshold = 20        ; percent of the machine\n"
    "mem_threshold = 20        ; percent of MemTotal\n"
    "window = 5s\n"
    "action = %s           ; remove (docker rm -f) | stop | kill | dry-run\n"
    "protect = grafana, kwarden ; substring of name or image, never acted on\n"
    "\n"
    "[class.high]\n"
    "match = high, cpu, mem    ; substrings of name or image; label "
    "kwarden.class=high wins\n"
    "min_alive = 2\n"
    "\n"
    "[class.low]\n"
    "match = *                 ; everything else\n"
    "min_alive = 3\n";

static void
config__design_example__parses(void **state)
{
	struct kw_conf *conf;
	char text[1024], items[4][64];

	snprintf(text, sizeof(text), design_example, "dry-run");
	conf = load_ok(text);
	assert_string_equal(kw_conf_str(conf, "policy.action"), "dry-run");
	assert_int_equal(kw_conf_list(conf, "policy.protect", items, 4), 2);
	assert_string_equal(items[1], "kwarden");
	assert_string_equal(kw_conf_str(conf, "class.high.match"),
	    "high, cpu, mem");
	assert_string_equal(kw_conf_str(conf, "class.low.match"), "*");
	assert_int_equal(kw_conf_class_count(conf), 2);
	kw_conf_free(conf);
}

static void
config__design_example_remove__parses(void **state)
{
	struct kw_conf *conf;
	char text[1024];

	/* The design's example says remove, the default. */
	snprintf(text, sizeof(text), design_example, "remove");
	conf = load_ok(text);
	assert_string_equal(kw_conf_str(conf, "policy.action"), "remove");
	kw_conf_free(conf);
}

static void
config__file__values_comments_and_spacing(void **state)
{
	struct kw_conf *conf;

	conf = load_ok(
	    "; a comment\n"
	    "# another comment\n"
	    "\n"
	    "[reader]\n"
	    "kmod_path=/proc/x;not a comment without a space before\n");
	assert_string_equal(kw_conf_str(conf, "reader.kmod_path"),
	    "/proc/x;not a comment without a space before");
	kw_conf_free(conf);

	conf = load_ok("[reader]\n"
		       "interval=250ms\n"
		       "   source   =   procfs   ; indented, spaced\n"
		       "\tring_size = 64KiB\n"
		       "[ decider ]\r\n"
		       "top_k: 3\r\n"
		       "[paths]\n"
		       "socket_mode = 0600\n"
		       "[policy]\n"
		       "cpu_threshold = 12.5\n"
		       "protect =\n");
	assert_int_equal(kw_conf_ms(conf, "reader.interval"), 250);
	assert_string_equal(kw_conf_str(conf, "reader.source"), "procfs");
	assert_int_equal(kw_conf_size(conf, "reader.ring_size"), 65536);
	assert_int_equal(kw_conf_int(conf, "decider.top_k"), 3);
	assert_int_equal(kw_conf_int(conf, "paths.socket_mode"), 0600);
	assert_true(kw_conf_num(conf, "policy.cpu_threshold") == 12.5);
	assert_int_equal(kw_conf_list(conf, "policy.protect", NULL, 0), 0);
	kw_conf_free(conf);
}

static void
config__bad_number__error_names_file_line_key(void **state)
{
	load_fails("[reader]\n"
		   "interval = 1s\n"
		   "\n"
		   "[policy]\n"
		   "; line 5\n"
		   "cpu_threshold = abc\n",
	    "config: %s:6: policy.cpu_threshold: \"abc\" is not a number");
}

static void
config__socket_mode_zero_and_bad_limits__refused(void **state)
{
	(void)state;
	/* 0 is no access at all, not "the default". */
	load_fails("[paths]\nsocket_mode = 0\n",
	    "config: %s:2: paths.socket_mode: \"0\" is out of range "
	    "(1 to 777)");
	load_fails("[limits]\nstream_clients = 0\n",
	    "config: %s:2: limits.stream_clients: \"0\" is out of range "
	    "(1 to 100000)");
	load_fails("[limits]\nctl_reply_bytes = 1k\n",
	    "config: %s:2: limits.ctl_reply_bytes: \"1k\" is out of range "
	    "(65536 to 4294967296)");
}

static void
config__bad_values__each_type_explained(void **state)
{
	load_fails("[reader]\ninterval = soon\n",
	    "config: %s:2: reader.interval: \"soon\" is not a duration "
	    "(e.g. 500ms, 1s, 2.5s, 5m, 1h, 7d)");
	load_fails("[reader]\nring_size = big\n",
	    "config: %s:2: reader.ring_size: \"big\" is not a size "
	    "(e.g. 4096, 64k, 16M, 1G)");
	load_fails("[decider]\ntop_k = -1\n",
	    "config: %s:2: decider.top_k: \"-1\" is not a non-negative "
	    "integer");
	load_fails("[paths]\nsocket_mode = 0680\n",
	    "config: %s:2: paths.socket_mode: \"0680\" is not an octal "
	    "number");
	load_fails("[policy]\nmem_threshold = 150\n",
	    "config: %s:2: policy.mem_threshold: \"150\" is out of range "
	    "(0 to 100)");
	load_fails("[policy]\ncpu_threshold = nan\n",
	    "config: %s:2: policy.cpu_threshold: \"nan\" is not a number");
	load_fails("[paths]\nrun_dir =\n",
	    "config: %s:2: paths.run_dir: may not be empty");
	load_fails("[reader]\ninterval = 0\n",
	    "config: %s:2: reader.interval: \"0\" is out of range (10ms to "
	    "3600000ms)");
}

static void
config__choices__validated(void **state)
{
	load_fails("[reader]\nsource = kernel\n",
	    "config: %s:2: reader.source: \"kernel\" is not one of auto, "
	    "kmod, procfs");
	load_fails("[recorder]\nlog_level = loud\n",
	    "config: %s:2: recorder.log_level: \"loud\" is not one of debug, "
	    "info, warn, error");
	load_fails("[policy]\naction = nuke\n",
	    "config: %s:2: policy.action: \"nuke\" is not one of throttle, "
	    "stop, kill, remove, dry-run (or a comma list of steps)");
	load_fails("[policy]\naction = stop, stop\n",
	    "config: %s:2: policy.action: \"stop, stop\": step \"stop\" "
	    "twice");
	load_fails("[policy]\naction = throttle, dry-run\n",
	    "config: %s:2: policy.action: \"throttle, dry-run\": dry-run "
	    "goes alone, not in a ladder");
	load_fails("[class.web]\naction = nuke\n",
	    "config: %s:2: class.web.action: \"nuke\" is not one of "
	    "throttle, stop, kill, remove, dry-run (or a comma list of "
	    "steps)");
}

static void
config__unknown_key__error_with_file_line(void **state)
{
	load_fails("[reader]\ninterval = 1s\nintreval = 2s\n",
	    "config: %s:3: reader.intreval: unknown key");
	/* A key of another section is still unknown here. */
	load_fails("[reader]\ntop_k = 2\n",
	    "config: %s:2: reader.top_k: unknown key");
	load_fails("[class.high]\nmin_alive = 1\nmax_alive = 3\n",
	    "config: %s:3: class.high.max_alive: unknown key");
}

static void
config__unknown_section__error_with_file_line(void **state)
{
	load_fails("[reader]\ninterval = 1s\n[reeder]\ninterval = 2s\n",
	    "config: %s:3: unknown section [reeder]");
	/* Even with no keys in it. */
	load_fails("[reader]\n\n[classes]\n",
	    "config: %s:3: unknown section [classes]");
	load_fails("[class.High]\nmin_alive = 1\n",
	    "config: %s:1: bad class name [class.High] (use [class.NAME], "
	    "NAME of a-z, 0-9, _ and -)");
	load_fails("[class.]\n",
	    "config: %s:1: bad class name [class.] (use [class.NAME], "
	    "NAME of a-z, 0-9, _ and -)");
}

static void
config__syntax_errors__line_reported(void **state)
{
	load_fails("[reader]\ninterval 1s\n",
	    "config: %s:2: syntax error (expected [section], key = value or "
	    "a ; comment)");
	load_fails("[reader\ninterval = 1s\n",
	    "config: %s:1: syntax error (expected [section], key = value or "
	    "a ; comment)");
	load_fails("interval = 1s\n[reader]\n",
	    "config: %s:1: \"interval\" outside of any [section]");
}

static void
config__long_line__error(void **state)
{
	char text[600];

	snprintf(text, sizeof(text), "[policy]\nprotect = %0500d\n", 0);
	load_fails(text, "config: %s:2: line longer than 197 characters");
}

static void
config__indented_line__plain_key(void **state)
{
	struct kw_conf *conf;

	/* Not a continuation of the previous value. */
	conf = load_ok("[reader]\nsource = kmod\n  interval = 2s\n");
	assert_string_equal(kw_conf_str(conf, "reader.source"), "kmod");
	assert_int_equal(kw_conf_ms(conf, "reader.interval"), 2000);
	kw_conf_free(conf);
}

static void
config__missing_file__error(void **state)
{
	char err[ERRLEN];

	assert_null(
	    kw_conf_load("/nonexistent/kwarden.conf", err, sizeof(err)));
	assert_string_equal(err,
	    "config: /nonexistent/kwarden.conf: No such "
	    "file or directory");
}

static void
config__set__validates_and_names_origin(void **state)
{
	struct kw_conf *conf;
	char err[ERRLEN];

	conf = kw_conf_load(NULL, err, sizeof(err));
	assert_int_equal(kw_conf_set(conf, "policy", "cpu_threshold", "10",
			     "-o policy.cpu_threshold", err, sizeof(err)),
	    0);
	assert_true(kw_conf_num(conf, "policy.cpu_threshold") == 10.0);

	assert_int_equal(kw_conf_set(conf, "policy", "cpu_threshold", "abc",
			     "-o policy.cpu_threshold", err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "config: -o policy.cpu_threshold: \"abc\" is "
	    "not a number");
	assert_true(kw_conf_num(conf, "policy.cpu_threshold") == 10.0);

	assert_int_equal(kw_conf_set(conf, "reader", "interval", "x",
			     "--interval", err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "config: --interval: \"x\" is not a duration "
	    "(e.g. 500ms, 1s, 2.5s, 5m, 1h, 7d)");

	assert_int_equal(kw_conf_set(conf, "nope", "x", "1", "-o nope.x", err,
			     sizeof(err)),
	    -1);
	assert_string_equal(err, "config: -o nope.x: unknown section [nope]");
	assert_int_equal(kw_conf_set(conf, "policy", "x", "1", NULL, err,
			     sizeof(err)),
	    -1);
	assert_string_equal(err, "config: policy.x: unknown key");

	/* Values a file could not hold are refused. */
	assert_int_equal(kw_conf_set(conf, "policy", "protect", "a ; b", NULL,
			     err, sizeof(err)),
	    -1);
	assert_int_equal(kw_conf_set(conf, "policy", "protect", "a\nb", NULL,
			     err, sizeof(err)),
	    -1);
	assert_int_equal(kw_conf_set(conf, "policy", "protect", " a", NULL,
			     err, sizeof(err)),
	    -1);
	kw_conf_free(conf);
}

static void
config__classes__defaults_then_added_in_order(void **state)
{
	struct kw_conf *conf;
	char err[ERRLEN], items[4][64];

	conf = load_ok("[class.mid]\n"
		       "match = web, api\n"
		       "min_alive = 1\n"
		       "[class.high]\n"
		       "min_alive = 5\n"
		       "[class.empty_one]\n");
	assert_int_equal(kw_conf_set(conf, "class.new-2", "min_alive", "4",
			     "-o class.new-2.min_alive", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_class_count(conf), 5);
	assert_string_equal(kw_conf_class_name(conf, 0), "high");
	assert_string_equal(kw_conf_class_name(conf, 1), "low");
	assert_string_equal(kw_conf_class_name(conf, 2), "mid");
	assert_string_equal(kw_conf_class_name(conf, 3), "empty_one");
	assert_string_equal(kw_conf_class_name(conf, 4), "new-2");
	assert_int_equal(kw_conf_int(conf, "class.high.min_alive"), 5);
	assert_string_equal(kw_conf_str(conf, "class.high.match"),
	    "high, cpu, mem");
	assert_int_equal(kw_conf_list(conf, "class.mid.match", items, 4), 2);
	assert_string_equal(items[1], "api");
	assert_int_equal(kw_conf_int(conf, "class.empty_one.min_alive"), 0);
	assert_int_equal(kw_conf_list(conf, "class.empty_one.match", items, 4),
	    0);
	assert_int_equal(kw_conf_int(conf, "class.new-2.min_alive"), 4);

	assert_int_equal(kw_conf_set(conf, "class.Bad", "min_alive", "1",
			     "-o class.Bad.min_alive", err, sizeof(err)),
	    -1);
	assert_int_equal(kw_conf_class_count(conf), 5);
	kw_conf_free(conf);
}

static void
config__list__split_trimmed_bounded(void **state)
{
	struct kw_conf *conf;
	char err[ERRLEN], items[2][64], big[80];

	conf = load_ok("[policy]\nprotect = a ,, b,c  ,\n");
	assert_int_equal(kw_conf_list(conf, "policy.protect", items, 2), 3);
	assert_string_equal(items[0], "a");
	assert_string_equal(items[1], "b");
	memset(big, 'x', 64);
	big[64] = '\0';
	assert_int_equal(kw_conf_set(conf, "policy", "protect", big, NULL, err,
			     sizeof(err)),
	    -1);
	big[63] = '\0';
	assert_int_equal(kw_conf_set(conf, "policy", "protect", big, NULL, err,
			     sizeof(err)),
	    0);
	assert_int_equal(kw_conf_list(conf, "policy.protect", items, 2), 1);
	assert_string_equal(items[0], big);
	kw_conf_free(conf);
}

static void
config__state_dir__sets_run_dir_and_database(void **state)
{
	struct kw_conf *conf;
	char err[ERRLEN], path[256];

	conf = kw_conf_load(NULL, err, sizeof(err));
	assert_int_equal(kw_conf_apply_state_dir(conf, "/tmp/kw/", err,
			     sizeof(err)),
	    0);
	assert_string_equal(kw_conf_str(conf, "paths.run_dir"), "/tmp/kw/run");
	assert_string_equal(kw_conf_str(conf, "paths.database"),
	    "/tmp/kw/kwarden.db");
	kw_conf_sock_path(conf, "reader", ".sock", path, sizeof(path));
	assert_string_equal(path, "/tmp/kw/run/reader.sock");
	kw_conf_sock_path(conf, "decider", ".ctl", path, sizeof(path));
	assert_string_equal(path, "/tmp/kw/run/decider.ctl");
	assert_int_equal(kw_conf_apply_state_dir(conf, "", err, sizeof(err)),
	    -1);
	kw_conf_free(conf);
}

static void
config__print__round_trips(void **state)
{
	struct kw_conf *conf, *back;
	char err[ERRLEN], *text, *text2;

	conf = load_ok("[class.mid]\nmatch = web\n[reader]\nsource = kmod\n");
	assert_int_equal(kw_conf_set(conf, "policy", "protect",
			     "grafana, my db;x", NULL, err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_set(conf, "policy", "cpu_threshold", "7.25",
			     NULL, err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_set(conf, "class.z", "min_alive", "9", NULL,
			     err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_apply_state_dir(conf, "/var/tmp/k", err,
			     sizeof(err)),
	    0);
	text = print_str(conf);
	assert_non_null(strstr(text, "\n[paths]\nrun_dir = /var/tmp/k/run\n"));
	assert_non_null(
	    strstr(text, "\n[class.z]\nmatch = \nmin_alive = 9\n"));

	back = load_ok(text);
	text2 = print_str(back);
	/* Same values: only the first comment line (the file name) differs. */
	assert_string_equal(strchr(text, '\n'), strchr(text2, '\n'));
	assert_string_equal(kw_conf_str(back, "policy.protect"),
	    "grafana, my db;x");
	assert_int_equal(kw_conf_class_count(back), 4);
	assert_string_equal(kw_conf_class_name(back, 2), "mid");
	assert_string_equal(kw_conf_class_name(back, 3), "z");
	free(text);
	free(text2);
	kw_conf_free(back);
	kw_conf_free(conf);
}

static void
config__argv__file_then_overrides_in_order(void **state)
{
	struct kw_conf *conf;
	const char *const *argv;
	const char *path;
	char err[ERRLEN];
	size_t argc;

	conf = kw_conf_load(NULL, err, sizeof(err));
	argv = kw_conf_argv(conf, &argc);
	assert_int_equal(argc, 0);
	assert_null(argv[0]);
	kw_conf_free(conf);

	path = write_tmp("[reader]\ninterval = 3s\n");
	conf = kw_conf_load(path, err, sizeof(err));
	assert_non_null(conf);
	assert_int_equal(kw_conf_set(conf, "reader", "interval", "2s",
			     "--interval", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_apply_state_dir(conf, "/s", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_set(conf, "class.x", "min_alive", "1",
			     "-o class.x.min_alive", err, sizeof(err)),
	    0);
	argv = kw_conf_argv(conf, &argc);
	assert_int_equal(argc, 10);
	assert_string_equal(argv[0], "-c");
	assert_string_equal(argv[1], path);
	assert_string_equal(argv[2], "-o");
	assert_string_equal(argv[3], "reader.interval=2s");
	assert_string_equal(argv[5], "paths.run_dir=/s/run");
	assert_string_equal(argv[7], "paths.database=/s/kwarden.db");
	assert_string_equal(argv[8], "-o");
	assert_string_equal(argv[9], "class.x.min_alive=1");
	assert_null(argv[10]);
	kw_conf_free(conf);
}

static void
config__reload__rereads_file_and_reapplies_overrides(void **state)
{
	struct kw_conf *conf, *conf2;
	const char *path;
	char err[ERRLEN];
	size_t argc;

	path = write_tmp("[policy]\ncpu_threshold = 30\nmem_threshold = 40\n");
	conf = kw_conf_load(path, err, sizeof(err));
	assert_non_null(conf);
	assert_int_equal(kw_conf_set(conf, "policy", "mem_threshold", "50",
			     "-o policy.mem_threshold", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_apply_state_dir(conf, "/st", err,
			     sizeof(err)),
	    0);

	rewrite(path,
	    "[policy]\ncpu_threshold = 35\nmem_threshold = 45\n"
	    "[class.extra]\nmin_alive = 1\n");
	conf2 = kw_conf_reload(conf, err, sizeof(err));
	assert_non_null(conf2);
	assert_true(kw_conf_num(conf2, "policy.cpu_threshold") == 35.0);
	assert_true(kw_conf_num(conf2, "policy.mem_threshold") == 50.0);
	assert_string_equal(kw_conf_str(conf2, "paths.run_dir"), "/st/run");
	assert_int_equal(kw_conf_class_count(conf2), 3);
	kw_conf_argv(conf2, &argc);
	assert_int_equal(argc, 8);

	/* A broken file: reload fails, the old config stays usable. */
	rewrite(path, "[policy]\ncpu_threshold = lots\n");
	assert_null(kw_conf_reload(conf2, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: policy.cpu_threshold: \"lots\""));
	assert_true(kw_conf_num(conf2, "policy.cpu_threshold") == 35.0);
	kw_conf_free(conf2);
	kw_conf_free(conf);
}

static void
config__json__sections_with_string_values(void **state)
{
	struct kw_conf *conf;
	json_t *j;
	char err[ERRLEN];

	conf = kw_conf_load(NULL, err, sizeof(err));
	j = kw_conf_json(conf);
	assert_non_null(j);
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(j, "reader"),
				    "interval")),
	    "1s");
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(j, "policy"),
				    "cpu_threshold")),
	    "20");
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(j,
						    "class.low"),
				    "min_alive")),
	    "3");
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(j, "limits"),
				    "stream_clients")),
	    "64");
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(j, "metrics"),
				    "listen")),
	    "127.0.0.1:9877");
	assert_int_equal(json_object_size(j), 11);
	json_decref(j);
	kw_conf_free(conf);
}

static void
config__shipped_default_file__equals_builtins(void **state)
{
	static const char *const paths[] = {
		"run/kwarden.conf",
		"../run/kwarden.conf",
		"../../run/kwarden.conf",
	};
	struct kw_conf *file, *defaults;
	char err[ERRLEN], *a, *b;
	size_t i;

	for (i = 0; i < 3; i++)
		if (access(paths[i], R_OK) == 0)
			break;
	if (i == 3)
		skip();
	file = kw_conf_load(paths[i], err, sizeof(err));
	if (file == NULL)
		print_error("%s\n", err);
	assert_non_null(file);
	defaults = kw_conf_load(NULL, err, sizeof(err));
	a = print_str(file);
	b = print_str(defaults);
	assert_string_equal(strchr(a, '\n'), strchr(b, '\n'));
	free(a);
	free(b);
	kw_conf_free(file);
	kw_conf_free(defaults);
}

/* kw_conf_cli in a child: exit status, stdout and stderr. */
struct cli_result {
	int status; /* exit code; 100 when kw_conf_cli returned */
	char out[8192];
	char err[2048];
};

static void
slurp(int fd, char *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;

	lseek(fd, 0, SEEK_SET);
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

static void
run_cli(const char *section, const char *const *args, struct cli_result *res)
{
	char po[] = "/tmp/kw_out_XXXXXX";
	char pe[] = "/tmp/kw_err_XXXXXX";
	char *argv[32];
	int fo, fe, st, argc = 0;
	pid_t pid;

	fo = mkstemp(po);
	fe = mkstemp(pe);
	assert_true(fo != -1 && fe != -1);
	unlink(po);
	unlink(pe);
	argv[argc++] = (char *)"kwarden-test";
	while (*args != NULL && argc < 30)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct kw_conf *conf;
		const char *const *cargv;
		size_t cargc, i;

		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		conf = kw_conf_cli(argc, argv, section, "extra usage text");
		cargv = kw_conf_argv(conf, &cargc);
		printf("argv:");
		for (i = 0; i < cargc; i++)
			printf(" %s", cargv[i]);
		printf("\n");
		kw_conf_print(conf, stdout);
		kw_conf_free(conf);
		fflush(stdout);
		exit(100);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	res->status = WEXITSTATUS(st);
	slurp(fo, res->out, sizeof(res->out));
	slurp(fe, res->err, sizeof(res->err));
}

struct cli_case {
	const char *section;
	const char *args[12];
	int status;
	const char *out; /* stdout contains, or NULL */
	const char *err; /* stderr contains, or NULL */
};

static void
cli__table__exit_codes_and_messages(void **state)
{
	static const struct cli_case cases[] = {
		{ "reader", { "--version" }, 0, "kwarden-reader 0.1.0\n",
		    NULL },
		{ "decider", { "-V" }, 0, "kwarden-decider 0.1.0\n", NULL },
		{ "reader", { "-h" }, 0, "--interval DURATION", NULL },
		{ "reader", { "--help" }, 0, "--kmod-path STRING", NULL },
		{ "reader", { "--help" }, 0, "extra usage text", NULL },
		{ "reader", { "--help" }, 0, "(default 1s)", NULL },
		{ "run", { "--help" }, 0, "--restart-delay-max DURATION",
		    NULL },
		{ "reader", { "--bogus" }, 2, NULL,
		    "kwarden-reader: unknown option \"--bogus\"\n"
		    "try 'kwarden-reader --help'\n" },
		{ "reader", { "--top-k", "3" }, 2, NULL,
		    "unknown option \"--top-k\"" },
		{ "decider", { "--top-k", "3", "--print-config" }, 0,
		    "top_k = 3\n", NULL },
		{ "reader", { "-x" }, 2, NULL, "unknown option \"-x\"" },
		{ "reader", { "stray" }, 2, NULL,
		    "unexpected argument \"stray\"" },
		{ "reader", { "-o" }, 2, NULL, "option -o needs a value" },
		{ "reader", { "--interval" }, 2, NULL,
		    "option --interval needs a value" },
		{ "reader", { "--print-config=yes" }, 2, NULL,
		    "option --print-config takes no value" },
		{ "reader", { "--interval", "abc" }, 2, NULL,
		    "kwarden-reader: config: --interval: \"abc\" is not a "
		    "duration" },
		{ "reader", { "--source=kernel" }, 2, NULL,
		    "config: --source: \"kernel\" is not one of auto, kmod, "
		    "procfs" },
		{ "reader", { "-o", "policy.cpu_threshold=abc" }, 2, NULL,
		    "config: -o policy.cpu_threshold: \"abc\" is not a "
		    "number\n" },
		{ "reader", { "-o", "policy.nope=1" }, 2, NULL,
		    "config: -o policy.nope: unknown key\n" },
		{ "reader", { "-o", "policy=1" }, 2, NULL,
		    "config: -o policy=1: expected SECTION.KEY=VALUE" },
		{ "reader", { "-c", "/nonexistent/k.conf" }, 2, NULL,
		    "config: /nonexistent/k.conf: No such file or directory" },
		{ "reader",
		    { "--interval", "500ms", "--source", "procfs",
			"--state-dir", "/sd", "-o", "class.high.min_alive=1",
			"-opolicy.window=9s" },
		    100,
		    "argv: -o reader.interval=500ms -o reader.source=procfs "
		    "-o paths.run_dir=/sd/run -o paths.database=/sd/kwarden.db "
		    "-o class.high.min_alive=1 -o policy.window=9s\n",
		    NULL },
		{ "reader",
		    { "--print-config", "--state-dir", "/x", "--interval=2s" },
		    0, "run_dir = /x/run\n", "" },
		{ "run", { "--restart-delay", "1s", "--print-config" }, 0,
		    "restart_delay = 1s\n", "" },
		{ "recorder", { "--batch-rows", "0" }, 2, NULL,
		    "config: --batch-rows: \"0\" is out of range "
		    "(1 to 1000000)" },

		/* --KEY=VALUE and --KEY VALUE are the same override. */
		{ "reader", { "--interval=2s", "--source", "kmod" }, 100,
		    "argv: -o reader.interval=2s -o reader.source=kmod\n",
		    "" },
		{ "reader", { "--interval", "2s", "--source=kmod" }, 100,
		    "argv: -o reader.interval=2s -o reader.source=kmod\n",
		    "" },
		/* The value is the next word, even one that looks like a flag. */
		{ "reader", { "--interval", "--print-config" }, 2, NULL,
		    "config: --interval: \"--print-config\" is not a "
		    "duration" },
		/* The INI spelling of a key works as a flag too. */
		{ "recorder", { "--batch_rows", "5" }, 100,
		    "argv: -o recorder.batch_rows=5\n", "" },
		{ "recorder", { "--batch_rows=0" }, 2, NULL,
		    "config: --batch_rows: \"0\" is out of range" },
		/* -o with its value glued on, or joined by nothing else. */
		{ "reader", { "-opolicy.nope=1" }, 2, NULL,
		    "config: -o policy.nope: unknown key\n" },
		{ "reader", { "-o=x" }, 2, NULL,
		    "config: -o =x: expected SECTION.KEY=VALUE" },
		{ "reader", { "-c/nonexistent/k.conf" }, 2, NULL,
		    "config: /nonexistent/k.conf: No such file or directory" },
		{ "reader", { "-c" }, 2, NULL, "option -c needs a value" },
		{ "reader", { "--state-dir" }, 2, NULL,
		    "option --state-dir needs a value" },
		/* Unknown options are named as typed. */
		{ "reader", { "--bogus=1" }, 2, NULL,
		    "kwarden-reader: unknown option \"--bogus\"\n" },
		{ "reader", { "-xyz" }, 2, NULL, "unknown option \"-xyz\"" },
		{ "reader", { "---x" }, 2, NULL, "unknown option \"---x\"" },
		{ "reader", { "--help=yes" }, 2, NULL,
		    "option --help takes no value" },
		/* No abbreviations: a new key must not change old commands. */
		{ "reader", { "--inter", "2s" }, 2, NULL,
		    "unknown option \"--inter\"" },
		{ "reader", { "--print" }, 2, NULL,
		    "unknown option \"--print\"" },
		{ "reader", { "--print=yes" }, 2, NULL,
		    "unknown option \"--print\"" },
		{ "reader", { "--conf", "/x" }, 2, NULL,
		    "unknown option \"--conf\"" },
		/* -h and -V alone, not run together. */
		{ "reader", { "-hV" }, 2, NULL, "unknown option \"-hV\"" },
		{ "reader", { "-Vx" }, 2, NULL, "unknown option \"-Vx\"" },
		/* Options are read in order up to the first argument. */
		{ "reader", { "stray", "--help" }, 2, NULL,
		    "unexpected argument \"stray\"" },
		{ "reader", { "--help", "stray" }, 0, "usage: kwarden-reader",
		    "" },
		{ "reader", { "-o", "policy=1", "--help" }, 2, NULL,
		    "expected SECTION.KEY=VALUE" },
		{ "reader", { "-" }, 2, NULL, "unexpected argument \"-\"" },
		/* -- ends the options; nothing may follow it. */
		{ "reader", { "--interval", "2s", "--" }, 100,
		    "argv: -o reader.interval=2s\n", "" },
		{ "reader", { "--", "--help" }, 2, NULL,
		    "unexpected argument \"--help\"" },
		{ "reader", { "--print-config", "--", "x" }, 2, NULL,
		    "unexpected argument \"x\"" },
	};
	struct cli_result *res;
	size_t i;

	res = calloc(1, sizeof(*res));
	assert_non_null(res);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_cli(cases[i].section, cases[i].args, res);
		if (res->status != cases[i].status ||
		    (cases[i].out && !strstr(res->out, cases[i].out)) ||
		    (cases[i].err &&
			(cases[i].err[0] ? !strstr(res->err, cases[i].err) :
					   res->err[0] != '\0')))
			print_error("case %zu (%s): status %d\nstdout: %s\n"
				    "stderr: %s\n",
			    i, cases[i].args[0], res->status, res->out,
			    res->err);
		assert_int_equal(res->status, cases[i].status);
		if (cases[i].out != NULL)
			assert_non_null(strstr(res->out, cases[i].out));
		if (cases[i].err != NULL && cases[i].err[0] != '\0')
			assert_non_null(strstr(res->err, cases[i].err));
		else if (cases[i].err != NULL)
			assert_string_equal(res->err, "");
	}
	free(res);
}

/* The policy as text and back: the same keys, a bad line refused. */
static void
config__policy_text__round_trips(void **state)
{
	static char text[32768], again[32768];
	struct kw_conf *a, *b;
	char err[512];

	(void)state;
	a = kw_conf_load(NULL, err, sizeof(err));
	b = kw_conf_load(NULL, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(kw_conf_set(a, "policy", "cpu_threshold", "33",
			     "test", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_set(a, "class.web", "match", "web*, api*",
			     "test", err, sizeof(err)),
	    0);
	assert_int_equal(kw_conf_policy_text(a, text, sizeof(text)), 0);
	assert_non_null(strstr(text, "policy.cpu_threshold=33\n"));
	assert_non_null(strstr(text, "class.web.match=web*, api*\n"));
	assert_null(strstr(text, "recorder."));
	assert_int_equal(kw_conf_apply_text(b, text, "policy", err,
			     sizeof(err)),
	    0);
	assert_int_equal(kw_conf_policy_text(b, again, sizeof(again)), 0);
	assert_string_equal(text, again);
	assert_float_equal(kw_conf_num(b, "policy.cpu_threshold"), 33, 0);
	assert_int_equal(kw_conf_policy_text(a, text, 16), -1);
	assert_int_equal(kw_conf_apply_text(b, "policy.nope=1\n", "policy",
			     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(kw_conf_apply_text(b, "garbage\n", "policy", err,
			     sizeof(err)),
	    -1);
	kw_conf_free(a);
	kw_conf_free(b);
}

static void
cli__file_then_overrides__command_line_order(void **state)
{
	struct cli_result *res;
	const char *path;

	res = calloc(1, sizeof(*res));
	assert_non_null(res);
	path = write_tmp("[reader]\ninterval = 3s\nsource = kmod\n"
			 "[policy]\ncpu_threshold = abc\n");
	{
		/* An error in the file names it, with the line. */
		const char *args[] = { "-c", path, NULL };
		char want[256];

		run_cli("reader", args, res);
		assert_int_equal(res->status, 2);
		snprintf(want, sizeof(want),
		    "kwarden-reader: config: %s:5: "
		    "policy.cpu_threshold: \"abc\" is not a number\n",
		    path);
		assert_non_null(strstr(res->err, want));
	}
	rewrite(path, "[reader]\ninterval = 3s\nsource = kmod\n");
	{
		/* -o before -c still wins over the file. */
		const char *args[] = { "-o", "reader.interval=4s", "-c", path,
			"--interval", "5s", "-o", "reader.interval=6s", NULL };
		char want[256];

		run_cli("reader", args, res);
		assert_int_equal(res->status, 100);
		snprintf(want, sizeof(want),
		    "argv: -c %s "
		    "-o reader.interval=4s -o reader.interval=5s "
		    "-o reader.interval=6s\n",
		    path);
		assert_non_null(strstr(res->out, want));
		assert_non_null(strstr(res->out, "interval = 6s\n"));
		assert_non_null(strstr(res->out, "source = kmod\n"));
	}
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config__policy_text__round_trips),
		cmocka_unit_test_teardown(config__defaults__every_key,
		    teardown),
		cmocka_unit_test_teardown(config__design_example__parses,
		    teardown),
		cmocka_unit_test_teardown(
		    config__design_example_remove__parses, teardown),
		cmocka_unit_test_teardown(
		    config__file__values_comments_and_spacing, teardown),
		cmocka_unit_test_teardown(
		    config__bad_number__error_names_file_line_key, teardown),
		cmocka_unit_test_teardown(
		    config__socket_mode_zero_and_bad_limits__refused,
		    teardown),
		cmocka_unit_test_teardown(
		    config__bad_values__each_type_explained, teardown),
		cmocka_unit_test_teardown(config__choices__validated,
		    teardown),
		cmocka_unit_test_teardown(
		    config__unknown_key__error_with_file_line, teardown),
		cmocka_unit_test_teardown(
		    config__unknown_section__error_with_file_line, teardown),
		cmocka_unit_test_teardown(config__syntax_errors__line_reported,
		    teardown),
		cmocka_unit_test_teardown(config__long_line__error, teardown),
		cmocka_unit_test_teardown(config__indented_line__plain_key,
		    teardown),
		cmocka_unit_test_teardown(config__missing_file__error,
		    teardown),
		cmocka_unit_test_teardown(
		    config__set__validates_and_names_origin, teardown),
		cmocka_unit_test_teardown(
		    config__classes__defaults_then_added_in_order, teardown),
		cmocka_unit_test_teardown(config__list__split_trimmed_bounded,
		    teardown),
		cmocka_unit_test_teardown(
		    config__state_dir__sets_run_dir_and_database, teardown),
		cmocka_unit_test_teardown(config__print__round_trips,
		    teardown),
		cmocka_unit_test_teardown(
		    config__argv__file_then_overrides_in_order, teardown),
		cmocka_unit_test_teardown(
		    config__reload__rereads_file_and_reapplies_overrides,
		    teardown),
		cmocka_unit_test_teardown(
		    config__json__sections_with_string_values, teardown),
		cmocka_unit_test_teardown(
		    config__shipped_default_file__equals_builtins, teardown),
		cmocka_unit_test_teardown(cli__table__exit_codes_and_messages,
		    teardown),
		cmocka_unit_test_teardown(
		    cli__file_then_overrides__command_line_order, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
