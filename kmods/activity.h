/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Activity marks for the delta file (delta.h): probes on scheduler, memory
 * and cgroup tracepoints set, in a bitmap of each open delta file, the bit
 * of every thread group that ran, was woken, forked, had its resident set
 * changed or moved to another cgroup.  A pass of that file then reads the
 * marked thread groups and the few that no tracepoint shows changing, and
 * carries every other entry of its table over unread: its cost follows the
 * activity on the host, not the number of processes.
 *
 * Which change of a record (struct kw_vals) shows how:
 *  - CPU time: sched_stat_runtime, fired where the scheduler adds to a
 *    task's runtime (each tick and switch) for fair tasks; sched_switch
 *    marks a task when it stops running (prev) and when it starts (next),
 *    which covers the other classes but for a real-time thread running
 *    without a switch: an entry found changed in a pass is read again in
 *    the next ("hot"), and one whose leader runs ('R') in every pass.
 *  - Thread count, uid, name, exec, argv, mappings: only the process
 *    itself changes them, so it ran (above).
 *  - Resident set: rss_stat, fired wherever an mm's counters change (also
 *    from another process: reclaim, process_vm_writev, ptrace), marks the
 *    mm's owner (CONFIG_MEMCG) and current.
 *  - State: running or runnable ('R') and dead ('Z', 'X') entries are read
 *    in every pass; stopping and sleeping switch the task out, waking it
 *    fires sched_wakeup.
 *  - Cgroup: cgroup_attach_task and cgroup_transfer_tasks (v1).
 *  - Parent: a process whose parent exits is reparented silently; the
 *    exiting task's last switch (exit_state set, after the reparenting)
 *    marks its tgid "exiting", and a pass reads every entry whose parent
 *    was marked so before the pass began.
 *  - New processes and pid reuse: sched_process_fork and sched_wakeup_new;
 *    exits: the last switch of the dead task.
 *
 * Each bitmap has a summary bitmap with one bit per word, so a pass finds
 * the marked words without scanning 512 KiB.  A probe sets the word's bit,
 * then the summary's; a pass clears the summary bit, then takes the word
 * with xchg(), both fully ordered: a mark is either taken by the pass that
 * clears its summary bit, or left, with its summary bit, for the next.
 * Marks are taken before the task is read, so a change after the read
 * leaves a mark behind.
 *
 * The probes are registered at the first open of a delta file that tracks
 * and stay registered until the module is unloaded: registering patches
 * the kernel's text (static keys), done once rather than at every open.
 */
#ifndef KWARDEN_KMODS_ACTIVITY_H
#define KWARDEN_KMODS_ACTIVITY_H

#include <linux/bitops.h>
#include <linux/mutex.h>
#include <linux/rculist.h>
#include <linux/tracepoint.h>
#include <linux/vmalloc.h>

/* Delta files tracking at once; more open files read every process. */
#define KW_ACT_MAX_OPEN	8

/* Words of a PID_MAX_LIMIT-bit bitmap, and of its summary. */
#define KW_ACT_WORDS	BITS_TO_LONGS(PID_MAX_LIMIT)
#define KW_ACT_SWORDS	BITS_TO_LONGS(KW_ACT_WORDS)

/**
 * struct kw_bits - a bitmap of tgids and its summary
 * @w: one bit per tgid below PID_MAX_LIMIT
 * @sum: bit i set when @w[i] may be non-zero
 */
struct kw_bits {
	unsigned long *w;
	unsigned long *sum;
};

/**
 * struct kw_act - the marks of one open delta file
 * @node: in kw_act_list (RCU: the probes walk it)
 * @marks: thread groups that may have changed
 * @exiting: thread groups whose tasks exited
 * @exsnap: @exiting as taken at the beginning of the pass
 * @nexsnap: words of @exsnap that are not zero
 * @word: index of the word of @marks taken into @bits, or KW_ACT_WORDS
 * @bits: marks of @word not yet handled by this pass
 */
struct kw_act {
	struct list_head node;
	struct kw_bits marks, exiting, exsnap;
	unsigned long nexsnap;
	unsigned long word, bits;
};

