/*
 * The decider's records on its stream (decider.sock) for the recorder:
 * a sample's figures and decisions, each action's row, the policy in
 * force, the end of a clean stop.
 */
#include <stdio.h>
#include <stdlib.h>

#include "decider.h"

static void
publish(struct decider *dz, enum kw_msg_type type, size_t fields,
    void (*pack)(msgpack_packer *, const void *), const void *rec)
{
	msgpack_packer *pk;

	if (dz->pub == NULL ||
	    (pk = kw_pub_begin(dz->pub, type, fields)) == NULL)
		return;
	pack(pk, rec);
	kw_pub_commit(dz->pub);
}

static void
pack_nothing(msgpack_packer *pk, const void *r)
{
	(void)pk;
	(void)r;
}

static void
pack_sys(msgpack_packer *pk, const void *r)
{
	kw_sys_pack(pk, r);
}

static void
pack_container(msgpack_packer *pk, const void *r)
{
	kw_container_pack(pk, r);
}

static void
pack_proc(msgpack_packer *pk, const void *r)
{
	kw_proc_rec_pack(pk, r);
}

static void
pack_deletion(msgpack_packer *pk, const void *r)
{
	kw_deletion_pack(pk, r);
}

static void
pack_decision(msgpack_packer *pk, const void *r)
{
	kw_decision_pack(pk, r);
}

static void
pack_policy(msgpack_packer *pk, const void *r)
{
	kw_policy_pack(pk, r);
}

void
decider_publish_figures(struct decider *dz, const struct engine_out *out)
{
	size_t i;

	if (out->has_sys)
		publish(dz, KW_MSG_SYS, KW_SYS_FIELDS, pack_sys, &out->sys);
	for (i = 0; i < out->ncontainers; i++)
		publish(dz, KW_MSG_CONTAINER, KW_CONTAINER_FIELDS,
		    pack_container, &out->containers[i]);
	for (i = 0; i < out->nprocs; i++)
		publish(dz, KW_MSG_PROC, KW_PROC_FIELDS, pack_proc,
		    &out->procs[i]);
}

void
decider_publish_decisions(struct decider *dz, const struct engine_out *out)
{
	size_t i;

	for (i = 0; i < out->ndecisions; i++)
		publish(dz, KW_MSG_DECISION, KW_DECISION_FIELDS, pack_decision,
		    &out->decisions[i]);
}

void
decider_publish_deletion(struct decider *dz, const struct kw_deletion_rec *r)
{
	metrics_count_action(dz->metrics, r);
	publish(dz, KW_MSG_DELETION, kw_fields_count(&kw_deletion_schema, r),
	    pack_deletion, r);
}

/* The policy in force from now on, for the policy table (the replay). */
void
decider_publish_policy(struct decider *dz, const struct kw_conf *conf,
    const char *reason)
{
	struct kw_policy_rec *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warnx("policy: out of memory: not recorded");
		return;
	}
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	if (kw_conf_policy_text(conf, r->conf, sizeof(r->conf)) == -1)
		log_warnx("policy: over %u bytes as text: not recorded",
		    KW_POLICY_TEXT_MAX);
	else
		publish(dz, KW_MSG_POLICY, KW_POLICY_FIELDS, pack_policy, r);
	free(r);
}

/* The epoch's last message: the recorder knows nothing follows. */
void
decider_publish_end(struct decider *dz)
{
	publish(dz, KW_MSG_END, 0, pack_nothing, NULL);
}
