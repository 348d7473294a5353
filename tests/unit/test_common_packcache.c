/*
 * The snapshot packed with its unchanged records copied from the last
 * message (common/packcache.c): after every kind of change a process can
 * show, the bytes are those kw_snapshot_pack makes, and what did not
 * change is copied, not packed. Also the pub's hold on its last message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kwarden.h"

/* The sink: one message in a msgpack_sbuffer. */
struct msg {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void
msg_init(struct msg *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static size_t
sb_tell(void *sink)
{
	return ((msgpack_sbuffer *)sink)->size;
}

/* A snapshot of n processes, pids 100, 110, ... */
static void
snap_make(struct kw_snapshot *s, size_t n)
{
	struct kw_proc *p;
	char cmd[64];
	size_t i;

	kw_snapshot_init(s);
	snprintf(s->source, sizeof(s->source), "kmod");
	s->ts_ns = 1000;
	s->mono_ns = 2000;
	s->host.mem_total_kb = 8 << 20;
	for (i = 0; i < n; i++) {
		assert_non_null(p = kw_snapshot_add(s));
		p->pid = (int32_t)(100 + 10 * i);
		p->ppid = 1;
		p->state = 'S';
		p->uid = (uint32_t)i;
		p->threads = 1;
		snprintf(p->name, sizeof(p->name), "proc%zu", i);
		snprintf(cmd, sizeof(cmd), "/bin/proc%zu --arg %zu", i, i * 7);
		assert_int_equal(kw_proc_set_cmdline(p, cmd, strlen(cmd)), 0);
		p->vsz_kb = 1000 + i;
		p->rss_kb = 100 + i;
		p->cpu_ns = 1000000 * i;
		p->start_ns = 5000 + i;
		if (i % 3 == 0) {
			memset(p->container_id, 'a' + (int)(i % 5), 64);
			p->container_id[64] = '\0';
			assert_int_equal(kw_proc_set_cgroup(p, "/docker/x", 9),
			    0);
		}
	}
}

struct cached {
	struct kw_packcache pc;
	struct msg last;
	uint64_t seq;
};

/*
 * Pack s with the cache against the last message; check the bytes are
 * kw_snapshot_pack's; commit it as the next seq unless dropped. Returns
 * how many records were copied.
 */
static uint64_t
pack_check(struct cached *c, const struct kw_snapshot *s, uint64_t lastseq,
    int dropped)
{
	struct msg now, want;

	msg_init(&now);
	msg_init(&want);
	kw_snapshot_pack(&want.pk, s);
	kw_snapshot_pack_cached(&now.pk, s, &c->pc, c->last.sb.data,
	    c->last.sb.size, lastseq, sb_tell);
	assert_int_equal(now.sb.size, want.sb.size);
	assert_memory_equal(now.sb.data, want.sb.data, want.sb.size);
	assert_int_equal(c->pc.copied + c->pc.packed, s->nprocs);
	msgpack_sbuffer_destroy(&want.sb);
	if (dropped) {
		kw_packcache_commit(&c->pc, 0);
		msgpack_sbuffer_destroy(&now.sb);
	} else {
		kw_packcache_commit(&c->pc, ++c->seq);
		msgpack_sbuffer_destroy(&c->last.sb);
		c->last = now;
		/* The packer points at the sbuffer it was made with. */
		c->last.pk.data = &c->last.sb;
	}
	return c->pc.copied;
}

static void
cached_init(struct cached *c)
{
	memset(c, 0, sizeof(*c));
	kw_packcache_init(&c->pc);
	msg_init(&c->last);
}

static void
cached_free(struct cached *c)
{
	kw_packcache_free(&c->pc);
	msgpack_sbuffer_destroy(&c->last.sb);
}

static void
packcache__unchanged__all_copied_same_bytes(void **state)
{
	struct kw_snapshot s;
	struct cached c;

	(void)state;
	cached_init(&c);
	snap_make(&s, 50);
	assert_int_equal(pack_check(&c, &s, 0, 0), 0);
	assert_int_equal(c.pc.packed, 50);
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 50);
	assert_int_equal(c.pc.packed, 0);
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 50);
	assert_int_equal(c.pc.copied_total, 100);
	assert_int_equal(c.pc.packed_total, 50);
	kw_snapshot_free(&s);
	cached_free(&c);
}

