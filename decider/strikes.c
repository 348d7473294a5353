/*
 * Respawn memory: strikes and quarantine by identity, an identity being
 * what survives a container's recreation (compose project and service,
 * else swarm service, else name). Pure: the wall clock comes in as unix
 * seconds; the file it is kept in is written by decider.c from
 * strikes_format and read back with strikes_parse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decider.h"

/* The file's layout; a newer one is refused rather than misread. */
#define STRIKES_FILE_VERSION 1

void
ident_of(const char *project, const char *service, const char *swarm,
    const char *name, char *out, size_t len)
{
	if (project != NULL && service != NULL && project[0] != '\0' &&
	    service[0] != '\0')
		snprintf(out, len, "compose:%s/%s", project, service);
	else if (swarm != NULL && swarm[0] != '\0')
		snprintf(out, len, "swarm:%s", swarm);
	else if (name != NULL && name[0] != '\0')
		snprintf(out, len, "name:%s", name);
	else
		out[0] = '\0';
}

void
strikes_init(struct strike_table *t)
{
	memset(t, 0, sizeof(*t));
}

void
strikes_free(struct strike_table *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

struct strike_entry *
strikes_find(const struct strike_table *t, const char *identity)
{
	size_t i;

	if (identity == NULL || identity[0] == '\0')
		return NULL;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->e[i].identity, identity) == 0)
			return &t->e[i];
	return NULL;
}

struct strike_entry *
strikes_lookup(const struct strike_table *t, const char *what)
{
	struct strike_entry *s;
	size_t i, len = strlen(what);

	if (len == 0)
		return NULL;
	if ((s = strikes_find(t, what)) != NULL)
		return s;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->e[i].name, what) == 0)
			return &t->e[i];
	for (i = 0; i < t->n; i++)
		if (t->e[i].applied_id[0] != '\0' &&
		    strncmp(t->e[i].applied_id, what, len) == 0)
			return &t->e[i];
	return NULL;
}

size_t
strikes_count(const struct strike_entry *s, uint64_t now_s, uint64_t window_s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nstrikes; i++)
		if (s->strike_s[i] + window_s > now_s)
			n++;
	return n;
}

/* Drop strikes that fell out of the window (they are oldest first). */
static void
expire(struct strike_entry *s, uint64_t now_s, uint64_t window_s)
{
	size_t i = 0;

	while (i < s->nstrikes && s->strike_s[i] + window_s <= now_s)
		i++;
	if (i == 0)
		return;
	memmove(s->strike_s, s->strike_s + i,
	    (s->nstrikes - i) * sizeof(s->strike_s[0]));
	s->nstrikes -= i;
}

static struct strike_entry *
strikes_get(struct strike_table *t, const char *identity)
{
	struct strike_entry *s, *ne;
	size_t cap;

	if ((s = strikes_find(t, identity)) != NULL)
		return s;
	if (t->n == STRIKES_IDENT_MAX)
		return NULL;
	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if ((ne = realloc(t->e, cap * sizeof(*ne))) == NULL)
			return NULL;
		t->e = ne;
		t->cap = cap;
	}
	s = &t->e[t->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->identity, sizeof(s->identity), "%s", identity);
	return s;
}

int
strikes_add(struct strike_table *t, const char *identity, const char *name,
    uint64_t now_s, uint64_t window_s, uint32_t after)
{
	struct strike_entry *s;

	if (identity == NULL || identity[0] == '\0')
		return 0;
	if (t->n == STRIKES_IDENT_MAX && strikes_find(t, identity) == NULL)
		strikes_prune(t, now_s, window_s);
	if ((s = strikes_get(t, identity)) == NULL)
		return -1;
	expire(s, now_s, window_s);
	if (s->nstrikes == STRIKES_MAX) {
		memmove(s->strike_s, s->strike_s + 1,
		    (STRIKES_MAX - 1) * sizeof(s->strike_s[0]));
		s->nstrikes--;
	}
	s->strike_s[s->nstrikes++] = now_s;
	if (name != NULL && name[0] != '\0')
		snprintf(s->name, sizeof(s->name), "%s", name);
	t->dirty = 1;
	if (after > 0 && !s->quarantined && s->nstrikes >= after) {
		s->quarantined = 1;
		s->quarantined_s = now_s;
		s->applied_id[0] = '\0';
		return 1;
	}
	return 0;
}

int
strikes_release(struct strike_table *t, const char *identity)
{
	struct strike_entry *s;
	size_t i;

	if ((s = strikes_find(t, identity)) == NULL)
		return -1;
	i = (size_t)(s - t->e);
	memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof(t->e[0]));
	t->n--;
	t->dirty = 1;
	return 0;
}

