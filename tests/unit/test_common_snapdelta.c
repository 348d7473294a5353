/*
 * Snapshots by difference: a delta message packed as the reader packs it,
 * decoded as the decider decodes it and applied to the snapshot it follows
 * gives back the reader's whole snapshot, field for field; a delta that
 * contradicts itself or is of the wrong shape is refused, the base intact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kwarden.h"

static void
set_proc(struct kw_proc *p, int32_t pid, const char *name, uint64_t cpu,
    const char *cid)
{
	char cmd[64], cg[128];

	p->pid = pid;
	p->ppid = 1;
	p->uid = (uint32_t)pid % 7;
	p->threads = 1 + (uint32_t)pid % 3;
	p->state = 'S';
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(cmd, sizeof(cmd), "/bin/%s --pid %d", name, (int)pid);
	assert_int_equal(kw_proc_set_cmdline(p, cmd, strlen(cmd)), 0);
	p->vsz_kb = 1000 + (uint64_t)pid;
	p->rss_kb = 100 + (uint64_t)pid;
	p->cpu_ns = cpu;
	p->start_ns = 5000 + (uint64_t)pid;
	snprintf(p->container_id, sizeof(p->container_id), "%s", cid);
	if (cid[0] != '\0') {
		snprintf(cg, sizeof(cg), "/docker/%s", cid);
		assert_int_equal(kw_proc_set_cgroup(p, cg, strlen(cg)), 0);
	}
}

static struct kw_proc *
add(struct kw_snapshot *s, int32_t pid, const char *name, uint64_t cpu,
    const char *cid)
{
	struct kw_proc *p = kw_snapshot_add(s);

	assert_non_null(p);
	set_proc(p, pid, name, cpu, cid);
	return p;
}

static void
header(struct kw_snapshot *s, uint64_t t)
{
	struct kw_cgroup_stat *cg;

	snprintf(s->source, sizeof(s->source), "kmod");
	s->ts_ns = 1764200000000000000ull + t;
	s->mono_ns = 9000 + t;
	s->host.mem_total_kb = 1 << 20;
	s->host.mem_free_kb = 1000 + t;
	s->host.mem_used_kb = (1 << 20) - 1000 - t;
	s->host.mem_available_kb = 2000 + t;
	s->host.ncpu = 2;
	cg = kw_snapshot_add_cgroup(s);
	assert_non_null(cg);
	snprintf(cg->container_id, sizeof(cg->container_id), "c%llu",
	    (unsigned long long)t);
	snprintf(cg->cgroup, sizeof(cg->cgroup), "/docker/c%llu",
	    (unsigned long long)t);
	cg->cpu_usage_ns = 77 + t;
}

static void
assert_str_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void
assert_snap_equal(const struct kw_snapshot *a, const struct kw_snapshot *b)
{
	size_t i;

	assert_string_equal(a->source, b->source);
	assert_int_equal(a->ts_ns, b->ts_ns);
	assert_int_equal(a->mono_ns, b->mono_ns);
	assert_memory_equal(&a->host, &b->host, sizeof(a->host));
	assert_int_equal(a->nprocs, b->nprocs);
	for (i = 0; i < a->nprocs; i++) {
		const struct kw_proc *x = &a->procs[i], *y = &b->procs[i];

		assert_int_equal(x->pid, y->pid);
		assert_int_equal(x->ppid, y->ppid);
		assert_int_equal(x->uid, y->uid);
		assert_int_equal(x->threads, y->threads);
		assert_int_equal(x->state, y->state);
		assert_string_equal(x->name, y->name);
		assert_string_equal(x->cmdline, y->cmdline);
		assert_int_equal(x->vsz_kb, y->vsz_kb);
		assert_int_equal(x->rss_kb, y->rss_kb);
		assert_int_equal(x->cpu_ns, y->cpu_ns);
		assert_int_equal(x->start_ns, y->start_ns);
		assert_string_equal(x->container_id, y->container_id);
		assert_str_or_null(x->cgroup, y->cgroup);
	}
	assert_int_equal(a->ncgroups, b->ncgroups);
	for (i = 0; i < a->ncgroups; i++)
		assert_memory_equal(&a->cgroups[i], &b->cgroups[i],
		    sizeof(a->cgroups[i]));
}

/* A: pids 10..400 step 10, some in a container. */
static void
make_a(struct kw_snapshot *a)
{
	int32_t pid;

	kw_snapshot_init(a);
	header(a, 1);
	for (pid = 10; pid <= 400; pid += 10)
		add(a, pid, "sleeper", (uint64_t)pid * 1000,
		    pid % 30 == 0 ? "abc123" : "");
}

