/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The seq_file engine shared by sysinfo.ko and continfo.ko.
 *
 * Both modules publish one strict JSON object (RFC 8259) in /proc: a header
 * with system memory, then one object per process (thread group), then a
 * footer.  The iterator walks thread-group ids with find_ge_pid(), holds a
 * task reference per record and never sleeps under rcu_read_lock() (the
 * delta file's walk, delta.h, reads the processes it does not print
 * under it, in batches).
 */
#ifndef KWARDEN_KMODS_COMMON_H
#define KWARDEN_KMODS_COMMON_H

#include <linux/cgroup.h>
#include <linux/cpumask.h>
#include <linux/highmem.h>
#include <linux/kernfs.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/percpu_counter.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uidgid.h>

#include "kwmath.h"

#define PROC_NAME_SYS		"sysinfo_so1_202041390"
#define PROC_NAME_SYS_NOCMD	PROC_NAME_SYS "_nocmdline"
#define PROC_NAME_SYS_DELTA	PROC_NAME_SYS "_delta"
#define PROC_NAME_CONT		"continfo_so1_202041390"

/* Bytes of the argv area read per process; longer command lines are cut. */
#define KW_CMDLINE_MAX		4096
/*
 * Longest cgroup path reported; a longer one keeps its innermost components
 * behind "...".  The container id never depends on it: it is taken from the
 * components one by one, at most KW_CGROUP_DEPTH_MAX of them from the leaf.
 */
#define KW_CGROUP_PATH_MAX	1024
#define KW_CGROUP_DEPTH_MAX	128
/* "/" + a component (at most NAME_MAX bytes, as mkdir allows) + NUL */
#define KW_CGROUP_NAME_MAX	(NAME_MAX + 2)
#define KW_CONTAINER_ID_LEN	64
/*
 * seq_file output buffer per open file: one read() returns up to this
 * much (~250 records) before the iterator stops and restarts.
 */
#define KW_SEQ_BUF_SIZE		(64 * 1024)

/*
 * The longest run of a record between two strings: from the closing quote
 * of "name" or "cmdline" to the opening one of "cgroup", nine numbers of
 * at most 20 characters, the container id and ~170 bytes of keys.
 */
#define KW_REC_MAX		512

/*
 * seq_file positions: 0 is the header, tgid + 1 a process, KW_POS_FOOTER
 * the closing brackets.  Every tgid + 1 is below KW_POS_FOOTER.
 */
#define KW_POS_FOOTER	((loff_t)PID_MAX_LIMIT + 2)
#define KW_FOOTER	((void *)2)

/**
 * struct kw_source - what one /proc file lists
 * @list_key: JSON key of the process array ("processes" or "containers")
 * @containers_only: list only tasks whose cgroup names a container
 * @cmdline: records carry "cmdline".  Reading the argv area is most of a
 *	record's cost (kw_copy_remote() pins and maps the page), and a
 *	command line rarely changes for a (pid, start_ns): a reader that
 *	caches it reads the file without it, and /proc/<pid>/cmdline on a miss.
 */
struct kw_source {
	const char *list_key;
	bool containers_only;
	bool cmdline;
};

/**
 * struct kw_iter - per-open iterator state (seq_file private data)
 * @src: the file's source description
 * @task: task of the current record, reference held, or NULL
 * @total_kb: MemTotal in kB read for the header, used for mem_pct
 * @emitted_any: a process record was committed to the output since the
 *	header, so the next one needs a leading comma.  Set only when show()
 *	did not overflow: seq_file discards and repeats an overflowing show().
 * @cmdline: scratch buffer for the argv area
 * @cgpath: scratch buffers for cgroup paths (default hierarchy, first v1
 *	path that is not the root, the v1 path being looked at)
 * @cgname: one cgroup path component, "/name"
 * @child_hex: the component below the current one when it is 64 hex digits
 * @outer_hex: the outermost 64-hex component seen so far
 * @rec: the numbers of a record, formatted before one seq_write()
 * @delta: the delta file's per-open table (delta.h), NULL for the others
 */
struct kw_delta;

struct kw_iter {
	const struct kw_source *src;
	struct task_struct *task;
	u64 total_kb;
	bool emitted_any;
	char cmdline[KW_CMDLINE_MAX];
	char cgpath[3][KW_CGROUP_PATH_MAX];
	char cgname[KW_CGROUP_NAME_MAX];
	char child_hex[KW_CONTAINER_ID_LEN + 1];
	char outer_hex[KW_CONTAINER_ID_LEN + 1];
	char rec[KW_REC_MAX];
	struct kw_delta *delta;
};