static LIST_HEAD(kw_act_list);
static DEFINE_MUTEX(kw_act_mutex);
static unsigned int kw_act_open;
static bool kw_act_registered, kw_act_failed;

static inline void kw_bits_set(struct kw_bits *b, pid_t tgid)
{
	unsigned long i = (unsigned long)tgid;

	/*
	 * The change being reported before the test: were the bit found set
	 * and taken right after, the pass that took it must see the change.
	 */
	smp_mb();
	if (test_bit(i, b->w))
		return;
	set_bit(i, b->w);
	/* the word's bit before the summary's: kw_bits_take() clears in reverse */
	smp_mb__after_atomic();
	if (!test_bit(i / BITS_PER_LONG, b->sum))
		set_bit(i / BITS_PER_LONG, b->sum);
}

/* Take word @i of @b (clearing it) when its summary bit is set; else 0. */
static unsigned long kw_bits_take(struct kw_bits *b, unsigned long i)
{
	if (!test_and_clear_bit(i, b->sum))
		return 0;
	return xchg(&b->w[i], 0);
}

/*
 * Mark @tgid in every tracking file, and as exiting when @exiting.  Probes
 * run with preemption disabled, an RCU read-side section for the list (a
 * removal waits with synchronize_rcu()); rcu_read_lock() is not taken:
 * sched_switch's probe runs inside __schedule() with the runqueue locked.
 */
static void kw_act_mark(pid_t tgid, bool exiting)
{
	struct kw_act *a;

	if (tgid <= 0 || tgid >= PID_MAX_LIMIT)
		return;
	list_for_each_entry_rcu(a, &kw_act_list, node) {
		kw_bits_set(&a->marks, tgid);
		if (exiting)
			kw_bits_set(&a->exiting, tgid);
	}
}

static void kw_act_switch(void *data, bool preempt, struct task_struct *prev,
			  struct task_struct *next, unsigned int prev_state)
{
	kw_act_mark(prev->tgid, READ_ONCE(prev->exit_state));
	kw_act_mark(next->tgid, false);
}

static void kw_act_wakeup(void *data, struct task_struct *p)
{
	kw_act_mark(p->tgid, false);
}

#ifdef KW_STAT_RUNTIME_VRUNTIME
static void kw_act_runtime(void *data, struct task_struct *tsk, u64 runtime,
			   u64 vruntime)
{
	kw_act_mark(tsk->tgid, false);
}
#else
static void kw_act_runtime(void *data, struct task_struct *tsk, u64 runtime)
{
	kw_act_mark(tsk->tgid, false);
}
#endif

static void kw_act_fork(void *data, struct task_struct *parent,
			struct task_struct *child)
{
	kw_act_mark(parent->tgid, false);
	kw_act_mark(child->tgid, false);
}

static void kw_act_cgroup(void *data, struct cgroup *dst_cgrp,
			  const char *path, struct task_struct *task,
			  bool threadgroup)
{
	kw_act_mark(task->tgid, false);
}

/* The probe runs with preemption disabled: an RCU-sched reader. */
static void kw_act_rss_mm(struct mm_struct *mm)
{
#ifdef CONFIG_MEMCG
	struct task_struct *owner = rcu_dereference_sched(mm->owner);

	if (owner)
		kw_act_mark(owner->tgid, false);
#endif
	kw_act_mark(current->tgid, false);
}

#ifdef KW_RSS_STAT_COUNT
static void kw_act_rss(void *data, struct mm_struct *mm, int member, long count)
{
	kw_act_rss_mm(mm);
}
#else
static void kw_act_rss(void *data, struct mm_struct *mm, int member)
{
	kw_act_rss_mm(mm);
}
#endif

/**
 * struct kw_act_probe - a tracepoint and the probe kwarden attaches to it
 * @name: the tracepoint's name
 * @probe: the probe, of the tracepoint's prototype
 * @required: without it a pass could miss a change: no tracking
 * @tp: the tracepoint, once found
 * @on: the probe is registered on @tp
 */