size_t
strikes_prune(struct strike_table *t, uint64_t now_s, uint64_t window_s)
{
	size_t i, out = 0, dropped = 0;

	for (i = 0; i < t->n; i++) {
		expire(&t->e[i], now_s, window_s);
		if (!t->e[i].quarantined && t->e[i].nstrikes == 0) {
			dropped++;
			continue;
		}
		if (out != i)
			t->e[out] = t->e[i];
		out++;
	}
	t->n = out;
	if (dropped)
		t->dirty = 1;
	return dropped;
}

char *
strikes_format(const struct strike_table *t)
{
	const struct strike_entry *s;
	json_t *o, *a, *e, *st;
	char *text;
	size_t i, j;

	if ((o = json_object()) == NULL)
		return NULL;
	a = json_array();
	json_object_set_new(o, "version", json_integer(STRIKES_FILE_VERSION));
	json_object_set_new(o, "identities", a);
	for (i = 0; i < t->n; i++) {
		s = &t->e[i];
		e = json_object();
		st = json_array();
		json_object_set_new(e, "identity", json_string(s->identity));
		json_object_set_new(e, "name", json_string(s->name));
		for (j = 0; j < s->nstrikes; j++)
			json_array_append_new(st,
			    json_integer((json_int_t)s->strike_s[j]));
		json_object_set_new(e, "strikes", st);
		json_object_set_new(e, "quarantined",
		    json_boolean(s->quarantined));
		json_object_set_new(e, "quarantined_ts",
		    json_integer((json_int_t)s->quarantined_s));
		json_object_set_new(e, "applied_id",
		    json_string(s->applied_id));
		json_array_append_new(a, e);
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static const char *
get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* One identity; -1 with err when a field is missing or out of shape. */
static int
parse_entry(json_t *e, struct strike_entry *s, char *err, size_t errlen)
{
	const char *id, *name, *applied;
	json_t *st, *v, *q, *qs;
	size_t j;

	memset(s, 0, sizeof(*s));
	id = get_str(e, "identity");
	name = get_str(e, "name");
	applied = get_str(e, "applied_id");
	st = json_object_get(e, "strikes");
	q = json_object_get(e, "quarantined");
	qs = json_object_get(e, "quarantined_ts");
	if (id == NULL || id[0] == '\0' || strlen(id) >= IDENT_LEN ||
	    name == NULL || applied == NULL || strlen(applied) >= KW_CID_LEN ||
	    !json_is_array(st) || json_array_size(st) > STRIKES_MAX ||
	    !json_is_boolean(q) || !json_is_integer(qs) ||
	    json_integer_value(qs) < 0) {
		snprintf(err, errlen, "an identity out of shape");
		return -1;
	}
	snprintf(s->identity, sizeof(s->identity), "%s", id);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->applied_id, sizeof(s->applied_id), "%s", applied);
	json_array_foreach(st, j, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen,
			    "%s: a strike that is not a "
			    "time",
			    id);
			return -1;
		}
		s->strike_s[s->nstrikes++] = (uint64_t)json_integer_value(v);
	}
	s->quarantined = json_is_true(q);
	s->quarantined_s = (uint64_t)json_integer_value(qs);
	return 0;
}

int
strikes_parse(struct strike_table *t, const char *buf, size_t len, char *err,
    size_t errlen)
{
	struct strike_table nt;
	json_error_t jerr;
	json_t *o, *a, *e, *v;
	size_t i;

	if ((o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	v = json_object_get(o, "version");
	a = json_object_get(o, "identities");
	if (!json_is_integer(v) ||
	    json_integer_value(v) != STRIKES_FILE_VERSION ||
	    !json_is_array(a)) {
		snprintf(err, errlen, "not a version %d strikes file",
		    STRIKES_FILE_VERSION);
		json_decref(o);
		return -1;
	}
	if (json_array_size(a) > STRIKES_IDENT_MAX) {
		snprintf(err, errlen, "%zu identities, at most %d",
		    json_array_size(a), STRIKES_IDENT_MAX);
		json_decref(o);
		return -1;
	}
	strikes_init(&nt);
	if (json_array_size(a) > 0 &&
	    (nt.e = calloc(json_array_size(a), sizeof(*nt.e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		json_decref(o);
		return -1;
	}
	nt.cap = json_array_size(a);
	/* nt.e is NULL only for an empty array: nothing to parse. */
	for (i = 0; nt.e != NULL && i < nt.cap; i++) {
		e = json_array_get(a, i);
		if (parse_entry(e, &nt.e[nt.n], err, errlen) == -1) {
			strikes_free(&nt);
			json_decref(o);
			return -1;
		}
		if (strikes_find(&nt, nt.e[nt.n].identity) != NULL)
			continue;
		nt.n++;
	}
	json_decref(o);
	strikes_free(t);
	*t = nt;
	return 0;
}
