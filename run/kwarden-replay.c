/*
 * kwarden-replay: what a policy would have done over the load a database
 * recorded, beside what was done (replay.c does the work; this is the
 * command line and the two outputs: a table per container, or JSON
 * lines). Touches nothing: the database is only read; no Docker, no
 * sockets.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "replay.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: kwarden-replay DB [-c FILE] [-o SECTION.KEY=VALUE ...] "
	    "[--since T] [--until T] [--json]\n"
	    "\n"
	    "Run the decider's policy again over the container samples "
	    "recorded in DB\n"
	    "and show, per container, what it would have done and when, "
	    "beside what\n"
	    "was done. DB is only read.\n"
	    "\n"
	    "  -c, --config FILE   the policy of this kwarden.conf (default: "
	    "the policy\n"
	    "                      recorded as live at each time)\n"
	    "  -o SECTION.KEY=VALUE  change one key of it, repeatable\n"
	    "                      (-o policy.cpu_threshold=10)\n"
	    "  --since T, --until T  show only this time range; T is unix "
	    "seconds,\n"
	    "                      ISO-8601 (2026-12-02T10:00:00Z; UTC "
	    "without a zone),\n"
	    "                      now, or -DURATION before now (-1h)\n"
	    "  --json              one JSON object per line\n"
	    "  -h, --help          this help\n"
	    "  -V, --version       the version\n"
	    "\n"
	    "Exit: 0 done, 1 the database cannot be read or is not a "
	    "kwarden one,\n"
	    "2 usage or config error.\n");
}

static void
iso(uint64_t ts, char *buf, size_t len)
{
	time_t t = (time_t)ts;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "%" PRIu64, ts);
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One row of a container's table: a pair, or one side alone. */
struct row {
	const struct replay_event *w, *d;
	uint64_t ts;
};

static int
row_cmp(const void *a, const void *b)
{
	const struct row *ra = a, *rb = b;

	if (ra->ts != rb->ts)
		return ra->ts < rb->ts ? -1 : 1;
	return (ra->w == NULL) - (rb->w == NULL);
}

static int
id_cmp(const void *a, const void *b)
{
	const struct row *ra = a, *rb = b;
	const struct replay_event *ea = ra->w ? ra->w : ra->d;
	const struct replay_event *eb = rb->w ? rb->w : rb->d;
	int c = strcmp(ea->container_id, eb->container_id);

	if (c != 0)
		return c;
	return row_cmp(a, b);
}

/* Every row: pairs and would-only by the would side, did-only alone. */
static struct row *
rows_of(const struct replay_result *r, size_t *n)
{
	struct row *rows;
	size_t i, k = 0;

	if ((rows = calloc(r->would.n + r->did.n + 1, sizeof(*rows))) == NULL)
		return NULL;
	for (i = 0; i < r->would.n; i++) {
		rows[k].w = &r->would.e[i];
		rows[k].d = r->would.e[i].other >= 0 ?
		    &r->did.e[r->would.e[i].other] :
		    NULL;
		rows[k++].ts = r->would.e[i].ts;
	}
	for (i = 0; i < r->did.n; i++)
		if (r->did.e[i].other < 0) {
			rows[k].d = &r->did.e[i];
			rows[k++].ts = r->did.e[i].ts;
		}
	qsort(rows, k, sizeof(*rows), id_cmp);
	*n = k;
	return rows;
}

static void
step_text(const struct replay_event *e, char *buf, size_t len)
{
	if (e == NULL)
		snprintf(buf, len, "-");
	else if (e->step > 0)
		snprintf(buf, len, "%u %s", e->step, e->action);
	else
		snprintf(buf, len, "%s", e->action);
}

static void
print_table(const struct replay_result *r, const struct row *rows, size_t n)
{
	const struct replay_event *e;
	char t[32], would[40], did[300], a[32];
	size_t i;

	for (i = 0; i < n; i++) {
		e = rows[i].w != NULL ? rows[i].w : rows[i].d;
		if (i == 0 ||
		    strcmp(e->container_id,
			(rows[i - 1].w ? rows[i - 1].w : rows[i - 1].d)
			    ->container_id) != 0)
			printf("%scontainer %.12s %s (class %s)\n"
			       "  %-20s  %-14s  %-24s  %s\n",
			    i ? "\n" : "", e->container_id,
			    e->name[0] ? e->name : "-",
			    e->class_name[0] ? e->class_name : "-", "TIME",
			    "WOULD", "DID", "WHY");
		iso(rows[i].ts, t, sizeof(t));
		step_text(rows[i].w, would, sizeof(would));
		step_text(rows[i].d, a, sizeof(a));
		if (rows[i].d != NULL)
			snprintf(did, sizeof(did), "%s: %.40s", a,
			    rows[i].d->result);
		else
			snprintf(did, sizeof(did), "-");
		printf("  %-20s  %-14s  %-24s  %s\n", t, would, did,
		    rows[i].w != NULL ? rows[i].w->reason : rows[i].d->reason);
	}
	if (n > 0)
		printf("\n");
	(void)r;
}

static json_t *
event_json(const struct replay_event *e, int did)
{
	json_t *o;

	if (e == NULL)
		return json_null();
	o = json_pack("{s:s, s:i, s:s, s:I}", "action", e->action, "step",
	    (int)e->step, "reason", e->reason, "ts", (json_int_t)e->ts);
	if (o != NULL && did)
		json_object_set_new(o, "result", json_string(e->result));
	return o != NULL ? o : json_null();
}

