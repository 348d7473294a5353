// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/continfo_so1_202041390: processes whose cgroup names
 * a container, as one strict JSON object.
 * The engine is in common.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "common.h"

static char *proc_name = PROC_NAME_CONT;
module_param(proc_name, charp, 0444);
MODULE_PARM_DESC(proc_name, "file name below /proc (default " PROC_NAME_CONT ")");

static ushort proc_mode = 0400;
module_param(proc_mode, ushort, 0444);
MODULE_PARM_DESC(proc_mode, "file mode, octal with a leading 0 (default 0400)");

static const struct kw_source continfo_source = {
	.list_key = "containers",
	.containers_only = true,
	.cmdline = true,
};

static int continfo_show(struct seq_file *m, void *v)
{
	return kw_seq_show(m, v, &continfo_source);
}

static const struct seq_operations continfo_seq_ops = {
	.start = kw_seq_start,
	.next = kw_seq_next,
	.stop = kw_seq_stop,
	.show = continfo_show,
};

static int __init continfo_init(void)
{
	int ret = kw_check_params(proc_name, proc_mode);

	if (ret)
		return ret;
	if (!kw_proc_create(proc_name, proc_mode, &continfo_seq_ops))
		return -ENOMEM;
	pr_info("/proc/%s created (mode %04o)\n", proc_name, proc_mode);
	return 0;
}

static void __exit continfo_exit(void)
{
	remove_proc_entry(proc_name, NULL);
	pr_info("/proc/%s removed\n", proc_name);
}

module_init(continfo_init);
module_exit(continfo_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kwarden");
MODULE_DESCRIPTION("kwarden: processes whose cgroup names a container, as JSON in /proc");
