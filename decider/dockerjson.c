/*
 * Docker Engine API responses, parsed apart from the I/O (docker.c): the
 * container list, inspect, the event stream (split into objects, then
 * parsed) and error bodies; and the table of known containers that they
 * keep current. Pure: bytes in, structs out; tests feed captured responses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decider.h"

#define LABEL_CLASS	      "kwarden.class"
#define LABEL_COMPOSE_PROJECT "com.docker.compose.project"
#define LABEL_COMPOSE_SERVICE "com.docker.compose.service"
#define LABEL_SWARM_SERVICE   "com.docker.swarm.service.name"

static void
copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

/* Docker names start with '/': "/web" is the container "web". */
static void
copy_name(char *dst, size_t len, const char *name)
{
	if (name != NULL && name[0] == '/')
		name++;
	copy_str(dst, len, name);
}

static const char *
get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
set_label(char *dst, size_t len, json_t *labels, const char *key)
{
	const char *v;

	dst[0] = '\0';
	if (json_is_object(labels) && (v = get_str(labels, key)) != NULL)
		copy_str(dst, len, v);
}

/* kwarden.class, and the labels a container's identity comes from. */
static void
set_label_class(struct docker_ctr *c, json_t *labels)
{
	set_label(c->label_class, sizeof(c->label_class), labels, LABEL_CLASS);
	set_label(c->compose_project, sizeof(c->compose_project), labels,
	    LABEL_COMPOSE_PROJECT);
	set_label(c->compose_service, sizeof(c->compose_service), labels,
	    LABEL_COMPOSE_SERVICE);
	set_label(c->swarm_service, sizeof(c->swarm_service), labels,
	    LABEL_SWARM_SERVICE);
}

static json_t *
load(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;

	if ((root = json_loadb(buf, len, 0, &je)) == NULL)
		snprintf(err, errlen, "bad JSON at byte %d: %s", je.position,
		    je.text);
	return root;
}

/* One entry of GET /containers/json. */
static int
list_entry(json_t *e, struct docker_ctr *c, char *err, size_t errlen)
{
	json_t *names;
	const char *id;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(e) || !kw_cid_ok(id = get_str(e, "Id"))) {
		snprintf(err, errlen, "container list: an entry has no Id");
		return -1;
	}
	copy_str(c->id, sizeof(c->id), id);
	names = json_object_get(e, "Names");
	if (json_is_array(names) && json_array_size(names) > 0 &&
	    json_is_string(json_array_get(names, 0)))
		copy_name(c->name, sizeof(c->name),
		    json_string_value(json_array_get(names, 0)));
	copy_str(c->image, sizeof(c->image), get_str(e, "Image"));
	copy_str(c->state, sizeof(c->state), get_str(e, "State"));
	set_label_class(c, json_object_get(e, "Labels"));
	return 0;
}