/**
 * kw_utf8_len() - length of the valid UTF-8 sequence starting at @s
 * @s: bytes, first one >= 0x80
 * @n: bytes available
 *
 * Follows RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 *
 * Return: 2, 3 or 4 for a valid sequence, 0 if the first byte does not
 * start one.
 */
static size_t kw_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/**
 * kw_json_chars() - print @len bytes of @s as the inside of a JSON string
 * literal (the caller prints the quotes)
 * @m: output
 * @s: bytes, need not be NUL-terminated nor valid UTF-8
 * @len: number of bytes
 *
 * '"' and '\' are backslash-escaped, control characters (below 0x20, and
 * DEL) become \u00XX, and every byte that does not belong to a valid UTF-8
 * sequence becomes \ufffd.  The output is therefore always valid UTF-8 and
 * a string can never end early.
 */
static void kw_json_chars(struct seq_file *m, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, n;

	while (i < len) {
		unsigned char c = u[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = kw_utf8_len(u + i, len - i);
			if (n) {
				i += n;
				continue;
			}
		}
		seq_write(m, s + run, i - run);
		if (c == '"')
			seq_puts(m, "\\\"");
		else if (c == '\\')
			seq_puts(m, "\\\\");
		else if (c < 0x80)
			seq_printf(m, "\\u%04x", c);
		else
			seq_puts(m, "\\ufffd");
		run = ++i;
	}
	seq_write(m, s + run, i - run);
}

/*
 * Formatting into a buffer the caller sized: @s (no terminating NUL
 * copied), and numbers in decimal as seq_put_decimal_ull()/_ll() print
 * them.  Each returns the end of what it wrote.
 */
static char *kw_put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *kw_put_ull(char *p, u64 n)
{
	char tmp[20];
	int i = 0;
	u32 r;

	do {
		n = div_u64_rem(n, 10, &r);
		tmp[i++] = '0' + r;
	} while (n);
	while (i)
		*p++ = tmp[--i];
	return p;
}

static char *kw_put_ll(char *p, s64 n)
{
	if (n >= 0)
		return kw_put_ull(p, n);
	*p++ = '-';
	return kw_put_ull(p, -(u64)n);
}

static bool kw_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * The id in a "docker-<id>.scope" style component of @n bytes, or NULL.
 */
static const char *kw_scope_id(const char *comp, size_t n)
{
	static const char * const scopes[] = {
		"docker-", "cri-containerd-", "crio-", "libpod-",
	};
	size_t plen, i;

	for (i = 0; i < ARRAY_SIZE(scopes); i++) {
		plen = strlen(scopes[i]);
		if (n == plen + KW_CONTAINER_ID_LEN + 6 &&
		    !strncmp(comp, scopes[i], plen) &&
		    kw_is_hex(comp + plen, KW_CONTAINER_ID_LEN) &&
		    !strncmp(comp + plen + KW_CONTAINER_ID_LEN, ".scope", 6))
			return comp + plen;
	}
	return NULL;
}

/*
 * Keep @hex as the container id when it sits @up components above the leaf
 * and no match further out was found yet: the outermost match wins.
 */
static void kw_id_candidate(char *id, int *best_up, const char *hex, int up)
{
	if (up <= *best_up)
		return;
	memcpy(id, hex, KW_CONTAINER_ID_LEN);
	id[KW_CONTAINER_ID_LEN] = '\0';
	*best_up = up;
}

/**
 * kw_cgroup_walk() - path and container id of a cgroup, from the leaf up
 * @it: iterator, whose cgname, child_hex and outer_hex are used
 * @cgrp: cgroup, reference held by the caller
 * @buf: KW_CGROUP_PATH_MAX bytes for the path
 * @id: receives the 64-hex id and a NUL, or "" when there is none
 *
 * Components are read one at a time, leaf first, with
 * kernfs_path_from_node() relative to the parent (which takes the kernfs
 * rename lock: a concurrent rename gives the old or the new name, never a
 * freed one).  Parents cannot go away: every css holds a reference on its
 * parent.  Recognised (the outermost match wins, for nested containers):
 * "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope",
 * "libpod-<id>.scope", "<id>" right below "docker", and "<id>" anywhere
 * below a "kubepods*" component.  Only the innermost KW_CGROUP_DEPTH_MAX
 * components are looked at.
 *
 * The path is built right to left in @buf; when it does not fit, its outer
 * components are replaced by "...", so the innermost ones are kept.  May
 * sleep; no lock may be held.
 *
 * Return: the path, inside @buf.
 */
