/*
 * Fuzz the INI configuration: load a file, apply -o style overrides, read
 * every view of the result, then reload (SIGHUP) from a second file with
 * the same overrides. The input is FILE [SEP RELOADED-FILE [SEP OVERRIDES]],
 * SEP a line "%%"; overrides are SECTION.KEY=VALUE lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kwarden.h"
#include "fuzz.h"

#define SEP "\n%%\n"

static char path[64];
static FILE *devnull;

static void
cleanup(void)
{
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	kw_log_init("fuzz_config", KW_LOG_ERROR);
	/* tmpfs when there is one: the file is rewritten twice a run. */
	if (tmp == NULL)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof(path), "%.40s/kwfuzz-conf.XXXXXX", tmp);
	if ((fd = mkstemp(path)) == -1) {
		perror(path);
		abort();
	}
	close(fd);
	atexit(cleanup);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

static void
write_file(const char *buf, size_t len)
{
	FILE *fp;

	if ((fp = fopen(path, "w")) == NULL)
		abort();
	if (len > 0 && fwrite(buf, 1, len, fp) != len)
		abort();
	if (fclose(fp) != 0)
		abort();
}

/* Every view of a loaded configuration; getters never fail. */
static void
views(const struct kw_conf *conf)
{
	char items[8][64], name[128], sock[256];
	const char *const *av;
	const char *cname;
	size_t i, n, argc;
	json_t *j;

	kw_conf_print(conf, devnull);
	j = kw_conf_json(conf);
	FUZZ_CHECK(j != NULL);
	json_decref(j);
	av = kw_conf_argv(conf, &argc);
	for (i = 0; i < argc; i++)
		FUZZ_CHECK(av[i] != NULL);
	FUZZ_CHECK(av[argc] == NULL);
	(void)kw_conf_ms(conf, "reader.interval");
	(void)kw_conf_size(conf, "decider.ring_size");
	(void)kw_conf_num(conf, "policy.cpu_threshold");
	FUZZ_CHECK(kw_conf_int(conf, "paths.socket_mode") <= 0777);
	FUZZ_CHECK(kw_conf_str(conf, "paths.run_dir")[0] != '\0');
	kw_conf_sock_path(conf, "decider", ".ctl", sock, sizeof(sock));
	n = kw_conf_list(conf, "policy.protect", items, 8);
	for (i = 0; i < n && i < 8; i++)
		FUZZ_CHECK(strlen(items[i]) < 64);
	for (i = 0; i < kw_conf_class_count(conf); i++) {
		cname = kw_conf_class_name(conf, i);
		FUZZ_CHECK(cname != NULL);
		snprintf(name, sizeof(name), "class.%s.match", cname);
		(void)kw_conf_list(conf, name, items, 8);
		snprintf(name, sizeof(name), "class.%s.min_alive", cname);
		(void)kw_conf_int(conf, name);
	}
}

/* "section.key=value" lines as kw_conf_cli's -o does. */
static void
overrides(struct kw_conf *conf, const char *buf, size_t len)
{
	char line[1100], err[512], *eq, *dot;
	const char *p = buf, *end = buf + len, *nl;
	size_t n;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		p = nl + 1;
		if (n >= sizeof(line))
			continue;
		memcpy(line, p - n - 1, n);
		line[n] = '\0';
		if (strlen(line) != n || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		if ((dot = strrchr(line, '.')) == NULL)
			continue;
		*dot = '\0';
		(void)kw_conf_set(conf, line, dot + 1, eq + 1, "-o", err,
		    sizeof(err));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *s1, *s2 = NULL;
	size_t len1 = size, len2 = 0, len3 = 0;
	struct kw_conf *conf, *conf2;
	char err[1024];

	if ((s1 = memmem(buf, size, SEP, strlen(SEP))) != NULL) {
		len1 = (size_t)(s1 - buf);
		s1 += strlen(SEP);
		len2 = size - (size_t)(s1 - buf);
		if ((s2 = memmem(s1, len2, SEP, strlen(SEP))) != NULL) {
			len2 = (size_t)(s2 - s1);
			s2 += strlen(SEP);
			len3 = size - (size_t)(s2 - buf);
		}
	}
	write_file(buf, len1);
	if ((conf = kw_conf_load(path, err, sizeof(err))) == NULL) {
		FUZZ_CHECK(err[0] != '\0');
		unlink(path);
		return 0;
	}
	if (s2 != NULL)
		overrides(conf, s2, len3);
	views(conf);
	if (s1 != NULL)
		write_file(s1, len2);
	if ((conf2 = kw_conf_reload(conf, err, sizeof(err))) != NULL) {
		views(conf2);
		kw_conf_free(conf2);
	} else {
		/* The same file with the same overrides loads again. */
		FUZZ_CHECK(s1 != NULL);
		FUZZ_CHECK(err[0] != '\0');
	}
	kw_conf_free(conf);
	/* Nothing left behind by a run that ends in a crash later. */
	unlink(path);
	return 0;
}
