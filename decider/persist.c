/*
 * The decider's state files beside the database: the strike table and
 * the actions whose call to Docker is out. The text is acts.c's and
 * strikes.c's; here it is read at start and written when it changed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decider.h"

#define STRIKES_FILE_MAX (16u << 20)
#define ACTS_FILE_MAX	 (4u << 20)

/* Write text to path: temp file, fsync, rename, mode 0640. */
static int
write_file(const char *path, const char *text)
{
	char tmp[4200];
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) ==
		-1 ||
	    fchmod(fd, 0640) == -1)
		goto fail;
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	return 0;
fail:
	log_warn("%s", tmp);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

/*
 * Read a state file of at most max bytes into *buf (malloc'ed, *len
 * bytes): 0. No file, or one that cannot be opened or is too big (logged,
 * what: the log's prefix, tail: what follows): 1, nothing to load. A
 * read error: -1 with errno.
 */
static int
read_file(const char *what, const char *path, size_t max, const char *tail,
    char **buf, size_t *len)
{
	struct stat sb;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: %s", what, path);
		return 1;
	}
	if (fstat(fd, &sb) == -1 || (size_t)sb.st_size > max ||
	    (*buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		log_warnx("%s: %s: unreadable or over %zu bytes%s", what, path,
		    max, tail);
		close(fd);
		return 1;
	}
	n = read(fd, *buf, (size_t)sb.st_size);
	saved = errno;
	close(fd);
	if (n == -1) {
		free(*buf);
		*buf = NULL;
		errno = saved;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/*
 * Save the actions whose call is out, before a new call goes (carry.c)
 * and when one ends: killed at any point, the next decider knows what it
 * may not do again. Written only when it changed.
 */
void
decider_save_acts(struct decider *dz)
{
	char *text;

	if (dz->acts_path[0] == '\0')
		return;
	if ((text = acts_format_pending(&dz->eng.acts)) == NULL) {
		dz->acts_save_errors++;
		log_warnx("actions: out of memory: %s not saved",
		    dz->acts_path);
		return;
	}
	if (dz->acts_saved != NULL && strcmp(text, dz->acts_saved) == 0) {
		free(text);
		return;
	}
	if (write_file(dz->acts_path, text) == -1) {
		dz->acts_save_errors++;
		free(text);
		return;
	}
	dz->acts_saves++;
	free(dz->acts_saved);
	dz->acts_saved = text;
}

void
decider_load_acts(struct decider *dz, uint64_t hold_ms)
{
	char err[256], bad[4200];
	char *buf = NULL;
	size_t len = 0;
	int rc, got;

	if ((rc = read_file("actions", dz->acts_path, ACTS_FILE_MAX, "", &buf,
		 &len)) == 1)
		return;
	if (rc == -1)
		snprintf(err, sizeof(err), "%s", strerror(errno));
	got = rc == -1 ?
	    -1 :
	    acts_load_pending(&dz->eng.acts, buf, len, kw_mono_ns(),
		hold_ms * 1000000ULL, err, sizeof(err));
	free(buf);
	if (got == -1) {
		snprintf(bad, sizeof(bad), "%s.bad", dz->acts_path);
		log_warnx("actions: %s: %s; moved to %s", dz->acts_path, err,
		    bad);
		(void)rename(dz->acts_path, bad);
		return;
	}
	dz->acts_loaded = (uint64_t)got;
	if (got > 0)
		log_warnx(
		    "actions: %d call(s) to Docker were out when the "
		    "decider stopped: not made again; Docker's table settles "
		    "them",
		    got);
}

/* Read the file if there is one; a bad one is kept aside, not lost. */
void
decider_load_strikes(struct decider *dz)
{
	char err[256], bad[4200];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = read_file("strikes", dz->strikes_path, STRIKES_FILE_MAX,
		 "; starting with none", &buf, &len)) == 1)
		return;
	if (rc == -1)
		snprintf(err, sizeof(err), "%s", strerror(errno));
	if (rc == -1 ||
	    strikes_parse(&dz->eng.strikes, buf, len, err, sizeof(err)) ==
		-1) {
		snprintf(bad, sizeof(bad), "%s.bad", dz->strikes_path);
		log_warnx("strikes: %s: %s; moved to %s, starting with none",
		    dz->strikes_path, err, bad);
		if (rename(dz->strikes_path, bad) == -1)
			log_warn("strikes: rename to %s", bad);
	} else
		log_info("strikes: %zu identities from %s", dz->eng.strikes.n,
		    dz->strikes_path);
	free(buf);
}

int
decider_save_strikes(struct decider *dz)
{
	char *text;
	int rc;

	if (dz->strikes_path[0] == '\0' || !dz->eng.strikes.dirty)
		return 0;
	if ((text = strikes_format(&dz->eng.strikes)) == NULL) {
		dz->strikes_save_errors++;
		log_warnx("strikes: out of memory: not saved");
		return -1;
	}
	rc = write_file(dz->strikes_path, text);
	free(text);
	if (rc == -1) {
		dz->strikes_save_errors++;
		return -1;
	}
	dz->eng.strikes.dirty = 0;
	dz->strikes_saves++;
	return 0;
}
