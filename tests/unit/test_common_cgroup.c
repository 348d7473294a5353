/*
 * cgroup path -> container id: every runtime's layout, host paths and
 * near misses, and the /proc/<pid>/cgroup file format (v1 and v2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kwarden.h"

#define ID   "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
#define ID2  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID  "8c2f6a1e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"
#define UIDU "8c2f6a1e_3b4d_4e5f_9a0b_1c2d3e4f5a6b"

static void
expect_id(const char *path, const char *want)
{
	char out[KW_CONTAINER_ID_LEN + 1];
	int r;

	memset(out, 'x', sizeof(out));
	r = kw_cgroup_container_id(path, out);
	if (want == NULL) {
		if (r != 0)
			print_error("path %s: unexpected id %s\n", path, out);
		assert_int_equal(r, 0);
		assert_string_equal(out, "");
	} else {
		if (r != 1)
			print_error("path %s: no id\n", path);
		assert_int_equal(r, 1);
		assert_string_equal(out, want);
	}
}

static void
cgroup_id__docker_cgroupfs__parsed(void **state)
{
	expect_id("/docker/" ID, ID);
	expect_id("/docker/" ID "/", ID);
}

static void
cgroup_id__docker_nested__outer_id(void **state)
{
	/* A sub-cgroup of the container, and docker-in-docker. */
	expect_id("/docker/" ID "/init", ID);
	expect_id("/docker/" ID "/docker/" ID2, ID);
}

static void
cgroup_id__systemd_scope__parsed(void **state)
{
	expect_id("/system.slice/docker-" ID ".scope", ID);
	expect_id("/system.slice/docker-" ID ".scope/init", ID);
	/* rootless docker under a user's systemd */
	expect_id("/user.slice/user-1000.slice/user@1000.service/user.slice/"
		  "docker-" ID ".scope",
	    ID);
}

static void
cgroup_id__cri_containerd_scope__parsed(void **state)
{
	expect_id("/system.slice/cri-containerd-" ID ".scope", ID);
}

static void
cgroup_id__crio_scope__parsed(void **state)
{
	expect_id("/machine.slice/crio-" ID ".scope", ID);
}

static void
cgroup_id__crio_conmon__not_container(void **state)
{
	expect_id("/machine.slice/crio-conmon-" ID ".scope", NULL);
}

static void
cgroup_id__libpod_scope__parsed(void **state)
{
	expect_id("/machine.slice/libpod-" ID ".scope", ID);
	expect_id("/machine.slice/libpod-" ID ".scope/container", ID);
}

static void
cgroup_id__libpod_conmon__not_container(void **state)
{
	expect_id("/machine.slice/libpod-conmon-" ID ".scope", NULL);
}

static void
cgroup_id__kubepods_cgroupfs__parsed(void **state)
{
	expect_id("/kubepods/burstable/pod" UID "/" ID, ID);
	expect_id("/kubepods/besteffort/pod" UID "/" ID, ID);
	expect_id("/kubepods/pod" UID "/" ID, ID);
}

static void
cgroup_id__kubepods_systemd__parsed(void **state)
{
	expect_id("/kubepods.slice/kubepods-burstable.slice/"
		  "kubepods-burstable-pod" UIDU ".slice/cri-containerd-" ID
		  ".scope",
	    ID);
	expect_id("/kubepods.slice/kubepods-besteffort.slice/"
		  "kubepods-besteffort-pod" UIDU ".slice/crio-" ID ".scope",
	    ID);
	expect_id("/kubepods.slice/kubepods-pod" UIDU ".slice/docker-" ID
		  ".scope",
	    ID);
}

static void
cgroup_id__kubepods_pod_slice__not_container(void **state)
{
	expect_id("/kubepods.slice/kubepods-burstable.slice/"
		  "kubepods-burstable-pod" UIDU ".slice",
	    NULL);
	expect_id("/kubepods/burstable/pod" UID, NULL);
}

static void
cgroup_id__host_paths__none(void **state)
{
	expect_id("/", NULL);
	expect_id("", NULL);
	expect_id("/init.scope", NULL);
	expect_id("/system.slice/docker.service", NULL);
	expect_id("/system.slice/containerd.service", NULL);
	expect_id("/system.slice/docker.socket", NULL);
	expect_id("/user.slice/user-1000.slice/session-2.scope", NULL);
	expect_id("/user.slice/user-1000.slice/user@1000.service/app.slice/"
		  "app-gnome-firefox-1234.scope",
	    NULL);
	expect_id("/docker", NULL);
	expect_id(NULL, NULL);
}

