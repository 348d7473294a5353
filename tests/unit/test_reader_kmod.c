/*
 * The kmod source: the seed's two /proc outputs (trailing commas), the new
 * format, and hostile input that must end in a clear error, never a crash
 * or a leak.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../reader/reader.h"

#define CID1 "3fa836846de1a1950cd414ffb4936a50aac4200f8e20c7030c38e433020cd388"
#define HOST "\"mem_total_kb\": 1000, \"mem_free_kb\": 400, "

static char err[512];

static const char *
fixture(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("KW_FIXTURES");

	snprintf(buf, len, "%s/%s", dir != NULL ? dir : "tests/fixtures",
	    name);
	return buf;
}

static const struct kw_proc *
find_pid(const struct kw_snapshot *snap, int32_t pid)
{
	size_t i;

	for (i = 0; i < snap->nprocs; i++)
		if (snap->procs[i].pid == pid)
			return &snap->procs[i];
	return NULL;
}

static int
parse(const char *s, struct kw_snapshot *snap)
{
	memset(err, 0, sizeof(err));
	return snapshot_parse_json(s, strlen(s), snap, err, sizeof(err));
}

static void
kmod_seed__sysinfo_trailing_commas__parsed(void **state)
{
	char path[512];
	struct kw_snapshot snap;
	const struct kw_proc *p;
	struct kmod_info info;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	kw_snapshot_init(&snap);
	assert_int_equal(source_kmod_read(fixture("seed/sysinfo.json", path,
					      sizeof(path)),
			     &snap, &info, err, sizeof(err)),
	    0);
	/* No container ids: the reader takes them from /proc/<pid>/cgroup. */
	assert_int_equal(info.no_container_id, 10);
	assert_string_equal(snap.source, "kmod");
	assert_int_equal(snap.nprocs, 10);
	assert_int_equal(snap.host.mem_total_kb, 3960492);
	assert_int_equal(snap.host.mem_free_kb, 1748972);
	assert_int_equal(snap.host.mem_used_kb, 2211520);
	assert_int_equal(snap.host.mem_available_kb, 1748972);
	assert_int_equal(snap.host.ncpu, ncpu > 0 ? ncpu : 1);
	p = find_pid(&snap, 1);
	assert_non_null(p);
	assert_string_equal(p->name, "systemd");
	assert_string_equal(p->cmdline, "/sbin/init splash");
	assert_int_equal(p->vsz_kb, 23284);
	assert_int_equal(p->rss_kb, 14276);
	assert_int_equal(p->state, 'S');
	/* The seed's proc_jiffies is task->utime + stime: already ns. */
	assert_true(p->cpu_ns == 7035000000ull);
	assert_string_equal(p->container_id, "");
	p = find_pid(&snap, 4);
	assert_non_null(p);
	assert_string_equal(p->name, "kworker/R-rcu_g");
	assert_string_equal(p->cmdline, "");
	assert_int_equal(p->state, 'I');
	assert_int_equal(p->cpu_ns, 0);
	p = find_pid(&snap, 10);
	assert_non_null(p);
	assert_true(p->cpu_ns == 187000000ull);
	kw_snapshot_free(&snap);
}

static void
kmod_seed__continfo_containers_key__parsed(void **state)
{
	char path[512];
	struct kw_snapshot snap;
	const struct kw_proc *p;

	kw_snapshot_init(&snap);
	assert_int_equal(source_kmod_read(fixture("seed/continfo.json", path,
					      sizeof(path)),
			     &snap, NULL, err, sizeof(err)),
	    0);
	assert_int_equal(snap.nprocs, 4);
	assert_int_equal(snap.host.mem_total_kb, 3960492);
	assert_int_equal(snap.host.mem_free_kb, 2198276);
	assert_int_equal(snap.host.mem_used_kb, 1762216);
	p = find_pid(&snap, 22071);
	assert_non_null(p);
	assert_string_equal(p->name, "containerd-shim");
	assert_string_equal(p->cmdline,
	    "/usr/bin/containerd-shim-runc-v2 "
	    "-namespace moby -id " CID1 " -address "
	    "/run/containerd/containerd.sock");
	assert_int_equal(p->rss_kb, 11016);
	/* An id in the cmdline does not make a container. */
	assert_string_equal(p->container_id, "");
	p = find_pid(&snap, 1532);
	assert_non_null(p);
	assert_int_equal(p->vsz_kb, 2494152);
	kw_snapshot_free(&snap);
}

