/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The delta file of sysinfo.ko: per open file, what was last shown to that
 * reader, and per read pass only the processes whose counters changed since
 * the previous pass, plus the thread groups that exited.
 *
 * A pass is a read from offset 0 to EOF: seq_file's start() at position 0
 * begins one, the footer ends it.  Each open file keeps two tables of
 * struct kw_dent sorted by tgid (the walk's order): @old, what the previous
 * complete pass left the reader with, and @cur, filled by this pass.  A
 * record is emitted when its tgid is not in @old, its start time differs
 * (pid reuse), or any counter of struct kw_vals differs; its entry goes to
 * @cur only when show() did not overflow (seq_file repeats an overflowing
 * show(), at the same tgid, or at the next one if the task is gone), so
 * @cur holds exactly what the reader received.  The footer lists as
 * "exited" every entry of @old no committed show() matched.
 *
 * A pass is full (every process emitted, "full": true) when it is the
 * first of the open file, when the previous pass did not reach its footer,
 * when the previous one hit the table's cap, and every full_every passes.
 *
 * The walk (kw_delta_seek(), seq_file's start() and next()) reads the
 * processes under rcu_read_lock() and hands show() only the ones to print.
 * Tables are allocated with kvmalloc in the walk, outside RCU (seq_file
 * calls it in process context holding only its own mutex), and freed on
 * release.
 */
#ifndef KWARDEN_KMODS_DELTA_H
#define KWARDEN_KMODS_DELTA_H

#include <linux/vmalloc.h>

#include "common.h"
#include "activity.h"

/* Entries allocated for the first table of an open file. */
#define KW_DELTA_MIN	1024

/**
 * struct kw_dent - what the reader was last given for one thread group
 * @v: the counters the record was printed from
 * @seen: a committed show() of this pass matched this entry of @old
 * @hot: the pass that made this entry found the process new or changed
 */
struct kw_dent {
	struct kw_vals v;
	bool seen;
	bool hot;
};

/**
 * struct kw_delta - per-open state of the delta file
 * @old: previous complete pass, sorted by tgid
 * @cur: this pass, sorted by tgid
 * @nold: entries in @old
 * @ncur: entries committed to @cur
 * @capold: entries allocated in @old
 * @capcur: entries allocated in @cur
 * @cursor: first entry of @old whose tgid is not below the last show()'s
 * @gen: passes begun on this open file (the header's "generation")
 * @last_full: generation of the last full pass
 * @cap_hits: passes whose @cur could not hold every process
 * @full: this pass emits every process
 * @lost: this pass's @cur is missing processes (cap or no memory)
 * @complete: the last pass begun reached its footer
 * @max: the cap on entries, delta_max when the file was opened
 * @full_every: a full pass every this many (0: only when needed)
 * @vals: the counters of the task kw_delta_seek() hands to show()
 * @prev: its entry in @old, or NULL
 * @room: @cur had room for it
 * @hot: it is new or changed (a full pass prints the unchanged too)
 * @act: activity marks (activity.h), NULL when every pass reads everything
 * @tracked: this pass reads the marked processes, carries the rest over
 * @force: seq_file restarted at this tgid: read it even if unmarked (0: none)
 */
struct kw_delta {
	struct kw_dent *old, *cur;
	size_t nold, ncur, capold, capcur, cursor;
	u64 gen, last_full, cap_hits;
	bool full, lost, complete;
	size_t max;
	unsigned int full_every;
	struct kw_vals vals;
	struct kw_dent *prev;
	bool room, hot;
	struct kw_act *act;
	bool tracked;
	pid_t force;
};

static bool kw_vals_same(const struct kw_vals *a, const struct kw_vals *b)
{
	return a->start_ns == b->start_ns && a->cpu_ns == b->cpu_ns &&
	       a->exec_id == b->exec_id && a->rss == b->rss &&
	       a->total_vm == b->total_vm && a->cset == b->cset &&
	       a->tgid == b->tgid && a->ppid == b->ppid && a->uid == b->uid &&
	       a->threads == b->threads && a->state == b->state &&
	       !memcmp(a->comm, b->comm, sizeof(a->comm));
}

/*
 * Begin a pass: the last complete pass becomes the baseline, and decide
 * whether this one is full.  Process context (seq_file start()).
 */
static void kw_delta_begin(struct kw_delta *d)
{
	struct kw_dent *t;
	size_t c, i;

	if (d->complete) {
		t = d->old;
		d->old = d->cur;
		d->cur = t;
		c = d->capold;
		d->capold = d->capcur;
		d->capcur = c;
		d->nold = d->ncur;
	}
	d->gen++;
	d->full = !d->complete || d->lost || d->gen == 1 ||
		  (d->full_every && d->gen - d->last_full >= d->full_every);
	if (d->full)
		d->last_full = d->gen;
	if (d->act)
		kw_act_begin(d->act, d->full);
	d->tracked = d->act && !d->full;
	d->force = 0;
	d->ncur = 0;
	d->cursor = 0;
	d->lost = false;
	d->complete = false;
	for (i = 0; i < d->nold; i++)
		d->old[i].seen = false;
}

/*
 * Room for one more entry in @cur, growing it (doubling, up to @max) with
 * kvmalloc; false when the cap is reached or memory is short.
 */
static bool kw_delta_room(struct kw_delta *d)
{
	struct kw_dent *t;
	size_t cap;

	if (d->ncur < d->capcur)
		return true;
	cap = d->capcur ? d->capcur * 2 : KW_DELTA_MIN;
	if (cap > d->max)
		cap = d->max;
	if (cap <= d->capcur)
		return false;
	t = kvmalloc_array(cap, sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return false;
	if (d->ncur)
		memcpy(t, d->cur, d->ncur * sizeof(*t));
	kvfree(d->cur);
	d->cur = t;
	d->capcur = cap;
	return true;
}

/* Unchanged processes read under one rcu_read_lock(), at most. */
#define KW_DELTA_BATCH	64

/* The entry of @old for @tgid, or NULL; tgids come in increasing order. */
static struct kw_dent *kw_delta_prev(struct kw_delta *d, pid_t tgid)
{
	while (d->cursor < d->nold && d->old[d->cursor].v.tgid < tgid)
		d->cursor++;
	if (d->cursor < d->nold && d->old[d->cursor].v.tgid == tgid)
		return &d->old[d->cursor];
	return NULL;
}

/* Append @v to @cur, which has room. */
static void kw_delta_commit(struct kw_delta *d, const struct kw_vals *v,
			    bool hot)
{
	d->cur[d->ncur].v = *v;
	d->cur[d->ncur].hot = hot;
	d->cur[d->ncur++].seen = false;
}

/**
 * kw_delta_seek() - the delta file's walk (kw_seek_fn)
 * @it: iterator
 * @pos: receives the position of what is returned
 * @tgid: first thread-group id to look at
 *
 * Every thread group from @tgid on whose counters equal its entry in @old
 * is committed to @cur here, printed by no one, and the walk goes on; the
 * first one that is new or changed (every one, in a full pass or once
 * @cur is full) is returned, with a reference held and its counters in
 * @vals for show(), which prints exactly those.  The unchanged ones are
 * read under rcu_read_lock() in batches of at most KW_DELTA_BATCH with
 * kw_task_vals(), which never sleeps, and no reference: a quiet pass costs
 * the reads alone.  Between batches (and whenever @cur must grow, which
 * allocates) RCU is dropped and others may run.
 *
 * Return: the task, or KW_FOOTER when there is none left.
 */
static void *kw_delta_walk(struct kw_iter *it, loff_t *pos, pid_t tgid)
{
	struct kw_delta *d = it->delta;
	struct task_struct *task;
	struct kw_dent *prev;
	struct pid *pid;
	unsigned int n;
	bool room;

	for (;;) {
		room = !d->lost && kw_delta_room(d);
		if (!room && !d->lost) {
			d->lost = true;
			d->cap_hits++;
		}
		rcu_read_lock();
		for (n = 0; n < KW_DELTA_BATCH; n++) {
			pid = find_ge_pid(tgid, &init_pid_ns);
			if (!pid)
				break;
			tgid = pid_nr(pid);
			task = pid_task(pid, PIDTYPE_TGID);
			if (!task) {
				tgid++;
				continue;
			}
			kw_task_vals(task, &d->vals);
			prev = kw_delta_prev(d, tgid);
			if (d->full || !room || !prev ||
			    !kw_vals_same(&prev->v, &d->vals)) {
				get_task_struct(task);
				rcu_read_unlock();
				it->task = task;
				d->prev = prev;
				d->room = room;
				d->hot = !prev ||
					 !kw_vals_same(&prev->v, &d->vals);
				*pos = (loff_t)tgid + 1;
				return task;
			}
			kw_delta_commit(d, &d->vals, false);
			prev->seen = true;
			tgid++;
			if (d->ncur == d->capcur || need_resched())
				break;
		}
		rcu_read_unlock();
		if (!pid) {
			*pos = KW_POS_FOOTER;
			return KW_FOOTER;
		}
		cond_resched();
	}
}

/*
 * Whether a tracked pass must read the process of @e though no tracepoint
 * marked it (activity.h): it changed in the last pass, it was running or
 * dead, or its parent exited.
 */
static bool kw_delta_needs(const struct kw_delta *d, const struct kw_dent *e)
{
	return e->hot || e->v.state == 'R' || e->v.state == 'Z' ||
	       e->v.state == 'X' || kw_act_orphaned(d->act, e->v.ppid);
}

/*
 * A tracked pass: from @tgid on, the next process to read is the first
 * marked one or the first entry of @old that kw_delta_needs(), or the
 * tgid seq_file restarts at (@force); the entries of @old before it are
 * copied to @cur as they are, unread, a run at once.  A process read is
 * handled as by kw_delta_walk().  When @cur cannot grow the pass goes on
 * as a walk (every process printed, the next pass full).
 */
static void *kw_delta_track(struct kw_iter *it, loff_t *pos, pid_t tgid)
{
	struct kw_delta *d = it->delta;
	struct task_struct *task;
	struct kw_dent *e, *prev;
	unsigned int n = 0;
	size_t run;
	pid_t next;

	for (;;) {
		if (!kw_delta_room(d)) {
			d->tracked = false;
			d->force = 0;
			return kw_delta_walk(it, pos, tgid);
		}
		next = kw_act_next(d->act, tgid);
		if (d->force == tgid)
			next = tgid;
		while (d->cursor < d->nold && d->old[d->cursor].v.tgid < tgid)
			d->cursor++;
		run = d->cursor;
		while (d->cursor < d->nold &&
		       d->cursor - run < d->capcur - d->ncur) {
			e = &d->old[d->cursor];
			if (e->v.tgid >= next)
				break;
			if (kw_delta_needs(d, e)) {
				next = e->v.tgid;
				break;
			}
			e->seen = true;
			d->cursor++;
		}
		/* not hot, as kw_delta_needs() said; "seen" is reset at begin */
		memcpy(&d->cur[d->ncur], &d->old[run],
		       (d->cursor - run) * sizeof(*d->cur));
		d->ncur += d->cursor - run;
		if (d->ncur == d->capcur)
			continue;
		d->force = 0;
		if (next >= PID_MAX_LIMIT) {
			*pos = KW_POS_FOOTER;
			return KW_FOOTER;
		}
		kw_act_done(d->act, next);
		tgid = next;
		if (++n % KW_DELTA_BATCH == 0)
			cond_resched();
		rcu_read_lock();
		task = pid_task(find_pid_ns(tgid, &init_pid_ns), PIDTYPE_TGID);
		if (!task) {
			rcu_read_unlock();
			tgid++;
			continue;
		}
		kw_task_vals(task, &d->vals);
		prev = kw_delta_prev(d, tgid);
		if (!prev || !kw_vals_same(&prev->v, &d->vals)) {
			get_task_struct(task);
			rcu_read_unlock();
			it->task = task;
			d->prev = prev;
			d->room = true;
			d->hot = true;
			*pos = (loff_t)tgid + 1;
			return task;
		}
		rcu_read_unlock();
		kw_delta_commit(d, &d->vals, false);
		prev->seen = true;
		tgid++;
	}
}

/* The delta file's walk (kw_seek_fn): tracked or reading everything. */
static void *kw_delta_seek(struct kw_iter *it, loff_t *pos, pid_t tgid)
{
	if (it->delta->tracked)
		return kw_delta_track(it, pos, tgid);
	return kw_delta_walk(it, pos, tgid);
}

/*
 * Print the task kw_delta_seek() found changed, from the counters it read,
 * and commit it when the record fit.
 */
static int kw_delta_show_task(struct seq_file *m, struct kw_iter *it,
			      struct task_struct *task)
{
	struct kw_delta *d = it->delta;
	char id[KW_CONTAINER_ID_LEN + 1];
	const char *cgroup;
	struct mm_struct *mm;
	size_t cmdlen = 0;

	if (it->src->cmdline) {
		mm = get_task_mm(task);
		if (mm) {
			cmdlen = kw_read_cmdline(mm, it->cmdline);
			mmput(mm);
		}
	}
	cgroup = kw_task_cgroup(it, task, id);
	kw_show_vals(m, it, &d->vals, it->cmdline, cmdlen, id, cgroup);
	if (seq_has_overflowed(m))
		return 0;
	if (d->prev)
		d->prev->seen = true;
	if (d->room)
		kw_delta_commit(d, &d->vals, d->hot);
	return 0;
}

static void kw_delta_show_header(struct seq_file *m, struct kw_iter *it)
{
	struct kw_delta *d = it->delta;

	kw_show_header_mem(m, it);
	seq_printf(m, " \"full\": %s, \"generation\": %llu, \"cap_hits\": %llu,\n \"%s\": [\n",
		   d->full ? "true" : "false", d->gen, d->cap_hits,
		   it->src->list_key);
}

/*
 * The closing of the list, and "exited": the entries of @old that no
 * committed show() of this pass matched.  A pure function of the tables:
 * seq_file may repeat it (with a larger buffer) when it overflows.
 */
static void kw_delta_show_footer(struct seq_file *m, struct kw_iter *it)
{
	struct kw_delta *d = it->delta;
	const char *sep = "";
	size_t i;

	seq_puts(m, it->emitted_any ? "\n ],\n \"exited\": [" : " ],\n \"exited\": [");
	for (i = 0; i < d->nold; i++) {
		if (d->old[i].seen)
			continue;
		seq_put_decimal_ull(m, sep, d->old[i].v.tgid);
		sep = ", ";
	}
	seq_puts(m, "]}\n");
	if (!seq_has_overflowed(m))
		d->complete = true;
}

static int kw_delta_seq_show(struct seq_file *m, void *v,
			     const struct kw_source *src)
{
	struct kw_iter *it = m->private;

	it->src = src;
	if (v == SEQ_START_TOKEN)
		kw_delta_show_header(m, it);
	else if (v == KW_FOOTER)
		kw_delta_show_footer(m, it);
	else
		return kw_delta_show_task(m, it, v);
	return 0;
}

static void *kw_delta_seq_start(struct seq_file *m, loff_t *pos)
{
	struct kw_iter *it = m->private;

	if (*pos == 0)
		kw_delta_begin(it->delta);
	else if (*pos < KW_POS_FOOTER)
		it->delta->force = (pid_t)(*pos - 1);
	return kw_seq_start_with(m, pos, kw_delta_seek);
}

static void *kw_delta_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	return kw_seq_next_with(m, v, pos, kw_delta_seek);
}

/**
 * kw_delta_open() - open the delta file: the seq_file of kw_proc_open()
 * and an empty table, so that the first pass is full
 * @inode: the /proc entry
 * @file: the file being opened
 * @max: cap on the entries of one table
 * @full_every: a full pass every this many passes (0: never scheduled)
 * @track: follow activity marks (activity.h) where the kernel allows
 *
 * Return: 0 or a negative errno.
 */
static int kw_delta_open(struct inode *inode, struct file *file, size_t max,
			 unsigned int full_every, bool track)
{
	struct kw_delta *d;
	struct kw_iter *it;
	int ret;

	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d)
		return -ENOMEM;
	ret = kw_proc_open(inode, file);
	if (ret) {
		kfree(d);
		return ret;
	}
	d->max = max ? max : 1;
	d->full_every = full_every;
	if (track)
		d->act = kw_act_new();
	it = ((struct seq_file *)file->private_data)->private;
	it->delta = d;
	return 0;
}

static int kw_delta_release(struct inode *inode, struct file *file)
{
	struct kw_iter *it = ((struct seq_file *)file->private_data)->private;
	struct kw_delta *d = it->delta;

	if (d) {
		kw_act_del(d->act);
		kvfree(d->old);
		kvfree(d->cur);
		kfree(d);
		it->delta = NULL;
	}
	return seq_release_private(inode, file);
}

#endif /* KWARDEN_KMODS_DELTA_H */