static const char *kw_cgroup_walk(struct kw_iter *it, struct cgroup *cgrp,
				  char *buf, char *id)
{
	struct cgroup *parent;
	size_t pos = KW_CGROUP_PATH_MAX - 1, n;
	const char *comp, *hex;
	bool cut = false;
	int up, best_up = -1, outer_up = -1;

	buf[pos] = '\0';
	id[0] = '\0';
	it->child_hex[0] = '\0';
	for (up = 0; up < KW_CGROUP_DEPTH_MAX; up++) {
		parent = cgroup_parent(cgrp);
		if (!parent)
			break;
		if (kernfs_path_from_node(cgrp->kn, parent->kn, it->cgname,
					  sizeof(it->cgname)) < 2 ||
		    it->cgname[0] != '/') {
			cut = true;
			break;
		}
		n = strlen(it->cgname);
		if (!cut && n + 3 <= pos) {
			pos -= n;
			memcpy(buf + pos, it->cgname, n);
		} else {
			cut = true;
		}
		comp = it->cgname + 1;
		n--;
		hex = kw_scope_id(comp, n);
		if (hex)
			kw_id_candidate(id, &best_up, hex, up);
		if (n == 6 && !strncmp(comp, "docker", 6) && it->child_hex[0])
			kw_id_candidate(id, &best_up, it->child_hex, up - 1);
		if (n >= 8 && !strncmp(comp, "kubepods", 8) && outer_up >= 0)
			kw_id_candidate(id, &best_up, it->outer_hex, outer_up);
		if (n == KW_CONTAINER_ID_LEN && kw_is_hex(comp, n)) {
			memcpy(it->child_hex, comp, n + 1);
			memcpy(it->outer_hex, comp, n + 1);
			outer_up = up;
		} else {
			it->child_hex[0] = '\0';
		}
		cgrp = parent;
	}
	if (cgroup_parent(cgrp))
		cut = true;
	if (cut) {
		pos -= 3;
		memcpy(buf + pos, "...", 3);
	} else if (!buf[pos]) {
		buf[--pos] = '/';
	}
	return buf + pos;
}

/*
 * Path and id of @css's cgroup (see kw_cgroup_walk()); the css reference
 * taken under RCU by the caller is dropped here.
 */
static const char *kw_css_path(struct kw_iter *it,
			       struct cgroup_subsys_state *css, char *buf,
			       char *id)
{
	const char *path = kw_cgroup_walk(it, css->cgroup, buf, id);

	css_put(css);
	return path;
}

/*
 * The css of @task in every v1 hierarchy, one per hierarchy, with a
 * reference, into @out (CGROUP_SUBSYS_COUNT entries).  Called under RCU.
 *
 * Return: how many.
 */
static int kw_v1_csses(struct task_struct *task, struct cgroup *dfl,
		       struct cgroup_subsys_state **out)
{
	struct cgroup_subsys_state *css;
	int i, j, n = 0;

	for (i = 0; i < CGROUP_SUBSYS_COUNT; i++) {
		css = task_css(task, i);
		if (!css || css->cgroup->root == dfl->root)
			continue;
		for (j = 0; j < n; j++)
			if (out[j]->cgroup->root == css->cgroup->root)
				break;
		if (j == n && css_tryget(css))
			out[n++] = css;
	}
	return n;
}

/**
 * kw_task_cgroup() - cgroup path and container id of @task
 * @it: iterator, whose cgpath buffers are used
 * @task: task, reference held by the caller
 * @id: receives the container id, or "" if none
 *
 * The cgroup2 (default hierarchy) path is tried first, then the task's
 * cgroup in every v1 hierarchy that has a controller, in controller order:
 * Docker puts a task in every controller, hand-made and kubelet setups not
 * always.  References are taken under RCU and the paths are read after
 * rcu_read_unlock().
 *
 * Return: the path reported in "cgroup": the one that held the id, else
 * the cgroup2 path unless it is the root, else the first v1 path that is
 * not the root, else the cgroup2 path.
 */