/* Each change a process can show, one at a time: that record is packed. */
static void
packcache__each_field_changed__that_record_packed(void **state)
{
	struct kw_snapshot s;
	struct cached c;
	struct kw_proc *p;
	int step;

	(void)state;
	cached_init(&c);
	snap_make(&s, 20);
	pack_check(&c, &s, 0, 0);
	for (step = 0; step < 14; step++) {
		p = &s.procs[3]; /* pid 130: a container's */
		switch (step) {
		case 0:
			p->cpu_ns++;
			break;
		case 1:
			p->rss_kb++;
			break;
		case 2:
			p->state = 'R';
			break;
		case 3:
			p->name[0] = 'X';
			break;
		case 4:
			/* Same pointer, same length, other bytes: an exec. */
			p->cmdline[1] = 'u';
			break;
		case 5:
			assert_int_equal(kw_proc_set_cgroup(p, NULL, 0), 0);
			break;
		case 6:
			assert_int_equal(kw_proc_set_cgroup(p, "/docker/y", 9),
			    0);
			break;
		case 7:
			p->container_id[0] = '\0';
			break;
		case 8:
			p->start_ns++; /* the pid reused */
			break;
		case 9:
			p->uid = 4242;
			break;
		case 10:
			p->threads = 9;
			break;
		case 11:
			p->ppid = 77;
			break;
		case 12:
			p->vsz_kb = 0;
			break;
		case 13:
			/* The cmdline cut short: "" and NULL pack the same. */
			assert_int_equal(kw_proc_set_cmdline(p, "", 0), 0);
			break;
		}
		assert_int_equal(pack_check(&c, &s, c.seq, 0), 19);
		assert_int_equal(c.pc.packed, 1);
	}
	kw_snapshot_free(&s);
	cached_free(&c);
}

/* Exits, new pids, a pid in another place, the order reversed. */
static void
packcache__procs_come_and_go__same_bytes(void **state)
{
	struct kw_snapshot s;
	struct kw_proc t;
	struct cached c;
	struct kw_proc *p;
	size_t i;

	(void)state;
	cached_init(&c);
	snap_make(&s, 30);
	pack_check(&c, &s, 0, 0);
	/* The first five exit: the rest move down five slots. */
	for (i = 0; i < 5; i++) {
		free(s.procs[i].cmdline);
		free(s.procs[i].cgroup);
	}
	memmove(s.procs, s.procs + 5, 25 * sizeof(*s.procs));
	s.nprocs = 25;
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 25);
	/* Two new ones, one between two old pids and one at the end. */
	assert_non_null(p = kw_snapshot_add(&s));
	p->pid = 155;
	assert_non_null(p = kw_snapshot_add(&s));
	p->pid = 9999;
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 25);
	assert_int_equal(c.pc.packed, 2);
	/* Reversed: each found by its pid, not its place. */
	for (i = 0; i < s.nprocs / 2; i++) {
		t = s.procs[i];
		s.procs[i] = s.procs[s.nprocs - 1 - i];
		s.procs[s.nprocs - 1 - i] = t;
	}
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 27);
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 27);
	kw_snapshot_free(&s);
	cached_free(&c);
}

/*
 * A message not published (commit 0): the next copies from the one
 * before, which is still the last. A last message that is not the one
 * indexed (another seq), or shorter than the index says: nothing copied.
 */
static void
packcache__not_the_indexed_message__nothing_copied(void **state)
{
	struct kw_snapshot s;
	struct cached c;

	(void)state;
	cached_init(&c);
	snap_make(&s, 10);
	pack_check(&c, &s, 0, 0);
	s.procs[0].cpu_ns++;
	assert_int_equal(pack_check(&c, &s, c.seq, 1), 9);
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 9);
	assert_int_equal(pack_check(&c, &s, c.seq + 1, 0), 0);
	assert_int_equal(pack_check(&c, &s, c.seq, 0), 10);
	/* Cut: the records past the end are packed. */
	c.last.sb.size /= 2;
	assert_in_range(pack_check(&c, &s, c.seq, 0), 1, 9);
	kw_snapshot_free(&s);
	cached_free(&c);
}

/* A sink that tells no position indexes nothing to copy from. */
static size_t
no_tell(void *sink)
{
	(void)sink;
	return 0;
}

