/*
 * Aggregation per container: CPU %, RSS, process count and main pid summed
 * over every process of a container. Pure: snapshot and rates in, a sorted
 * table out. Host processes (container_id "") are not a container.
 */
#include <stdlib.h>
#include <string.h>

#include "decider.h"

void
containers_init(struct container_set *set)
{
	memset(set, 0, sizeof(*set));
}

void
containers_free(struct container_set *set)
{
	free(set->c);
	memset(set, 0, sizeof(*set));
}

/* Container processes by id, then start time, then pid. */
static int
proc_cmp(const void *a, const void *b)
{
	const struct kw_proc *pa = *(const struct kw_proc *const *)a;
	const struct kw_proc *pb = *(const struct kw_proc *const *)b;
	int c;

	if ((c = strcmp(pa->container_id, pb->container_id)) != 0)
		return c;
	if (pa->start_ns != pb->start_ns)
		return pa->start_ns < pb->start_ns ? -1 : 1;
	if (pa->pid != pb->pid)
		return pa->pid < pb->pid ? -1 : 1;
	return 0;
}

int
containers_aggregate(const struct kw_snapshot *snap,
    const double *proc_cpu_pct, struct container_set *set)
{
	const struct kw_proc **order, *p;
	struct container *c = NULL;
	size_t i, n = 0;

	set->n = 0;
	if (snap->nprocs == 0)
		return 0;
	if ((order = calloc(snap->nprocs, sizeof(*order))) == NULL)
		return -1;
	for (i = 0; i < snap->nprocs; i++)
		if (snap->procs[i].container_id[0] != '\0')
			order[n++] = &snap->procs[i];
	qsort(order, n, sizeof(*order), proc_cmp);

	for (i = 0; i < n; i++) {
		p = order[i];
		if (c == NULL || strcmp(c->container_id, p->container_id)
		    != 0) {
			if (set->n == set->cap) {
				size_t cap = set->cap ? set->cap * 2 : 16;
				struct container *nc;

				nc = realloc(set->c, cap * sizeof(*nc));
				if (nc == NULL) {
					free(order);
					set->n = 0;
					return -1;
				}
				set->c = nc;
				set->cap = cap;
			}
			c = &set->c[set->n++];
			memset(c, 0, sizeof(*c));
			/* Sorted: the first is the earliest started. */
			memcpy(c->container_id, p->container_id,
			    sizeof(c->container_id));
			c->container_id[KW_CID_LEN - 1] = '\0';
			c->pid = p->pid;
			c->start_ns = p->start_ns;
		}
		c->nprocs++;
		c->cpu_pct += proc_cpu_pct[p - snap->procs];
		c->rss_kb += p->rss_kb;
	}
	free(order);

	for (i = 0; i < set->n; i++) {
		c = &set->c[i];
		if (c->cpu_pct > 100.0)
			c->cpu_pct = 100.0;
		if (snap->host.mem_total_kb > 0)
			c->mem_pct = (double)c->rss_kb * 100.0 /
			    (double)snap->host.mem_total_kb;
		if (c->mem_pct > 100.0)
			c->mem_pct = 100.0;
	}
	return 0;
}

const struct container *
containers_find(const struct container_set *set, const char *container_id)
{
	size_t lo = 0, hi = set->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(set->c[mid].container_id, container_id);
		if (c == 0)
			return &set->c[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
