/*
 * Attribution and aggregation per container: which processes belong to a
 * container (their cgroup is its real one, not one named like it), then
 * CPU %, RSS, process count and main pid summed over them. Pure: snapshot,
 * Docker's table and rates in, a sorted table out. Host processes
 * (container_id "") are not a container.
 */
#include <stdio.h>
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
		if (c == NULL ||
		    strcmp(c->container_id, p->container_id) != 0) {
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
		c->cpu_pct_procs = c->cpu_pct;
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

static const char *const basis_names[] = {
	[MEM_BASIS_WORKING_SET] = "working_set",
	[MEM_BASIS_RSS] = "rss",
	[MEM_BASIS_ANON] = "anon",
};

const char *
mem_basis_name(enum mem_basis b)
{
	if ((size_t)b >= sizeof(basis_names) / sizeof(basis_names[0]))
		return NULL;
	return basis_names[b];
}

int
mem_basis_parse(const char *s, enum mem_basis *b)
{
	size_t i;

	for (i = 0; i < sizeof(basis_names) / sizeof(basis_names[0]); i++)
		if (strcmp(s, basis_names[i]) == 0) {
			*b = (enum mem_basis)i;
			return 0;
		}
	return -1;
}

static int
cgroup_cmp(const void *a, const void *b)
{
	const struct kw_cgroup_stat *ca =
	    *(const struct kw_cgroup_stat *const *)a;
	const struct kw_cgroup_stat *cb =
	    *(const struct kw_cgroup_stat *const *)b;

	return strcmp(ca->container_id, cb->container_id);
}

static double
pct_of(uint64_t kb, uint64_t total_kb)
{
	double v;

	if (total_kb == 0)
		return 0.0;
	v = (double)kb * 100.0 / (double)total_kb;
	return v > 100.0 ? 100.0 : v;
}

int
containers_apply_cgroups(struct container_set *set,
    const struct kw_snapshot *snap, struct cgroup_rates *cr,
    enum mem_basis basis, uint64_t window_ns)
{
	const struct kw_cgroup_stat **by_id = NULL, *st;
	uint64_t total = snap->host.mem_total_kb;
	struct container *c;
	size_t i, j = 0;
	double cpu;
	int cmp;

	if (snap->ncgroups > 0) {
		if ((by_id = calloc(snap->ncgroups, sizeof(*by_id))) == NULL)
			return -1;
		for (i = 0; i < snap->ncgroups; i++)
			by_id[i] = &snap->cgroups[i];
		qsort(by_id, snap->ncgroups, sizeof(*by_id), cgroup_cmp);
	}
	/* Both sorted by id: walk them together. */
	for (i = 0; i < set->n; i++) {
		c = &set->c[i];
		st = NULL;
		while (j < snap->ncgroups &&
		    (cmp = strcmp(by_id[j]->container_id, c->container_id)) <=
			0) {
			if (cmp == 0) {
				st = by_id[j];
				break;
			}
			j++;
		}
		if (st != NULL && (st->flags & KW_CG_CPU)) {
			if (cgroup_rates_step(cr, c->container_id,
				kw_snapshot_clock(snap), st->cpu_usage_ns,
				snap->host.ncpu, window_ns, &cpu) == -1) {
				free(by_id);
				return -1;
			}
			c->cpu_pct = cpu;
		}
		if (st == NULL) {
			c->cg_flags = 0;
			c->mem_pct = pct_of(c->rss_kb, total);
			continue;
		}
		c->cg_flags = st->flags;
		c->mem_usage_kb = st->mem_usage_bytes / 1024;
		c->working_set_kb = st->mem_working_set_bytes / 1024;
		c->anon_kb = st->mem_anon_bytes / 1024;
		c->file_kb = st->mem_file_bytes / 1024;
		c->mem_limit_kb = st->mem_limit_bytes / 1024;
		c->nr_throttled = st->nr_throttled;
		c->throttled_ns = st->throttled_ns;
		c->oom_kills = st->oom_kills;
		c->psi_cpu_some = st->psi_cpu_some_avg10;
		c->psi_mem_some = st->psi_mem_some_avg10;
		c->psi_mem_full = st->psi_mem_full_avg10;
		if (!(st->flags & KW_CG_MEMORY) || basis == MEM_BASIS_RSS)
			c->mem_pct = pct_of(c->rss_kb, total);
		else if (basis == MEM_BASIS_ANON)
			c->mem_pct = pct_of(c->anon_kb, total);
		else
			c->mem_pct = pct_of(c->working_set_kb, total);
	}
	free(by_id);
	cgroup_rates_sweep(cr);
	return 0;
}

/* Attribution. */

void
attr_result_free(struct attr_result *res)
{
	attr_forget(res);
	free(res->kept);
	free(res->refresh);
	memset(res, 0, sizeof(*res));
}

void
attr_forget(struct attr_result *res)
{
	size_t i;

	for (i = 0; i < res->nkept; i++)
		free(res->kept[i].cgroup);
	res->nkept = 0;
}

void
attr_restore(struct kw_snapshot *snap, struct attr_result *res)
{
	struct attr_kept *k;
	struct kw_proc *p;
	size_t i;

	for (i = 0; i < res->nkept; i++) {
		k = &res->kept[i];
		p = kw_snapshot_find(snap, k->pid);
		if (p == NULL || p->container_id[0] != '\0' ||
		    p->cgroup != NULL)
			continue;
		memcpy(p->container_id, k->container_id,
		    sizeof(p->container_id));
		p->cgroup = k->cgroup;
		k->cgroup = NULL;
	}
	attr_forget(res);
}

/* Room for n more kept claims. */
static int
kept_reserve(struct attr_result *res, size_t n)
{
	struct attr_kept *k;
	size_t ncap;

	if (res->nkept + n <= res->kept_cap)
		return 0;
	ncap = res->nkept + n + 16;
	if ((k = reallocarray(res->kept, ncap, sizeof(*k))) == NULL)
		return -1;
	res->kept = k;
	res->kept_cap = ncap;
	return 0;
}

int
attr_parent_trusted(const char *dir, const char (*parents)[64],
    size_t nparents)
{
	const char *slash;
	size_t i, plen, len;

	if (dir == NULL || dir[0] != '/' ||
	    (slash = strrchr(dir, '/')) == NULL || slash[1] == '\0')
		return 0;
	len = (size_t)(slash - dir); /* "" for the root */
	for (i = 0; i < nparents; i++) {
		plen = strlen(parents[i]);
		while (plen > 0 && parents[i][plen - 1] == '/')
			plen--;
		if (plen == len && memcmp(parents[i], dir, len) == 0)
			return 1;
	}
	return 0;
}

/* A container's real directory, as its first process shows it. */
struct real_dir {
	const char *id;
	const char *dir;
};

struct pid_idx {
	int32_t pid;
	size_t idx;
};

static int
pid_idx_cmp(const void *a, const void *b)
{
	const struct pid_idx *pa = a, *pb = b;

	return pa->pid < pb->pid ? -1 : pa->pid > pb->pid;
}

static int
real_dir_cmp(const void *a, const void *b)
{
	return strcmp(((const struct real_dir *)a)->id,
	    ((const struct real_dir *)b)->id);
}

static const char *
real_dir_of(const struct real_dir *reals, size_t n, const char *id)
{
	struct real_dir key = { id, NULL }, *r;

	if (n == 0)
		return NULL;
	r = bsearch(&key, reals, n, sizeof(*reals), real_dir_cmp);
	return r != NULL ? r->dir : NULL;
}

static int
add_refresh(struct attr_result *res, const char *id)
{
	if (res->nrefresh == res->refresh_cap) {
		size_t cap = res->refresh_cap ? res->refresh_cap * 2 : 16;
		kw_cidbuf *nr;

		if ((nr = reallocarray(res->refresh, cap, sizeof(*nr))) ==
		    NULL)
			return -1;
		res->refresh = nr;
		res->refresh_cap = cap;
	}
	snprintf(res->refresh[res->nrefresh++], KW_CID_LEN, "%s", id);
	return 0;
}

/* Docker runs it: it has a first process to ask about. */
static int
ctr_running(const struct docker_ctr *dc)
{
	return dc->state[0] == '\0' || strcmp(dc->state, "running") == 0 ||
	    strcmp(dc->state, "paused") == 0;
}

/*
 * The real directory of every container Docker knows the first process
 * of, when that process is in snap: reals[] sorted by id, *nreals. Ids
 * running without a known first process go to res->refresh.
 */
static int
find_reals(const struct kw_snapshot *snap, const struct docker_table *t,
    struct real_dir **reals, size_t *nreals, struct attr_result *res)
{
	struct pid_idx *byp = NULL, key, *hit;
	const struct docker_ctr *dc;
	const struct kw_proc *p;
	size_t i, n = 0;

	*reals = NULL;
	*nreals = 0;
	if (t == NULL || t->n == 0)
		return 0;
	if ((*reals = calloc(t->n, sizeof(**reals))) == NULL)
		return -1;
	for (i = 0; i < snap->nprocs; i++)
		n += snap->procs[i].container_id[0] != '\0';
	if (n > 0 && (byp = calloc(n, sizeof(*byp))) == NULL) {
		free(*reals);
		*reals = NULL;
		return -1;
	}
	for (i = 0, n = 0; i < snap->nprocs; i++)
		if (snap->procs[i].container_id[0] != '\0') {
			byp[n].pid = snap->procs[i].pid;
			byp[n++].idx = i;
		}
	if (n > 0)
		qsort(byp, n, sizeof(*byp), pid_idx_cmp);
	for (i = 0; i < t->n; i++) {
		dc = &t->c[i];
		if (dc->pid <= 0) {
			if (ctr_running(dc) && add_refresh(res, dc->id) == -1)
				goto oom;
			continue;
		}
		key.pid = dc->pid;
		hit = n > 0 ?
		    bsearch(&key, byp, n, sizeof(*byp), pid_idx_cmp) :
		    NULL;
		if (hit == NULL)
			continue;
		p = &snap->procs[hit->idx];
		/* Its first process claims another container: not known. */
		if (p->cgroup == NULL || strcmp(p->container_id, dc->id) != 0)
			continue;
		(*reals)[*nreals].id = dc->id;
		(*reals)[(*nreals)++].dir = p->cgroup;
	}
	free(byp);
	if (*nreals > 1)
		qsort(*reals, *nreals, sizeof(**reals), real_dir_cmp);
	return 0;
oom:
	free(byp);
	free(*reals);
	*reals = NULL;
	*nreals = 0;
	return -1;
}

int
containers_attribute(struct kw_snapshot *snap,
    const struct docker_table *table, const char (*parents)[64],
    size_t nparents, struct attr_result *res)
{
	struct real_dir *reals;
	struct kw_proc *p;
	struct kw_cgroup_stat *st;
	const char *real;
	unsigned char *refuse = NULL;
	size_t nreals, i, j, k;
	int ok;

	res->claims = res->by_pid = res->by_parent = res->refused = 0;
	res->cgroups_dropped = 0;
	res->refused_pid = 0;
	res->refused_id[0] = res->refused_dir[0] = res->real_dir[0] = '\0';
	res->nrefresh = 0;
	if (find_reals(snap, table, &reals, &nreals, res) == -1)
		return -1;
	if (snap->nprocs > 0 && (refuse = calloc(snap->nprocs, 1)) == NULL) {
		free(reals);
		return -1;
	}
	/* Decide every claim first: the real directories point into snap. */
	for (i = 0; i < snap->nprocs; i++) {
		p = &snap->procs[i];
		if (p->container_id[0] == '\0')
			continue;
		res->claims++;
		real = real_dir_of(reals, nreals, p->container_id);
		if (real != NULL) {
			ok = p->cgroup != NULL && strcmp(p->cgroup, real) == 0;
			res->by_pid += ok;
		} else {
			ok = attr_parent_trusted(p->cgroup, parents, nparents);
			res->by_parent += ok;
		}
		if (ok)
			continue;
		refuse[i] = 1;
		if (res->refused++ == 0) {
			res->refused_pid = p->pid;
			snprintf(res->refused_id, sizeof(res->refused_id),
			    "%s", p->container_id);
			snprintf(res->refused_dir, sizeof(res->refused_dir),
			    "%s", p->cgroup != NULL ? p->cgroup : "");
			snprintf(res->real_dir, sizeof(res->real_dir), "%s",
			    real != NULL ? real : "");
		}
	}
	if (res->keep && kept_reserve(res, res->refused) == -1) {
		free(reals);
		free(refuse);
		return -1;
	}
	/* Figures of one directory per container: the real one. */
	for (i = 0, j = 0; i < snap->ncgroups; i++) {
		st = &snap->cgroups[i];
		real = real_dir_of(reals, nreals, st->container_id);
		ok = real != NULL ?
		    strcmp(st->cgroup, real) == 0 :
		    attr_parent_trusted(st->cgroup, parents, nparents);
		/* Two trusted look-alikes (root made them): the first. */
		for (k = 0; ok && k < j; k++)
			if (strcmp(snap->cgroups[k].container_id,
				st->container_id) == 0)
				ok = 0;
		if (!ok) {
			res->cgroups_dropped++;
			continue;
		}
		if (j != i)
			snap->cgroups[j] = *st;
		j++;
	}
	snap->ncgroups = j;
	free(reals);
	for (i = 0; i < snap->nprocs; i++) {
		if (!refuse[i])
			continue;
		p = &snap->procs[i];
		if (res->keep) {
			struct attr_kept *kp = &res->kept[res->nkept++];

			kp->pid = p->pid;
			memcpy(kp->container_id, p->container_id,
			    sizeof(kp->container_id));
			kp->cgroup = p->cgroup;
		} else
			free(p->cgroup);
		p->container_id[0] = '\0';
		p->cgroup = NULL;
	}
	free(refuse);
	return 0;
}