static void
kmod_sample__new_format__every_field(void **state)
{
	char path[512];
	struct kw_snapshot snap;
	const struct kw_proc *p;
	struct kmod_info info;

	kw_snapshot_init(&snap);
	assert_int_equal(source_kmod_read(fixture("kmod-sample.json", path,
					      sizeof(path)),
			     &snap, &info, err, sizeof(err)),
	    0);
	assert_int_equal(info.no_container_id, 0);
	assert_int_equal(snap.nprocs, 3);
	assert_int_equal(snap.host.mem_available_kb, 2900000);
	assert_int_equal(snap.host.ncpu, 2);
	assert_true(snap.ts_ns == 1764200000000000000ull);
	p = find_pid(&snap, 1);
	assert_non_null(p);
	assert_true(p->cpu_ns == 70350000000ull);
	assert_true(p->start_ns == 120000000ull);
	assert_int_equal(p->threads, 1);
	p = find_pid(&snap, 4242);
	assert_non_null(p);
	assert_int_equal(p->ppid, 4200);
	assert_string_equal(p->name, "foo) Z ");
	assert_string_equal(p->cmdline,
	    "sh -c \"echo \\\"hi\\\"\" \xc3\xa9\x01");
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->threads, 4);
	assert_int_equal(p->state, 'R');
	assert_true(p->cpu_ns == 2000000123ull);
	assert_true(p->start_ns == 5000000000000ull);
	assert_string_equal(p->container_id, CID1);
	kw_snapshot_free(&snap);
}

static void
kmod_commas__inside_strings__kept(void **state)
{
	struct kw_snapshot snap;

	kw_snapshot_init(&snap);
	assert_int_equal(
	    parse(
		"{" HOST "\"processes\": [{\"pid\": 1, "
		"\"name\": \"a,]\", \"cmdline\": \"x, } \\\", ]\", },\n\t],\n}",
		&snap),
	    0);
	assert_int_equal(snap.nprocs, 1);
	assert_string_equal(snap.procs[0].name, "a,]");
	assert_string_equal(snap.procs[0].cmdline, "x, } \", ]");
	/* A comma not before a closer is still an error. */
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": 1},,]}",
			     &snap),
	    -1);
	assert_non_null(strstr(err, "line 1"));
	assert_int_equal(snap.nprocs, 0);
	kw_snapshot_free(&snap);
}

