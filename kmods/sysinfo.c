// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/sysinfo_so1_202041390: every process (thread group) on
 * the system, as one strict JSON object; /proc/sysinfo_so1_202041390_nocmdline
 * the same records without "cmdline", for readers that cache it.
 * The engine is in common.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "common.h"

static char *proc_name = PROC_NAME_SYS;
module_param(proc_name, charp, 0444);
MODULE_PARM_DESC(proc_name, "file name below /proc (default " PROC_NAME_SYS ")");

static char *nocmdline_name = PROC_NAME_SYS_NOCMD;
module_param(nocmdline_name, charp, 0444);
MODULE_PARM_DESC(nocmdline_name,
		 "file without cmdline below /proc (default " PROC_NAME_SYS_NOCMD ")");

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

static int __init sysinfo_init(void)
{
	int ret = kw_check_params(proc_name, proc_mode);

	if (!ret)
		ret = kw_check_params(nocmdline_name, proc_mode);
	if (ret)
		return ret;
	if (!strcmp(proc_name, nocmdline_name)) {
		pr_err("proc_name and nocmdline_name must differ\n");
		return -EINVAL;
	}
	if (!kw_proc_create(proc_name, proc_mode, &sysinfo_seq_ops))
		return -ENOMEM;
	if (!kw_proc_create(nocmdline_name, proc_mode, &nocmdline_seq_ops)) {
		remove_proc_entry(proc_name, NULL);
		return -ENOMEM;
	}
	pr_info("/proc/%s and /proc/%s created (mode %04o)\n", proc_name,
		nocmdline_name, proc_mode);
	return 0;
}

static void __exit sysinfo_exit(void)
{
	remove_proc_entry(nocmdline_name, NULL);
	remove_proc_entry(proc_name, NULL);
	pr_info("/proc/%s and /proc/%s removed\n", proc_name, nocmdline_name);
}

module_init(sysinfo_init);
module_exit(sysinfo_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kwarden");
MODULE_DESCRIPTION("kwarden: every process (thread group) on the system, as JSON in /proc");
