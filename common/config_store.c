/*
 * The config store: the values of every key and class, lookups by
 * "section.key", the overrides remembered for reload and for the argv
 * kwarden-run passes on, and --state-dir.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"

void *
conf_xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n, size)) == NULL)
		abort();
	return p;
}

void *
conf_xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n, size)) == NULL)
		abort();
	return p;
}

char *
conf_xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		abort();
	return p;
}

static void
replace(char **dst, const char *src)
{
	char *p = conf_xstrdup(src);

	free(*dst);
	*dst = p;
}

void
conf_err(char *errbuf, size_t errlen, const char *origin, const char *section,
    const char *key, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	int r;

	if (errbuf == NULL || errlen == 0)
		return;
	if (origin != NULL && origin[0] == '-')
		r = snprintf(errbuf, errlen, "config: %s: ", origin);
	else if (origin != NULL && key != NULL)
		r = snprintf(errbuf, errlen, "config: %s: %s.%s: ", origin,
		    section, key);
	else if (origin != NULL)
		r = snprintf(errbuf, errlen, "config: %s: ", origin);
	else
		r = snprintf(errbuf, errlen, "config: %s.%s: ", section, key);
	n = r < 0 ? 0 : (size_t)r;
	if (n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf + n, errlen - n, fmt, ap);
	va_end(ap);
}

static struct conf_class *
find_class(const struct kw_conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->nclasses; i++)
		if (strcmp(conf->classes[i].name, name) == 0)
			return &conf->classes[i];
	return NULL;
}

static struct conf_class *
add_class(struct kw_conf *conf, const char *name)
{
	struct conf_class *cl;
	size_t i;

	if ((cl = find_class(conf, name)) != NULL)
		return cl;
	conf->classes = conf_xreallocarray(conf->classes, conf->nclasses + 1,
	    sizeof(*conf->classes));
	cl = &conf->classes[conf->nclasses++];
	cl->name = conf_xstrdup(name);
	for (i = 0; i < CONF_NCLASSKEYS; i++)
		cl->val[i] = conf_xstrdup(conf_class_keys[i].def);
	return cl;
}

int
conf_section(struct kw_conf *conf, const char *section, const char *origin,
    char *errbuf, size_t errlen)
{
	const char *name;

	if (conf_known_section(section))
		return 0;
	if ((name = conf_class_part(section)) != NULL) {
		add_class(conf, name);
		return 0;
	}
	if (strncmp(section, "class.", 6) == 0)
		conf_err(errbuf, errlen, origin, NULL, NULL,
		    "bad class name [%s] (use [class.NAME], NAME of a-z, "
		    "0-9, _ and -)",
		    section);
	else
		conf_err(errbuf, errlen, origin, NULL, NULL,
		    "unknown section [%s]", section);
	return -1;
}

/* The section must exist (or be a valid class.NAME). */
int
conf_set_value(struct kw_conf *conf, const char *section, const char *key,
    const char *value, const char *origin, char *errbuf, size_t errlen)
{
	const struct conf_key *k;
	struct conf_class *cl = NULL;
	const char *cname;
	char msg[512];
	size_t idx;

	if ((cname = conf_class_part(section)) != NULL) {
		k = conf_find_class_key(key, &idx);
	} else if (conf_known_section(section)) {
		k = conf_find_key(section, key, &idx);
	} else {
		conf_section(conf, section, origin, errbuf, errlen);
		return -1;
	}
	if (k == NULL) {
		conf_err(errbuf, errlen, origin, section, key, "unknown key");
		return -1;
	}
	if (conf_check_value(k, value, msg, sizeof(msg)) == -1) {
		conf_err(errbuf, errlen, origin, section, key, "%s", msg);
		return -1;
	}
	if (cname != NULL) {
		cl = add_class(conf, cname);
		replace(&cl->val[idx], value);
	} else
		replace(&conf->val[idx], value);
	return 0;
}

struct kw_conf *
conf_new(void)
{
	struct kw_conf *conf;
	struct conf_class *cl;
	size_t i, j;

	conf = conf_xcalloc(1, sizeof(*conf));
	conf->val = conf_xcalloc(conf_nkeys, sizeof(*conf->val));
	for (i = 0; i < conf_nkeys; i++)
		conf->val[i] = conf_xstrdup(conf_keys[i].def);
	for (i = 0; i < conf_nclass_defaults; i++) {
		cl = add_class(conf, conf_class_defaults[i].name);
		for (j = 0; j < CONF_NCLASSKEYS; j++)
			replace(&cl->val[j], conf_class_defaults[i].val[j]);
	}
	return conf;
}

