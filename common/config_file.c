/*
 * The INI file, read with inih: every error names the file, the line and
 * the key, and the first one stops the read.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config_int.h"

/* The file reader: counts lines and checks [section] headers itself. */
struct conf_parse {
	struct kw_conf *conf;
	const char *file;
	FILE *fp;
	char *line;
	size_t linecap;
	int lineno;
	int err_line; /* first error we reported, 0 if none */
	char *errbuf;
	size_t errlen;
};

/* An error at the current line; the first one is kept. */
static void parse_fail(struct conf_parse *cp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
parse_fail(struct conf_parse *cp, const char *fmt, ...)
{
	char origin[1100], msg[512];
	va_list ap;

	if (cp->err_line != 0)
		return;
	cp->err_line = cp->lineno;
	snprintf(origin, sizeof(origin), "%s:%d", cp->file, cp->lineno);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_err(cp->errbuf, cp->errlen, origin, NULL, NULL, "%s", msg);
}

static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *cp = stream;
	ssize_t n;
	char *p, *end, save, origin[1100];

	if (cp->err_line != 0)
		return NULL; /* stop at the first error */
	if ((n = getline(&cp->line, &cp->linecap, cp->fp)) == -1)
		return NULL;
	cp->lineno++;
	if (n > 0 && cp->line[n - 1] == '\n')
		n--;
	if (n > 0 && cp->line[n - 1] == '\r')
		n--;
	if (n + 2 > num) {
		parse_fail(cp, "line longer than %d characters", num - 3);
		return NULL;
	}
	if (memchr(cp->line, '\0', (size_t)n) != NULL) {
		parse_fail(cp, "NUL byte in line");
		return NULL;
	}

	/* [section] headers: inih only tells us about keys. */
	p = cp->line;
	if (cp->lineno == 1 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '[' && (end = strchr(p, ']')) != NULL) {
		p++;
		while (isspace((unsigned char)*p))
			p++;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		save = *end;
		*end = '\0';
		snprintf(origin, sizeof(origin), "%s:%d", cp->file,
		    cp->lineno);
		if (conf_section(cp->conf, p, origin, cp->errbuf,
			cp->errlen) == -1) {
			cp->err_line = cp->lineno;
			return NULL;
		}
		*end = save;
	}

	memcpy(str, cp->line, (size_t)n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parse *cp = user;
	char origin[1100], sec[128];
	size_t len;

	if (cp->err_line != 0)
		return 0;
	/* "[ reader ]" is [reader], as the header check in conf_reader. */
	while (isspace((unsigned char)*section))
		section++;
	snprintf(sec, sizeof(sec), "%s", section);
	len = strlen(sec);
	while (len > 0 && isspace((unsigned char)sec[len - 1]))
		sec[--len] = '\0';
	section = sec;
	if (section[0] == '\0') {
		parse_fail(cp, "\"%s\" outside of any [section]", name);
		return 0;
	}
	snprintf(origin, sizeof(origin), "%s:%d", cp->file, cp->lineno);
	if (conf_set_value(cp->conf, section, name, value, origin, cp->errbuf,
		cp->errlen) == -1) {
		cp->err_line = cp->lineno;
		return 0;
	}
	return 1;
}

int
conf_load_file(struct kw_conf *conf, const char *file, char *errbuf,
    size_t errlen)
{
	struct conf_parse cp;
	int r;

	memset(&cp, 0, sizeof(cp));
	cp.conf = conf;
	cp.file = file;
	cp.errbuf = errbuf;
	cp.errlen = errlen;
	if ((cp.fp = fopen(file, "r")) == NULL) {
		conf_err(errbuf, errlen, file, NULL, NULL, "%s",
		    strerror(errno));
		return -1;
	}
	/*
	 * An indented line is a plain "key = value", not the continuation of
	 * the previous value (configparser style), so a reindented file
	 * means the same thing. This file is the only user of inih.
	 */
	ini_allow_multiline = false;
	r = ini_parse_stream(conf_reader, &cp, conf_handler, &cp);
	if (r == 0 && cp.err_line == 0 && ferror(cp.fp)) {
		conf_err(errbuf, errlen, file, NULL, NULL, "read error");
		r = -1;
	}
	fclose(cp.fp);
	free(cp.line);
	if (r == -2) {
		conf_err(errbuf, errlen, file, NULL, NULL, "out of memory");
		return -1;
	}
	if (r > 0 && (cp.err_line == 0 || r < cp.err_line)) {
		char origin[1100];

		snprintf(origin, sizeof(origin), "%s:%d", file, r);
		conf_err(errbuf, errlen, origin, NULL, NULL,
		    "syntax error "
		    "(expected [section], key = value or a ; comment)");
		return -1;
	}
	if (cp.err_line != 0 || r != 0)
		return -1;
	/* Absolute, so reload and children find it after a chdir. */
	free(conf->file);
	if ((conf->file = realpath(file, NULL)) == NULL)
		conf->file = conf_xstrdup(file);
	conf_argv_push(conf, conf_xstrdup("-c"));
	conf_argv_push(conf, conf_xstrdup(conf->file));
	return 0;
}

struct kw_conf *
kw_conf_load(const char *file, char *errbuf, size_t errlen)
{
	struct kw_conf *conf;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	conf = conf_new();
	if (file != NULL) {
		if (conf_load_file(conf, file, errbuf, errlen) == -1) {
			kw_conf_free(conf);
			return NULL;
		}
		conf->file_explicit = 1;
	}
	return conf;
}
