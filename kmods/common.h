/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The seq_file engine shared by sysinfo.ko and continfo.ko.
 *
 * Both modules publish one strict JSON object (RFC 8259) in /proc: a header
 * with system memory, then one object per process (thread group), then a
 * footer.  The iterator walks thread-group ids with find_ge_pid(), holds a
 * task reference per record and never sleeps under rcu_read_lock().
 */
#ifndef KWARDEN_KMODS_COMMON_H
#define KWARDEN_KMODS_COMMON_H

#include <linux/cgroup.h>
#include <linux/kernfs.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
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
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uidgid.h>

#define PROC_NAME_SYS	"sysinfo_so1_202041390"
#define PROC_NAME_CONT	"continfo_so1_202041390"

/* Bytes of the argv area read per process; longer command lines are cut. */
#define KW_CMDLINE_MAX		4096
/* Longest cgroup path reported; longer paths are cut. */
#define KW_CGROUP_PATH_MAX	1024
#define KW_CONTAINER_ID_LEN	64

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
 */
struct kw_source {
	const char *list_key;
	bool containers_only;
};

/**
 * struct kw_iter - per-open iterator state (seq_file private data)
 * @src: the file's source description
 * @task: task of the current record, reference held, or NULL
 * @total_kb: MemTotal read for the header, used for mem_pct
 * @emitted_any: a process record was committed to the output since the
 *	header, so the next one needs a leading comma.  Set only when show()
 *	did not overflow: seq_file discards and repeats an overflowing show().
 * @cmdline: scratch buffer for the argv area
 * @cgpath: scratch buffers for cgroup paths (default hierarchy, v1)
 */
struct kw_iter {
	const struct kw_source *src;
	struct task_struct *task;
	unsigned long total_kb;
	bool emitted_any;
	char cmdline[KW_CMDLINE_MAX];
	char cgpath[2][KW_CGROUP_PATH_MAX];
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
 * kw_json_string() - print @len bytes of @s as a JSON string literal
 * @m: output
 * @s: bytes, need not be NUL-terminated nor valid UTF-8
 * @len: number of bytes
 *
 * '"' and '\' are backslash-escaped, control characters (below 0x20, and
 * DEL) become \u00XX, and every byte that does not belong to a valid UTF-8
 * sequence becomes \ufffd.  The output is therefore always valid UTF-8 and
 * a string can never end early.
 */
static void kw_json_string(struct seq_file *m, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, n;

	seq_putc(m, '"');
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
	seq_putc(m, '"');
}

static bool kw_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/**
 * kw_container_id() - find a container id in a cgroup path
 * @path: NUL-terminated cgroup path, e.g. "/system.slice/docker-<id>.scope"
 * @id: receives the 64-hex id and a NUL
 *
 * Recognises "/docker/<id>" (cgroupfs driver), "docker-<id>.scope" (systemd
 * driver), "cri-containerd-<id>.scope", "crio-<id>.scope",
 * "libpod-<id>.scope" and a bare "<id>" component below a "kubepods*"
 * component.  The first (outermost) match wins.
 *
 * Return: true if an id was found.
 */
static bool kw_container_id(const char *path, char *id)
{
	static const char * const scopes[] = {
		"docker-", "cri-containerd-", "crio-", "libpod-",
	};
	const char *p = path, *comp, *prev = "";
	size_t n, prevlen = 0, plen, i;
	bool kube = false;

	for (;;) {
		while (*p == '/')
			p++;
		comp = p;
		while (*p && *p != '/')
			p++;
		n = p - comp;
		if (!n)
			return false;
		if (n >= 8 && !strncmp(comp, "kubepods", 8))
			kube = true;
		if (n == KW_CONTAINER_ID_LEN && kw_is_hex(comp, n) &&
		    (kube || (prevlen == 6 && !strncmp(prev, "docker", 6)))) {
			memcpy(id, comp, n);
			id[n] = '\0';
			return true;
		}
		for (i = 0; i < ARRAY_SIZE(scopes); i++) {
			plen = strlen(scopes[i]);
			if (n != plen + KW_CONTAINER_ID_LEN + 6 ||
			    strncmp(comp, scopes[i], plen) ||
			    !kw_is_hex(comp + plen, KW_CONTAINER_ID_LEN) ||
			    strncmp(comp + plen + KW_CONTAINER_ID_LEN,
				    ".scope", 6))
				continue;
			memcpy(id, comp + plen, KW_CONTAINER_ID_LEN);
			id[KW_CONTAINER_ID_LEN] = '\0';
			return true;
		}
		prev = comp;
		prevlen = n;
	}
}

/*
 * Path of @css's cgroup into @buf; the css reference taken under RCU by the
 * caller is dropped here.  kernfs_path() is called without rcu_read_lock.
 */
