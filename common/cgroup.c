/*
 * Container id from a cgroup path or from /proc/<pid>/cgroup. Pure string
 * parsing: no I/O, so the reader and the tests feed it whatever they read.
 *
 * A path belongs to a container when one of its components is
 *   docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 *   libpod-<id>.scope                         (systemd cgroup driver), or
 *   <id> below a "docker" or "kubepods*" component (cgroupfs driver),
 * where <id> is exactly 64 lowercase hex digits. The first (outermost)
 * match wins: with docker-in-docker the host only knows the outer one.
 * crio-conmon-<id>.scope and libpod-conmon-<id>.scope hold the conmon
 * monitor, a host process that watches the container: not a container.
 * dockerd, containerd and shims (docker.service, containerd.service) are
 * host processes too.
 *
 * A name proves nothing: anyone allowed to make a cgroup can call it
 * docker-<id>.scope. What these functions give is a claim, the id and the
 * directory that names it (kw_cgroup_file_claim); the decider accepts it
 * only for the container's real directory (decider/containers.c).
 */
#include <string.h>

#include "kwarden.h"

static const char *const scope_prefixes[] = {
	"docker-",
	"cri-containerd-",
	"crio-",
	"libpod-",
};

/* One component c (not NUL terminated, len bytes): the id or NULL. */
static const char *
component_id(const char *c, size_t len, int under_runtime)
{
	static const char suffix[] = ".scope";
	const size_t slen = sizeof(suffix) - 1;
	size_t i, plen;

	if (under_runtime && kw_is_container_id(c, len))
		return c;
	if (len <= slen || memcmp(c + len - slen, suffix, slen) != 0)
		return NULL;
	for (i = 0; i < sizeof(scope_prefixes) / sizeof(scope_prefixes[0]);
	     i++) {
		plen = strlen(scope_prefixes[i]);
		if (len > plen + slen &&
		    memcmp(c, scope_prefixes[i], plen) == 0 &&
		    kw_is_container_id(c + plen, len - plen - slen))
			return c + plen;
	}
	return NULL;
}

/*
 * The component of path that names a container: its id in out, and the
 * length of the path up to the end of that component in *dirlen.
 */
static int
container_component(const char *path, char out[KW_CONTAINER_ID_LEN + 1],
    size_t *dirlen)
{
	const char *p, *c, *id;
	size_t len;
	int under_runtime = 0;

	out[0] = '\0';
	*dirlen = 0;
	if (path == NULL)
		return 0;
	for (p = path; *p != '\0';) {
		while (*p == '/')
			p++;
		c = p;
		while (*p != '\0' && *p != '/' && *p != '\n')
			p++;
		len = (size_t)(p - c);
		if (len == 0)
			break;
		if ((id = component_id(c, len, under_runtime)) != NULL) {
			memcpy(out, id, KW_CONTAINER_ID_LEN);
			out[KW_CONTAINER_ID_LEN] = '\0';
			*dirlen = (size_t)(p - path);
			return 1;
		}
		if ((len == 6 && memcmp(c, "docker", 6) == 0) ||
		    (len >= 8 && memcmp(c, "kubepods", 8) == 0))
			under_runtime = 1;
		if (*p == '\n')
			break;
	}
	return 0;
}

int
kw_cgroup_container_id(const char *path, char out[KW_CONTAINER_ID_LEN + 1])
{
	size_t dirlen;

	return container_component(path, out, &dirlen);
}

int
kw_cgroup_container_dir(const char *path, char out[KW_CONTAINER_ID_LEN + 1],
    char *dir, size_t dirsize)
{
	size_t dirlen;

	if (dirsize > 0)
		dir[0] = '\0';
	if (!container_component(path, out, &dirlen))
		return 0;
	if (dirlen >= dirsize) {
		out[0] = '\0';
		return 0;
	}
	memcpy(dir, path, dirlen);
	dir[dirlen] = '\0';
	return 1;
}