static const char *kw_task_cgroup(struct kw_iter *it, struct task_struct *task,
				  char *id)
{
	struct cgroup_subsys_state *v1[CGROUP_SUBSYS_COUNT];
	struct cgroup_subsys_state *dfl_css = NULL;
	const char *dfl_path = "/", *v1_path = NULL, *path;
	struct cgroup *dfl;
	int i, n = 0;

	rcu_read_lock();
	dfl = task_dfl_cgroup(task);
	if (dfl) {
		if (css_tryget(&dfl->self))
			dfl_css = &dfl->self;
		n = kw_v1_csses(task, dfl, v1);
	}
	rcu_read_unlock();

	id[0] = '\0';
	if (dfl_css)
		dfl_path = kw_css_path(it, dfl_css, it->cgpath[0], id);
	for (i = 0; i < n; i++) {
		if (id[0]) {
			css_put(v1[i]);
			continue;
		}
		path = kw_css_path(it, v1[i], it->cgpath[v1_path ? 2 : 1], id);
		if (id[0])
			dfl_path = path;
		else if (!v1_path && strcmp(path, "/"))
			v1_path = path;
	}
	if (id[0] || !v1_path || strcmp(dfl_path, "/"))
		return dfl_path;
	return v1_path;
}

/* Pages the argv area read (KW_CMDLINE_MAX bytes, at any offset) spans. */
#define KW_CMDLINE_PAGES	(DIV_ROUND_UP(KW_CMDLINE_MAX, PAGE_SIZE) + 1)

/*
 * get_user_pages_remote() with the mmap lock held by the caller.  It lost
 * its vmas argument in 6.5 (Kbuild detects which one the kernel has), and
 * since then it warns (dump_stack(), once an hour) when @start lies in the
 * gap below a stack that would once have grown: access_remote_vm() checks
 * for a VMA first (and grows the stack), so does this (and returns
 * nothing: a reader has no business growing another process's stack).
 */
static long kw_gup_remote(struct mm_struct *mm, unsigned long start,
			  unsigned long nr_pages, struct page **pages)
{
#ifdef KW_GUP_REMOTE_VMAS
	return get_user_pages_remote(mm, start, nr_pages, 0, pages, NULL, NULL);
#else
	if (!vma_lookup(mm, start))
		return 0;
	return get_user_pages_remote(mm, start, nr_pages, 0, pages, NULL);
#endif
}

/**
 * kw_copy_remote() - copy @len bytes at @addr in @mm into @buf
 * @mm: address space, reference held by the caller
 * @addr: user address
 * @buf: destination
 * @len: at most KW_CMDLINE_MAX
 *
 * What access_remote_vm() does for a read (modules can only call
 * access_process_vm(), which takes the task's mm again): the pages are
 * taken with one get_user_pages_remote() call under the mmap read lock
 * (killable, as there), then copied through the kernel's mapping and put.
 * Like there, the copy stops at the first page that cannot be had.  Not
 * done: reading through a mapping's vm_ops->access() (I/O memory), and
 * growing a stack (kw_gup_remote()); an argv area lies in the stack VMA.
 * May sleep.
 *
 * Return: number of bytes copied.
 */
static size_t kw_copy_remote(struct mm_struct *mm, unsigned long addr,
			     char *buf, size_t len)
{
	struct page *pages[KW_CMDLINE_PAGES];
	size_t done = 0, n;
	unsigned long nr;
	long got, i;
	void *maddr;

	nr = DIV_ROUND_UP(offset_in_page(addr) + len, PAGE_SIZE);
	if (mmap_read_lock_killable(mm))
		return 0;
	got = kw_gup_remote(mm, addr, nr, pages);
	mmap_read_unlock(mm);
	for (i = 0; i < got; i++) {
		n = min_t(size_t, len - done, PAGE_SIZE - offset_in_page(addr));
		maddr = kmap_local_page(pages[i]);
		memcpy(buf + done, maddr + offset_in_page(addr), n);
		kunmap_local(maddr);
		put_page(pages[i]);
		done += n;
		addr += n;
	}
	return done;
}

/**
 * kw_read_cmdline() - copy the argv area of @mm into @buf
 * @mm: the process's mm, reference held by the caller
 * @buf: destination, KW_CMDLINE_MAX bytes
 *
 * At most KW_CMDLINE_MAX bytes are read with kw_copy_remote(), which may
 * sleep: no lock is held.  Trailing NULs are dropped and the NULs between
 * arguments become spaces.
 *
 * Return: number of bytes in @buf.
 */