static void
packcache__sink_without_position__never_copies(void **state)
{
	struct kw_snapshot s;
	struct kw_packcache pc;
	struct msg a, b;
	int i;

	(void)state;
	kw_packcache_init(&pc);
	snap_make(&s, 10);
	msg_init(&a);
	kw_snapshot_pack_cached(&a.pk, &s, &pc, NULL, 0, 0, no_tell);
	kw_packcache_commit(&pc, 1);
	for (i = 0; i < 2; i++) {
		msg_init(&b);
		kw_snapshot_pack_cached(&b.pk, &s, &pc, a.sb.data, a.sb.size,
		    (uint64_t)(1 + i), no_tell);
		kw_packcache_commit(&pc, (uint64_t)(2 + i));
		assert_int_equal(pc.copied, 0);
		assert_int_equal(b.sb.size, a.sb.size);
		assert_memory_equal(b.sb.data, a.sb.data, a.sb.size);
		msgpack_sbuffer_destroy(&b.sb);
	}
	msgpack_sbuffer_destroy(&a.sb);
	kw_snapshot_free(&s);
	kw_packcache_free(&pc);
}

/*
 * kw_pub_hold_last: the message held stays whole after the ring drops
 * it (ASan would see a use after free), and the reader's way of using
 * it (kw_pub_tell as the position) copies from the pub's own message.
 */
static size_t
pub_tell(void *sink)
{
	return kw_pub_tell(sink);
}

static void
pub__hold_last__outlives_the_ring_and_copies(void **state)
{
	char dir[] = "/tmp/kw-packcache-XXXXXX", path[108];
	struct kw_pub_opts o = { 0 };
	struct kw_pub_msg *held;
	struct kw_packcache pc;
	struct kw_snapshot s;
	struct kw_pub *pub;
	struct msg want;
	const char *last = NULL;
	size_t lastlen = 0, want_body;
	uint64_t lastseq = 0, seq;
	msgpack_packer *pk;
	uv_loop_t loop;
	char *copy;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.sock", dir);
	uv_loop_init(&loop);
	o.ring_bytes = 1 << 20;
	o.ring_msgs = 1;
	assert_non_null(pub = kw_pub_new(&loop, path, "reader", &o));
	assert_int_equal(kw_pub_start(pub), 0);
	assert_null(kw_pub_hold_last(pub, &last, &lastlen, &lastseq));
	assert_int_equal(kw_pub_tell(pub), 0);
	kw_packcache_init(&pc);
	snap_make(&s, 40);
	msg_init(&want);
	kw_snapshot_pack(&want.pk, &s);
	want_body = want.sb.size;
	for (i = 0; i < 3; i++) {
		pk = kw_pub_begin(pub, KW_MSG_SNAPSHOT, KW_SNAPSHOT_FIELDS);
		held = kw_pub_hold_last(pub, &last, &lastlen, &lastseq);
		assert_int_equal(held != NULL, i > 0);
		kw_snapshot_pack_cached(pk, &s, &pc, last, lastlen, lastseq,
		    pub_tell);
		/* The body ends the message: the same bytes as packed alone. */
		assert_true(kw_pub_tell(pub) > want_body);
		seq = kw_pub_commit(pub);
		assert_int_equal(seq, (uint64_t)i + 1);
		kw_packcache_commit(&pc, seq);
		assert_int_equal(pc.copied, i > 0 ? 40 : 0);
		if (held != NULL) {
			/* Dropped from the ring (one message), still whole. */
			assert_non_null(copy = malloc(lastlen));
			memcpy(copy, last, lastlen);
			assert_memory_equal(copy + lastlen - want_body,
			    want.sb.data, want_body);
			free(copy);
			kw_pub_release(held);
		}
	}
	kw_pub_close(pub);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	unlink(path);
	rmdir(dir);
	msgpack_sbuffer_destroy(&want.sb);
	kw_snapshot_free(&s);
	kw_packcache_free(&pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(packcache__unchanged__all_copied_same_bytes),
		cmocka_unit_test(
		    packcache__each_field_changed__that_record_packed),
		cmocka_unit_test(packcache__procs_come_and_go__same_bytes),
		cmocka_unit_test(
		    packcache__not_the_indexed_message__nothing_copied),
		cmocka_unit_test(
		    packcache__sink_without_position__never_copies),
		cmocka_unit_test(pub__hold_last__outlives_the_ring_and_copies),
	};

	kw_log_init("test", KW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