int
docker_parse_list(const char *buf, size_t len, struct docker_ctr **out,
    size_t *n, char *err, size_t errlen)
{
	json_t *root;
	struct docker_ctr *c = NULL;
	size_t i, k = 0, size;

	*out = NULL;
	*n = 0;
	if ((root = load(buf, len, err, errlen)) == NULL)
		return -1;
	if (!json_is_array(root)) {
		snprintf(err, errlen, "container list: not an array");
		json_decref(root);
		return -1;
	}
	size = json_array_size(root);
	if (size > 0 && (c = calloc(size, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "container list: out of memory");
		json_decref(root);
		return -1;
	}
	for (i = 0; i < size; i++)
		if (list_entry(json_array_get(root, i), &c[k], err, errlen) ==
		    0)
			k++;
	json_decref(root);
	if (k == 0 && i > 0) {
		free(c);
		return -1;
	}
	err[0] = '\0';
	*out = c;
	*n = k;
	return 0;
}

int
docker_parse_inspect(const char *buf, size_t len, struct docker_ctr *c,
    char *err, size_t errlen)
{
	json_t *root, *config, *state, *pid;
	const char *id;

	memset(c, 0, sizeof(*c));
	if ((root = load(buf, len, err, errlen)) == NULL)
		return -1;
	if (!json_is_object(root) || !kw_cid_ok(id = get_str(root, "Id"))) {
		snprintf(err, errlen, "inspect: no container Id");
		json_decref(root);
		return -1;
	}
	copy_str(c->id, sizeof(c->id), id);
	copy_name(c->name, sizeof(c->name), get_str(root, "Name"));
	config = json_object_get(root, "Config");
	/* Config.Image is the name it was run with; .Image is the digest. */
	if (json_is_object(config) && get_str(config, "Image") != NULL)
		copy_str(c->image, sizeof(c->image), get_str(config, "Image"));
	else
		copy_str(c->image, sizeof(c->image), get_str(root, "Image"));
	if (json_is_object(config))
		set_label_class(c, json_object_get(config, "Labels"));
	state = json_object_get(root, "State");
	if (json_is_object(state)) {
		copy_str(c->state, sizeof(c->state), get_str(state, "Status"));
		/* The container's first process: its cgroup is the real one. */
		pid = json_object_get(state, "Pid");
		if (json_is_integer(pid) && json_integer_value(pid) > 0 &&
		    json_integer_value(pid) <= INT32_MAX)
			c->pid = (int32_t)json_integer_value(pid);
	}
	json_decref(root);
	return 0;
}

int
docker_parse_event(const char *buf, size_t len, struct docker_event *ev,
    char *err, size_t errlen)
{
	json_t *root, *actor, *attrs;
	const char *type, *action, *id, *v;
	size_t n;

	memset(ev, 0, sizeof(*ev));
	if ((root = load(buf, len, err, errlen)) == NULL)
		return -1;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "event: not an object");
		json_decref(root);
		return -1;
	}
	type = get_str(root, "Type");
	action = get_str(root, "Action");
	if (action == NULL)
		action = get_str(root, "status"); /* before API 1.22 */
	actor = json_object_get(root, "Actor");
	id = json_is_object(actor) ? get_str(actor, "ID") : NULL;
	if (id == NULL)
		id = get_str(root, "id");
	if (action == NULL) {
		snprintf(err, errlen, "event: no Action");
		json_decref(root);
		return -1;
	}
	copy_str(ev->type, sizeof(ev->type),
	    type != NULL ? type : "container");
	/* "exec_start: sh -c ...", "health_status: healthy": the verb. */
	n = strcspn(action, ":");
	if (n >= sizeof(ev->action))
		n = sizeof(ev->action) - 1;
	memcpy(ev->action, action, n);
	ev->action[n] = '\0';
	if (strcmp(ev->type, "container") == 0 && !kw_cid_ok(id)) {
		snprintf(err, errlen, "event %s: no container id", ev->action);
		json_decref(root);
		return -1;
	}
	copy_str(ev->c.id, sizeof(ev->c.id), id);
	attrs = json_is_object(actor) ? json_object_get(actor, "Attributes") :
					NULL;
	if (json_is_object(attrs)) {
		if ((v = get_str(attrs, "name")) != NULL) {
			copy_name(ev->c.name, sizeof(ev->c.name), v);
			ev->has_name = 1;
		}
		if ((v = get_str(attrs, "image")) != NULL) {
			copy_str(ev->c.image, sizeof(ev->c.image), v);
			ev->has_image = 1;
		}
		/* Labels come mixed into the attributes. */
		set_label_class(&ev->c, attrs);
	}
	if (!ev->has_image && (v = get_str(root, "from")) != NULL) {
		copy_str(ev->c.image, sizeof(ev->c.image), v);
		ev->has_image = 1;
	}
	json_decref(root);
	return 0;
}

/*
 * The next complete JSON object in a stream of objects: skips leading
 * whitespace (*start), returns the object's length, 0 while it is still
 * incomplete, -1 when the data is not an object.
 */
long
docker_stream_next(const char *buf, size_t len, size_t *start)
{
	size_t i = 0, depth = 0;
	int in_str = 0, esc = 0;

	while (i < len &&
	    (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' ||
		buf[i] == '\t'))
		i++;
	*start = i;
	if (i == len)
		return 0;
	if (buf[i] != '{')
		return -1;
	for (; i < len; i++) {
		char ch = buf[i];

		if (in_str) {
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"')
			in_str = 1;
		else if (ch == '{' || ch == '[')
			depth++;
		else if (ch == '}' || ch == ']') {
			if (depth == 0)
				return -1;
			if (--depth == 0)
				return (long)(i + 1 - *start);
		}
	}
	return 0;
}

void
docker_error_text(const char *buf, size_t len, long http_code, char *out,
    size_t outlen)
{
	json_t *root = NULL;
	const char *msg = NULL;
	size_t n;

	if (len > 0 && (root = json_loadb(buf, len, 0, NULL)) != NULL &&
	    json_is_object(root))
		msg = get_str(root, "message");
	if (msg != NULL && msg[0] != '\0')
		snprintf(out, outlen, "%s", msg);
	else if (len > 0 && root == NULL) {
		/* Plain text: its first line (buf need not end in a NUL). */
		for (n = 0; n < len && buf[n] != '\r' && buf[n] != '\n' &&
		     buf[n] != '\0';
		     n++)
			;
		snprintf(out, outlen, "HTTP %ld: %.*s", http_code, (int)n,
		    buf);
	} else
		snprintf(out, outlen, "HTTP %ld", http_code);
	json_decref(root);
}

/* The table. */

void
docker_table_init(struct docker_table *t)
{
	memset(t, 0, sizeof(*t));
}

void
docker_table_free(struct docker_table *t)
{
	free(t->c);
	memset(t, 0, sizeof(*t));
}

struct docker_ctr *
docker_table_find(const struct docker_table *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->c[i].id, id) == 0)
			return &t->c[i];
	return NULL;
}

