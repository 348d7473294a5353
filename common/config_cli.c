/*
 * The command line every kwarden program shares: -c, -o, --state-dir,
 * --print-config, --help, --version and a --KEY flag for each key of the
 * program's own section.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"

static const char *
metavar(const struct conf_key *k)
{
	switch (k->type) {
	case KW_CONF_INT:
		return (k->flags & CK_OCTAL) ? "MODE" : "N";
	case KW_CONF_NUM:
		return "NUM";
	case KW_CONF_DURATION:
		return "DURATION";
	case KW_CONF_SIZE:
		return "SIZE";
	case KW_CONF_LIST:
		return "LIST";
	case KW_CONF_STR:
		break;
	}
	return k->choices ? k->choices : "STRING";
}

static void
usage(FILE *fp, const char *section, const char *usage_extra)
{
	char	opt[128];
	size_t	i, j;

	fprintf(fp,
	    "usage: kwarden-%s [options]\n"
	    "\n"
	    "  -c, --config FILE        config file (default %s if it exists)\n"
	    "  -o SECTION.KEY=VALUE     set one config key, repeatable\n"
	    "                           (-o policy.cpu_threshold=10)\n"
	    "  --state-dir DIR          sockets in DIR/run, database "
	    "DIR/kwarden.db\n"
	    "  --print-config           print the effective config as INI "
	    "and exit\n"
	    "  -h, --help               this help\n"
	    "  -V, --version            print the version and exit\n"
	    "\n"
	    "[%s] keys (same as -o %s.KEY=VALUE):\n",
	    section, CONF_DEFAULT_FILE, section, section);
	for (i = 0; i < conf_nkeys; i++) {
		if (strcmp(conf_keys[i].section, section) != 0)
			continue;
		snprintf(opt, sizeof(opt), "--%s %s", conf_keys[i].key,
		    metavar(&conf_keys[i]));
		for (j = 2; opt[j] != ' ' && opt[j] != '\0'; j++)
			if (opt[j] == '_')
				opt[j] = '-';
		if (strlen(opt) <= 24)
			fprintf(fp, "  %-24s %s (default %s)\n", opt,
			    conf_keys[i].help, conf_keys[i].def);
		else
			fprintf(fp, "  %s\n  %-24s %s (default %s)\n", opt, "",
			    conf_keys[i].help, conf_keys[i].def);
	}
	if (usage_extra != NULL && usage_extra[0] != '\0')
		fprintf(fp, "\n%s%s", usage_extra,
		    usage_extra[strlen(usage_extra) - 1] == '\n' ? "" : "\n");
}

static void __attribute__((noreturn, format(printf, 2, 3)))
cli_fail(const char *section, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "kwarden-%s: ", section);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'kwarden-%s --help'\n", section);
	exit(2);
}

/* "--key-name" -> the schema key of `section`, or NULL. */
static const struct conf_key *
own_key(const char *section, const char *opt, size_t len)
{
	char	key[64];
	size_t	i, idx;

	if (len >= sizeof(key))
		return NULL;
	for (i = 0; i < len; i++)
		key[i] = opt[i] == '-' ? '_' : opt[i];
	key[len] = '\0';
	if (strchr(key, '.') != NULL)
		return NULL;
	return conf_find_key(section, key, &idx);
}

struct cli_op {
	enum conf_op_kind	 kind;
	char			*section;	/* OP_SET */
	char			*key;
	const char		*value;
	char			 origin[160];
};

