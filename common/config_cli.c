/*
 * The command line every kwarden program shares, on getopt_long: -c, -o,
 * --state-dir, --print-config, --help, --version and a --KEY flag for each
 * key of the program's own section, generated from the key table.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"

/* Values getopt_long returns for options without a short form. */
enum {
	OPT_STATE_DIR = 256,
	OPT_PRINT_CONFIG,
	OPT_KEY, /* OPT_KEY + the key's index in conf_keys */
};

static const struct option fixed_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
};
#define NFIXED (sizeof(fixed_opts) / sizeof(fixed_opts[0]))

/* A key's flag name: "batch_rows" -> "batch-rows". */
static char *
flag_name(const char *key)
{
	char *name, *p;

	name = conf_xstrdup(key);
	for (p = name; *p != '\0'; p++)
		if (*p == '_')
			*p = '-';
	return name;
}

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
	char opt[128], *name;
	size_t i;

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
		name = flag_name(conf_keys[i].key);
		snprintf(opt, sizeof(opt), "--%s %s", name,
		    metavar(&conf_keys[i]));
		free(name);
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

/*
 * Bad usage: say so on stderr, the way back to --help after it; -1 for
 * the caller to pass up and kw_conf_cli to exit 2 on.
 */
static int cli_error(const char *section, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cli_error(const char *section, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kwarden-%s: ", section);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'kwarden-%s --help'\n", section);
	return -1;
}

/*
 * The long options of a program: the fixed ones, then each key of its
 * section as --key-name and, as the INI file spells it, --key_name.
 * *names gets what to free.
 */
static struct option *
long_options(const char *section, char ***names)
{
	struct option *opts;
	size_t i, n = NFIXED, nnames = 0;

	opts = conf_xcalloc(NFIXED + 2 * conf_nkeys + 1, sizeof(*opts));
	*names = conf_xcalloc(conf_nkeys + 1, sizeof(**names));
	memcpy(opts, fixed_opts, sizeof(fixed_opts));
	for (i = 0; i < conf_nkeys; i++) {
		if (strcmp(conf_keys[i].section, section) != 0)
			continue;
		(*names)[nnames] = flag_name(conf_keys[i].key);
		opts[n].name = (*names)[nnames++];
		opts[n].has_arg = required_argument;
		opts[n++].val = OPT_KEY + (int)i;
		if (strchr(conf_keys[i].key, '_') == NULL)
			continue;
		opts[n].name = conf_keys[i].key;
		opts[n].has_arg = required_argument;
		opts[n++].val = OPT_KEY + (int)i;
	}
	return opts;
}

static const struct option *
find_option(const struct option *opts, const char *name, size_t len)
{
	for (; opts->name != NULL; opts++)
		if (strlen(opts->name) == len &&
		    strncmp(opts->name, name, len) == 0)
			return opts;
	return NULL;
}

/*
 * Check what getopt_long made of the word argv[at]: -1 after saying what
 * is wrong with it, naming the option as typed. Stricter than getopt_long: no
 * abbreviated long options (a key added later must not change what an old
 * command line means), and -h and -V only on their own.
 */
static int
check_word(const char *section, const struct option *opts, char **argv, int at,
    int ch)
{
	const struct option *o;
	const char *word = argv[at], *name, *eq;
	size_t len;

	if (strncmp(word, "--", 2) != 0) {
		if (ch == ':')
			return cli_error(section, "option -%c needs a value",
			    optopt);
		if (ch == '?' || ((ch == 'h' || ch == 'V') && word[2] != '\0'))
			return cli_error(section, "unknown option \"%s\"",
			    word);
		return 0;
	}
	name = word + 2;
	eq = strchr(name, '=');
	len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	if ((o = find_option(opts, name, len)) == NULL)
		return cli_error(section, "unknown option \"--%.*s\"",
		    (int)len, name);
	if (ch == '?' && eq != NULL && o->has_arg == no_argument)
		return cli_error(section, "option --%.*s takes no value",
		    (int)len, name);
	if (ch == ':')
		return cli_error(section, "option --%s needs a value", name);
	if (ch == '?')
		return cli_error(section, "unknown option \"--%.*s\"",
		    (int)len, name);
	return 0;
}

/* An override, in command line order; -c is not one. */
struct cli_op {
	enum conf_op_kind kind;
	char *section; /* OP_SET */
	char *key;
	const char *value;
	char origin[160];
};

/* The parsed command line. */
struct cli {
	const char *section;
	const char *usage_extra;
	struct option *opts;
	char **names; /* of opts, to free */
	struct cli_op *ops;
	size_t nops;
	const char *file; /* -c */
	int print;	  /* --print-config */
};

