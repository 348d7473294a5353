/*
 * The recorder's in-memory batch: decider messages decoded into records
 * (one allocation each, sized to its kind) in a FIFO that the main loop
 * fills and hands, a prefix at a time, to the database writer.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recorder.h"

void
rq_init(struct rec_queue *q)
{
	q->head = NULL;
	q->tailp = &q->head;
	q->nrecs = 0;
	q->nrows = 0;
}

size_t
rec_rows(const struct rec *r)
{
	switch (r->kind) {
	case REC_SKIP:
	case REC_END:
		return 0;
	case REC_SYS:
		return 2;
	default:
		return 1;
	}
}

void
rq_push(struct rec_queue *q, struct rec *r)
{
	r->next = NULL;
	*q->tailp = r;
	q->tailp = &r->next;
	q->nrecs++;
	q->nrows += rec_rows(r);
}

void
rq_take(struct rec_queue *q, size_t max_rows, struct rec_queue *out)
{
	struct rec *r;
	uint64_t epoch;

	rq_init(out);
	if (q->head == NULL)
		return;
	epoch = q->head->epoch;
	while ((r = q->head) != NULL && r->epoch == epoch) {
		if (out->nrecs > 0 && out->nrows + rec_rows(r) > max_rows)
			break;
		q->head = r->next;
		if (q->head == NULL)
			q->tailp = &q->head;
		q->nrecs--;
		q->nrows -= rec_rows(r);
		rq_push(out, r);
	}
}

const struct rec *
rq_batch_end(const struct rec *head, size_t max_rows, size_t *n,
    const struct rec **last)
{
	const struct rec *r;
	size_t rows = 0;

	*n = 0;
	*last = NULL;
	for (r = head; r != NULL; r = r->next) {
		if (*n > 0 && rows + rec_rows(r) > max_rows)
			break;
		rows += rec_rows(r);
		(*n)++;
		*last = r;
	}
	return r;
}

void
rq_drop(struct rec_queue *q, size_t n)
{
	struct rec *r;

	while (n-- > 0 && (r = q->head) != NULL) {
		q->head = r->next;
		if (q->head == NULL)
			q->tailp = &q->head;
		q->nrecs--;
		q->nrows -= rec_rows(r);
		rec_free(r);
	}
}

/*
 * Proc records, nearly all the records of a burst, are carved in order
 * from slabs of SLAB_SIZE bytes and freed in about the same order (the
 * queue is a FIFO): a slab goes when its last record goes, one empty slab
 * is kept for the next. That is one malloc per ~300 rows instead of one
 * per row (malloc and free were the loop thread's largest share under a
 * burst), and the rows of a batch sit together in memory. Loop thread
 * only: records are made and freed there, the worker only reads them.
 */
#define SLAB_SIZE (64 * 1024)

struct rec_slab {
	size_t live; /* records carved and not freed */
	size_t used; /* bytes of data[] carved */
	max_align_t data[];
};

#define SLAB_DATA (SLAB_SIZE - offsetof(struct rec_slab, data))

static struct rec_slab *slab_cur;   /* being carved */
static struct rec_slab *slab_spare; /* empty, for the next */