static void kw_css_path(struct cgroup_subsys_state *css, char *buf,
			size_t size)
{
	int ret;

	buf[0] = '\0';
	if (!css)
		return;
	ret = cgroup_path(css->cgroup, buf, size);
	if (ret < 0)
		strscpy(buf, "", size);
	css_put(css);
}

/*
 * A v1 controller's css of @task, with a reference, or NULL when none of
 * the controllers tried is mounted on a v1 hierarchy.  Called under RCU.
 */
static struct cgroup_subsys_state *kw_v1_css(struct task_struct *task,
					     struct cgroup *dfl)
{
	static const int ids[] = {
#if IS_ENABLED(CONFIG_MEMCG)
		memory_cgrp_id,
#endif
#if IS_ENABLED(CONFIG_CGROUP_SCHED)
		cpu_cgrp_id,
#endif
#if IS_ENABLED(CONFIG_CGROUP_PIDS)
		pids_cgrp_id,
#endif
	};
	struct cgroup_subsys_state *css;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		css = task_css(task, ids[i]);
		if (!css || css->cgroup->root == dfl->root)
			continue;
		if (css_tryget(css))
			return css;
	}
	return NULL;
}

/**
 * kw_task_cgroup() - cgroup path and container id of @task
 * @it: iterator, whose cgpath buffers are used
 * @task: task, reference held by the caller
 * @id: receives the container id, or "" if none
 *
 * The cgroup2 (default hierarchy) path is tried first, then the path in
 * the v1 hierarchy of the memory, cpu or pids controller.  References to
 * both cgroups are taken under RCU and the paths are built after
 * rcu_read_unlock().
 *
 * Return: the path reported in "cgroup": the one that held the id, else
 * the cgroup2 path unless it is the root, else the v1 path.
 */
static const char *kw_task_cgroup(struct kw_iter *it, struct task_struct *task,
				  char *id)
{
	struct cgroup_subsys_state *dfl_css = NULL, *v1_css = NULL;
	struct cgroup *dfl;

	rcu_read_lock();
	dfl = task_dfl_cgroup(task);
	if (dfl) {
		if (css_tryget(&dfl->self))
			dfl_css = &dfl->self;
		v1_css = kw_v1_css(task, dfl);
	}
	rcu_read_unlock();

	kw_css_path(dfl_css, it->cgpath[0], KW_CGROUP_PATH_MAX);
	kw_css_path(v1_css, it->cgpath[1], KW_CGROUP_PATH_MAX);
	id[0] = '\0';
	if (kw_container_id(it->cgpath[0], id))
		return it->cgpath[0];
	if (kw_container_id(it->cgpath[1], id))
		return it->cgpath[1];
	if (it->cgpath[1][0] && !strcmp(it->cgpath[0], "/"))
		return it->cgpath[1];
	return it->cgpath[0];
}

/**
 * kw_read_cmdline() - copy the argv area of @task into @buf
 * @task: task, reference held by the caller
 * @mm: its mm, reference held by the caller
 * @buf: destination, KW_CMDLINE_MAX bytes
 *
 * At most KW_CMDLINE_MAX bytes are read with access_process_vm(), which
 * may sleep: no lock is held.  Trailing NULs are dropped and the NULs
 * between arguments become spaces.
 *
 * Return: number of bytes in @buf.
 */
static size_t kw_read_cmdline(struct task_struct *task, struct mm_struct *mm,
			      char *buf)
{
	unsigned long start, end;
	size_t len, i;
	int got;

	spin_lock(&mm->arg_lock);
	start = mm->arg_start;
	end = mm->arg_end;
	spin_unlock(&mm->arg_lock);
	if (!start || end <= start)
		return 0;
	len = min_t(unsigned long, end - start, KW_CMDLINE_MAX);
	got = access_process_vm(task, start, buf, len, 0);
	if (got <= 0)
		return 0;
	len = got;
	while (len && buf[len - 1] == '\0')
		len--;
	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return len;
}

/*
 * CPU time of the whole thread group in ns: time of exited threads kept
 * in signal_struct plus every live thread's, read under the stats seqlock
 * as thread_group_cputime() does (which modules cannot call).
 */
static u64 kw_group_cpu_ns(struct task_struct *task)
{
	struct signal_struct *sig = task->signal;
	struct task_struct *t;
	unsigned int seq, tries = 0;
	u64 sum;

	rcu_read_lock();
	do {
		seq = read_seqbegin(&sig->stats_lock);
		sum = sig->sum_sched_runtime;
		for_each_thread(task, t)
			sum += READ_ONCE(t->se.sum_exec_runtime);
	} while (read_seqretry(&sig->stats_lock, seq) && ++tries < 4);
	rcu_read_unlock();
	return sum;
}

