/*
 * dockerjson.c on responses captured from a real Docker 20.10 engine
 * (tests/fixtures/docker/): the container list, inspect, the event stream
 * cut at every byte, error bodies; the table those keep; and the class a
 * container gets from what Docker says about it.
 */
#include <sys/mman.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define FX_LOW \
	"6dba52f593a29062a99fe7c373b1b36c84aa64e0da7d5440b2612bb994d296fd"

static char err[256];

static char *
slurp(const char *name, size_t *len)
{
	const char *dir = getenv("KW_FIXTURES");
	char path[512];
	FILE *fp;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/docker/%s",
	    dir != NULL ? dir : "tests/fixtures", name);
	if ((fp = fopen(path, "rb")) == NULL)
		fail_msg("%s: cannot open", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void
list__captured__running_containers_with_names(void **state)
{
	struct docker_ctr *c;
	size_t len, n, i, found = 0;
	char *buf = slurp("list.json", &len);

	assert_int_equal(docker_parse_list(buf, len, &c, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_int_equal(strlen(c[i].id), 64);
		assert_string_equal(c[i].state, "running");
		if (strcmp(c[i].name, "kwt-fx-low") == 0) {
			/* The leading '/' of Docker's names is gone. */
			assert_string_equal(c[i].image, "low_img");
			assert_string_equal(c[i].label_class, "low");
			found++;
		} else if (strcmp(c[i].name, "kwt-fx-high_cpu") == 0) {
			assert_string_equal(c[i].image, "high_cpu_img");
			assert_string_equal(c[i].label_class, "");
			found++;
		}
	}
	assert_int_equal(found, 2);
	free(c);
	free(buf);
}

static void
list__empty_and_malformed(void **state)
{
	struct docker_ctr *c;
	size_t n;

	assert_int_equal(docker_parse_list("[]", 2, &c, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 0);
	assert_null(c);
	assert_int_equal(docker_parse_list("{\"message\":\"x\"}", 15, &c, &n,
			     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not an array"));
	assert_int_equal(docker_parse_list("[{\"Id\":", 7, &c, &n, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "bad JSON"));
	/* An entry without a proper id is left out, not trusted. */
	assert_int_equal(docker_parse_list("[{\"Id\":\"../../etc\"}]", 20, &c,
			     &n, err, sizeof(err)),
	    -1);
}

static void
inspect__captured__name_image_label_state(void **state)
{
	struct docker_ctr c;
	size_t len;
	char *buf = slurp("inspect.json", &len);

	assert_int_equal(docker_parse_inspect(buf, len, &c, err, sizeof(err)),
	    0);
	assert_int_equal(strlen(c.id), 64);
	assert_string_equal(c.name, "kwt-fx-low");
	/* Config.Image (as run), not the sha256 digest. */
	assert_string_equal(c.image, "low_img");
	assert_string_equal(c.label_class, "low");
	assert_string_equal(c.state, "running");
	free(buf);
	assert_int_equal(docker_parse_inspect("[]", 2, &c, err, sizeof(err)),
	    -1);
}

/* Feed the stream in pieces of `step` bytes; count parsed events. */
static size_t
feed_stream(const char *data, size_t len, size_t step, struct docker_table *t,
    char actions[][32], size_t max)
{
	char *buf = malloc(len + 1);
	size_t have = 0, off = 0, start, nev = 0, k;
	struct docker_event ev;
	long n;

	assert_non_null(buf);
	while (off < len) {
		k = len - off < step ? len - off : step;
		memcpy(buf + have, data + off, k);
		have += k;
		off += k;
		while ((n = docker_stream_next(buf, have, &start)) > 0) {
			assert_int_equal(docker_parse_event(buf + start,
					     (size_t)n, &ev, err, sizeof(err)),
			    0);
			if (nev < max)
				snprintf(actions[nev], 32, "%s", ev.action);
			nev++;
			if (t != NULL)
				docker_table_apply_event(t, &ev);
			memmove(buf, buf + start + n,
			    have - start - (size_t)n);
			have -= start + (size_t)n;
		}
		assert_true(n == 0);
	}
	free(buf);
	return nev;
}

static void
events__cut_at_every_size__same_events(void **state)
{
	static const char *const want[] = { "create", "start", "rename",
		"pause", "unpause", "kill", "die", "stop", "kill", "die",
		"destroy" };
	char actions[16][32];
	size_t len, step, i, n;
	char *buf = slurp("events.jsonl", &len);

	for (step = 1; step <= len; step = step < 64 ? step + 1 : step * 2) {
		memset(actions, 0, sizeof(actions));
		n = feed_stream(buf, len, step, NULL, actions, 16);
		assert_int_equal(n, 11);
		for (i = 0; i < 11; i++)
			assert_string_equal(actions[i], want[i]);
	}
	free(buf);
}

static void
events__captured__table_follows_them(void **state)
{
	struct docker_table t;
	struct docker_event ev;
	struct docker_ctr *c;
	char actions[16][32];
	size_t len, start;
	char *buf = slurp("events.jsonl", &len);
	long n;

	docker_table_init(&t);
	/* Up to "unpause": the renamed container is known and running. */
	n = docker_stream_next(buf, len, &start);
	assert_true(n > 0);
	assert_int_equal(docker_parse_event(buf + start, (size_t)n, &ev, err,
			     sizeof(err)),
	    0);
	assert_string_equal(ev.type, "container");
	assert_string_equal(ev.action, "create");
	assert_string_equal(ev.c.id, FX_LOW);
	assert_string_equal(ev.c.name, "kwt-fx-ev");
	assert_string_equal(ev.c.image, "low_img");
	assert_int_equal(docker_table_apply_event(&t, &ev),
	    DOCKER_APPLY_ADDED);
	assert_non_null(c = docker_table_find(&t, FX_LOW));
	assert_string_equal(c->state, "created");

	feed_stream(buf + start + n, len - start - (size_t)n, 4096, &t,
	    actions, 16);
	/* ... rename, pause, unpause, ..., destroy: gone again. */
	assert_null(docker_table_find(&t, FX_LOW));
	/* die/stop of a container we never knew add nothing. */
	assert_int_equal(t.n, 0);
	docker_table_free(&t);
	free(buf);
}

static void
events__rename_and_pause__updated(void **state)
{
	struct docker_table t;
	struct docker_event ev;
	struct docker_ctr c, *e;
	static const char ren[] =
	    "{\"Type\":\"container\",\"Action\":"
	    "\"rename\",\"Actor\":{\"ID\":\"" FX_LOW "\",\"Attributes\":"
	    "{\"name\":\"new\",\"oldName\":\"/old\",\"image\":\"low_img\"}}}";
	static const char pause[] =
	    "{\"Type\":\"container\",\"Action\":"
	    "\"pause\",\"Actor\":{\"ID\":\"" FX_LOW "\",\"Attributes\":{}}}";
	static const char exec[] =
	    "{\"Type\":\"container\",\"Action\":"
	    "\"exec_start: sh -c true\",\"Actor\":{\"ID\":\"" FX_LOW "\"}}";

	docker_table_init(&t);
	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", FX_LOW);
	snprintf(c.name, sizeof(c.name), "old");
	snprintf(c.state, sizeof(c.state), "running");
	assert_non_null(docker_table_upsert(&t, &c));
	assert_int_equal(docker_parse_event(ren, sizeof(ren) - 1, &ev, err,
			     sizeof(err)),
	    0);
	assert_int_equal(docker_table_apply_event(&t, &ev),
	    DOCKER_APPLY_UPDATED);
	e = docker_table_find(&t, FX_LOW);
	assert_string_equal(e->name, "new");
	assert_string_equal(e->image, "low_img");
	assert_int_equal(docker_parse_event(pause, sizeof(pause) - 1, &ev, err,
			     sizeof(err)),
	    0);
	docker_table_apply_event(&t, &ev);
	assert_string_equal(e->state, "paused");
	/* Unnamed event of an unknown container: ask Docker (inspect). */
	docker_table_remove(&t, FX_LOW);
	assert_int_equal(docker_table_apply_event(&t, &ev),
	    DOCKER_APPLY_UNKNOWN);
	/* "exec_start: sh -c true" is the verb exec_start. */
	assert_int_equal(docker_parse_event(exec, sizeof(exec) - 1, &ev, err,
			     sizeof(err)),
	    0);
	assert_string_equal(ev.action, "exec_start");
	/* Other types are not ours. */
	{
		static const char net[] =
		    "{\"Type\":\"network\",\"Action\":"
		    "\"connect\",\"Actor\":{\"ID\":\"x\"}}";

		assert_int_equal(docker_parse_event(net, sizeof(net) - 1, &ev,
				     err, sizeof(err)),
		    0);
	}
	assert_int_equal(docker_table_apply_event(&t, &ev),
	    DOCKER_APPLY_IGNORED);
	docker_table_free(&t);
}

static void
stream__garbage_and_strings__handled(void **state)
{
	size_t start;

	assert_int_equal(docker_stream_next("", 0, &start), 0);
	assert_int_equal(docker_stream_next("  \n", 3, &start), 0);
	assert_int_equal(start, 3);
	assert_int_equal(docker_stream_next("[1]", 3, &start), -1);
	assert_int_equal(docker_stream_next("}", 1, &start), -1);
	/* Braces and quotes inside strings do not end the object. */
	assert_int_equal(docker_stream_next("{\"a\":\"}\\\"{\"}x", 13, &start),
	    12);
	assert_int_equal(docker_stream_next("{\"a\":\"}\\\"{\"", 11, &start),
	    0);
	assert_int_equal(docker_parse_event("{\"Type\":\"container\"}", 20,
			     &(struct docker_event){ 0 }, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no Action"));
}

static void
errors__captured__docker_message(void **state)
{
	char out[256], *buf;
	size_t len;

	buf = slurp("error-404.json", &len);
	docker_error_text(buf, len, 404, out, sizeof(out));
	assert_string_equal(out,
	    "No such container: "
	    "0000000000000000000000000000000000000000000000000000000000000000");
	free(buf);
	buf = slurp("error-409.json", &len);
	docker_error_text(buf, len, 409, out, sizeof(out));
	assert_non_null(strstr(out, "is not running"));
	free(buf);
	buf = slurp("error-500.json", &len);
	docker_error_text(buf, len, 500, out, sizeof(out));
	assert_non_null(strstr(out, "invalid character"));
	free(buf);
	docker_error_text("", 0, 502, out, sizeof(out));
	assert_string_equal(out, "HTTP 502");
	docker_error_text("Bad Gateway\nmore", 16, 502, out, sizeof(out));
	assert_string_equal(out, "HTTP 502: Bad Gateway");
}

/*
 * A plain-text body that ends the buffer, with no newline and no NUL after
 * it: the text is cut at len, not read past. The body sits right before an
 * unreadable page, so reading one byte too far faults.
 */
static void
errors__text_at_end_of_buffer__not_read_past(void **state)
{
	static const char text[] = "Bad Gateway";
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = strlen(text);
	char out[128], *map, *buf;

	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
	buf = map + page - len;
	memcpy(buf, text, len);
	docker_error_text(buf, len, 502, out, sizeof(out));
	assert_string_equal(out, "HTTP 502: Bad Gateway");
	docker_error_text(buf, 3, 502, out, sizeof(out));
	assert_string_equal(out, "HTTP 502: Bad");
	munmap(map, 2 * page);
}

static void
table__generations__stale_entries_dropped(void **state)
{
	struct docker_table t;
	struct docker_ctr c;

	docker_table_init(&t);
	memset(&c, 0, sizeof(c));
	t.gen = 1;
	snprintf(c.id, sizeof(c.id), "%064d", 1);
	docker_table_upsert(&t, &c);
	snprintf(c.id, sizeof(c.id), "%064d", 2);
	docker_table_upsert(&t, &c);
	/* Reconnect: only the second is listed again. */
	t.gen = 2;
	docker_table_upsert(&t, &c);
	assert_int_equal(t.n, 2);
	assert_int_equal(docker_table_drop_older(&t, 2), 1);
	assert_int_equal(t.n, 1);
	assert_non_null(docker_table_find(&t, c.id));
	docker_table_free(&t);
}

/* What the decider does with a listed container: its class. */
static void
class__from_docker_list__name_image_label(void **state)
{
	static const char list[] =
	    "["
	    "{\"Id\":\"" FX_LOW "\",\"Names\":[\"/high_cpu_1\"],"
	    "\"Image\":\"high_cpu_img\",\"State\":\"running\"},"
	    "{\"Id\":\"1" FX_LOW "\",\"Names\":[\"/web\"],"
	    "\"Image\":\"nginx\",\"State\":\"running\"},"
	    "{\"Id\":\"2" FX_LOW "\",\"Names\":[\"/low_1\"],"
	    "\"Image\":\"low_img\",\"State\":\"running\","
	    "\"Labels\":{\"kwarden.class\":\"high\"}},"
	    "{\"Id\":\"3" FX_LOW "\",\"Names\":[\"/grafana\"],"
	    "\"Image\":\"grafana/grafana\",\"State\":\"running\"},"
	    "{\"Id\":\"4" FX_LOW "\",\"Names\":[\"/x\"],"
	    "\"Image\":\"high_mem_img\",\"State\":\"running\","
	    "\"Labels\":{\"kwarden.class\":\"nosuch\"}}]";
	static const char *const want[] = { "high", "low", "high", "low",
		"high" };
	struct docker_ctr *c;
	struct policy p;
	size_t n, i;

	/* Ids of 65 characters are refused: only the first and fixed ones. */
	assert_int_equal(docker_parse_list(list, sizeof(list) - 1, &c, &n, err,
			     sizeof(err)),
	    0);
	assert_int_equal(n, 1);
	free(c);

	policy_defaults(&p);
	{
		char fixed[sizeof(list)];
		char *q;

		/* Give each entry its own 64-hex id. */
		memcpy(fixed, list, sizeof(list));
		for (i = 1, q = fixed; (q = strstr(q, "\"Id\":\"")) != NULL;
		     q += 6) {
			if (q[6] >= '1' && q[6] <= '4') {
				memmove(q + 6, q + 7, strlen(q + 7) + 1);
				q[6 + 63] = (char)('0' + i++);
			}
		}
		assert_int_equal(docker_parse_list(fixed, strlen(fixed), &c,
				     &n, err, sizeof(err)),
		    0);
	}
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_string_equal(policy_class_name(&p,
					policy_classify(&p, c[i].name,
					    c[i].image, c[i].label_class)),
		    want[i]);
	assert_string_equal(policy_protected_by(&p, c[3].name, c[3].image),
	    "grafana");
	free(c);
}

/*
 * A name longer than the old 127-byte field, ending in a protect pattern:
 * the table keeps all of it, so protect (and match) still see the end.
 */
static void
protect__long_name__matches_past_127_bytes(void **state)
{
	char list[1024], name[201];
	struct docker_ctr *c;
	struct policy p;
	size_t n;

	memset(name, 'x', 193);
	memcpy(name + 193, "grafana", 8);
	snprintf(list, sizeof(list),
	    "[{\"Id\":\"" FX_LOW "\",\"Names\":"
	    "[\"/%s\"],\"Image\":\"img\",\"State\":\"running\"}]",
	    name);
	assert_int_equal(docker_parse_list(list, strlen(list), &c, &n, err,
			     sizeof(err)),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].name, name);
	policy_defaults(&p);
	assert_non_null(policy_protected_by(&p, c[0].name, c[0].image));
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    list__captured__running_containers_with_names),
		cmocka_unit_test(list__empty_and_malformed),
		cmocka_unit_test(inspect__captured__name_image_label_state),
		cmocka_unit_test(events__cut_at_every_size__same_events),
		cmocka_unit_test(events__captured__table_follows_them),
		cmocka_unit_test(events__rename_and_pause__updated),
		cmocka_unit_test(stream__garbage_and_strings__handled),
		cmocka_unit_test(errors__captured__docker_message),
		cmocka_unit_test(errors__text_at_end_of_buffer__not_read_past),
		cmocka_unit_test(table__generations__stale_entries_dropped),
		cmocka_unit_test(class__from_docker_list__name_image_label),
		cmocka_unit_test(protect__long_name__matches_past_127_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