static void *
slab_alloc(size_t size, struct rec_slab **from)
{
	struct rec_slab *s = slab_cur;
	void *p;

	size =
	    (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	*from = NULL;
	if (size > SLAB_DATA)
		return malloc(size);
	if (s != NULL && s->live == 0)
		s->used = 0;
	if (s == NULL || s->used + size > SLAB_DATA) {
		/* The full one goes when its last record does. */
		if (slab_spare != NULL) {
			s = slab_spare;
			slab_spare = NULL;
		} else if ((s = malloc(SLAB_SIZE)) == NULL)
			return NULL;
		s->live = 0;
		s->used = 0;
		slab_cur = s;
	}
	p = (char *)s->data + s->used;
	s->used += size;
	s->live++;
	*from = s;
	return p;
}

static void
slab_free(struct rec_slab *s)
{
	if (--s->live > 0 || s == slab_cur)
		return;
	if (slab_spare == NULL)
		slab_spare = s;
	else
		free(s);
}

void
rec_free(struct rec *r)
{
	struct rec_slab *s;

	if (r->kind == REC_DELETION)
		kw_deletion_rec_free(&((struct rec_deletion *)r)->r);
	if (r->kind == REC_PROC &&
	    (s = ((struct rec_proc *)r)->slab) != NULL) {
		slab_free(s);
		return;
	}
	free(r);
}

void
rq_free(struct rec_queue *q)
{
	struct rec *r, *next;

	for (r = q->head; r != NULL; r = next) {
		next = r->next;
		rec_free(r);
	}
	rq_init(q);
}

static struct rec *
rec_new(size_t size, enum rec_kind kind, const struct kw_msg *msg,
    uint64_t epoch)
{
	struct rec *r;

	if ((r = calloc(1, size)) == NULL)
		return NULL;
	r->kind = kind;
	r->epoch = epoch;
	r->seq = msg->seq;
	r->ts = (int64_t)(msg->ts_ns / 1000000000ull);
	return r;
}

/* The schema's offsets read the body in place: it must be aligned. */
_Static_assert(offsetof(struct rec_proc, body) %
	    _Alignof(struct kw_proc_rec) ==
	0,
    "rec_proc.body misaligned");

struct rec *
rec_proc_new(const struct kw_proc_rec *r)
{
	struct rec_proc *p;
	size_t len, n;

	len = strnlen(r->cmdline, sizeof(r->cmdline) - 1);
	n = offsetof(struct kw_proc_rec, cmdline) + len;
	if ((p = calloc(1, sizeof(*p) + n + 1)) == NULL)
		return NULL;
	p->h.kind = REC_PROC;
	memcpy(p->body, r, n); /* the NUL is calloc's */
	return &p->h;
}

/*
 * A proc record is decoded into one scratch kw_proc_rec (its 4 KiB cmdline
 * kept off the stack), then copied into a record sized to its cmdline,
 * carved from a slab. The scratch is reused: a calloc of 4 KiB per row,
 * zeroed and freed, was a visible share of the recorder's time. Decoding
 * runs on the loop thread only.
 */
static struct rec *
decode_proc(const struct kw_msg *msg, uint64_t epoch, char *err, size_t errlen)
{
	static struct kw_proc_rec scratch;
	struct kw_proc_rec *pr = &scratch;
	struct rec_slab *from;
	struct rec_proc *p;
	size_t len, n;

	memset(pr, 0, offsetof(struct kw_proc_rec, cmdline));
	pr->cmdline[0] = '\0';
	if (kw_proc_rec_unpack(msg->obj, pr, err, errlen) == -1)
		return rec_new(sizeof(struct rec), REC_SKIP, msg, epoch);
	len = strnlen(pr->cmdline, sizeof(pr->cmdline) - 1);
	n = offsetof(struct kw_proc_rec, cmdline) + len;
	if ((p = slab_alloc(sizeof(*p) + n + 1, &from)) == NULL)
		return NULL;
	memset(&p->h, 0, sizeof(p->h));
	p->h.kind = REC_PROC;
	p->h.epoch = epoch;
	p->h.seq = msg->seq;
	p->h.ts = (int64_t)(msg->ts_ns / 1000000000ull);
	p->slab = from;
	memcpy(p->body, pr, n);
	p->body[n] = '\0';
	return &p->h;
}

struct rec *
rec_decode(const struct kw_msg *msg, uint64_t epoch, char *err, size_t errlen)
{
	struct rec *h;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	switch (msg->type) {
	case KW_MSG_SYS:
		h = rec_new(sizeof(struct rec_sys), REC_SYS, msg, epoch);
		if (h == NULL)
			return NULL;
		rc = kw_sys_unpack(msg->obj, &((struct rec_sys *)h)->r, err,
		    errlen);
		break;
	case KW_MSG_CONTAINER:
		h = rec_new(sizeof(struct rec_container), REC_CONTAINER, msg,
		    epoch);
		if (h == NULL)
			return NULL;
		rc = kw_container_unpack(msg->obj,
		    &((struct rec_container *)h)->r, err, errlen);
		break;
	case KW_MSG_DELETION:
		h = rec_new(sizeof(struct rec_deletion), REC_DELETION, msg,
		    epoch);
		if (h == NULL)
			return NULL;
		rc = kw_deletion_unpack(msg->obj,
		    &((struct rec_deletion *)h)->r, err, errlen);
		break;
	case KW_MSG_DECISION:
		h = rec_new(sizeof(struct rec_decision), REC_DECISION, msg,
		    epoch);
		if (h == NULL)
			return NULL;
		rc = kw_decision_unpack(msg->obj,
		    &((struct rec_decision *)h)->r, err, errlen);
		break;
	case KW_MSG_POLICY:
		h = rec_new(sizeof(struct rec_policy), REC_POLICY, msg, epoch);
		if (h == NULL)
			return NULL;
		rc = kw_policy_unpack(msg->obj, &((struct rec_policy *)h)->r,
		    err, errlen);
		break;
	case KW_MSG_PROC:
		return decode_proc(msg, epoch, err, errlen);
	case KW_MSG_END:
		return rec_new(sizeof(struct rec), REC_END, msg, epoch);
	default:
		snprintf(err, errlen, "unexpected message type \"%s\"",
		    kw_msg_type_name(msg->type));
		return rec_new(sizeof(struct rec), REC_SKIP, msg, epoch);
	}
	if (rc == -1) {
		/* Keep the seq, drop the body. */
		if (h->kind == REC_DELETION)
			kw_deletion_rec_free(&((struct rec_deletion *)h)->r);
		h->kind = REC_SKIP;
		if (errlen > 0 && err[0] == '\0')
			snprintf(err, errlen, "bad %s message",
			    kw_msg_type_name(msg->type));
	}
	return h;
}

const struct kw_schema *
rec_schema(enum rec_kind kind)
{
	switch (kind) {
	case REC_SYS:
		return &kw_sys_schema;
	case REC_CONTAINER:
		return &kw_container_schema;
	case REC_PROC:
		return &kw_proc_rec_schema;
	case REC_DELETION:
		return &kw_deletion_schema;
	case REC_DECISION:
		return &kw_decision_schema;
	case REC_POLICY:
		return &kw_policy_schema;
	default:
		return NULL;
	}
}

const void *
rec_body(const struct rec *r)
{
	switch (r->kind) {
	case REC_SYS:
		return &((const struct rec_sys *)r)->r;
	case REC_CONTAINER:
		return &((const struct rec_container *)r)->r;
	case REC_PROC:
		return ((const struct rec_proc *)r)->body;
	case REC_DELETION:
		return &((const struct rec_deletion *)r)->r;
	case REC_DECISION:
		return &((const struct rec_decision *)r)->r;
	case REC_POLICY:
		return &((const struct rec_policy *)r)->r;
	default:
		return NULL;
	}
}
