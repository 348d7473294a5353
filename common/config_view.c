/*
 * Views of the effective config: the INI text of --print-config, the JSON
 * object of the control socket's `config`, and the argv kwarden-run passes
 * on to its children.
 */
#include <stdio.h>
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
	size_t	i, j;

	if (conf->file != NULL)
		fprintf(fp, "; kwarden effective configuration (file %s)\n",
		    conf->file);
	else
		fprintf(fp, "; kwarden effective configuration (defaults)\n");
	for (i = 0; i < conf_nsections; i++) {
		fprintf(fp, "\n[%s]\n", conf_sections[i]);
		for (j = 0; j < conf_nkeys; j++)
			if (strcmp(conf_keys[j].section, conf_sections[i]) == 0)
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
	json_t	*root, *sec;
	char	 name[128];
	size_t	 i, j;

	if ((root = json_object()) == NULL)
		return NULL;
	for (i = 0; i < conf_nsections; i++) {
		if ((sec = json_object()) == NULL)
			goto fail;
		for (j = 0; j < conf_nkeys; j++)
			if (strcmp(conf_keys[j].section, conf_sections[i]) == 0)
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
		snprintf(name, sizeof(name), "class.%s", conf->classes[i].name);
		json_object_set_new(root, name, sec);
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}