struct kw_conf *
kw_conf_cli(int argc, char **argv, const char *section,
    const char *usage_extra)
{
	struct kw_conf		*conf;
	struct cli_op		*ops;
	const struct conf_key	*k;
	const char		*file = NULL, *arg, *val, *eq, *dot;
	char			 err[1536];
	size_t			 nops = 0, i, len;
	int			 a, print = 0;

	if (!conf_known_section(section) || strcmp(section, "paths") == 0 ||
	    strcmp(section, "policy") == 0) {
		fprintf(stderr, "kw_conf_cli: bad section \"%s\"\n", section);
		abort();
	}
	ops = conf_xcalloc((size_t)argc + 1, sizeof(*ops));

	for (a = 1; a < argc; a++) {
		arg = argv[a];
		val = NULL;
		if (strcmp(arg, "--") == 0) {
			if (a + 1 < argc)
				cli_fail(section, "unexpected argument \"%s\"",
				    argv[a + 1]);
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			cli_fail(section, "unexpected argument \"%s\"", arg);

		/* Short options, with the value attached or next. */
		if (arg[1] != '-') {
			switch (arg[1]) {
			case 'h':
			case 'V':
				if (arg[2] != '\0')
					cli_fail(section, "unknown option "
					    "\"%s\"", arg);
				if (arg[1] == 'h')
					usage(stdout, section, usage_extra);
				else
					printf("kwarden-%s %s\n", section,
					    KW_VERSION);
				exit(0);
			case 'c':
			case 'o':
				if (arg[2] != '\0')
					val = arg + 2;
				else if (a + 1 < argc)
					val = argv[++a];
				else
					cli_fail(section, "option -%c needs a "
					    "value", arg[1]);
				break;
			default:
				cli_fail(section, "unknown option \"%s\"", arg);
			}
			if (arg[1] == 'c') {
				file = val;
				continue;
			}
			goto set_o;
		}

		/* Long options: --name, --name=value, --name value. */
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (eq != NULL)
			val = eq + 1;
#define IS(s)	(len == strlen(s) && strncmp(arg, s, len) == 0)
		if (IS("help") || IS("version") || IS("print-config")) {
			if (val != NULL)
				cli_fail(section, "option --%.*s takes no "
				    "value", (int)len, arg);
			if (IS("help")) {
				usage(stdout, section, usage_extra);
				exit(0);
			}
			if (IS("version")) {
				printf("kwarden-%s %s\n", section, KW_VERSION);
				exit(0);
			}
			print = 1;
			continue;
		}
		k = NULL;
		if (!IS("config") && !IS("state-dir") &&
		    (k = own_key(section, arg, len)) == NULL)
			cli_fail(section, "unknown option \"--%.*s\"",
			    (int)len, arg);
		if (val == NULL) {
			if (a + 1 >= argc)
				cli_fail(section, "option --%s needs a value",
				    arg);
			val = argv[++a];
		}
		if (IS("config")) {
			file = val;
			continue;
		}
		if (IS("state-dir")) {
			ops[nops].kind = OP_STATE_DIR;
			ops[nops].value = val;
			snprintf(ops[nops].origin, sizeof(ops[nops].origin),
			    "--state-dir");
			nops++;
			continue;
		}
		ops[nops].kind = OP_SET;
		ops[nops].section = conf_xstrdup(section);
		ops[nops].key = conf_xstrdup(k->key);
		ops[nops].value = val;
		snprintf(ops[nops].origin, sizeof(ops[nops].origin), "--%.*s",
		    (int)len, arg);
		nops++;
		continue;
#undef IS
set_o:
		/* -o SECTION.KEY=VALUE; the key is after the last dot. */
		if ((eq = strchr(val, '=')) == NULL ||
		    (dot = memrchr(val, '.', (size_t)(eq - val))) == NULL ||
		    dot == val || dot + 1 == eq) {
			cli_fail(section, "config: -o %s: expected "
			    "SECTION.KEY=VALUE", val);
		}
		ops[nops].kind = OP_SET;
		ops[nops].section = strndup(val, (size_t)(dot - val));
		ops[nops].key = strndup(dot + 1, (size_t)(eq - dot - 1));
		if (ops[nops].section == NULL || ops[nops].key == NULL)
			abort();
		ops[nops].value = eq + 1;
		snprintf(ops[nops].origin, sizeof(ops[nops].origin), "-o %.*s",
		    (int)(eq - val), val);
		nops++;
	}

	/* Defaults, the file, then the overrides in command line order. */
	err[0] = '\0';
	if (file != NULL)
		conf = kw_conf_load(file, err, sizeof(err));
	else if (access(CONF_DEFAULT_FILE, F_OK) == 0) {
		if ((conf = kw_conf_load(CONF_DEFAULT_FILE, err,
		    sizeof(err))) != NULL)
			conf->file_explicit = 0;
	} else
		conf = kw_conf_load(NULL, err, sizeof(err));
	if (conf == NULL)
		cli_fail(section, "%s", err);

	for (i = 0; i < nops; i++) {
		int	r;

		if (ops[i].kind == OP_STATE_DIR)
			r = kw_conf_apply_state_dir(conf, ops[i].value, err,
			    sizeof(err));
		else
			r = kw_conf_set(conf, ops[i].section, ops[i].key,
			    ops[i].value, ops[i].origin, err, sizeof(err));
		if (r == -1)
			cli_fail(section, "%s", err);
	}
	for (i = 0; i < nops; i++) {
		free(ops[i].section);
		free(ops[i].key);
	}
	free(ops);

	if (print) {
		kw_conf_print(conf, stdout);
		kw_conf_free(conf);
		exit(0);
	}
	return conf;
}