static size_t kw_read_cmdline(struct mm_struct *mm, char *buf)
{
	unsigned long start, end;
	size_t len, i;

	spin_lock(&mm->arg_lock);
	start = mm->arg_start;
	end = mm->arg_end;
	spin_unlock(&mm->arg_lock);
	if (!start || end <= start)
		return 0;
	len = min_t(unsigned long, end - start, KW_CMDLINE_MAX);
	len = kw_copy_remote(mm, start, buf, len);
	while (len && buf[len - 1] == '\0')
		len--;
	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return len;
}

/*
 * CPU time of the whole thread group in ns: time of exited threads kept
 * in signal_struct plus every live thread's, exactly as
 * thread_group_cputime() (which modules cannot call) reads it: one
 * lockless pass under the stats seqlock, and if a thread exited meanwhile,
 * a second pass holding the lock, so the sum is never torn.
 */
static u64 kw_group_cpu_ns(struct task_struct *task)
{
	struct signal_struct *sig = task->signal;
	struct task_struct *t;
	unsigned long flags;
	int seq, nextseq = 0;
	u64 sum;

	rcu_read_lock();
	do {
		seq = nextseq;
		flags = read_seqbegin_or_lock_irqsave(&sig->stats_lock, &seq);
		sum = sig->sum_sched_runtime;
		for_each_thread(task, t)
			sum += READ_ONCE(t->se.sum_exec_runtime);
		nextseq = 1;
	} while (need_seqretry(&sig->stats_lock, seq));
	done_seqretry_irqrestore(&sig->stats_lock, seq, flags);
	rcu_read_unlock();
	return sum;
}

/**
 * kw_mm_rss() - resident set in pages, as /proc/<pid>/status VmRSS shows it
 * @mm: address space, reference held by the caller or the lock of a task
 *	using it (kw_task_vals())
 *
 * Where the counters are per-CPU (6.2 and later; Kbuild detects it),
 * get_mm_rss() and /proc/<pid>/stat only read an approximation (off by up
 * to a batch per CPU), while status and statm sum them exactly
 * (get_mm_counter_sum(), 6.16 and the stable kernels it went back to,
 * Debian's 6.12 among them): so does this.  percpu_counter_sum_positive()
 * on each of the three counters would take three irq-saving lock rounds
 * and walk the CPUs three times; here the three locks are held together
 * (nested: nothing else ever holds two of them) and the CPUs walked once,
 * each counter clamped at 0 as there.  The sum is as exact: a fold moves
 * a CPU's delta into the count under its counter's lock.
 *
 * Return: pages.
 */
static unsigned long kw_mm_rss(struct mm_struct *mm)
{
#if defined(KW_RSS_PERCPU) && defined(CONFIG_SMP)
	struct percpu_counter *c = mm->rss_stat;
	s64 file, anon, shmem;
	unsigned long flags;
	int cpu;

	raw_spin_lock_irqsave(&c[MM_FILEPAGES].lock, flags);
	raw_spin_lock_nested(&c[MM_ANONPAGES].lock, 1);
	raw_spin_lock_nested(&c[MM_SHMEMPAGES].lock, 2);
	file = c[MM_FILEPAGES].count;
	anon = c[MM_ANONPAGES].count;
	shmem = c[MM_SHMEMPAGES].count;
	for_each_cpu_or(cpu, cpu_online_mask, cpu_dying_mask) {
		file += *per_cpu_ptr(c[MM_FILEPAGES].counters, cpu);
		anon += *per_cpu_ptr(c[MM_ANONPAGES].counters, cpu);
		shmem += *per_cpu_ptr(c[MM_SHMEMPAGES].counters, cpu);
	}
	raw_spin_unlock(&c[MM_SHMEMPAGES].lock);
	raw_spin_unlock(&c[MM_ANONPAGES].lock);
	raw_spin_unlock_irqrestore(&c[MM_FILEPAGES].lock, flags);
	return max_t(s64, file, 0) + max_t(s64, anon, 0) +
	       max_t(s64, shmem, 0);
#elif defined(KW_RSS_PERCPU)
	return percpu_counter_sum_positive(&mm->rss_stat[MM_FILEPAGES]) +
	       percpu_counter_sum_positive(&mm->rss_stat[MM_ANONPAGES]) +
	       percpu_counter_sum_positive(&mm->rss_stat[MM_SHMEMPAGES]);
#else
	return get_mm_rss(mm);
#endif
}

/*
 * Next thread group at or after *@tgid, with a reference held; *@tgid is
 * updated to its id.  NULL when there is none.
 */
static struct task_struct *kw_next_task(pid_t *tgid)
{
	struct task_struct *task = NULL;
	struct pid *pid;

