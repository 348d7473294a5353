// SPDX-License-Identifier: GPL-2.0
/*
 * kwbuggy.ko - the positive control of `make test-kdebug`: each load
 * commits one deliberate bug (bug=NAME) that a detector of the debug
 * kernel must report.  Built only for that test, never installed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rculist.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/slab.h>

static char *bug = "";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "uaf, rcuderef, rculist, rcusleep, lockdep, list or refcount");

struct kwbuggy_item {
	struct list_head node;
	int value;
};

static int __rcu *kwbuggy_ptr;
static LIST_HEAD(kwbuggy_list);
static DEFINE_MUTEX(kwbuggy_a);
static DEFINE_MUTEX(kwbuggy_b);
static DEFINE_MUTEX(kwbuggy_c);

/* KASAN: read of freed memory */
static void kwbuggy_uaf(void)
{
	char *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return;
	kfree(p);
	pr_info("read after free: %d\n", READ_ONCE(p[8]));
}

/* PROVE_RCU: rcu_dereference() outside a read-side critical section */
static void kwbuggy_rcuderef(void)
{
	pr_info("dereference: %p\n", rcu_dereference(kwbuggy_ptr));
}

/* PROVE_RCU_LIST: RCU list walk outside a read-side critical section */
static void kwbuggy_rculist(void)
{
	static struct kwbuggy_item item = { .value = 1 };
	struct kwbuggy_item *it;
	int sum = 0;

	list_add_rcu(&item.node, &kwbuggy_list);
	list_for_each_entry_rcu(it, &kwbuggy_list, node)
		sum += it->value;
	list_del_rcu(&item.node);
	pr_info("list sum %d\n", sum);
}

/*
 * DEBUG_ATOMIC_SLEEP: a function that may sleep under rcu_read_lock().
 * mutex_lock() checks with might_sleep(); msleep() alone would not (under
 * preemptible RCU only the context switch is reported, once per boot).
 */
static void kwbuggy_rcusleep(void)
{
	rcu_read_lock();
	mutex_lock(&kwbuggy_c);
	msleep(20);
	mutex_unlock(&kwbuggy_c);
	rcu_read_unlock();
}

/* PROVE_LOCKING: A then B, later B then A (an AB-BA deadlock waiting) */
static void kwbuggy_lockdep(void)
{
	mutex_lock(&kwbuggy_a);
	mutex_lock(&kwbuggy_b);
	mutex_unlock(&kwbuggy_b);
	mutex_unlock(&kwbuggy_a);
	mutex_lock(&kwbuggy_b);
	mutex_lock(&kwbuggy_a);
	mutex_unlock(&kwbuggy_a);
	mutex_unlock(&kwbuggy_b);
}

/* DEBUG_LIST: the same entry deleted twice */
static void kwbuggy_list_twice(void)
{
	static struct kwbuggy_item item;
	LIST_HEAD(head);

	list_add(&item.node, &head);
	list_del(&item.node);
	list_del(&item.node);
}

/* refcount_t: dropped below zero */
static void kwbuggy_refcount(void)
{
	refcount_t ref = REFCOUNT_INIT(1);

	if (refcount_dec_and_test(&ref))
		pr_info("last reference dropped\n");
	if (refcount_dec_and_test(&ref))
		pr_info("dropped again\n");
}

static int __init kwbuggy_init(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} bugs[] = {
		{ "uaf", kwbuggy_uaf },
		{ "rcuderef", kwbuggy_rcuderef },
		{ "rculist", kwbuggy_rculist },
		{ "rcusleep", kwbuggy_rcusleep },
		{ "lockdep", kwbuggy_lockdep },
		{ "list", kwbuggy_list_twice },
		{ "refcount", kwbuggy_refcount },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bugs); i++) {
		if (strcmp(bug, bugs[i].name))
			continue;
		pr_info("committing bug %s\n", bug);
		bugs[i].fn();
		/* nothing to keep loaded */
		return -EAGAIN;
	}
	pr_err("unknown bug '%s'\n", bug);
	return -EINVAL;
}

module_init(kwbuggy_init);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kwarden");
MODULE_DESCRIPTION("kwarden test: deliberate bugs for the debug kernel's detectors");