/* -o SECTION.KEY=VALUE; the key is after the last dot. */
static int
parse_o(struct cli *cli, const char *arg)
{
	struct cli_op *op = &cli->ops[cli->nops];
	const char *eq, *dot;

	if ((eq = strchr(arg, '=')) == NULL ||
	    (dot = memrchr(arg, '.', (size_t)(eq - arg))) == NULL ||
	    dot == arg || dot + 1 == eq)
		return cli_error(cli->section,
		    "config: -o %s: expected "
		    "SECTION.KEY=VALUE",
		    arg);
	op->kind = OP_SET;
	if ((op->section = strndup(arg, (size_t)(dot - arg))) == NULL ||
	    (op->key = strndup(dot + 1, (size_t)(eq - dot - 1))) == NULL)
		abort();
	op->value = eq + 1;
	snprintf(op->origin, sizeof(op->origin), "-o %.*s", (int)(eq - arg),
	    arg);
	cli->nops++;
	return 0;
}

/*
 * Read the options in order, up to the first word that is not one ("+").
 * 0 to go on, 1 after --help or --version, -1 after a usage error.
 */
static int
cli_parse(struct cli *cli, int argc, char **argv)
{
	struct cli_op *op;
	int ch, at;

	cli->ops = conf_xcalloc((size_t)argc + 1, sizeof(*cli->ops));
	cli->opts = long_options(cli->section, &cli->names);
	opterr = 0;
	optind = 1;
	for (;;) {
		at = optind;
		if ((ch = getopt_long(argc, argv, "+:c:o:hV", cli->opts,
			 NULL)) == -1)
			break;
		if (check_word(cli->section, cli->opts, argv, at, ch) == -1)
			return -1;
		op = &cli->ops[cli->nops];
		switch (ch) {
		case 'h':
			usage(stdout, cli->section, cli->usage_extra);
			return 1;
		case 'V':
			printf("kwarden-%s %s\n", cli->section, KW_VERSION);
			return 1;
		case OPT_PRINT_CONFIG:
			cli->print = 1;
			break;
		case 'c':
			cli->file = optarg;
			break;
		case 'o':
			if (parse_o(cli, optarg) == -1)
				return -1;
			break;
		case OPT_STATE_DIR:
			op->kind = OP_STATE_DIR;
			op->value = optarg;
			snprintf(op->origin, sizeof(op->origin),
			    "--state-dir");
			cli->nops++;
			break;
		default:
			/* A key of the section, the origin as typed. */
			op->kind = OP_SET;
			op->section = conf_xstrdup(cli->section);
			op->key = conf_xstrdup(conf_keys[ch - OPT_KEY].key);
			op->value = optarg;
			snprintf(op->origin, sizeof(op->origin), "%.*s",
			    (int)strcspn(argv[at], "="), argv[at]);
			cli->nops++;
			break;
		}
	}
	if (optind < argc)
		return cli_error(cli->section, "unexpected argument \"%s\"",
		    argv[optind]);
	return 0;
}

/* Defaults, the file, then the overrides in command line order. */
static struct kw_conf *
cli_apply(const struct cli *cli)
{
	struct kw_conf *conf;
	const struct cli_op *op;
	char err[1536];
	size_t i;
	int r;

	err[0] = '\0';
	if (cli->file != NULL)
		conf = kw_conf_load(cli->file, err, sizeof(err));
	else if (access(CONF_DEFAULT_FILE, F_OK) == 0) {
		if ((conf = kw_conf_load(CONF_DEFAULT_FILE, err,
			 sizeof(err))) != NULL)
			conf->file_explicit = 0;
	} else
		conf = kw_conf_load(NULL, err, sizeof(err));
	if (conf == NULL) {
		cli_error(cli->section, "%s", err);
		return NULL;
	}
	for (i = 0; i < cli->nops; i++) {
		op = &cli->ops[i];
		if (op->kind == OP_STATE_DIR)
			r = kw_conf_apply_state_dir(conf, op->value, err,
			    sizeof(err));
		else
			r = kw_conf_set(conf, op->section, op->key, op->value,
			    op->origin, err, sizeof(err));
		if (r == -1) {
			cli_error(cli->section, "%s", err);
			kw_conf_free(conf);
			return NULL;
		}
	}
	return conf;
}

static void
cli_free(struct cli *cli)
{
	size_t i;

	for (i = 0; i < cli->nops; i++) {
		free(cli->ops[i].section);
		free(cli->ops[i].key);
	}
	free(cli->ops);
	for (i = 0; cli->names != NULL && cli->names[i] != NULL; i++)
		free(cli->names[i]);
	free(cli->names);
	free(cli->opts);
}

struct kw_conf *
kw_conf_cli(int argc, char **argv, const char *section,
    const char *usage_extra)
{
	struct kw_conf *conf = NULL;
	struct cli cli;
	int r, print;

	if (!conf_known_section(section) || strcmp(section, "paths") == 0 ||
	    strcmp(section, "policy") == 0) {
		fprintf(stderr, "kw_conf_cli: bad section \"%s\"\n", section);
		abort();
	}
	memset(&cli, 0, sizeof(cli));
	cli.section = section;
	cli.usage_extra = usage_extra;
	if ((r = cli_parse(&cli, argc, argv)) == 0)
		conf = cli_apply(&cli);
	print = cli.print;
	cli_free(&cli);
	if (r != 0)
		exit(r == 1 ? 0 : 2);
	if (conf == NULL)
		exit(2);
	if (print) {
		kw_conf_print(conf, stdout);
		kw_conf_free(conf);
		exit(0);
	}
	return conf;
}
