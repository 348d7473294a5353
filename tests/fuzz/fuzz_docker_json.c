/*
 * Fuzz the Docker Engine API response parsers on the same bytes: the
 * container list, inspect, one event and an error body; what they accept
 * goes into the table of known containers, as docker.c does.
 */
#include <string.h>

#include "kwarden.h"
#include "../../decider/decider.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kw_log_init("fuzz_docker_json", KW_LOG_ERROR);
	return 0;
}

static int
is_cid(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == KW_CID_LEN - 1 && s[n] == '\0';
}

static void
check_ctr(const struct docker_ctr *c)
{
	FUZZ_CHECK(is_cid(c->id));
	FUZZ_CHECK(strnlen(c->name, sizeof(c->name)) < sizeof(c->name));
	FUZZ_CHECK(strnlen(c->image, sizeof(c->image)) < sizeof(c->image));
	FUZZ_CHECK(strnlen(c->state, sizeof(c->state)) < sizeof(c->state));
	FUZZ_CHECK(strnlen(c->label_class, sizeof(c->label_class)) <
	    sizeof(c->label_class));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct docker_table t;
	struct docker_ctr *list, c;
	struct docker_event ev;
	char err[256], text[128];
	size_t i, n;

	docker_table_init(&t);
	t.gen = 1;
	if (docker_parse_list(buf, size, &list, &n, err, sizeof(err)) == 0) {
		for (i = 0; i < n; i++) {
			check_ctr(&list[i]);
			FUZZ_CHECK(docker_table_upsert(&t, &list[i]) != NULL);
		}
		free(list);
	} else
		FUZZ_CHECK(list == NULL && n == 0 && err[0] != '\0');
	if (docker_parse_inspect(buf, size, &c, err, sizeof(err)) == 0) {
		check_ctr(&c);
		FUZZ_CHECK(docker_table_upsert(&t, &c) != NULL);
	}
	if (docker_parse_event(buf, size, &ev, err, sizeof(err)) == 0) {
		FUZZ_CHECK(strchr(ev.action, ':') == NULL);
		if (strcmp(ev.type, "container") == 0)
			check_ctr(&ev.c);
		(void)docker_table_apply_event(&t, &ev);
		t.gen++;
		(void)docker_table_apply_event(&t, &ev);
		(void)docker_table_drop_older(&t, t.gen);
	}
	docker_error_text(buf, size, 500, text, sizeof(text));
	FUZZ_CHECK(strlen(text) < sizeof(text));
	docker_table_free(&t);
	return 0;
}