struct docker_ctr *
docker_table_upsert(struct docker_table *t, const struct docker_ctr *c)
{
	struct docker_ctr *e, *nc;
	uint64_t starts = c->starts;
	size_t cap;

	if ((e = docker_table_find(t, c->id)) != NULL && e->starts > starts)
		starts = e->starts;
	if (e == NULL) {
		if (t->n == t->cap) {
			cap = t->cap ? t->cap * 2 : 16;
			if ((nc = realloc(t->c, cap * sizeof(*nc))) == NULL)
				return NULL;
			t->c = nc;
			t->cap = cap;
		}
		e = &t->c[t->n++];
	}
	*e = *c;
	e->gen = t->gen;
	e->starts = starts;
	return e;
}

void
docker_table_remove(struct docker_table *t, const char *id)
{
	struct docker_ctr *e;

	if ((e = docker_table_find(t, id)) == NULL)
		return;
	*e = t->c[--t->n];
}

size_t
docker_table_drop_older(struct docker_table *t, uint64_t gen)
{
	size_t i = 0, dropped = 0;

	while (i < t->n)
		if (t->c[i].gen < gen) {
			t->c[i] = t->c[--t->n];
			dropped++;
		} else
			i++;
	return dropped;
}

/* The state an event leaves a container in, or NULL when it says none. */
static const char *
event_state(const char *action)
{
	static const struct {
		const char *action, *state;
	} map[] = {
		{ "create", "created" },
		{ "start", "running" },
		{ "restart", "running" },
		{ "unpause", "running" },
		{ "pause", "paused" },
		{ "die", "exited" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].action, action) == 0)
			return map[i].state;
	return NULL;
}

enum docker_apply
docker_table_apply_event(struct docker_table *t, const struct docker_event *ev)
{
	struct docker_ctr *e, c;
	const char *state;

	if (strcmp(ev->type, "container") != 0)
		return DOCKER_APPLY_IGNORED;
	if (strcmp(ev->action, "destroy") == 0) {
		if (docker_table_find(t, ev->c.id) == NULL)
			return DOCKER_APPLY_IGNORED;
		docker_table_remove(t, ev->c.id);
		return DOCKER_APPLY_REMOVED;
	}
	state = event_state(ev->action);
	if ((e = docker_table_find(t, ev->c.id)) == NULL) {
		/* The end of a container we never knew adds nothing. */
		if (strcmp(ev->action, "die") == 0 ||
		    strcmp(ev->action, "kill") == 0 ||
		    strcmp(ev->action, "stop") == 0 ||
		    strcmp(ev->action, "oom") == 0)
			return DOCKER_APPLY_IGNORED;
		/* Unknown: what it says is enough when it names it. */
		if (!ev->has_name || !ev->has_image)
			return DOCKER_APPLY_UNKNOWN;
		c = ev->c;
		copy_str(c.state, sizeof(c.state),
		    state != NULL ? state : "running");
		if (docker_table_upsert(t, &c) == NULL)
			return DOCKER_APPLY_UNKNOWN;
		return DOCKER_APPLY_ADDED;
	}
	/* Every event carries the current name (rename included). */
	if (ev->has_name)
		copy_str(e->name, sizeof(e->name), ev->c.name);
	if (ev->has_image && e->image[0] == '\0')
		copy_str(e->image, sizeof(e->image), ev->c.image);
	if (ev->c.label_class[0] != '\0')
		copy_str(e->label_class, sizeof(e->label_class),
		    ev->c.label_class);
	if (ev->c.compose_project[0] != '\0' &&
	    ev->c.compose_service[0] != '\0') {
		copy_str(e->compose_project, sizeof(e->compose_project),
		    ev->c.compose_project);
		copy_str(e->compose_service, sizeof(e->compose_service),
		    ev->c.compose_service);
	}
	if (ev->c.swarm_service[0] != '\0')
		copy_str(e->swarm_service, sizeof(e->swarm_service),
		    ev->c.swarm_service);
	if (state != NULL)
		copy_str(e->state, sizeof(e->state), state);
	/* A new first process, or none: inspect again to know it. */
	if (strcmp(ev->action, "start") == 0 ||
	    strcmp(ev->action, "restart") == 0 ||
	    strcmp(ev->action, "die") == 0)
		e->pid = 0;
	/* A start after a stop or kill is the container back again. */
	if (strcmp(ev->action, "start") == 0)
		e->starts++;
	e->gen = t->gen;
	return DOCKER_APPLY_UPDATED;
}