struct kw_act_probe {
	const char *name;
	void *probe;
	bool required;
	struct tracepoint *tp;
	bool on;
};

static struct kw_act_probe kw_act_probes[] = {
	{ "sched_switch", kw_act_switch, true },
	{ "sched_wakeup", kw_act_wakeup, true },
	{ "sched_stat_runtime", kw_act_runtime, true },
	{ "sched_wakeup_new", kw_act_wakeup, true },
	{ "sched_process_fork", kw_act_fork, true },
	{ "cgroup_attach_task", kw_act_cgroup, true },
	{ "cgroup_transfer_tasks", kw_act_cgroup, false },
	{ "rss_stat", kw_act_rss, true },
};

static void kw_act_find(struct tracepoint *tp, void *priv)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kw_act_probes); i++)
		if (!strcmp(tp->name, kw_act_probes[i].name))
			kw_act_probes[i].tp = tp;
}

/*
 * Unregister what kw_act_register() registered, and only that: removing a
 * probe a tracepoint does not have warns.
 */
static void kw_act_unregister(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kw_act_probes); i++) {
		if (kw_act_probes[i].on)
			tracepoint_probe_unregister(kw_act_probes[i].tp,
						    kw_act_probes[i].probe,
						    NULL);
		kw_act_probes[i].on = false;
		kw_act_probes[i].tp = NULL;
	}
	tracepoint_synchronize_unregister();
}

/* Find and register every probe; kw_act_mutex held.  0 or a -errno. */
static int kw_act_register(void)
{
	size_t i;
	int ret = 0, n = 0;

	for_each_kernel_tracepoint(kw_act_find, NULL);
	for (i = 0; i < ARRAY_SIZE(kw_act_probes); i++) {
		struct kw_act_probe *p = &kw_act_probes[i];

		if (!p->tp) {
			if (!p->required)
				continue;
			pr_warn("tracepoint %s not found: the delta file reads every process\n",
				p->name);
			ret = -ENOENT;
			break;
		}
		ret = tracepoint_probe_register(p->tp, p->probe, NULL);
		if (ret) {
			pr_warn("tracepoint %s: probe not registered (%d): the delta file reads every process\n",
				p->name, ret);
			break;
		}
		p->on = true;
		n++;
	}
	if (ret)
		kw_act_unregister();
	else
		pr_info("delta passes follow activity: %d tracepoint probes registered\n",
			n);
	return ret;
}

static void kw_bits_free(struct kw_bits *b)
{
	kvfree(b->w);
	kvfree(b->sum);
}

static bool kw_bits_alloc(struct kw_bits *b)
{
	b->w = kvcalloc(KW_ACT_WORDS, sizeof(long), GFP_KERNEL_ACCOUNT);
	b->sum = kvcalloc(KW_ACT_SWORDS, sizeof(long), GFP_KERNEL_ACCOUNT);
	return b->w && b->sum;
}

static void kw_act_free(struct kw_act *a)
{
	if (!a)
		return;
	kw_bits_free(&a->marks);
	kw_bits_free(&a->exiting);
	kw_bits_free(&a->exsnap);
	kfree(a);
}

/**
 * kw_act_new() - marks for an open delta file, its probes registered
 *
 * Return: the marks, or NULL (too many files tracking, no memory, a
 * tracepoint missing): the file then reads every process in every pass.
 */
static struct kw_act *kw_act_new(void)
{
	struct kw_act *a = kzalloc(sizeof(*a), GFP_KERNEL_ACCOUNT);

	if (!a)
		return NULL;
	a->word = KW_ACT_WORDS;
	if (!kw_bits_alloc(&a->marks) || !kw_bits_alloc(&a->exiting) ||
	    !kw_bits_alloc(&a->exsnap)) {
		kw_act_free(a);
		return NULL;
	}
	mutex_lock(&kw_act_mutex);
	if (kw_act_open >= KW_ACT_MAX_OPEN || kw_act_failed ||
	    (!kw_act_registered && kw_act_register())) {
		kw_act_failed = !kw_act_registered;
		mutex_unlock(&kw_act_mutex);
		kw_act_free(a);
		return NULL;
	}
	kw_act_registered = true;
	kw_act_open++;
	list_add_rcu(&a->node, &kw_act_list);
	mutex_unlock(&kw_act_mutex);
	return a;
}