static void
cgroup_id__near_misses__none(void **state)
{
	/* 63 and 65 hex digits */
	expect_id(
	    "/docker/"
	    "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2",
	    NULL);
	expect_id("/docker/" ID "0", NULL);
	expect_id("/system.slice/docker-" ID "0.scope", NULL);
	expect_id(
	    "/system.slice/docker-"
	    "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2"
	    ".scope",
	    NULL);
	/* uppercase, non-hex */
	expect_id(
	    "/docker/"
	    "4F1C2D3E5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C2D",
	    NULL);
	expect_id(
	    "/docker/"
	    "gf1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
	    NULL);
	/* wrong suffix or prefix */
	expect_id("/system.slice/docker-" ID ".mount", NULL);
	expect_id("/system.slice/docker-" ID ".scope.bak", NULL);
	expect_id("/system.slice/docker-" ID, NULL);
	expect_id("/system.slice/podman-" ID ".scope", NULL);
	expect_id("/system.slice/xdocker-" ID ".scope", NULL);
	/* a bare id outside any runtime's tree */
	expect_id("/" ID, NULL);
	expect_id("/system.slice/" ID, NULL);
	expect_id("/dockerd/" ID, NULL);
}

static void
cgroup_file__v2_unified__parsed(void **state)
{
	char out[KW_CONTAINER_ID_LEN + 1], path[256];

	assert_int_equal(kw_cgroup_file_container_id(
			     "0::/system.slice/docker-" ID ".scope\n", out,
			     path, sizeof(path)),
	    1);
	assert_string_equal(out, ID);
	assert_string_equal(path, "/system.slice/docker-" ID ".scope");
}

static void
cgroup_file__v1_lines__container_line_wins(void **state)
{
	char out[KW_CONTAINER_ID_LEN + 1], path[256];
	const char *content = "12:pids:/\n"
			      "11:cpuset:/docker/" ID "\n"
			      "10:memory:/docker/" ID "\n"
			      "1:name=systemd:/docker/" ID "\n";

	assert_int_equal(kw_cgroup_file_container_id(content, out, path,
			     sizeof(path)),
	    1);
	assert_string_equal(out, ID);
	/* No unified line: the first line's path. */
	assert_string_equal(path, "/");
}

static void
cgroup_file__hybrid__unified_path_copied(void **state)
{
	char out[KW_CONTAINER_ID_LEN + 1], path[256];
	const char *content = "12:memory:/docker/" ID "\n"
			      "1:name=systemd:/docker/" ID "\n"
			      "0::/docker/" ID; /* no final newline */

	assert_int_equal(kw_cgroup_file_container_id(content, out, path,
			     sizeof(path)),
	    1);
	assert_string_equal(out, ID);
	assert_string_equal(path, "/docker/" ID);
}

static void
cgroup_file__host_process__none(void **state)
{
	char out[KW_CONTAINER_ID_LEN + 1], path[256];

	assert_int_equal(kw_cgroup_file_container_id(
			     "0::/system.slice/containerd.service\n", out,
			     path, sizeof(path)),
	    0);
	assert_string_equal(out, "");
	assert_string_equal(path, "/system.slice/containerd.service");
}

static void
cgroup_file__garbage__none(void **state)
{
	char out[KW_CONTAINER_ID_LEN + 1], path[16];

	assert_int_equal(kw_cgroup_file_container_id("", out, path,
			     sizeof(path)),
	    0);
	assert_string_equal(path, "");
	assert_int_equal(kw_cgroup_file_container_id("no colons here\n\n:",
			     out, path, sizeof(path)),
	    0);
	assert_string_equal(path, "");
	/* A path that does not fit is cut, the id is still found. */
	assert_int_equal(kw_cgroup_file_container_id("0::/docker/" ID "\n",
			     out, path, sizeof(path)),
	    1);
	assert_string_equal(out, ID);
	assert_int_equal(strlen(path), sizeof(path) - 1);
	/* path_out may be NULL. */
	assert_int_equal(kw_cgroup_file_container_id("0::/docker/" ID "\n",
			     out, NULL, 0),
	    1);
}

/*
 * A path longer than any buffer: a component of 70 hex digits whose first
 * 64 end exactly where a 4096-byte copy of the path would be cut is not a
 * container id; one of 64 after as long a path still is.
 */