void
kw_conf_free(struct kw_conf *conf)
{
	size_t i, j;

	if (conf == NULL)
		return;
	for (i = 0; i < conf_nkeys; i++)
		free(conf->val[i]);
	free(conf->val);
	for (i = 0; i < conf->nclasses; i++) {
		free(conf->classes[i].name);
		for (j = 0; j < CONF_NCLASSKEYS; j++)
			free(conf->classes[i].val[j]);
	}
	free(conf->classes);
	for (i = 0; i < conf->nops; i++) {
		free(conf->ops[i].section);
		free(conf->ops[i].key);
		free(conf->ops[i].value);
		free(conf->ops[i].origin);
	}
	free(conf->ops);
	for (i = 0; i < conf->argc; i++)
		free(conf->argv[i]);
	free(conf->argv);
	free(conf->file);
	free(conf);
}

/* kw_conf_argv: -c FILE, then each override as -o SECTION.KEY=VALUE. */
void
conf_argv_push(struct kw_conf *conf, char *s)
{
	conf->argv = conf_xreallocarray(conf->argv, conf->argc + 2,
	    sizeof(*conf->argv));
	conf->argv[conf->argc++] = s;
	conf->argv[conf->argc] = NULL;
}

static void
argv_push_set(struct kw_conf *conf, const char *section, const char *key,
    const char *value)
{
	char *s;

	if (asprintf(&s, "%s.%s=%s", section, key, value) == -1)
		abort();
	conf_argv_push(conf, conf_xstrdup("-o"));
	conf_argv_push(conf, s);
}

static void
op_record(struct kw_conf *conf, enum conf_op_kind kind, const char *section,
    const char *key, const char *value, const char *origin)
{
	struct conf_op *op;

	conf->ops =
	    conf_xreallocarray(conf->ops, conf->nops + 1, sizeof(*conf->ops));
	op = &conf->ops[conf->nops++];
	op->kind = kind;
	op->section = section ? conf_xstrdup(section) : NULL;
	op->key = key ? conf_xstrdup(key) : NULL;
	op->value = conf_xstrdup(value);
	op->origin = origin ? conf_xstrdup(origin) : NULL;
}

int
kw_conf_set(struct kw_conf *conf, const char *section, const char *key,
    const char *value, const char *origin, char *errbuf, size_t errlen)
{
	if (conf_set_value(conf, section, key, value, origin, errbuf,
		errlen) == -1)
		return -1;
	op_record(conf, OP_SET, section, key, value, origin);
	argv_push_set(conf, section, key, value);
	return 0;
}

static int
state_dir_set(struct kw_conf *conf, const char *dir, int record, char *errbuf,
    size_t errlen)
{
	char *d, *run_dir, *db;
	size_t len;
	int r = -1;

	if (dir == NULL || dir[0] == '\0') {
		conf_err(errbuf, errlen, "--state-dir", NULL, NULL,
		    "empty directory");
		return -1;
	}
	d = conf_xstrdup(dir);
	len = strlen(d);
	while (len > 1 && d[len - 1] == '/')
		d[--len] = '\0';
	if (asprintf(&run_dir, "%s/run", strcmp(d, "/") ? d : "") == -1 ||
	    asprintf(&db, "%s/kwarden.db", strcmp(d, "/") ? d : "") == -1)
		abort();
	if (conf_set_value(conf, "paths", "run_dir", run_dir, "--state-dir",
		errbuf, errlen) == 0 &&
	    conf_set_value(conf, "paths", "database", db, "--state-dir",
		errbuf, errlen) == 0) {
		r = 0;
		if (record) {
			op_record(conf, OP_STATE_DIR, NULL, NULL, dir,
			    "--state-dir");
			argv_push_set(conf, "paths", "run_dir", run_dir);
			argv_push_set(conf, "paths", "database", db);
		}
	}
	free(run_dir);
	free(db);
	free(d);
	return r;
}

int
kw_conf_apply_state_dir(struct kw_conf *conf, const char *dir, char *errbuf,
    size_t errlen)
{
	return state_dir_set(conf, dir, 1, errbuf, errlen);
}