static void
kmod_cgroup__no_container_id__taken_from_cgroup(void **state)
{
	struct kw_snapshot snap;

	kw_snapshot_init(&snap);
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": 9, "
			       "\"cgroup\": \"/system.slice/docker-" CID1
			       ".scope\"}]}",
			     &snap),
	    0);
	assert_string_equal(snap.procs[0].container_id, CID1);
	assert_int_equal(snap.procs[0].state, '?');
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__truncated__error_with_position(void **state)
{
	char path[512], *buf;
	struct kw_snapshot snap;
	FILE *fp;
	long n;

	kw_snapshot_init(&snap);
	fp = fopen(fixture("kmod-sample.json", path, sizeof(path)), "r");
	assert_non_null(fp);
	buf = calloc(1, 65536);
	assert_non_null(buf);
	n = (long)fread(buf, 1, 65535, fp);
	fclose(fp);
	assert_true(n > 100);
	assert_int_equal(snapshot_parse_json(buf, (size_t)n / 2, &snap, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "line "));
	assert_non_null(strstr(err, "column "));
	assert_int_equal(snap.nprocs, 0);
	free(buf);
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__wrong_type__entry_skipped_with_path(void **state)
{
	struct kw_snapshot snap;

	kw_snapshot_init(&snap);
	assert_int_equal(
	    parse(
		"{" HOST "\"processes\": [{\"pid\": 1}, "
		"{\"pid\": 2}, {\"pid\": 3}, {\"pid\": \"4\", \"name\": \"x\"}, "
		"{\"pid\": 5, \"rss_kb\": 1.5}, {\"pid\": 6, \"name\": 7}, "
		"{\"name\": \"nopid\"}, 8, {\"pid\": -1}, {\"pid\": 9}]}",
		&snap),
	    6);
	assert_non_null(strstr(err, "6 malformed entries skipped"));
	assert_non_null(
	    strstr(err, "processes[3].pid: expected integer, got string"));
	assert_int_equal(snap.nprocs, 4);
	assert_non_null(find_pid(&snap, 9));
	assert_null(find_pid(&snap, 5));

	/* All entries bad: the snapshot is rejected. */
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": 1, "
			       "\"cmdline\": [\"a\"]}]}",
			     &snap),
	    -1);
	assert_non_null(
	    strstr(err, "processes[0].cmdline: expected string, got array"));
	assert_int_equal(snap.nprocs, 0);

	/* A host field of the wrong type rejects the whole snapshot. */
	assert_int_equal(parse("{\"mem_total_kb\": \"1000\", "
			       "\"mem_free_kb\": 1, \"processes\": []}",
			     &snap),
	    -1);
	assert_non_null(
	    strstr(err, "mem_total_kb: expected integer, got string"));
	assert_int_equal(parse("{\"mem_free_kb\": 1, \"processes\": []}",
			     &snap),
	    -1);
	assert_non_null(strstr(err, "mem_total_kb"));
	assert_int_equal(parse("{" HOST "\"processes\": {}}", &snap), -1);
	assert_non_null(strstr(err, "processes: expected array, got object"));
	assert_int_equal(parse("{" HOST "\"procs\": []}", &snap), -1);
	assert_non_null(strstr(err, "missing \"processes\""));
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": "
			       "99999999999999999999999}]}",
			     &snap),
	    -1);
	assert_non_null(strstr(err, "too big"));
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__megabyte_strings__capped(void **state)
{
	struct kw_snapshot snap;
	size_t big = 1 << 20, n;
	char *buf;

	kw_snapshot_init(&snap);
	buf = malloc(2 * big + 256);
	assert_non_null(buf);
	n = (size_t)sprintf(buf,
	    "{" HOST "\"processes\": [{\"pid\": 1, "
	    "\"name\": \"");
	memset(buf + n, 'n', big);
	n += big;
	n += (size_t)sprintf(buf + n, "\", \"cmdline\": \"\xc3\xa9");
	memset(buf + n, 'c', big);
	n += big;
	n += (size_t)sprintf(buf + n, "\"}]}");
	assert_int_equal(snapshot_parse_json(buf, n, &snap, err, sizeof(err)),
	    0);
	assert_int_equal(snap.nprocs, 1);
	assert_int_equal(strlen(snap.procs[0].name), KW_NAME_LEN - 1);
	assert_int_equal(strlen(snap.procs[0].cmdline), KW_CMDLINE_MAX - 1);
	free(buf);
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__utf8_cut__not_split(void **state)
{
	struct kw_snapshot snap;
	char buf[512];
	size_t i, n;

	kw_snapshot_init(&snap);
	/* 1 + 31 two-byte characters: 63 bytes would split the last one. */
	n = (size_t)sprintf(buf,
	    "{" HOST "\"processes\": [{\"pid\": 1, "
	    "\"name\": \"a");
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(buf + n, "\xc3\xa9");
	sprintf(buf + n, "\"}]}");
	assert_int_equal(parse(buf, &snap), 0);
	assert_int_equal(strlen(snap.procs[0].name), 1 + 2 * 31);
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__deep_nesting__error(void **state)
{
	struct kw_snapshot snap;
	char *buf;
	size_t depth = 10000, i, n = 0;

	kw_snapshot_init(&snap);
	buf = malloc(2 * depth + 64);
	assert_non_null(buf);
	n = (size_t)sprintf(buf, "{\"processes\": ");
	for (i = 0; i < depth; i++)
		buf[n++] = '[';
	for (i = 0; i < depth; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	assert_int_equal(snapshot_parse_json(buf, n, &snap, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "depth"));
	free(buf);
	kw_snapshot_free(&snap);
}

/* Every object, at any depth: a duplicate key rejects the snapshot. */
static void
kmod_hostile__duplicate_keys__error(void **state)
{
	static const char *const dup[] = {
		"{" HOST "\"mem_free_kb\": 3, \"processes\": []}",
		"{" HOST "\"processes\": [{\"pid\": 1, \"pid\": 2}]}",
		"{" HOST
		"\"processes\": [{\"pid\": 1, \"x\": 1, \"x\": [2]}]}",
		"{" HOST
		"\"processes\": [{\"pid\": 1, \"x\": {\"a\": 1, \"a\": 1}}]}",
		"{" HOST "\"processes\": [], \"processes\": []}",
		"{" HOST "\"other\": {\"k\": {\"k\": {\"q\": 0, \"q\": 0}}}, "
		"\"processes\": []}",
	};
	struct kw_snapshot snap;
	size_t i;

	kw_snapshot_init(&snap);
	for (i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
		assert_int_equal(parse(dup[i], &snap), -1);
		assert_non_null(strstr(err, "duplicate object key"));
		assert_non_null(strstr(err, "line 1 column"));
		assert_int_equal(snap.nprocs, 0);
	}
	/* The same key in two objects is no duplicate. */
	assert_int_equal(
	    parse("{" HOST "\"x\": {\"a\": 1}, \"processes\": "
		  "[{\"pid\": 1, \"x\": {\"a\": 1}}, {\"pid\": 2, "
		  "\"x\": {\"a\": {\"a\": 1}}}]}",
		&snap),
	    0);
	assert_int_equal(snap.nprocs, 2);
	kw_snapshot_free(&snap);
}

/* What jansson refused before the streaming parse is refused still. */
static void
kmod_hostile__syntax_and_numbers__error(void **state)
{
	static const struct {
		const char *in, *want;
	} bad[] = {
		{ "{" HOST
		  "\"processes\": [{\"pid\": -99999999999999999999}]}",
		    "too big negative integer" },
		{ "{" HOST "\"processes\": [{\"pid\": 9223372036854775808}]}",
		    "too big integer" },
		{ "{" HOST "\"processes\": [{\"pid\": 1, \"x\": 1e999}]}",
		    "real number overflow" },
		{ "{" HOST "\"processes\": []} {}", "trailing garbage" },
		{ "{" HOST "\"processes\": [{\"pid\": 1}]", "line 1 column" },
		{ "{" HOST "\"processes\": [{\"pid\": 01}]}",
		    "line 1 column" },
		{ "{" HOST
		  "\"processes\": [{\"pid\": 1, \"name\": \"a\tb\"}]}",
		    "line 1 column" },
		{ "{" HOST "\"processes\": [/* c */]}", "line 1 column" },
		{ "{" HOST "'processes': []}", "line 1 column" },
	};
	struct kw_snapshot snap;
	size_t i;

	kw_snapshot_init(&snap);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].in, &snap) != -1 ||
		    strstr(err, bad[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].in, err,
			    bad[i].want);
		assert_int_equal(snap.nprocs, 0);
	}
	/* The largest integer fits: out of range for a pid, an entry's. */
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": 1}, "
			       "{\"pid\": 9223372036854775807}]}",
			     &snap),
	    1);
	assert_non_null(
	    strstr(err, "processes[1].pid: 9223372036854775807 out of range"));
	/* Escapes are decoded; a key unknown at any depth is read past. */
	assert_int_equal(
	    parse("{" HOST "\"new\": [{\"a\": [1, 2.5, null, "
		  "true]}], \"processes\": [{\"pid\": 1, "
		  "\"name\": \"a\\u00e9\\n\\\"\", \"mem_pct\": 3}]}",
		&snap),
	    0);
	assert_string_equal(snap.procs[0].name, "a\xc3\xa9\n\"");
	/* A key with a NUL is not the key before it: "pid" stays missing. */
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\\u0000\": 1}, "
			       "{\"pid\": 2}]}",
			     &snap),
	    1);
	assert_non_null(strstr(err, "processes[0].pid: missing"));
	kw_snapshot_free(&snap);
}