/* Stop marking @a and free it (open file's release). */
static void kw_act_del(struct kw_act *a)
{
	if (!a)
		return;
	mutex_lock(&kw_act_mutex);
	list_del_rcu(&a->node);
	kw_act_open--;
	mutex_unlock(&kw_act_mutex);
	synchronize_rcu();
	kw_act_free(a);
}

/* Module exit, every file closed: unregister the probes. */
static void kw_act_exit(void)
{
	mutex_lock(&kw_act_mutex);
	if (kw_act_registered)
		kw_act_unregister();
	kw_act_registered = false;
	mutex_unlock(&kw_act_mutex);
}

/*
 * Beginning of a pass: forget what the last pass had taken of @marks but
 * not handled (a restarted pass), and take @exiting into @exsnap.  When
 * @all, the pass reads every process: take every mark now.
 */
static void kw_act_begin(struct kw_act *a, bool all)
{
	unsigned long s;

	a->word = KW_ACT_WORDS;
	a->bits = 0;
	for_each_set_bit(s, a->exsnap.sum, KW_ACT_WORDS)
		a->exsnap.w[s] = 0;
	bitmap_zero(a->exsnap.sum, KW_ACT_WORDS);
	a->nexsnap = 0;
	for_each_set_bit(s, a->exiting.sum, KW_ACT_WORDS) {
		a->exsnap.w[s] = kw_bits_take(&a->exiting, s);
		if (a->exsnap.w[s]) {
			__set_bit(s, a->exsnap.sum);
			a->nexsnap++;
		}
	}
	if (!all)
		return;
	for_each_set_bit(s, a->marks.sum, KW_ACT_WORDS)
		kw_bits_take(&a->marks, s);
}

/*
 * The first marked tgid at or after @tgid, its mark not yet dropped
 * (kw_act_done()); PID_MAX_LIMIT when there is none.  Words are taken in
 * increasing order as the pass reaches them; a restart below the word
 * taken (seq_file repeating a record) never takes a lower one again, so
 * no mark taken is lost: marks set since in lower words stay for the next
 * pass.
 */
static pid_t kw_act_next(struct kw_act *a, pid_t tgid)
{
	unsigned long t = (unsigned long)tgid, i = t / BITS_PER_LONG, bits;

	for (;;) {
		if (a->word != KW_ACT_WORDS && i <= a->word) {
			if (i < a->word) {
				i = a->word;
				t = i * BITS_PER_LONG;
			}
			bits = a->bits & (~0UL << (t % BITS_PER_LONG));
			if (bits)
				return (pid_t)(i * BITS_PER_LONG + __ffs(bits));
			i++;
			t = i * BITS_PER_LONG;
		}
		i = find_next_bit(a->marks.sum, KW_ACT_WORDS, i);
		if (i >= KW_ACT_WORDS)
			return PID_MAX_LIMIT;
		a->word = i;
		a->bits = kw_bits_take(&a->marks, i);
		if (t < i * BITS_PER_LONG)
			t = i * BITS_PER_LONG;
	}
}

/* The pass has handled @tgid: drop its mark from the word taken. */
static void kw_act_done(struct kw_act *a, pid_t tgid)
{
	if (a->word == (unsigned long)tgid / BITS_PER_LONG)
		a->bits &= ~BIT((unsigned long)tgid % BITS_PER_LONG);
}

/* Whether the parent @ppid was marked exiting before the pass began. */
static bool kw_act_orphaned(const struct kw_act *a, pid_t ppid)
{
	return a->nexsnap && ppid > 0 && ppid < PID_MAX_LIMIT &&
	       test_bit((unsigned long)ppid, a->exsnap.w);
}

#endif /* KWARDEN_KMODS_ACTIVITY_H */