	rcu_read_lock();
	while ((pid = find_ge_pid(*tgid, &init_pid_ns))) {
		*tgid = pid_nr(pid);
		task = pid_task(pid, PIDTYPE_TGID);
		if (task) {
			get_task_struct(task);
			break;
		}
		(*tgid)++;
	}
	rcu_read_unlock();
	return task;
}

static void *kw_seek(struct kw_iter *it, loff_t *pos, pid_t tgid)
{
	it->task = kw_next_task(&tgid);
	if (!it->task) {
		*pos = KW_POS_FOOTER;
		return KW_FOOTER;
	}
	*pos = (loff_t)tgid + 1;
	return it->task;
}

static void kw_put(struct kw_iter *it)
{
	if (it->task) {
		put_task_struct(it->task);
		it->task = NULL;
	}
}

/* How a file's walk finds the record at or after a tgid (kw_seek()). */
typedef void *(*kw_seek_fn)(struct kw_iter *it, loff_t *pos, pid_t tgid);

/*
 * seq_file start() and next() over the positions above: the header, the
 * records @seek finds, the footer.
 */
static void *kw_seq_start_with(struct seq_file *m, loff_t *pos,
			       kw_seek_fn seek)
{
	struct kw_iter *it = m->private;

	if (*pos == 0)
		return SEQ_START_TOKEN;
	if (*pos == KW_POS_FOOTER)
		return KW_FOOTER;
	if (*pos > KW_POS_FOOTER)
		return NULL;
	return seek(it, pos, *pos - 1);
}

static void *kw_seq_next_with(struct seq_file *m, void *v, loff_t *pos,
			      kw_seek_fn seek)
{
	struct kw_iter *it = m->private;

	if (v == SEQ_START_TOKEN)
		return seek(it, pos, 1);
	if (v == KW_FOOTER) {
		*pos = KW_POS_FOOTER + 1;
		return NULL;
	}
	kw_put(it);
	return seek(it, pos, *pos);
}

static void *kw_seq_start(struct seq_file *m, loff_t *pos)
{
	return kw_seq_start_with(m, pos, kw_seek);
}

static void *kw_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	return kw_seq_next_with(m, v, pos, kw_seek);
}

static void kw_seq_stop(struct seq_file *m, void *v)
{
	kw_put(m->private);
}

/*
 * The header up to "ts_ns" and its line end; the caller prints the list's
 * opening line.
 */
static void kw_show_header_mem(struct seq_file *m, struct kw_iter *it)
{
	struct sysinfo si;
	u64 total, free, avail;

	si_meminfo(&si);
	total = kw_units_kb(si.totalram, si.mem_unit);
	free = kw_units_kb(si.freeram, si.mem_unit);
	avail = kw_units_kb(si_mem_available(), PAGE_SIZE);
	seq_printf(m,
		   "{\"mem_total_kb\": %llu, \"mem_free_kb\": %llu, \"mem_used_kb\": %llu,\n",
		   total, free, total - free);
	seq_printf(m,
		   " \"mem_available_kb\": %llu, \"ncpu\": %u, \"ts_ns\": %llu,\n",
		   avail, num_online_cpus(), ktime_get_real_ns());
	it->total_kb = total;
	it->emitted_any = false;
}

static void kw_show_header(struct seq_file *m, struct kw_iter *it)
{
	kw_show_header_mem(m, it);
	seq_printf(m, " \"%s\": [\n", it->src->list_key);
}

/**
 * struct kw_vals - the counters of one record, read once
 * @start_ns: start_boottime: with the tgid, identifies the process
 * @cpu_ns: CPU time of the whole thread group (kw_group_cpu_ns())
 * @exec_id: self_exec_id, which every exec increments
 * @rss: resident pages (kw_mm_rss()), 0 without an mm
 * @total_vm: mapped pages, 0 without an mm
 * @cset: the task's css_set, compared as a value, never dereferenced:
 *	moving the task to another cgroup (any hierarchy) changes it
 * @tgid: thread-group id
 * @ppid: parent's thread-group id
 * @uid: real uid in the initial user namespace
 * @threads: live threads
 * @comm: the command name
 * @state: task_state_to_char()
 *
 * The delta file (delta.h) keeps these per process to tell what changed;
 * the record printed is made of the same values, so what the reader holds
 * and what the table holds never differ.
 */