/*
 * Resident set in pages, as /proc/<pid>/status VmRSS shows it.  Where the
 * counters are per-CPU (6.2 and later; Kbuild detects it) get_mm_rss()
 * only reads an approximation, while status sums them exactly: so do that.
 */
static unsigned long kw_mm_rss(struct mm_struct *mm)
{
#ifdef KW_RSS_PERCPU
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

static void *kw_seq_start(struct seq_file *m, loff_t *pos)
{
	struct kw_iter *it = m->private;

	if (*pos == 0)
		return SEQ_START_TOKEN;
	if (*pos == KW_POS_FOOTER)
		return KW_FOOTER;
	if (*pos > KW_POS_FOOTER)
		return NULL;
	return kw_seek(it, pos, *pos - 1);
}

static void *kw_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct kw_iter *it = m->private;

	if (v == SEQ_START_TOKEN)
		return kw_seek(it, pos, 1);
	if (v == KW_FOOTER) {
		*pos = KW_POS_FOOTER + 1;
		return NULL;
	}
	kw_put(it);
	return kw_seek(it, pos, *pos);
}

static void kw_seq_stop(struct seq_file *m, void *v)
{
	kw_put(m->private);
}

static void kw_show_header(struct seq_file *m, struct kw_iter *it)
{
	struct sysinfo si;
	unsigned long total, free, avail;

	si_meminfo(&si);
	total = si.totalram * si.mem_unit / 1024;
	free = si.freeram * si.mem_unit / 1024;
	avail = si_mem_available() << (PAGE_SHIFT - 10);
	seq_printf(m,
		   "{\"mem_total_kb\": %lu, \"mem_free_kb\": %lu, \"mem_used_kb\": %lu,\n",
		   total, free, total - free);
	seq_printf(m,
		   " \"mem_available_kb\": %lu, \"ncpu\": %u, \"ts_ns\": %llu,\n \"%s\": [\n",
		   avail, num_online_cpus(), ktime_get_real_ns(),
		   it->src->list_key);
	it->total_kb = total;
	it->emitted_any = false;
}

static int kw_show_task(struct seq_file *m, struct kw_iter *it,
			struct task_struct *task)
{
	char id[KW_CONTAINER_ID_LEN + 1];
	char comm[TASK_COMM_LEN];
	unsigned long vsz_kb = 0, rss_kb = 0, pct;
	const char *cgroup;
	struct mm_struct *mm;
	size_t cmdlen = 0;
	pid_t ppid = 0;
	u64 cpu_ns;

	cgroup = kw_task_cgroup(it, task, id);
	if (it->src->containers_only && !id[0])
		return 0;

	mm = get_task_mm(task);
	if (mm) {
		vsz_kb = mm->total_vm << (PAGE_SHIFT - 10);
		rss_kb = kw_mm_rss(mm) << (PAGE_SHIFT - 10);
		cmdlen = kw_read_cmdline(task, mm, it->cmdline);
		mmput(mm);
	}
	rcu_read_lock();
	if (pid_alive(task))
		ppid = task_tgid_nr(rcu_dereference(task->real_parent));
	rcu_read_unlock();
	get_task_comm(comm, task);
	cpu_ns = kw_group_cpu_ns(task);
	pct = it->total_kb ? rss_kb * 10000 / it->total_kb : 0;

	if (it->emitted_any)
		seq_puts(m, ",\n");
	seq_printf(m, "  {\"pid\": %d, \"ppid\": %d, \"name\": ",
		   task_tgid_nr(task), ppid);
	kw_json_string(m, comm, strnlen(comm, sizeof(comm)));
	seq_puts(m, ", \"cmdline\": ");
	kw_json_string(m, it->cmdline, cmdlen);
	seq_printf(m,
		   ", \"vsz_kb\": %lu, \"rss_kb\": %lu, \"mem_pct\": \"%lu.%02lu\", \"proc_jiffies\": %llu, \"cpu_ns\": %llu",
		   vsz_kb, rss_kb, pct / 100, pct % 100,
		   div_u64(cpu_ns, NSEC_PER_SEC / USER_HZ), cpu_ns);
	seq_printf(m,
		   ", \"state\": \"%c\", \"uid\": %u, \"threads\": %d, \"start_ns\": %llu, \"container_id\": \"%s\", \"cgroup\": ",
		   task_state_to_char(task),
		   from_kuid_munged(&init_user_ns, task_uid(task)),
		   get_nr_threads(task), task->start_boottime, id);
	kw_json_string(m, cgroup, strlen(cgroup));
	seq_putc(m, '}');
	if (!seq_has_overflowed(m))
		it->emitted_any = true;
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