/* Keys not known in one object are capped: comparing them stays linear. */
static void
kmod_hostile__many_unknown_keys__error(void **state)
{
	struct kw_snapshot snap;
	char *buf;
	size_t n = 0;
	int i;

	kw_snapshot_init(&snap);
	buf = malloc(4096);
	assert_non_null(buf);
	n = (size_t)sprintf(buf, "{" HOST "\"processes\": [{\"pid\": 1");
	for (i = 0; i < 64; i++)
		n += (size_t)sprintf(buf + n, ", \"k%d\": %d", i, i);
	sprintf(buf + n, "}]}");
	assert_int_equal(parse(buf, &snap), 0);
	sprintf(buf + n, ", \"k64\": 1}]}");
	assert_int_equal(parse(buf, &snap), -1);
	assert_non_null(strstr(err, "more than 64 keys in one object"));
	free(buf);
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__invalid_utf8__error(void **state)
{
	struct kw_snapshot snap;

	kw_snapshot_init(&snap);
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": 1, "
			       "\"name\": \"bad\xff\xfe\"}]}",
			     &snap),
	    -1);
	assert_non_null(strstr(err, "invalid bytes in UTF8 string"));
	assert_non_null(strstr(err, "line 1"));
	kw_snapshot_free(&snap);
}

