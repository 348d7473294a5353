/*
 * Per-process CPU % over a sliding window, keyed by (pid, start_ns).
 * Pure: the caller passes every snapshot in; no clock, no I/O, no globals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"

#define RATES_EMPTY UINT32_MAX

static double
clamp_pct(double v)
{
	if (!(v > 0.0)) /* also NaN */
		return 0.0;
	if (v > 100.0)
		return 100.0;
	return v;
}

static uint64_t
key_hash(int32_t pid, uint64_t start_ns)
{
	uint64_t h;

	h = (uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ULL;
	h ^= start_ns + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static size_t
hist_len(uint64_t window_ns, uint64_t interval_ns)
{
	uint64_t n;

	if (interval_ns == 0)
		return RATES_HIST;
	n = window_ns / interval_ns + 2;
	return n > RATES_HIST ? RATES_HIST : n < 2 ? 2 : (size_t)n;
}

/* Restride the samples to the current window/interval: keep the newest. */
static void
hist_resize(struct rates *r)
{
	size_t len = hist_len(r->window_ns, r->interval_ns), i, keep;
	struct rate_sample *h = NULL;
	struct rate_entry *e;

	if (len == r->hlen)
		return;
	if (r->capent == 0 || r->hist == NULL) {
		r->hlen = len; /* nothing kept yet */
		return;
	}
	if ((h = calloc(r->capent, len * sizeof(*h))) == NULL)
		return; /* keep the old length: still correct */
	for (i = 0; i < r->nent; i++) {
		e = &r->ent[i];
		keep = e->nhist < len ? e->nhist : len;
		memcpy(h + i * len, r->hist + i * r->hlen + (e->nhist - keep),
		    keep * sizeof(*h));
		e->nhist = (uint32_t)keep;
	}
	free(r->hist);
	r->hist = h;
	r->hlen = len;
}

void
rates_init(struct rates *r, uint64_t window_ns)
{
	memset(r, 0, sizeof(*r));
	r->window_ns = window_ns;
	r->hlen = hist_len(window_ns, 0);
}

void
rates_set_window(struct rates *r, uint64_t window_ns)
{
	r->window_ns = window_ns;
	hist_resize(r);
}

void
rates_set_interval(struct rates *r, uint64_t interval_ns)
{
	r->interval_ns = interval_ns;
	hist_resize(r);
}

void
rates_free(struct rates *r)
{
	free(r->ent);
	free(r->hist);
	free(r->index);
	memset(r, 0, sizeof(*r));
}

size_t
rates_count(const struct rates *r)
{
	return r->nent;
}

/* Slot of the key, or of the empty slot where it would go. */
static size_t
index_slot(const struct rates *r, int32_t pid, uint64_t start_ns)
{
	size_t mask = r->index_cap - 1, i;
	const struct rate_entry *e;

	i = key_hash(pid, start_ns) & mask;
	for (;;) {
		if (r->index[i] == RATES_EMPTY)
			return i;
		e = &r->ent[r->index[i]];
		if (e->pid == pid && e->start_ns == start_ns)
			return i;
		i = (i + 1) & mask;
	}
}

/* Refill the index over ent[]; grow it first to twice `want` if needed. */
static int
index_rebuild(struct rates *r, size_t want)
{
	size_t cap = 64, i;
	uint32_t *idx;

	while (cap < want * 2)
		cap <<= 1;
	if (cap > r->index_cap) {
		if ((idx = malloc(cap * sizeof(*idx))) == NULL)
			return -1;
		free(r->index);
		r->index = idx;
		r->index_cap = cap;
	}
	if (r->index == NULL)
		return -1;
	memset(r->index, 0xff, r->index_cap * sizeof(*r->index));
	for (i = 0; i < r->nent; i++)
		r->index[index_slot(r, r->ent[i].pid, r->ent[i].start_ns)] =
		    (uint32_t)i;
	return 0;
}

double
rates_entry_step(struct rate_entry *e, uint64_t ts_ns, uint64_t cpu_ns,
    uint32_t ncpu, uint64_t window_ns)
{
	const struct rate_sample *last, *base;
	double dcpu, dt;
	size_t drop;

	if (ncpu == 0)
		ncpu = 1;
	if (e->hist == NULL || e->hcap < 2)
		return 0.0;
	if (e->nhist > e->hcap)
		e->nhist = (uint32_t)e->hcap;
	if (e->nhist > 0) {
		last = &e->hist[e->nhist - 1];
		if (ts_ns == last->ts_ns && cpu_ns == last->cpu_ns)
			return e->cpu_pct; /* same sample twice */
		if (ts_ns <= last->ts_ns || cpu_ns < last->cpu_ns)
			e->nhist = 0; /* counter reset, clock step */
	}
	if (e->nhist == 0) {
		e->hist[0].ts_ns = ts_ns;
		e->hist[0].cpu_ns = cpu_ns;
		e->nhist = 1;
		e->cpu_pct = 0.0;
		return 0.0;
	}

	/*
	 * The base is the oldest sample within the window; if every sample
	 * is older (a pause in the stream), the newest of them.
	 */
	for (drop = 0; drop + 1 < e->nhist; drop++)
		if (e->hist[drop].ts_ns + window_ns >= ts_ns)
			break;
	if (drop > 0) {
		memmove(e->hist, e->hist + drop,
		    (e->nhist - drop) * sizeof(e->hist[0]));
		e->nhist -= drop;
	}
	base = &e->hist[0];
	dcpu = (double)(cpu_ns - base->cpu_ns);
	dt = (double)(ts_ns - base->ts_ns) * (double)ncpu;
	e->cpu_pct = clamp_pct(dcpu / dt * 100.0);

	if (e->nhist >= e->hcap) {
		memmove(e->hist, e->hist + 1,
		    (e->hcap - 1) * sizeof(e->hist[0]));
		e->nhist = (uint32_t)e->hcap - 1;
	}
	e->hist[e->nhist].ts_ns = ts_ns;
	e->hist[e->nhist].cpu_ns = cpu_ns;
	e->nhist++;
	return e->cpu_pct;
}

int
rates_update(struct rates *r, const struct kw_snapshot *snap,
    double *proc_cpu_pct, double *machine_cpu_pct)
{
	const struct kw_proc *p;
	struct rate_entry *e;
	size_t i, j, slot, need;
	double sum = 0.0;
	uint64_t clock_ns = kw_snapshot_clock(snap);

	/* Room for every old entry plus every process as a new one. */
	need = r->nent + snap->nprocs;
	if (need >= RATES_EMPTY)
		return -1;
	if (need > r->capent) {
		size_t cap = r->capent ? r->capent : 64;
		struct rate_sample *h;

		while (cap < need)
			cap *= 2;
		e = realloc(r->ent, cap * sizeof(*e));
		if (e == NULL)
			return -1;
		r->ent = e;
		if ((h = reallocarray(r->hist, cap, r->hlen * sizeof(*h))) ==
		    NULL)
			return -1; /* ent[] is larger: harmless */
		r->hist = h;
		r->capent = cap;
	}
	if ((r->index == NULL || r->index_cap < need * 2) &&
	    index_rebuild(r, need) == -1)
		return -1;

	r->gen++;
	for (i = 0; i < snap->nprocs; i++) {
		p = &snap->procs[i];
		slot = index_slot(r, p->pid, p->start_ns);
		if (r->index[slot] == RATES_EMPTY) {
			e = &r->ent[r->nent];
			memset(e, 0, sizeof(*e));
			e->pid = p->pid;
			e->start_ns = p->start_ns;
			r->index[slot] = (uint32_t)r->nent++;
		} else
			e = &r->ent[r->index[slot]];
		e->gen = r->gen;
		e->hist = r->hist + (size_t)(e - r->ent) * r->hlen;
		e->hcap = r->hlen;
		proc_cpu_pct[i] = rates_entry_step(e, clock_ns, p->cpu_ns,
		    snap->host.ncpu, r->window_ns);
		sum += proc_cpu_pct[i];
	}

	/* Forget what this snapshot did not show (exits, reused pids). */
	for (i = j = 0; i < r->nent; i++) {
		if (r->ent[i].gen != r->gen)
			continue;
		if (i != j) {
			r->ent[j] = r->ent[i];
			memcpy(r->hist + j * r->hlen, r->hist + i * r->hlen,
			    r->ent[i].nhist * sizeof(*r->hist));
		}
		j++;
	}
	if (j != r->nent) {
		r->nent = j;
		index_rebuild(r, 0); /* same size: cannot fail */
	}
	if (machine_cpu_pct != NULL)
		*machine_cpu_pct = clamp_pct(sum);
	return 0;
}

/*
 * Per-container CPU % from the cgroup's cumulative usage, with the same
 * window and reset rules as a process; keyed by container id.
 */

void
cgroup_rates_init(struct cgroup_rates *cr)
{
	memset(cr, 0, sizeof(*cr));
}

void
cgroup_rates_free(struct cgroup_rates *cr)
{
	free(cr->r);
	memset(cr, 0, sizeof(*cr));
}

static size_t
cgroup_rates_pos(const struct cgroup_rates *cr, const char *id, int *found)
{
	size_t lo = 0, hi = cr->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(cr->r[mid].container_id, id)) == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
cgroup_rates_step(struct cgroup_rates *cr, const char *id, uint64_t ts_ns,
    uint64_t cpu_ns, uint32_t ncpu, uint64_t window_ns, double *cpu_pct)
{
	struct cgroup_rate *nr;
	size_t i, cap;
	int found;

	i = cgroup_rates_pos(cr, id, &found);
	if (!found) {
		if (cr->n == cr->cap) {
			cap = cr->cap ? cr->cap * 2 : 16;
			if ((nr = reallocarray(cr->r, cap, sizeof(*nr))) ==
			    NULL)
				return -1;
			cr->r = nr;
			cr->cap = cap;
		}
		memmove(&cr->r[i + 1], &cr->r[i], (cr->n - i) * sizeof(*nr));
		cr->n++;
		memset(&cr->r[i], 0, sizeof(cr->r[i]));
		snprintf(cr->r[i].container_id, sizeof(cr->r[i].container_id),
		    "%s", id);
	}
	cr->r[i].gen = cr->gen;
	cr->r[i].e.hist = cr->r[i].hist;
	cr->r[i].e.hcap = RATES_HIST;
	*cpu_pct =
	    rates_entry_step(&cr->r[i].e, ts_ns, cpu_ns, ncpu, window_ns);
	return 0;
}

size_t
cgroup_rates_sweep(struct cgroup_rates *cr)
{
	size_t i, j, dropped;

	for (i = 0, j = 0; i < cr->n; i++)
		if (cr->r[i].gen == cr->gen)
			cr->r[j++] = cr->r[i];
	dropped = cr->n - j;
	cr->n = j;
	cr->gen++;
	return dropped;
}