/*
 * B: A a sample later. 20 and 30 exited; 50 ran; 60 was reused (a new
 * process, another name and container); 15 and 405 are new, 5 too (below
 * every pid of A); 400 left its container.
 */
static void
make_b(struct kw_snapshot *b, struct kw_pidset *chg, struct kw_pidset *ex)
{
	struct kw_proc *p;
	int32_t pid;

	kw_snapshot_init(b);
	header(b, 2);
	memset(chg, 0, sizeof(*chg));
	memset(ex, 0, sizeof(*ex));
	assert_int_equal(kw_pidset_add(ex, 30), 0);
	assert_int_equal(kw_pidset_add(ex, 20), 0);
	add(b, 5, "early", 1, "");
	for (pid = 10; pid <= 400; pid += 10) {
		if (pid == 20 || pid == 30)
			continue;
		if (pid == 60) {
			add(b, 60, "reused", 3, "def456");
			p = &b->procs[b->nprocs - 1];
			p->start_ns = 999999;
			continue;
		}
		p = add(b, pid, "sleeper", (uint64_t)pid * 1000,
		    pid % 30 == 0 && pid != 400 ? "abc123" : "");
		if (pid == 50)
			p->cpu_ns += 12345;
		if (pid == 10)
			add(b, 15, "new", 7, "abc123");
	}
	add(b, 405, "last", 9, "");
	assert_int_equal(kw_pidset_add(chg, 405), 0);
	assert_int_equal(kw_pidset_add(chg, 60), 0);
	assert_int_equal(kw_pidset_add(chg, 50), 0);
	assert_int_equal(kw_pidset_add(chg, 15), 0);
	assert_int_equal(kw_pidset_add(chg, 5), 0);
	assert_int_equal(kw_pidset_add(chg, 400), 0);
	kw_pidset_sort(chg);
	kw_pidset_sort(ex);
	assert_true(kw_snapshot_sorted(b));
}

/* The reader's delta of cur: the records of chg, shallow, and ex. */
static void
pack_delta(msgpack_sbuffer *sb, const struct kw_snapshot *cur,
    const struct kw_pidset *chg, const struct kw_pidset *ex, uint64_t base)
{
	msgpack_packer pk;
	struct kw_snapshot view = *cur;
	struct kw_proc *v = calloc(chg->n + 1, sizeof(*v));
	struct kw_proc *p;
	size_t i;

	assert_non_null(v);
	for (i = 0; i < chg->n; i++) {
		p = kw_snapshot_find(cur, chg->pids[i]);
		assert_non_null(p);
		v[i] = *p;
	}
	view.procs = v;
	view.nprocs = chg->n;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, KW_DELTA_FIELDS + 3);
	kw_pack_kstr(&pk, "t", "delta");
	kw_pack_ku64(&pk, "seq", base + 1);
	kw_pack_ku64(&pk, "ts", cur->ts_ns);
	kw_delta_pack(&pk, &view, base, ex->pids, ex->n);
	free(v);
}

