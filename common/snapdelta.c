/*
 * Snapshots by difference: a delta (the records that changed and the pids
 * that exited) applied to the snapshot it follows, and its message body.
 * The reader merges the module's delta passes with kw_snapshot_apply; the
 * decider merges the reader's delta messages with the same code.
 */
#include <stdlib.h>
#include <string.h>

#include "kwarden.h"
#include "proto.h"

void
kw_pidset_clear(struct kw_pidset *s)
{
	s->n = 0;
}

void
kw_pidset_free(struct kw_pidset *s)
{
	free(s->pids);
	memset(s, 0, sizeof(*s));
}

int
kw_pidset_add(struct kw_pidset *s, int32_t pid)
{
	int32_t *p;
	size_t ncap;

	if (s->n == s->cap) {
		ncap = s->cap ? s->cap * 2 : 64;
		if ((p = reallocarray(s->pids, ncap, sizeof(*p))) == NULL)
			return -1;
		s->pids = p;
		s->cap = ncap;
	}
	s->pids[s->n++] = pid;
	return 0;
}

static int
cmp_pid(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

void
kw_pidset_sort(struct kw_pidset *s)
{
	if (s->n > 1)
		qsort(s->pids, s->n, sizeof(*s->pids), cmp_pid);
}

static int
cmp_proc_pid(const void *a, const void *b)
{
	const struct kw_proc *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int
kw_snapshot_sorted(const struct kw_snapshot *snap)
{
	size_t i;

	for (i = 1; i < snap->nprocs; i++)
		if (snap->procs[i].pid <= snap->procs[i - 1].pid)
			return 0;
	return 1;
}

void
kw_snapshot_sort(struct kw_snapshot *snap)
{
	if (snap->nprocs > 1)
		qsort(snap->procs, snap->nprocs, sizeof(*snap->procs),
		    cmp_proc_pid);
}

struct kw_proc *
kw_snapshot_find(const struct kw_snapshot *base, int32_t pid)
{
	size_t lo = 0, hi = base->nprocs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (base->procs[mid].pid == pid)
			return &base->procs[mid];
		if (base->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Free a proc's strings (it is being dropped). */
static void
proc_drop(struct kw_proc *p)
{
	free(p->cmdline);
	p->cmdline = NULL;
	free(p->cgroup);
	p->cgroup = NULL;
}

/* The delta contradicts itself: a pid twice, or both exited and listed. */
static int
delta_check(const struct kw_snapshot *delta, const int32_t *exited,
    size_t nexited, char *err, size_t errlen)
{
	size_t i, j;

	for (j = 1; j < delta->nprocs; j++)
		if (delta->procs[j].pid == delta->procs[j - 1].pid) {
			kw_seterr(err, errlen, "pid %d listed twice",
			    (int)delta->procs[j].pid);
			return -1;
		}
	for (i = 1; i < nexited; i++)
		if (exited[i] == exited[i - 1]) {
			kw_seterr(err, errlen, "pid %d exited twice",
			    (int)exited[i]);
			return -1;
		}
	for (i = j = 0; i < nexited && j < delta->nprocs;) {
		if (exited[i] == delta->procs[j].pid) {
			kw_seterr(err, errlen, "pid %d both exited and listed",
			    (int)exited[i]);
			return -1;
		}
		if (exited[i] < delta->procs[j].pid)
			i++;
		else
			j++;
	}
	return 0;
}

/* What is not a process: the header's figures and the cgroups, delta's. */
static void
take_header(struct kw_snapshot *base, struct kw_snapshot *delta)
{
	struct kw_cgroup_stat *cg = base->cgroups;
	size_t capcg = base->capcgroups;

	memcpy(base->source, delta->source, sizeof(base->source));
	base->ts_ns = delta->ts_ns;
	base->mono_ns = delta->mono_ns;
	base->host = delta->host;
	base->cgroups = delta->cgroups;
	base->ncgroups = delta->ncgroups;
	base->capcgroups = delta->capcgroups;
	delta->cgroups = cg;
	delta->capcgroups = capcg;
	delta->ncgroups = 0;
}

int
kw_snapshot_apply(struct kw_snapshot *base, struct kw_snapshot *delta,
    const int32_t *exited, size_t nexited, int full, char *err, size_t errlen)
{
	struct kw_proc *pb, *pd;
	size_t i, j, e, w, need, add = 0, drop = 0;

	kw_snapshot_sort(delta);
	if (delta_check(delta, exited, nexited, err, errlen) == -1)
		return -1;
	if (full) {
		/* The delta is the snapshot: take it whole. */
		kw_snapshot_free(base);
		*base = *delta;
		kw_snapshot_init(delta);
		return 0;
	}
	/*
	 * In place, in base's own array: ~100 records into 10,000 must not
	 * copy (or fault in) a 2 MB array each sample. The records of pids
	 * base has replace theirs; the exited are compacted out in one
	 * forward pass; new pids are merged in from the end, backwards (then
	 * what is written never overtakes what is still to be read).
	 */
	for (j = 0; j < delta->nprocs; j++)
		if (kw_snapshot_find(base, delta->procs[j].pid) == NULL)
			add++;
	for (e = 0; e < nexited; e++)
		if (kw_snapshot_find(base, exited[e]) != NULL)
			drop++;
	need = base->nprocs - drop + add;
	if ((need > base->cap || base->procs == NULL) &&
	    (kw_snapshot_reserve(base, need + need / 32 + 64) == -1 ||
		base->procs == NULL)) {
		kw_seterr(err, errlen, "out of memory");
		return -1;
	}
	if (drop > 0) {
		for (i = w = e = 0; i < base->nprocs; i++) {
			pb = &base->procs[i];
			while (e < nexited && exited[e] < pb->pid)
				e++;
			if (e < nexited && exited[e] == pb->pid)
				proc_drop(pb);
			else if (w++ != i)
				base->procs[w - 1] = *pb;
		}
		base->nprocs = w;
	}
	if (add == 0) {
		for (j = 0; j < delta->nprocs; j++) {
			pd = &delta->procs[j];
			pb = kw_snapshot_find(base, pd->pid);
			proc_drop(pb);
			*pb = *pd;
			pd->cmdline = NULL;
			pd->cgroup = NULL;
		}
	} else {
		i = base->nprocs;
		j = delta->nprocs;
		w = need;
		while (j > 0) {
			pd = &delta->procs[j - 1];
			pb = i > 0 ? &base->procs[i - 1] : NULL;
			if (pb != NULL && pb->pid > pd->pid) {
				base->procs[--w] = *pb;
				i--;
				continue;
			}
			/* New or changed (a reused pid too): the delta's. */
			if (pb != NULL && pb->pid == pd->pid) {
				proc_drop(pb);
				i--;
			}
			base->procs[--w] = *pd;
			pd->cmdline = NULL;
			pd->cgroup = NULL;
			j--;
		}
		base->nprocs = need;
	}
	take_header(base, delta);
	delta->nprocs = 0;
	return 0;
}

void
kw_delta_pack(msgpack_packer *pk, const struct kw_snapshot *changed,
    uint64_t base, const int32_t *exited, size_t nexited)
{
	size_t i;

	kw_snapshot_pack(pk, changed);
	kw_pack_ku64(pk, "base", base);
	kw_pack_str(pk, "exited");
	msgpack_pack_array(pk, (uint32_t)nexited);
	for (i = 0; i < nexited; i++)
		msgpack_pack_int32(pk, exited[i]);
}

int
kw_delta_unpack(const msgpack_object *map, struct kw_snapshot *changed,
    uint64_t *base, struct kw_pidset *exited, char *err, size_t errlen)
{
	const msgpack_object *a, *o;
	uint32_t i;

	kw_pidset_clear(exited);
	if (kw_snapshot_unpack(map, changed, err, errlen) == -1)
		return -1;
	if (kw_get_u64(map, "base", base) == -1 || *base == 0) {
		kw_seterr(err, errlen, "base: missing or not a seq");
		return -1;
	}
	if ((a = kw_map_get(map, "exited")) == NULL ||
	    a->type != MSGPACK_OBJECT_ARRAY) {
		kw_seterr(err, errlen, "exited: missing or not an array");
		return -1;
	}
	for (i = 0; i < a->via.array.size; i++) {
		o = &a->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->via.u64 == 0 || o->via.u64 > INT32_MAX) {
			kw_seterr(err, errlen, "exited[%u]: not a pid", i);
			return -1;
		}
		if (kw_pidset_add(exited, (int32_t)o->via.u64) == -1) {
			kw_seterr(err, errlen, "exited: out of memory");
			return -1;
		}
	}
	kw_pidset_sort(exited);
	return 0;
}