static void
kmod_hostile__empty_and_not_object__error(void **state)
{
	struct kw_snapshot snap;
	char path[] = "/tmp/kw-test-kmod-XXXXXX";
	int fd;

	kw_snapshot_init(&snap);
	assert_int_equal(parse("", &snap), -1);
	assert_string_equal(err, "empty input");
	assert_int_equal(parse("   \n", &snap), -1);
	assert_non_null(strstr(err, "line"));
	assert_int_equal(parse("[1, 2]", &snap), -1);
	assert_string_equal(err, "top level: expected object, got array");
	assert_int_equal(parse("\"x\"", &snap), -1);
	assert_string_equal(err, "top level: expected object, got string");
	assert_int_equal(parse("null", &snap), -1);
	assert_string_equal(err, "top level: expected object, got null");

	fd = mkstemp(path);
	assert_true(fd != -1);
	close(fd);
	assert_int_equal(source_kmod_read(path, &snap, NULL, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "empty input"));
	unlink(path);
	assert_int_equal(source_kmod_read("/nonexistent/sysinfo", &snap, NULL,
			     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "/nonexistent/sysinfo: No such file"));
	kw_snapshot_free(&snap);
}

static void
kmod_read__several_megabytes__buffer_grows(void **state)
{
	struct kw_snapshot snap;
	char path[] = "/tmp/kw-test-kmod-XXXXXX";
	FILE *fp;
	int fd, i, n = 30000;

	kw_snapshot_init(&snap);
	fd = mkstemp(path);
	assert_true(fd != -1);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fprintf(fp, "{" HOST "\"ncpu\": 8, \"processes\": [\n");
	for (i = 1; i <= n; i++)
		fprintf(fp,
		    "{\"pid\": %d, \"name\": \"p%d\", \"cmdline\": "
		    "\"/usr/bin/something --with --a --fairly --long "
		    "--argument-list %d\", \"vsz_kb\": %d, \"rss_kb\": 1, "
		    "\"cpu_ns\": %d, \"state\": \"S\"},\n",
		    i, i, i, i, i);
	fprintf(fp, "]}\n");
	assert_true(ftell(fp) > 4 * 1024 * 1024);
	fclose(fp);
	assert_int_equal(source_kmod_read(path, &snap, NULL, err, sizeof(err)),
	    0);
	assert_int_equal(snap.nprocs, (size_t)n);
	assert_int_equal(snap.host.ncpu, 8);
	assert_int_equal(snap.procs[n - 1].pid, n);
	assert_int_equal(snap.procs[n - 1].cpu_ns, n);
	unlink(path);
	kw_snapshot_free(&snap);
}

static void
kmod_nul_in_string__cut_there(void **state)
{
	struct kw_snapshot snap;

	kw_snapshot_init(&snap);
	assert_int_equal(parse("{" HOST "\"processes\": [{\"pid\": 1, "
			       "\"name\": \"ab\\u0000cd\"}]}",
			     &snap),
	    0);
	assert_string_equal(snap.procs[0].name, "ab");
	kw_snapshot_free(&snap);
}

static int
is_container_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, fp), (size_t)n);
	fclose(fp);
	*len = n;
	return buf;
}

/*
 * What the modules printed in Debian's kernels under qemu (tests/vm/run
 * --fixtures): every file parses with nothing skipped, the hostile
 * process's argv comes back whole, and continfo lists only containers.
 */
static void
kmod_vm_fixtures__every_capture__parsed_whole(void **state)
{
	char dir[512], path[1024];
	struct kw_snapshot snap;
	struct kmod_info info;
	struct dirent *de;
	DIR *d;
	size_t i, len, files = 0, hostile = 0;
	char *buf;

	(void)state;
	fixture("kmod", dir, sizeof(dir));
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		int cont = strncmp(de->d_name, "continfo-", 9) == 0;

		if (strstr(de->d_name, ".json") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf = slurp(path, &len);
		kw_snapshot_init(&snap);
		if (kmod_parse(buf, len, &snap, &info, err, sizeof(err)) != 0)
			fail_msg("%s: %s", path, err);
		assert_true(snap.nprocs > 0);
		assert_true(snap.host.mem_total_kb > 0);
		assert_int_equal(info.no_container_id, 0);
		for (i = 0; i < snap.nprocs; i++) {
			const struct kw_proc *p = &snap.procs[i];

			assert_true(p->pid > 0);
			if (cont || p->container_id[0] != '\0')
				assert_true(is_container_id(p->container_id));
			if (strncmp(p->name, "ev\"il\\\n\t\x01z", 9) == 0) {
				hostile++;
				assert_non_null(strstr(p->cmdline,
				    "quote\"d back\\slash new\nline tab\tbed"));
				assert_non_null(strstr(p->cmdline,
				    "\", \"container_id\": \"0"));
				assert_string_equal(p->container_id, "");
			}
		}
		kw_snapshot_free(&snap);
		free(buf);
		files++;
	}
	closedir(d);
	assert_true(files >= 2);
	assert_true(hostile >= 1);
}