static void
print_line(json_t *o)
{
	char *s;

	if (o == NULL)
		return;
	if ((s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII)) != NULL) {
		puts(s);
		free(s);
	}
	json_decref(o);
}

static void
print_json(const struct replay_result *r, const struct row *rows, size_t n)
{
	const struct replay_event *e;
	char t[32];
	size_t i;

	for (i = 0; i < n; i++) {
		e = rows[i].w != NULL ? rows[i].w : rows[i].d;
		iso(rows[i].ts, t, sizeof(t));
		print_line(json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o, "
				     "s:o, s:b}",
		    "type", "action", "container_id", e->container_id, "name",
		    e->name, "class", e->class_name, "ts",
		    (json_int_t)rows[i].ts, "time", t, "would",
		    event_json(rows[i].w, 0), "did", event_json(rows[i].d, 1),
		    "same", rows[i].w != NULL && rows[i].d != NULL));
	}
	(void)r;
}

static void
summary(const struct replay_opts *o, const struct replay_result *r, int json)
{
	char a[32], b[32];

	iso(r->first_ts, a, sizeof(a));
	iso(r->last_ts, b, sizeof(b));
	if (json) {
		print_line(json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:I, "
				     "s:s?, s:s?, s:I, s:I, s:I, s:I, s:I}",
		    "type", "summary", "samples", (json_int_t)r->samples,
		    "rows", (json_int_t)r->rows, "runs", (json_int_t)r->epochs,
		    "policy", o->conf_file != NULL ? "file" : "recorded",
		    "policies", (json_int_t)r->policies, "overrides",
		    (json_int_t)o->noverrides, "from", r->samples ? a : NULL,
		    "to", r->samples ? b : NULL, "would",
		    (json_int_t)r->would.n, "did", (json_int_t)r->did.n,
		    "same", (json_int_t)r->same, "only_would",
		    (json_int_t)(r->would.n - r->same), "only_did",
		    (json_int_t)(r->did.n - r->same)));
		return;
	}
	printf("%" PRIu64 " samples (%" PRIu64 " container rows, %" PRIu64
	       " decider runs)",
	    r->samples, r->rows, r->epochs);
	if (r->samples)
		printf(" from %s to %s", a, b);
	if (o->conf_file != NULL)
		printf("; policy of %s", o->conf_file);
	else
		printf("; the recorded policy (%" PRIu64 " version%s)",
		    r->policies, r->policies == 1 ? "" : "s");
	if (o->noverrides)
		printf(" with %zu -o", o->noverrides);
	printf("\nwould %zu action%s, did %zu: %zu the same, %zu only "
	       "would, %zu only did\n",
	    r->would.n, r->would.n == 1 ? "" : "s", r->did.n, r->same,
	    r->would.n - r->same, r->did.n - r->same);
	if (r->oom)
		printf("%" PRIu64 " samples skipped: out of memory\n", r->oom);
}

enum {
	OPT_SINCE = 256,
	OPT_UNTIL,
	OPT_JSON,
};

static int
parse_time(const char *opt, const char *s, uint64_t *out)
{
	uint64_t ns;

	if (kw_parse_time(s, kw_now_ns(), &ns) == -1) {
		fprintf(stderr,
		    "kwarden-replay: %s \"%s\": not a time (unix "
		    "seconds, ISO-8601, now or -DURATION)\n",
		    opt, s);
		return -1;
	}
	*out = ns / 1000000000ULL;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_opts o;
	struct replay_result r;
	const char **ov;
	struct row *rows;
	char err[2048];
	size_t n;
	int ch, json = 0, code;

	memset(&o, 0, sizeof(o));
	if ((ov = calloc((size_t)argc + 1, sizeof(*ov))) == NULL)
		return REPLAY_EDB;
	o.overrides = ov;
	/* Options and DB in any order (GNU getopt permutes). */
	while (
	    (ch = getopt_long(argc, argv, "c:o:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.conf_file = optarg;
			break;
		case 'o':
			ov[o.noverrides++] = optarg;
			break;
		case OPT_SINCE:
			if (parse_time("--since", optarg, &o.since_s) == -1)
				goto usage;
			break;
		case OPT_UNTIL:
			if (parse_time("--until", optarg, &o.until_s) == -1)
				goto usage;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'h':
			usage(stdout);
			free(ov);
			return REPLAY_OK;
		case 'V':
			printf("kwarden-replay %s\n", KW_VERSION);
			free(ov);
			return REPLAY_OK;
		default:
			usage(stderr);
			goto usage;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "kwarden-replay: %s\n",
		    optind >= argc ?
			"which database? (kwarden-replay DB ...)" :
			"one database only");
		goto usage;
	}
	if (o.until_s != 0 && o.since_s > o.until_s) {
		fprintf(stderr, "kwarden-replay: --since is after --until\n");
		goto usage;
	}
	o.db = argv[optind];
	if ((code = replay_run(&o, &r, err, sizeof(err))) != REPLAY_OK) {
		fprintf(stderr, "kwarden-replay: %s\n", err);
		replay_result_free(&r);
		free(ov);
		return code;
	}
	if ((rows = rows_of(&r, &n)) == NULL) {
		fprintf(stderr, "kwarden-replay: out of memory\n");
		replay_result_free(&r);
		free(ov);
		return REPLAY_EDB;
	}
	if (json)
		print_json(&r, rows, n);
	else
		print_table(&r, rows, n);
	summary(&o, &r, json);
	free(rows);
	replay_result_free(&r);
	free(ov);
	return fflush(stdout) == 0 ? REPLAY_OK : REPLAY_EDB;
usage:
	free(ov);
	return REPLAY_EUSAGE;
}