/* One line of /proc/<pid>/cgroup: N:controllers:path. */
struct cg_line {
	const char *path; /* not NUL-terminated: plen bytes */
	size_t plen;
	int unified; /* "0::path", cgroup v2 */
};

/*
 * The next well-formed line from *pos on (the path may itself hold
 * colons); 0 at the end of content.
 */
static int
cg_next_line(const char **pos, struct cg_line *l)
{
	const char *line, *eol, *c1, *c2;

	while (*(line = *pos) != '\0') {
		if ((eol = strchr(line, '\n')) == NULL)
			eol = line + strlen(line);
		*pos = *eol ? eol + 1 : eol;
		c1 = memchr(line, ':', (size_t)(eol - line));
		if (c1 == NULL)
			continue;
		c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
		if (c2 == NULL)
			continue;
		l->path = c2 + 1;
		l->plen = (size_t)(eol - l->path);
		l->unified = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
		return 1;
	}
	return 0;
}

int
kw_cgroup_file_dir(const char *content, int unified, const char *id, char *dir,
    size_t dirsize)
{
	struct cg_line l;
	char buf[KW_CGROUP_PATH_MAX], found[KW_CONTAINER_ID_LEN + 1];

	while (cg_next_line(&content, &l)) {
		if (l.unified != unified || l.plen >= sizeof(buf))
			continue;
		memcpy(buf, l.path, l.plen);
		buf[l.plen] = '\0';
		if (kw_cgroup_container_dir(buf, found, dir, dirsize) &&
		    strcmp(found, id) == 0)
			return 1;
	}
	if (dirsize > 0)
		dir[0] = '\0';
	return 0;
}

static void
copy_path(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (dst == NULL || dstlen == 0)
		return;
	if (len > dstlen - 1)
		len = dstlen - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

int
kw_cgroup_file_container_id(const char *content,
    char out[KW_CONTAINER_ID_LEN + 1], char *path_out, size_t path_len)
{
	struct cg_line l;
	char id[KW_CONTAINER_ID_LEN + 1];
	int found = 0, have_path = 0, have_unified = 0;

	out[0] = '\0';
	if (path_out != NULL && path_len > 0)
		path_out[0] = '\0';
	if (content == NULL)
		return 0;
	while (cg_next_line(&content, &l)) {
		if (l.unified) {
			copy_path(path_out, path_len, l.path, l.plen);
			have_path = have_unified = 1;
		} else if (!have_path) {
			copy_path(path_out, path_len, l.path, l.plen);
			have_path = 1;
		}
		/*
		 * The path as it is, not a copy cut to a buffer: a cut could
		 * leave 64 hex digits of a longer name. It ends at eol.
		 */
		if (!found && kw_cgroup_container_id(l.path, id)) {
			memcpy(out, id, sizeof(id));
			found = 1;
		}
		if (found && have_unified)
			break;
	}
	return found;
}

int
kw_cgroup_file_claim(const char *content, char id[KW_CONTAINER_ID_LEN + 1],
    char *dir, size_t dirsize)
{
	struct cg_line l;
	const char *first = NULL;
	char buf[KW_CGROUP_PATH_MAX];
	size_t firstlen = 0;

	id[0] = '\0';
	if (dirsize > 0)
		dir[0] = '\0';
	if (content == NULL)
		return 0;
	while (cg_next_line(&content, &l)) {
		if (l.plen >= sizeof(buf))
			continue;
		memcpy(buf, l.path, l.plen);
		buf[l.plen] = '\0';
		if (!kw_cgroup_container_id(buf, id))
			continue;
		if (l.unified) {
			/* The unified line wins over every v1 one. */
			first = l.path;
			firstlen = l.plen;
			break;
		}
		if (first == NULL) {
			first = l.path;
			firstlen = l.plen;
		}
	}
	id[0] = '\0';
	if (first == NULL)
		return 0;
	memcpy(buf, first, firstlen);
	buf[firstlen] = '\0';
	return kw_cgroup_container_dir(buf, id, dir, dirsize);
}