/*
 * The delta file: passes written to a real file the reader keeps open and
 * reads again from offset 0, as it does the module's.
 */
#define DHDR(full, gen)                                \
	"{" HOST "\"ts_ns\": " gen ", \"full\": " full \
	", \"generation\": " gen ", \"cap_hits\": 0,\n \"processes\": [\n"
#define DREC(pid, start, name, cpu)                                    \
	"{\"pid\": " pid ", \"ppid\": 1, "                             \
	"\"name\": \"" name "\", \"cmdline\": \"" name " --arg\", "    \
	"\"vsz_kb\": 100, \"rss_kb\": 10, \"mem_pct\": \"0.00\", "     \
	"\"proc_jiffies\": 0, \"cpu_ns\": " cpu ", \"state\": \"S\", " \
	"\"uid\": 0, \"threads\": 1, \"start_ns\": " start ", "        \
	"\"container_id\": \"\", \"cgroup\": \"/\"}"
#define DCREC(pid, start)                                               \
	"{\"pid\": " pid ", \"ppid\": 1, "                              \
	"\"name\": \"ctr\", \"cmdline\": \"ctr\", \"vsz_kb\": 1, "      \
	"\"rss_kb\": 1, \"mem_pct\": \"0.00\", \"proc_jiffies\": 0, "   \
	"\"cpu_ns\": 7, \"state\": \"S\", \"uid\": 0, \"threads\": 1, " \
	"\"start_ns\": " start ", \"container_id\": \"" CID1 "\", "     \
	"\"cgroup\": \"/system.slice/docker-" CID1 ".scope\"}"
#define DEND(exited) "\n ],\n \"exited\": [" exited "]}\n"

/* One record a line (not clang-formatted): */
/* clang-format off */
#define PASS1 DHDR("true", "1")					\
	DREC("1", "10", "init", "100") ",\n"			\
	DREC("5", "50", "five", "500") ",\n"			\
	DCREC("9", "90") ",\n"					\
	DREC("30", "300", "thirty", "3000") DEND("")
/* clang-format on */

struct delta_fx {
	char path[64];
	struct kmod_delta kd;
	struct kw_snapshot out;
};

