/*
 * What the config files share and nobody else sees: the key schema, the
 * store behind struct kw_conf, and the few functions one file calls in
 * another. The public side is the config section of kwarden.h.
 */
#ifndef KW_CONFIG_INT_H
#define KW_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kwarden.h"

#define CONF_DEFAULT_FILE   "/etc/kwarden/kwarden.conf"
#define CONF_LIST_ITEM_MAX  63 /* kw_conf_list fills char[64] */
#define CONF_CLASS_NAME_MAX 48
#define CONF_VALUE_MAX	    1024
#define CONF_NCLASSKEYS	    6 /* rows of conf_class_keys */

enum kw_conf_type {
	KW_CONF_STR,
	KW_CONF_INT,	  /* non-negative integer */
	KW_CONF_NUM,	  /* double */
	KW_CONF_DURATION, /* kw_parse_duration_ms */
	KW_CONF_SIZE,	  /* kw_parse_size */
	KW_CONF_LIST,	  /* comma separated strings */
};

/* Key flags */
#define CK_NONEMPTY 0x01 /* a string that may not be "" */
#define CK_OCTAL    0x02 /* an INT written in octal (modes) */
#define CK_BOUNDS   0x04 /* min..max apply */
#define CK_EMPTY    0x08 /* "" allowed: inherit, or the default */
#define CK_LADDER \
	0x10 /* a STR: comma list of choices, each
					   once; the last choice only alone */

/* One row of the schema. */
struct conf_key {
	const char *section;
	const char *key;
	enum kw_conf_type type;
	const char *def;
	const char *choices; /* "a|b|c" or NULL */
	const char *help;
	int flags;
	double min, max; /* ms for durations */
};

struct conf_class_default {
	const char *name;
	const char *val[CONF_NCLASSKEYS];
};

/* config_schema.c: the tables and checks against them, pure */
extern const struct conf_key *const conf_keys;
extern const size_t conf_nkeys;
extern const struct conf_key *const conf_class_keys;
extern const struct conf_class_default *const conf_class_defaults;
extern const size_t conf_nclass_defaults;
extern const char *const *const conf_sections;
extern const size_t conf_nsections;

const struct conf_key *conf_find_key(const char *section, const char *key,
    size_t *idx);
const struct conf_key *conf_find_class_key(const char *key, size_t *idx);
int conf_known_section(const char *section);
/* "class.NAME" -> NAME if NAME is [a-z0-9_-]+, else NULL. */
const char *conf_class_part(const char *section);
int conf_parse_uint(const char *v, int base, uint64_t *out);
int conf_parse_num(const char *v, double *out);
/* Check one value against its key; -1 and a message ("... is not ..."). */
int conf_check_value(const struct conf_key *k, const char *v, char *msg,
    size_t len);
/*
 * The next item of a comma list, trimmed of spaces (maybe empty): *p moves
 * past it, NULL after the last. Returns the item and its length in *len.
 */
const char *conf_list_next(const char **p, size_t *len);

/* config_store.c: the values, the overrides, the argv passed on */
struct conf_class {
	char *name;
	char *val[CONF_NCLASSKEYS];
};

/* An override from the command line or the API, replayed on reload. */
enum conf_op_kind {
	OP_SET,
	OP_STATE_DIR,
};

struct conf_op {
	enum conf_op_kind kind;
	char *section;
	char *key;
	char *value;
	char *origin;
};

struct kw_conf {
	char **val; /* conf_nkeys, as conf_keys */
	struct conf_class *classes;
	size_t nclasses;
	char *file; /* loaded file or NULL */
	int file_explicit;
	struct conf_op *ops;
	size_t nops;
	char **argv; /* kw_conf_argv, NULL ended */
	size_t argc;
};

/* Out of memory: not worth unwinding for in a config parser (abort). */
void *conf_xcalloc(size_t n, size_t size);
void *conf_xreallocarray(void *p, size_t n, size_t size);
char *conf_xstrdup(const char *s);
/*
 * "config: ORIGIN: " then "SECTION.KEY: " unless the origin names the key
 * itself (a command line flag: "-o x.y", "--interval"), then the message.
 */
void conf_err(char *errbuf, size_t errlen, const char *origin,
    const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The built-in defaults and classes, no file, no overrides. */
struct kw_conf *conf_new(void);
/*
 * Check a section name; creates the class of a new [class.NAME].
 * -1 with a message for an unknown section.
 */
int conf_section(struct kw_conf *conf, const char *section, const char *origin,
    char *errbuf, size_t errlen);
/* Set one value (not remembered as an override). */
int conf_set_value(struct kw_conf *conf, const char *section, const char *key,
    const char *value, const char *origin, char *errbuf, size_t errlen);
void conf_argv_push(struct kw_conf *conf, char *s);

/* config_file.c */
/* Read file into conf; on success conf->file is its absolute path. */
int conf_load_file(struct kw_conf *conf, const char *file, char *errbuf,
    size_t errlen);

#endif /* KW_CONFIG_INT_H */
