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
 * Tables are allocated with kvmalloc in start() and show(), which seq_file
 * calls in process context holding only its own mutex (the task walk drops
 * RCU before show(): kw_next_task()), and freed on release.
 */
#ifndef KWARDEN_KMODS_DELTA_H
#define KWARDEN_KMODS_DELTA_H

#include <linux/vmalloc.h>

#include "common.h"

/* Entries allocated for the first table of an open file. */
#define KW_DELTA_MIN	1024

/**
 * struct kw_dent - what the reader was last given for one thread group
 * @v: the counters the record was printed from
 * @seen: a committed show() of this pass matched this entry of @old
 */
struct kw_dent {
	struct kw_vals v;
	bool seen;
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
 */
struct kw_delta {
	struct kw_dent *old, *cur;
	size_t nold, ncur, capold, capcur, cursor;
	u64 gen, last_full, cap_hits;
	bool full, lost, complete;
	size_t max;
	unsigned int full_every;
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

static int kw_delta_show_task(struct seq_file *m, struct kw_iter *it,
			      struct task_struct *task)
{
	struct kw_delta *d = it->delta;
	char id[KW_CONTAINER_ID_LEN + 1];
	struct kw_dent *prev = NULL;
	const char *cgroup;
	struct mm_struct *mm;
	struct kw_vals v;
	size_t cmdlen = 0;
	bool room;

	mm = get_task_mm(task);
	kw_task_vals(task, mm, &v);
	while (d->cursor < d->nold && d->old[d->cursor].v.tgid < v.tgid)
		d->cursor++;
	if (d->cursor < d->nold && d->old[d->cursor].v.tgid == v.tgid)
		prev = &d->old[d->cursor];
	room = d->lost ? false : kw_delta_room(d);
	if (!room && !d->lost) {
		d->lost = true;
		d->cap_hits++;
	}
	if (!d->full && room && prev && kw_vals_same(&prev->v, &v)) {
		/*
		 * Unchanged: nothing printed, so nothing to repeat.  A quiet
		 * pass walks every process in one read(): let others run.
		 */
		if (mm)
			mmput(mm);
		d->cur[d->ncur].v = v;
		d->cur[d->ncur++].seen = false;
		prev->seen = true;
		cond_resched();
		return 0;
	}
	if (mm) {
		if (it->src->cmdline)
			cmdlen = kw_read_cmdline(mm, it->cmdline);
		mmput(mm);
	}
	cgroup = kw_task_cgroup(it, task, id);
	kw_show_vals(m, it, &v, it->cmdline, cmdlen, id, cgroup);
	if (seq_has_overflowed(m))
		return 0;
	if (prev)
		prev->seen = true;
	if (room) {
		d->cur[d->ncur].v = v;
		d->cur[d->ncur++].seen = false;
	}
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
	return kw_seq_start(m, pos);
}

/**
 * kw_delta_open() - open the delta file: the seq_file of kw_proc_open()
 * and an empty table, so that the first pass is full
 * @inode: the /proc entry
 * @file: the file being opened
 * @max: cap on the entries of one table
 * @full_every: a full pass every this many passes (0: never scheduled)
 *
 * Return: 0 or a negative errno.
 */
static int kw_delta_open(struct inode *inode, struct file *file, size_t max,
			 unsigned int full_every)
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
	it = ((struct seq_file *)file->private_data)->private;
	it->delta = d;
	return 0;
}

static int kw_delta_release(struct inode *inode, struct file *file)
{
	struct kw_iter *it = ((struct seq_file *)file->private_data)->private;
	struct kw_delta *d = it->delta;

	if (d) {
		kvfree(d->old);
		kvfree(d->cur);
		kfree(d);
		it->delta = NULL;
	}
	return seq_release_private(inode, file);
}

#endif /* KWARDEN_KMODS_DELTA_H */
