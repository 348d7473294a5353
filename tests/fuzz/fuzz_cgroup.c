/*
 * Fuzz the cgroup parsers: a path (kw_cgroup_container_id and _dir) and
 * the content of /proc/<pid>/cgroup (kw_cgroup_file_container_id, _dir
 * and _claim). A container id found is 64 lowercase hex digits, a whole name or
 * the whole middle of one in the input (after '/' or '-', before '/', '.',
 * a newline or the end), never a piece of a longer one; a directory found
 * names the same container. Inputs go up to 10 kB (cgroup.flags): past any
 * buffer a path might be copied to.
 */
#include <string.h>

#include "kwarden.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_cgroup", KW_LOG_ERROR);
	return 0;
}

static int
whole_id_in(const char *s, const char *id)
{
	const char *p;
	char before, after;

	for (p = s; (p = strstr(p, id)) != NULL; p++) {
		before = p == s ? '/' : p[-1];
		after = p[KW_CONTAINER_ID_LEN];
		if ((before == '/' || before == '-') &&
		    (after == '\0' || after == '/' || after == '.' ||
			after == '\n'))
			return 1;
	}
	return 0;
}

static void
check_id(int r, const char *id, const char *input)
{
	if (r == 0) {
		FUZZ_CHECK(id[0] == '\0');
		return;
	}
	FUZZ_CHECK(r == 1);
	FUZZ_CHECK(strspn(id, "0123456789abcdef") == KW_CONTAINER_ID_LEN);
	FUZZ_CHECK(id[KW_CONTAINER_ID_LEN] == '\0');
	FUZZ_CHECK(whole_id_in(input, id));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[KW_CONTAINER_ID_LEN + 1], id2[KW_CONTAINER_ID_LEN + 1];
	char small[8], big[4096], dir[KW_CGROUP_PATH_MAX], *s;
	int r, unified;

	/* Both take C strings: what follows a NUL is not read. */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	r = kw_cgroup_container_id(s, id);
	check_id(r, id, s);

	r = kw_cgroup_file_container_id(s, id, big, sizeof(big));
	check_id(r, id, s);
	FUZZ_CHECK(strlen(big) < sizeof(big));
	FUZZ_CHECK(strstr(s, big) != NULL);
	r = kw_cgroup_file_container_id(s, id, small, sizeof(small));
	check_id(r, id, s);
	FUZZ_CHECK(strlen(small) < sizeof(small));
	r = kw_cgroup_file_container_id(s, id, NULL, 0);
	check_id(r, id, s);

	/* The container's directory: a prefix of the path naming the same. */
	r = kw_cgroup_container_dir(s, id, dir, sizeof(dir));
	check_id(r, id, s);
	if (r == 1) {
		FUZZ_CHECK(strncmp(s, dir, strlen(dir)) == 0);
		FUZZ_CHECK(kw_cgroup_container_id(dir, id2) == 1);
		FUZZ_CHECK(strcmp(id, id2) == 0);
	} else
		FUZZ_CHECK(dir[0] == '\0');
	(void)kw_cgroup_container_dir(s, id, small, sizeof(small));
	if (kw_cgroup_file_container_id(s, id, NULL, 0) == 1) {
		for (unified = 0; unified < 2; unified++)
			if (kw_cgroup_file_dir(s, unified, id, dir,
				sizeof(dir)) == 1) {
				FUZZ_CHECK(strstr(s, dir) != NULL);
				FUZZ_CHECK(
				    kw_cgroup_container_id(dir, id2) == 1 &&
				    strcmp(id, id2) == 0);
			}
	}
	/* The claim: an id and a directory in the input that names it. */
	r = kw_cgroup_file_claim(s, id, dir, sizeof(dir));
	check_id(r, id, s);
	if (r == 1) {
		FUZZ_CHECK(strstr(s, dir) != NULL);
		FUZZ_CHECK(kw_cgroup_container_id(dir, id2) == 1 &&
		    strcmp(id, id2) == 0);
	} else
		FUZZ_CHECK(dir[0] == '\0');
	r = kw_cgroup_file_claim(s, id, small, sizeof(small));
	FUZZ_CHECK(r == 0 && id[0] == '\0' && small[0] == '\0');
	free(s);
	return 0;
}