static void
dwrite(struct delta_fx *fx, const char *s)
{
	FILE *f = fopen(fx->path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A sample: the snapshot lent by the previous one is given back first. */
static int
dread(struct delta_fx *fx)
{
	kmod_delta_give_back(&fx->kd, &fx->out);
	kw_snapshot_clear(&fx->out);
	memset(err, 0, sizeof(err));
	return kmod_delta_read(&fx->kd, fx->path, &fx->out, err, sizeof(err));
}

static int
delta_setup(void **state)
{
	struct delta_fx *fx = calloc(1, sizeof(*fx));
	int fd;

	if (fx == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "/tmp/kw-delta-XXXXXX");
	if ((fd = mkstemp(fx->path)) == -1) {
		free(fx);
		return -1;
	}
	close(fd);
	kmod_delta_init(&fx->kd);
	kw_snapshot_init(&fx->out);
	*state = fx;
	return 0;
}

static int
delta_teardown(void **state)
{
	struct delta_fx *fx = *state;

	kmod_delta_give_back(&fx->kd, &fx->out);
	kmod_delta_free(&fx->kd);
	kw_snapshot_free(&fx->out);
	unlink(fx->path);
	free(fx);
	return 0;
}

/* The pids of the output, in order, as "1 5 30". */
static const char *
pids(const struct kw_snapshot *snap)
{
	static char buf[256];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < snap->nprocs && n + 16 < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d",
		    i ? " " : "", (int)snap->procs[i].pid);
	return buf;
}

static void
kmod_delta__full_then_changes__merged(void **state)
{
	struct delta_fx *fx = *state;
	const struct kw_proc *p;

	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 5 9 30");
	assert_int_equal(fx->kd.full_passes, 1);
	/* 5 ran, 9 exited, 12 is new, 1 and 30 did nothing */
	dwrite(fx,
	    DHDR("false", "2") DREC("5", "50", "five", "600") ",\n" DREC("12",
		"120", "twelve", "1") DEND("9"));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 5 12 30");
	assert_int_equal(fx->out.ts_ns, 2);
	p = find_pid(&fx->out, 5);
	assert_int_equal(p->cpu_ns, 600);
	p = find_pid(&fx->out, 1);
	assert_int_equal(p->cpu_ns, 100);
	assert_string_equal(p->cmdline, "init --arg");
	assert_string_equal(find_pid(&fx->out, 30)->name, "thirty");
	assert_int_equal(fx->kd.last_records, 2);
	assert_int_equal(fx->kd.last_exited, 1);
	/* nothing changed: the same snapshot again */
	dwrite(fx, DHDR("false", "3") DEND(""));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 5 12 30");
	assert_int_equal(fx->kd.passes, 3);
	assert_int_equal(fx->kd.opens, 1);
}

/* Merged in place: new pids at both ends and between, exits around them. */
static void
kmod_delta__adds_and_exits_everywhere__sorted(void **state)
{
	struct delta_fx *fx = *state;

	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	dwrite(fx,
	    DHDR("false", "2") DREC("40", "1", "forty", "1") ",\n" DREC("2",
		"1", "two", "1") ",\n" DREC("9", "90", "ctr",
		"8") ",\n" DREC("7", "1", "seven", "1") DEND("30, 1, 77"));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "2 5 7 9 40");
	assert_int_equal(find_pid(&fx->out, 9)->cpu_ns, 8);
	assert_string_equal(find_pid(&fx->out, 5)->cmdline, "five --arg");
	/* only exits, then only changes */
	dwrite(fx, DHDR("false", "3") DEND("2, 40"));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "5 7 9");
	dwrite(fx,
	    DHDR("false", "4") DREC("9", "90", "ctr", "9") ",\n" DREC("5",
		"50", "five", "9") DEND(""));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "5 7 9");
	assert_int_equal(find_pid(&fx->out, 5)->cpu_ns, 9);
	assert_string_equal(find_pid(&fx->out, 7)->name, "seven");
}

static void
kmod_delta__container_kept_across_passes__same_claim(void **state)
{
	struct delta_fx *fx = *state;
	const struct kw_proc *p;

	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	dwrite(fx, DHDR("false", "2") DREC("5", "50", "five", "601") DEND(""));
	assert_int_equal(dread(fx), 0);
	p = find_pid(&fx->out, 9);
	assert_non_null(p);
	assert_string_equal(p->container_id, CID1);
	assert_non_null(p->cgroup);
	assert_string_equal(p->cgroup, "/system.slice/docker-" CID1 ".scope");
	dwrite(fx, DHDR("false", "3") DEND(""));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(find_pid(&fx->out, 9)->container_id, CID1);
}

static void
kmod_delta__snapshot_not_given_back__base_lost_refused(void **state)
{
	struct delta_fx *fx = *state;

	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	/* the published snapshot is dropped instead of given back */
	kw_snapshot_clear(&fx->out);
	dwrite(fx, DHDR("false", "2") DEND(""));
	assert_int_equal(kmod_delta_read(&fx->kd, fx->path, &fx->out, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "does not follow"));
	assert_int_equal(fx->kd.fd, -1);
}

static void
kmod_delta__pid_reused__new_process_replaces(void **state)
{
	struct delta_fx *fx = *state;
	const struct kw_proc *p;

	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	/* 5 exited and its pid went to a new process: a record, new start */
	dwrite(fx,
	    DHDR("false", "2") DREC("5", "77", "newfive", "3") DEND(""));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 5 9 30");
	p = find_pid(&fx->out, 5);
	assert_int_equal(p->start_ns, 77);
	assert_string_equal(p->name, "newfive");
	assert_string_equal(p->cmdline, "newfive --arg");
	assert_int_equal(p->cpu_ns, 3);
}

static void
kmod_delta__full_pass__replaces_everything(void **state)
{
	struct delta_fx *fx = *state;

	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	dwrite(fx, DHDR("false", "2") DEND("30"));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 5 9");
	/* a scheduled full pass: whatever it lacks is gone */
	dwrite(fx,
	    DHDR("true", "3") DREC("40", "400", "forty", "1") ",\n" DREC("1",
		"10", "init", "101") DEND("5, 9"));
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 40");
	assert_int_equal(fx->kd.full_passes, 2);
}