struct kw_vals {
	u64 start_ns;
	u64 cpu_ns;
	u64 exec_id;
	unsigned long rss;
	unsigned long total_vm;
	unsigned long cset;
	pid_t tgid;
	pid_t ppid;
	u32 uid;
	int threads;
	char comm[TASK_COMM_LEN];
	char state;
};

/**
 * kw_task_vals() - read the counters of @task into @v
 * @task: a thread-group leader, reference held or under rcu_read_lock()
 * @v: receives them
 *
 * Never sleeps: the delta file's walk calls it under rcu_read_lock().  The
 * mm's counters and the command name are read under task_lock(), which
 * exit_mm() and exec hold to change task->mm (so the mm cannot be freed
 * meanwhile, and no reference is taken) and set_task_comm() holds to
 * write the name.  A kernel thread that borrows an mm (kthread_use_mm())
 * is read without it, as get_task_mm() would.
 */
static void kw_task_vals(struct task_struct *task, struct kw_vals *v)
{
	struct mm_struct *mm;

	memset(v, 0, sizeof(*v));
	v->tgid = task_tgid_nr(task);
	v->start_ns = task->start_boottime;
	v->exec_id = task->self_exec_id;
	task_lock(task);
	mm = task->mm;
	if (mm && !(task->flags & PF_KTHREAD)) {
		v->total_vm = mm->total_vm;
		v->rss = kw_mm_rss(mm);
	}
	BUILD_BUG_ON(sizeof(v->comm) != sizeof(task->comm));
	memcpy(v->comm, task->comm, sizeof(v->comm));
	task_unlock(task);
	v->comm[sizeof(v->comm) - 1] = '\0';
	rcu_read_lock();
	if (pid_alive(task))
		v->ppid = task_tgid_nr(rcu_dereference(task->real_parent));
	v->cset = (unsigned long)rcu_dereference(task->cgroups);
	rcu_read_unlock();
	v->cpu_ns = kw_group_cpu_ns(task);
	v->state = task_state_to_char(task);
	v->uid = from_kuid_munged(&init_user_ns, task_uid(task));
	v->threads = get_nr_threads(task);
}

/*
 * Print one record from @v, @cmdline (@cmdlen bytes, when the source has
 * cmdlines), the container @id and @cgroup path.
 */
static void kw_show_vals(struct seq_file *m, struct kw_iter *it,
			 const struct kw_vals *v, const char *cmdline,
			 size_t cmdlen, const char *id, const char *cgroup)
{
	unsigned long vsz_kb = v->total_vm << (PAGE_SHIFT - 10);
	unsigned long rss_kb = v->rss << (PAGE_SHIFT - 10);
	char *p = it->rec;
	u64 pct_whole;
	u32 pct_hundredths;

	kw_mem_pct(rss_kb, it->total_kb, &pct_whole, &pct_hundredths);
	if (it->emitted_any)
		p = kw_put_str(p, ",\n");
	p = kw_put_str(p, "  {\"pid\": ");
	p = kw_put_ull(p, v->tgid);
	p = kw_put_str(p, ", \"ppid\": ");
	p = kw_put_ll(p, v->ppid);
	p = kw_put_str(p, ", \"name\": \"");
	seq_write(m, it->rec, p - it->rec);
	kw_json_chars(m, v->comm, strnlen(v->comm, sizeof(v->comm)));
	if (it->src->cmdline) {
		seq_puts(m, "\", \"cmdline\": \"");
		kw_json_chars(m, cmdline, cmdlen);
	}
	p = kw_put_str(it->rec, "\", \"vsz_kb\": ");
	p = kw_put_ull(p, vsz_kb);
	p = kw_put_str(p, ", \"rss_kb\": ");
	p = kw_put_ull(p, rss_kb);
	p = kw_put_str(p, ", \"mem_pct\": \"");
	p = kw_put_ull(p, pct_whole);
	*p++ = '.';
	*p++ = '0' + pct_hundredths / 10;
	*p++ = '0' + pct_hundredths % 10;
	p = kw_put_str(p, "\", \"proc_jiffies\": ");
	p = kw_put_ull(p, div_u64(v->cpu_ns, NSEC_PER_SEC / USER_HZ));
	p = kw_put_str(p, ", \"cpu_ns\": ");
	p = kw_put_ull(p, v->cpu_ns);
	p = kw_put_str(p, ", \"state\": \"");
	*p++ = v->state;
	p = kw_put_str(p, "\", \"uid\": ");
	p = kw_put_ull(p, v->uid);
	p = kw_put_str(p, ", \"threads\": ");
	p = kw_put_ll(p, v->threads);
	p = kw_put_str(p, ", \"start_ns\": ");
	p = kw_put_ull(p, v->start_ns);
	p = kw_put_str(p, ", \"container_id\": \"");
	p = kw_put_str(p, id);
	p = kw_put_str(p, "\", \"cgroup\": \"");
	seq_write(m, it->rec, p - it->rec);
	kw_json_chars(m, cgroup, strlen(cgroup));
	seq_write(m, "\"}", 2);
	if (!seq_has_overflowed(m))
		it->emitted_any = true;
}

