// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/sysinfo_so1_202041390: every process (thread group) on
 * the system, as one strict JSON object; /proc/sysinfo_so1_202041390_nocmdline
 * the same records without "cmdline", for readers that cache it;
 * /proc/sysinfo_so1_202041390_delta per open file only what changed since
 * that file's previous read pass, and the processes that exited.
 * The engine is in common.h, the delta file's table in delta.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "delta.h"

static char *proc_name = PROC_NAME_SYS;
module_param(proc_name, charp, 0444);
MODULE_PARM_DESC(proc_name, "file name below /proc (default " PROC_NAME_SYS ")");

static char *nocmdline_name = PROC_NAME_SYS_NOCMD;
module_param(nocmdline_name, charp, 0444);
MODULE_PARM_DESC(nocmdline_name,
		 "file without cmdline below /proc (default " PROC_NAME_SYS_NOCMD ")");

static char *delta_name = PROC_NAME_SYS_DELTA;
module_param(delta_name, charp, 0444);
MODULE_PARM_DESC(delta_name,
		 "delta file below /proc (default " PROC_NAME_SYS_DELTA ")");

static uint full_every = 60;
module_param(full_every, uint, 0644);
MODULE_PARM_DESC(full_every,
		 "delta file: a full pass every N read passes, read at open (default 60, 0: only the first)");

static uint delta_max = 1 << 18;
module_param(delta_max, uint, 0644);
MODULE_PARM_DESC(delta_max,
		 "delta file: most processes one open file tracks, read at open; more make every pass full (default 262144)");

static bool activity = true;
module_param(activity, bool, 0644);
MODULE_PARM_DESC(activity,
		 "delta file: read only the processes tracepoints mark active, read at open (default Y)");

static ushort proc_mode = 0400;
module_param(proc_mode, ushort, 0444);
MODULE_PARM_DESC(proc_mode, "file mode, octal with a leading 0 (default 0400)");

static const struct kw_source sysinfo_source = {
	.list_key = "processes",
	.containers_only = false,
	.cmdline = true,
};

static const struct kw_source nocmdline_source = {
	.list_key = "processes",
	.containers_only = false,
	.cmdline = false,
};

static int delta_show(struct seq_file *m, void *v)
{
	return kw_delta_seq_show(m, v, &sysinfo_source);
}

static int sysinfo_show(struct seq_file *m, void *v)
{
	return kw_seq_show(m, v, &sysinfo_source);
}

static int nocmdline_show(struct seq_file *m, void *v)
{
	return kw_seq_show(m, v, &nocmdline_source);
}

static const struct seq_operations sysinfo_seq_ops = {
	.start = kw_seq_start,
	.next = kw_seq_next,
	.stop = kw_seq_stop,
	.show = sysinfo_show,
};

static const struct seq_operations nocmdline_seq_ops = {
	.start = kw_seq_start,
	.next = kw_seq_next,
	.stop = kw_seq_stop,
	.show = nocmdline_show,
};

static const struct seq_operations delta_seq_ops = {
	.start = kw_delta_seq_start,
	.next = kw_delta_seq_next,
	.stop = kw_seq_stop,
	.show = delta_show,
};

static int delta_open(struct inode *inode, struct file *file)
{
	return kw_delta_open(inode, file, READ_ONCE(delta_max),
			     READ_ONCE(full_every), READ_ONCE(activity));
}

static const struct proc_ops delta_proc_ops = {
	.proc_open = delta_open,
	.proc_read_iter = seq_read_iter,
	.proc_lseek = seq_lseek,
	.proc_release = kw_delta_release,
};

static int __init sysinfo_init(void)
{
	int ret = kw_check_params(proc_name, proc_mode);

	if (!ret)
		ret = kw_check_params(nocmdline_name, proc_mode);
	if (!ret)
		ret = kw_check_params(delta_name, proc_mode);
	if (ret)
		return ret;
	if (!strcmp(proc_name, nocmdline_name) ||
	    !strcmp(proc_name, delta_name) ||
	    !strcmp(nocmdline_name, delta_name)) {
		pr_err("proc_name, nocmdline_name and delta_name must differ\n");
		return -EINVAL;
	}
	if (!kw_proc_create(proc_name, proc_mode, &sysinfo_seq_ops))
		return -ENOMEM;
	if (!kw_proc_create(nocmdline_name, proc_mode, &nocmdline_seq_ops)) {
		remove_proc_entry(proc_name, NULL);
		return -ENOMEM;
	}
	if (!proc_create_data(delta_name, proc_mode, NULL, &delta_proc_ops,
			      (void *)&delta_seq_ops)) {
		remove_proc_entry(nocmdline_name, NULL);
		remove_proc_entry(proc_name, NULL);
		return -ENOMEM;
	}
	pr_info("/proc/%s, /proc/%s and /proc/%s created (mode %04o)\n",
		proc_name, nocmdline_name, delta_name, proc_mode);
	return 0;
}

static void __exit sysinfo_exit(void)
{
	remove_proc_entry(delta_name, NULL);
	remove_proc_entry(nocmdline_name, NULL);
	remove_proc_entry(proc_name, NULL);
	kw_act_exit();
	pr_info("/proc/%s, /proc/%s and /proc/%s removed\n", proc_name,
		nocmdline_name, delta_name);
}

module_init(sysinfo_init);
module_exit(sysinfo_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kwarden");
MODULE_DESCRIPTION("kwarden: every process (thread group) on the system, as JSON in /proc");