static void
kmod_delta__malformed_pass__refused_reopened_full_again(void **state)
{
	struct delta_fx *fx = *state;
	static const char *const bad[] = {
		/* truncated */
		DHDR("false", "2") DREC("5", "50", "five", "600"),
		/* a pid twice */
		DHDR("false", "2") DREC("5", "50", "five",
		    "600") ",\n" DREC("5", "50", "five", "601") DEND(""),
		/* exited and listed */
		DHDR("false", "2") DREC("5", "50", "five", "600") DEND("5"),
		/* a pass was missed */
		DHDR("false", "3") DEND(""),
		/* the full file's format: no "full", no "exited" */
		"{" HOST "\"processes\": [" DREC("5", "50", "five", "6") "]}",
		/* a bad exited entry */
		DHDR("false", "2") DEND("\"9\""),
		/* an entry the parser would skip */
		DHDR("false", "2") "{\"pid\": -4}" DEND(""),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dwrite(fx, PASS1);
		assert_int_equal(dread(fx), 0);
		assert_int_not_equal(fx->kd.fd, -1);
		dwrite(fx, bad[i]);
		assert_int_equal(dread(fx), -1);
		assert_non_null(strstr(err, fx->path));
		assert_int_equal(fx->out.nprocs, 0);
		/* closed: the module's next open starts with a full pass */
		assert_int_equal(fx->kd.fd, -1);
		assert_int_equal(fx->kd.have_base, 0);
		/* so a delta pass now is refused too */
		dwrite(fx, DHDR("false", "1") DEND(""));
		assert_int_equal(dread(fx), -1);
		assert_non_null(strstr(err, "does not follow"));
	}
	assert_int_equal(fx->kd.errors, 2 * i);
	dwrite(fx, PASS1);
	assert_int_equal(dread(fx), 0);
	assert_string_equal(pids(&fx->out), "1 5 9 30");
}

static void
kmod_delta__absent_file__error(void **state)
{
	struct delta_fx *fx = *state;

	unlink(fx->path);
	assert_int_equal(dread(fx), -1);
	assert_non_null(strstr(err, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kmod_seed__sysinfo_trailing_commas__parsed),
		cmocka_unit_test(kmod_seed__continfo_containers_key__parsed),
		cmocka_unit_test(kmod_sample__new_format__every_field),
		cmocka_unit_test(kmod_commas__inside_strings__kept),
		cmocka_unit_test(
		    kmod_cgroup__no_container_id__taken_from_cgroup),
		cmocka_unit_test(kmod_hostile__truncated__error_with_position),
		cmocka_unit_test(
		    kmod_hostile__wrong_type__entry_skipped_with_path),
		cmocka_unit_test(kmod_hostile__megabyte_strings__capped),
		cmocka_unit_test(kmod_hostile__utf8_cut__not_split),
		cmocka_unit_test(kmod_hostile__deep_nesting__error),
		cmocka_unit_test(kmod_hostile__duplicate_keys__error),
		cmocka_unit_test(kmod_hostile__syntax_and_numbers__error),
		cmocka_unit_test(kmod_hostile__many_unknown_keys__error),
		cmocka_unit_test(kmod_hostile__invalid_utf8__error),
		cmocka_unit_test(kmod_hostile__empty_and_not_object__error),
		cmocka_unit_test(kmod_read__several_megabytes__buffer_grows),
		cmocka_unit_test(kmod_nul_in_string__cut_there),
		cmocka_unit_test(
		    kmod_vm_fixtures__every_capture__parsed_whole),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__full_then_changes__merged, delta_setup,
		    delta_teardown),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__adds_and_exits_everywhere__sorted, delta_setup,
		    delta_teardown),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__container_kept_across_passes__same_claim,
		    delta_setup, delta_teardown),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__snapshot_not_given_back__base_lost_refused,
		    delta_setup, delta_teardown),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__pid_reused__new_process_replaces, delta_setup,
		    delta_teardown),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__full_pass__replaces_everything, delta_setup,
		    delta_teardown),
		cmocka_unit_test_setup_teardown(
		    kmod_delta__malformed_pass__refused_reopened_full_again,
		    delta_setup, delta_teardown),
		cmocka_unit_test_setup_teardown(kmod_delta__absent_file__error,
		    delta_setup, delta_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