static int kw_show_task(struct seq_file *m, struct kw_iter *it,
			struct task_struct *task)
{
	char id[KW_CONTAINER_ID_LEN + 1];
	const char *cgroup;
	struct mm_struct *mm;
	struct kw_vals v;
	size_t cmdlen = 0;

	cgroup = kw_task_cgroup(it, task, id);
	if (it->src->containers_only && !id[0])
		return 0;

	kw_task_vals(task, &v);
	if (it->src->cmdline) {
		mm = get_task_mm(task);
		if (mm) {
			cmdlen = kw_read_cmdline(mm, it->cmdline);
			mmput(mm);
		}
	}
	kw_show_vals(m, it, &v, it->cmdline, cmdlen, id, cgroup);
	return 0;
}

/**
 * kw_seq_show() - print the record at @v for source @src
 * @m: output
 * @v: SEQ_START_TOKEN, KW_FOOTER or a task
 * @src: what the file lists
 *
 * Return: 0.
 */
static int kw_seq_show(struct seq_file *m, void *v,
		       const struct kw_source *src)
{
	struct kw_iter *it = m->private;

	it->src = src;
	if (v == SEQ_START_TOKEN)
		kw_show_header(m, it);
	else if (v == KW_FOOTER)
		seq_puts(m, it->emitted_any ? "\n ]}\n" : " ]}\n");
	else
		return kw_show_task(m, it, v);
	return 0;
}

/**
 * kw_proc_open() - open one of the modules' files
 * @inode: the /proc entry, whose data is the file's seq_operations
 * @file: the file being opened
 *
 * seq_open_private() with the iterator state, and a KW_SEQ_BUF_SIZE
 * output buffer allocated here (single_open_size()'s idea): seq_file would
 * start from one page, so every read() would return ~4 KiB, restart the
 * iterator and format the record that overflowed twice.  If the large
 * buffer cannot be had, seq_file allocates its usual one on first read.
 *
 * Return: 0 or a negative errno from seq_open_private().
 */
static int kw_proc_open(struct inode *inode, struct file *file)
{
	struct seq_file *m;
	int ret;

	ret = seq_open_private(file, pde_data(inode), sizeof(struct kw_iter));
	if (ret)
		return ret;
	m = file->private_data;
	m->buf = kvmalloc(KW_SEQ_BUF_SIZE, GFP_KERNEL_ACCOUNT);
	if (m->buf)
		m->size = KW_SEQ_BUF_SIZE;
	return 0;
}

static const struct proc_ops kw_proc_ops = {
	.proc_open = kw_proc_open,
	.proc_read_iter = seq_read_iter,
	.proc_lseek = seq_lseek,
	.proc_release = seq_release_private,
};

/**
 * kw_proc_create() - create /proc/@name listing records with @ops
 * @name: file name below /proc
 * @mode: permission bits
 * @ops: the module's seq_operations (static, outlives the entry)
 *
 * Return: the entry, or NULL.
 */
static struct proc_dir_entry *kw_proc_create(const char *name, umode_t mode,
					     const struct seq_operations *ops)
{
	return proc_create_data(name, mode, NULL, &kw_proc_ops, (void *)ops);
}

/**
 * kw_check_params() - validate the proc_name and proc_mode parameters
 * @name: file name below /proc
 * @mode: permission bits
 *
 * Return: 0, or -EINVAL with a message in the kernel log.
 */
static int kw_check_params(const char *name, unsigned short mode)
{
	if (!name || !name[0] || strchr(name, '/') || strlen(name) > 64) {
		pr_err("proc_name must be 1 to 64 characters without '/'\n");
		return -EINVAL;
	}
	if (mode & ~0777) {
		pr_err("proc_mode %#o has bits outside 0777\n", mode);
		return -EINVAL;
	}
	return 0;
}

#endif /* KWARDEN_KMODS_COMMON_H */
