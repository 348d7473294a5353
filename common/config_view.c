/*
 * Views of the effective config: the INI text of --print-config, the JSON
 * object of the control socket's `config`, and the argv kwarden-run passes
 * on to its children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_int.h"

const char *const *
kw_conf_argv(const struct kw_conf *conf, size_t *argc)
{
	static const char *const empty[] = { NULL };

	if (argc != NULL)
		*argc = conf->argc;
	if (conf->argv == NULL)
		return empty;
	return (const char *const *)conf->argv;
}

void
kw_conf_print(const struct kw_conf *conf, FILE *fp)
{
	size_t i, j;

	if (conf->file != NULL)
		fprintf(fp, "; kwarden effective configuration (file %s)\n",
		    conf->file);
	else
		fprintf(fp, "; kwarden effective configuration (defaults)\n");
	for (i = 0; i < conf_nsections; i++) {
		fprintf(fp, "\n[%s]\n", conf_sections[i]);
		for (j = 0; j < conf_nkeys; j++)
			if (strcmp(conf_keys[j].section, conf_sections[i]) ==
			    0)
				fprintf(fp, "%s = %s\n", conf_keys[j].key,
				    conf->val[j]);
	}
	for (i = 0; i < conf->nclasses; i++) {
		fprintf(fp, "\n[class.%s]\n", conf->classes[i].name);
		for (j = 0; j < CONF_NCLASSKEYS; j++)
			fprintf(fp, "%s = %s\n", conf_class_keys[j].key,
			    conf->classes[i].val[j]);
	}
}

struct json_t *
kw_conf_json(const struct kw_conf *conf)
{
	json_t *root, *sec;
	char name[128];
	size_t i, j;

	if ((root = json_object()) == NULL)
		return NULL;
	for (i = 0; i < conf_nsections; i++) {
		if ((sec = json_object()) == NULL)
			goto fail;
		for (j = 0; j < conf_nkeys; j++)
			if (strcmp(conf_keys[j].section, conf_sections[i]) ==
			    0)
				json_object_set_new(sec, conf_keys[j].key,
				    json_string(conf->val[j]));
		json_object_set_new(root, conf_sections[i], sec);
	}
	for (i = 0; i < conf->nclasses; i++) {
		if ((sec = json_object()) == NULL)
			goto fail;
		for (j = 0; j < CONF_NCLASSKEYS; j++)
			json_object_set_new(sec, conf_class_keys[j].key,
			    json_string(conf->classes[i].val[j]));
		snprintf(name, sizeof(name), "class.%s",
		    conf->classes[i].name);
		json_object_set_new(root, name, sec);
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

/* One SECTION.KEY=VALUE line; -1 when it does not fit in buf. */
static int
text_line(char *buf, size_t len, size_t *off, const char *section,
    const char *key, const char *value)
{
	int n;

	if (*off >= len)
		return -1;
	n = snprintf(buf + *off, len - *off, "%s.%s=%s\n", section, key,
	    value);
	if (n < 0 || (size_t)n >= len - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

int
kw_conf_policy_text(const struct kw_conf *conf, char *buf, size_t len)
{
	char section[128];
	size_t i, j, off = 0;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (j = 0; j < conf_nkeys; j++)
		if (strcmp(conf_keys[j].section, "policy") == 0 &&
		    text_line(buf, len, &off, "policy", conf_keys[j].key,
			conf->val[j]) == -1)
			return -1;
	for (i = 0; i < conf->nclasses; i++) {
		snprintf(section, sizeof(section), "class.%s",
		    conf->classes[i].name);
		for (j = 0; j < CONF_NCLASSKEYS; j++)
			if (text_line(buf, len, &off, section,
				conf_class_keys[j].key,
				conf->classes[i].val[j]) == -1)
				return -1;
	}
	return 0;
}

int
kw_conf_apply_text(struct kw_conf *conf, const char *text, const char *origin,
    char *errbuf, size_t errlen)
{
	const char *line = text, *nl, *eq, *dot;
	char *copy, section[128], key[128];
	int rc = 0;

	while (rc == 0 && *line != '\0') {
		nl = strchr(line, '\n');
		if ((copy = strndup(line,
			 nl != NULL ? (size_t)(nl - line) : strlen(line))) ==
		    NULL) {
			snprintf(errbuf, errlen, "%s: out of memory", origin);
			return -1;
		}
		line = nl != NULL ? nl + 1 : line + strlen(line);
		if (copy[0] == '\0') {
			free(copy);
			continue;
		}
		if ((eq = strchr(copy, '=')) == NULL ||
		    (dot = memrchr(copy, '.', (size_t)(eq - copy))) == NULL ||
		    dot == copy || dot + 1 == eq ||
		    (size_t)(dot - copy) >= sizeof(section) ||
		    (size_t)(eq - dot - 1) >= sizeof(key)) {
			snprintf(errbuf, errlen,
			    "%s: \"%.64s\": expected "
			    "SECTION.KEY=VALUE",
			    origin, copy);
			rc = -1;
		} else {
			snprintf(section, sizeof(section), "%.*s",
			    (int)(dot - copy), copy);
			snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1),
			    dot + 1);
			rc = conf_set_value(conf, section, key, eq + 1, origin,
			    errbuf, errlen);
		}
		free(copy);
	}
	return rc;
}