static void
cgroup_file__long_path__not_cut_into_an_id(void **state)
{
	char content[8192], out[KW_CONTAINER_ID_LEN + 1], path[64];
	size_t n, i;

	n = (size_t)snprintf(content, sizeof(content), "0::");
	/* "/ab" x 1341 + "/docker/": the id starts at byte 4031 of the path. */
	for (i = 0; i < 1341; i++)
		n += (size_t)snprintf(content + n, sizeof(content) - n, "/ab");
	n += (size_t)snprintf(content + n, sizeof(content) - n,
	    "/docker/%s0123456\n", ID);
	assert_true(n < sizeof(content));
	assert_int_equal(kw_cgroup_file_container_id(content, out, path,
			     sizeof(path)),
	    0);
	assert_string_equal(out, "");

	n = (size_t)snprintf(content, sizeof(content), "0::");
	for (i = 0; i < 2000; i++)
		n += (size_t)snprintf(content + n, sizeof(content) - n, "/ab");
	n += (size_t)snprintf(content + n, sizeof(content) - n, "/docker/%s\n",
	    ID);
	assert_true(n < sizeof(content));
	assert_int_equal(kw_cgroup_file_container_id(content, out, path,
			     sizeof(path)),
	    1);
	assert_string_equal(out, ID);
}

/* The claim: id and directory from one line, the unified one first. */
static void
cgroup_claim__lines__one_line_gives_both(void **state)
{
	static const struct {
		const char *content;
		const char *id; /* NULL: no claim */
		const char *dir;
	} cases[] = {
		{ "0::/system.slice/docker-" ID ".scope/init.scope\n", ID,
		    "/system.slice/docker-" ID ".scope" },
		{ "12:pids:/\n11:cpuset:/docker/" ID "/sub\n"
		  "10:memory:/docker/" ID "\n0::/\n",
		    ID, "/docker/" ID },
		/* A look-alike in one v1 hierarchy: the first line naming. */
		{ "12:pids:/user.slice\n"
		  "4:cpu,cpuacct:/fake.slice/docker-" ID ".scope\n"
		  "3:memory:/user.slice\n0::/user.slice\n",
		    ID, "/fake.slice/docker-" ID ".scope" },
		/* The unified line wins, even when a v1 line names another. */
		{ "5:memory:/docker/" ID2 "\n0::/docker/" ID "\n", ID,
		    "/docker/" ID },
		{ "0::/user.slice/user-1000.slice/session-2.scope\n", NULL,
		    "" },
		{ "", NULL, "" },
	};
	char id[KW_CONTAINER_ID_LEN + 1], dir[KW_CGROUP_PATH_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(id, 'x', sizeof(id));
		assert_int_equal(kw_cgroup_file_claim(cases[i].content, id,
				     dir, sizeof(dir)),
		    cases[i].id != NULL);
		assert_string_equal(id, cases[i].id ? cases[i].id : "");
		assert_string_equal(dir, cases[i].dir);
	}
	/* A directory that does not fit: no claim. */
	assert_int_equal(kw_cgroup_file_claim("0::/docker/" ID "\n", id, dir,
			     10),
	    0);
	assert_string_equal(id, "");
	assert_int_equal(kw_cgroup_file_claim(NULL, id, dir, sizeof(dir)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cgroup_id__docker_cgroupfs__parsed),
		cmocka_unit_test(cgroup_id__docker_nested__outer_id),
		cmocka_unit_test(cgroup_id__systemd_scope__parsed),
		cmocka_unit_test(cgroup_id__cri_containerd_scope__parsed),
		cmocka_unit_test(cgroup_id__crio_scope__parsed),
		cmocka_unit_test(cgroup_id__crio_conmon__not_container),
		cmocka_unit_test(cgroup_id__libpod_scope__parsed),
		cmocka_unit_test(cgroup_id__libpod_conmon__not_container),
		cmocka_unit_test(cgroup_id__kubepods_cgroupfs__parsed),
		cmocka_unit_test(cgroup_id__kubepods_systemd__parsed),
		cmocka_unit_test(cgroup_id__kubepods_pod_slice__not_container),
		cmocka_unit_test(cgroup_id__host_paths__none),
		cmocka_unit_test(cgroup_id__near_misses__none),
		cmocka_unit_test(cgroup_file__v2_unified__parsed),
		cmocka_unit_test(cgroup_file__v1_lines__container_line_wins),
		cmocka_unit_test(cgroup_file__hybrid__unified_path_copied),
		cmocka_unit_test(cgroup_file__host_process__none),
		cmocka_unit_test(cgroup_file__garbage__none),
		cmocka_unit_test(cgroup_file__long_path__not_cut_into_an_id),
		cmocka_unit_test(cgroup_claim__lines__one_line_gives_both),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