struct kw_conf *
kw_conf_reload(const struct kw_conf *old, char *errbuf, size_t errlen)
{
	struct kw_conf *conf;
	size_t i;
	const struct conf_op *op;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	conf = conf_new();
	if (old->file != NULL) {
		/* The default file may have gone away; an explicit one not. */
		if ((old->file_explicit || access(old->file, F_OK) == 0) &&
		    conf_load_file(conf, old->file, errbuf, errlen) == -1) {
			kw_conf_free(conf);
			return NULL;
		}
		conf->file_explicit = old->file_explicit;
	}
	for (i = 0; i < old->nops; i++) {
		op = &old->ops[i];
		if (op->kind == OP_STATE_DIR) {
			if (state_dir_set(conf, op->value, 1, errbuf,
				errlen) == -1)
				goto fail;
		} else if (kw_conf_set(conf, op->section, op->key, op->value,
			       op->origin, errbuf, errlen) == -1)
			goto fail;
	}
	return conf;
fail:
	kw_conf_free(conf);
	return NULL;
}

/* "section.key" -> the stored value; abort() on a name not in the schema. */
static const char *
conf_lookup(const struct kw_conf *conf, const char *name,
    const struct conf_key **kp)
{
	const struct conf_class *cl;
	const struct conf_key *k;
	const char *dot, *cname;
	char section[128];
	size_t idx;

	if ((dot = strrchr(name, '.')) == NULL ||
	    (size_t)(dot - name) >= sizeof(section))
		goto bad;
	memcpy(section, name, (size_t)(dot - name));
	section[dot - name] = '\0';
	if ((cname = conf_class_part(section)) != NULL) {
		if ((k = conf_find_class_key(dot + 1, &idx)) == NULL ||
		    (cl = find_class(conf, cname)) == NULL)
			goto bad;
		*kp = k;
		return cl->val[idx];
	}
	if ((k = conf_find_key(section, dot + 1, &idx)) == NULL)
		goto bad;
	*kp = k;
	return conf->val[idx];
bad:
	fprintf(stderr, "kw_conf: no config key \"%s\"\n", name);
	abort();
}

static const char *
conf_typed(const struct kw_conf *conf, const char *name,
    enum kw_conf_type type, const struct conf_key **kp)
{
	const struct conf_key *k;
	const char *v;

	v = conf_lookup(conf, name, &k);
	if (kp != NULL)
		*kp = k;
	if (k->type != type) {
		fprintf(stderr,
		    "kw_conf: key \"%s\" read with the wrong "
		    "type\n",
		    name);
		abort();
	}
	return v;
}

const char *
kw_conf_str(const struct kw_conf *conf, const char *name)
{
	const struct conf_key *k;

	return conf_lookup(conf, name, &k);
}

uint64_t
kw_conf_int(const struct kw_conf *conf, const char *name)
{
	const struct conf_key *k;
	const char *v;
	uint64_t u = 0;

	v = conf_typed(conf, name, KW_CONF_INT, &k);
	conf_parse_uint(v, (k->flags & CK_OCTAL) ? 8 : 10, &u);
	return u;
}

double
kw_conf_num(const struct kw_conf *conf, const char *name)
{
	double d = 0;

	conf_parse_num(conf_typed(conf, name, KW_CONF_NUM, NULL), &d);
	return d;
}

uint64_t
kw_conf_ms(const struct kw_conf *conf, const char *name)
{
	uint64_t ms = 0;

	kw_parse_duration_ms(conf_typed(conf, name, KW_CONF_DURATION, NULL),
	    &ms);
	return ms;
}

uint64_t
kw_conf_size(const struct kw_conf *conf, const char *name)
{
	uint64_t bytes = 0;

	kw_parse_size(conf_typed(conf, name, KW_CONF_SIZE, NULL), &bytes);
	return bytes;
}

size_t
kw_conf_list(const struct kw_conf *conf, const char *name, char items[][64],
    size_t max)
{
	const char *p, *item;
	size_t n = 0, len;

	p = conf_typed(conf, name, KW_CONF_LIST, NULL);
	while (p != NULL) {
		item = conf_list_next(&p, &len);
		if (len == 0)
			continue;
		if (n < max) {
			if (len > CONF_LIST_ITEM_MAX)
				len = CONF_LIST_ITEM_MAX;
			memcpy(items[n], item, len);
			items[n][len] = '\0';
		}
		n++;
	}
	return n;
}

size_t
kw_conf_class_count(const struct kw_conf *conf)
{
	return conf->nclasses;
}

const char *
kw_conf_class_name(const struct kw_conf *conf, size_t i)
{
	if (i >= conf->nclasses)
		return NULL;
	return conf->classes[i].name;
}

void
kw_conf_sock_path(const struct kw_conf *conf, const char *name,
    const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s", kw_conf_str(conf, "paths.run_dir"), name,
	    suffix);
}