/* Decode sb as the decider does and apply it to base. */
static int
decode_apply(const msgpack_sbuffer *sb, struct kw_snapshot *base,
    uint64_t *base_seq, char *err, size_t errlen)
{
	msgpack_unpacked res;
	struct kw_msg msg;
	struct kw_snapshot d;
	struct kw_pidset ex;
	size_t off = 0;
	int rc = -1;

	kw_snapshot_init(&d);
	memset(&ex, 0, sizeof(ex));
	msgpack_unpacked_init(&res);
	assert_int_equal(msgpack_unpack_next(&res, sb->data, sb->size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(kw_msg_decode(&res.data, &msg, err, errlen), 0);
	assert_int_equal(msg.type, KW_MSG_DELTA);
	if (kw_delta_unpack(msg.obj, &d, base_seq, &ex, err, errlen) == 0)
		rc =
		    kw_snapshot_apply(base, &d, ex.pids, ex.n, 0, err, errlen);
	kw_snapshot_free(&d);
	kw_pidset_free(&ex);
	msgpack_unpacked_destroy(&res);
	return rc;
}

static void
test_delta_round_trip(void **state)
{
	struct kw_snapshot a, b;
	struct kw_pidset chg, ex;
	msgpack_sbuffer sb;
	uint64_t seq = 0;
	char err[256];

	(void)state;
	make_a(&a);
	make_b(&b, &chg, &ex);
	pack_delta(&sb, &b, &chg, &ex, 41);
	assert_int_equal(decode_apply(&sb, &a, &seq, err, sizeof(err)), 0);
	assert_int_equal(seq, 41);
	assert_snap_equal(&a, &b);
	msgpack_sbuffer_destroy(&sb);
	kw_snapshot_free(&a);
	kw_snapshot_free(&b);
	kw_pidset_free(&chg);
	kw_pidset_free(&ex);
}

/* The delta must carry every change: one record missing and they differ. */
static void
test_delta_missing_change_shows(void **state)
{
	struct kw_snapshot a, b;
	struct kw_pidset chg, ex;
	msgpack_sbuffer sb;
	uint64_t seq = 0;
	char err[256];
	size_t i;

	(void)state;
	make_a(&a);
	make_b(&b, &chg, &ex);
	/* Leave 50 (it ran) out. */
	for (i = 0; i < chg.n; i++)
		if (chg.pids[i] == 50)
			chg.pids[i] = 405;
	pack_delta(&sb, &b, &chg, &ex, 41);
	assert_int_equal(decode_apply(&sb, &a, &seq, err, sizeof(err)), -1);
	assert_string_equal(err, "pid 405 listed twice");
	msgpack_sbuffer_destroy(&sb);
	chg.n = 0;
	assert_int_equal(kw_pidset_add(&chg, 405), 0);
	pack_delta(&sb, &b, &chg, &ex, 41);
	assert_int_equal(decode_apply(&sb, &a, &seq, err, sizeof(err)), 0);
	assert_int_equal(kw_snapshot_find(&a, 50)->cpu_ns, 50 * 1000);
	assert_int_not_equal(kw_snapshot_find(&b, 50)->cpu_ns, 50 * 1000);
	msgpack_sbuffer_destroy(&sb);
	kw_snapshot_free(&a);
	kw_snapshot_free(&b);
	kw_pidset_free(&chg);
	kw_pidset_free(&ex);
}

/* A pid both exited and listed: refused, the base as it was. */
static void
test_delta_contradiction_refused(void **state)
{
	struct kw_snapshot a, a0, b;
	struct kw_pidset chg, ex;
	msgpack_sbuffer sb;
	uint64_t seq = 0;
	char err[256];

	(void)state;
	make_a(&a);
	make_a(&a0);
	make_b(&b, &chg, &ex);
	assert_int_equal(kw_pidset_add(&ex, 50), 0);
	kw_pidset_sort(&ex);
	pack_delta(&sb, &b, &chg, &ex, 41);
	assert_int_equal(decode_apply(&sb, &a, &seq, err, sizeof(err)), -1);
	assert_string_equal(err, "pid 50 both exited and listed");
	assert_snap_equal(&a, &a0);
	msgpack_sbuffer_destroy(&sb);
	kw_snapshot_free(&a);
	kw_snapshot_free(&a0);
	kw_snapshot_free(&b);
	kw_pidset_free(&chg);
	kw_pidset_free(&ex);
}

/* Bodies of the wrong shape: each refused with the field named. */
static void
test_delta_bad_shape(void **state)
{
	static const struct {
		const char *what; /* which field is wrong */
		const char *err;
	} cases[] = {
		{ "no base", "base: missing or not a seq" },
		{ "base 0", "base: missing or not a seq" },
		{ "no exited", "exited: missing or not an array" },
		{ "exited map", "exited: missing or not an array" },
		{ "exited -1", "exited[1]: not a pid" },
		{ "exited 0", "exited[1]: not a pid" },
		{ "exited 2^31", "exited[1]: not a pid" },
		{ "exited str", "exited[1]: not a pid" },
	};
	struct kw_snapshot s, d;
	struct kw_pidset ex;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked res;
	uint64_t base;
	char err[256];
	size_t i, off;
	const char *w;

	(void)state;
	memset(&ex, 0, sizeof(ex));
	kw_snapshot_init(&s);
	kw_snapshot_init(&d);
	header(&s, 3);
	add(&s, 7, "x", 1, "");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w = cases[i].what;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, KW_SNAPSHOT_FIELDS + 2);
		kw_snapshot_pack(&pk, &s);
		if (strcmp(w, "no base") == 0)
			kw_pack_ku64(&pk, "based", 3);
		else
			kw_pack_ku64(&pk, "base",
			    strcmp(w, "base 0") == 0 ? 0 : 3);
		if (strcmp(w, "no exited") == 0) {
			kw_pack_ku64(&pk, "exit", 3);
		} else if (strcmp(w, "exited map") == 0) {
			kw_pack_str(&pk, "exited");
			msgpack_pack_map(&pk, 0);
		} else {
			kw_pack_str(&pk, "exited");
			msgpack_pack_array(&pk, 2);
			msgpack_pack_int32(&pk, 9);
			if (strcmp(w, "exited -1") == 0)
				msgpack_pack_int32(&pk, -1);
			else if (strcmp(w, "exited 0") == 0)
				msgpack_pack_int32(&pk, 0);
			else if (strcmp(w, "exited 2^31") == 0)
				msgpack_pack_uint64(&pk, 1ull << 31);
			else
				kw_pack_str(&pk, "9");
		}
		msgpack_unpacked_init(&res);
		off = 0;
		assert_int_equal(msgpack_unpack_next(&res, sb.data, sb.size,
				     &off),
		    MSGPACK_UNPACK_SUCCESS);
		err[0] = '\0';
		assert_int_equal(kw_delta_unpack(&res.data, &d, &base, &ex,
				     err, sizeof(err)),
		    -1);
		assert_string_equal(err, cases[i].err);
		msgpack_unpacked_destroy(&res);
		msgpack_sbuffer_destroy(&sb);
	}
	kw_snapshot_free(&s);
	kw_snapshot_free(&d);
	kw_pidset_free(&ex);
}

/* Sorting: the decider sorts a whole snapshot that came unsorted. */
static void
test_sort_and_find(void **state)
{
	struct kw_snapshot s;
	int32_t pids[] = { 30, 4, 999, 17, 5 };
	size_t i;

	(void)state;
	kw_snapshot_init(&s);
	for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
		add(&s, pids[i], "p", pids[i], "");
	assert_false(kw_snapshot_sorted(&s));
	kw_snapshot_sort(&s);
	assert_true(kw_snapshot_sorted(&s));
	assert_int_equal(s.procs[0].pid, 4);
	assert_int_equal(s.procs[4].pid, 999);
	assert_int_equal(kw_snapshot_find(&s, 17)->cpu_ns, 17);
	assert_null(kw_snapshot_find(&s, 18));
	assert_null(kw_snapshot_find(&s, 1000));
	assert_string_equal(kw_snapshot_find(&s, 30)->cmdline,
	    "/bin/p --pid 30");
	kw_snapshot_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_round_trip),
		cmocka_unit_test(test_delta_missing_change_shows),
		cmocka_unit_test(test_delta_contradiction_refused),
		cmocka_unit_test(test_delta_bad_shape),
		cmocka_unit_test(test_sort_and_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
