/*
 * A snapshot packed again, process records copied where they did not
 * change. Most processes on a host sleep: from one sample to the next
 * their records are the same, and so are their packed bytes. The cache
 * keeps, for the last message published, where each process's record
 * lies in it and a hash of what was packed there (every field of the
 * record, by kw_proc_schema: a field that does not change the bytes
 * cannot be missed). A record whose hash is the same as its pid's last
 * one is copied from the last message; any other is packed.
 *
 * The bytes of the last message are the producer's (the pub keeps them
 * in its ring: kw_pub_hold_last), so the cache holds no copy of them:
 * 24 bytes per process, twice (the last message's index and the one
 * being built).
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "proto.h"

struct kw_packcache_ent {
	uint64_t hash; /* 0: not known, never the same */
	uint64_t off;  /* of the record in its message */
	uint32_t len;
	int32_t pid;
};

void
kw_packcache_init(struct kw_packcache *c)
{
	memset(c, 0, sizeof(*c));
}

void
kw_packcache_free(struct kw_packcache *c)
{
	free(c->last);
	free(c->next);
	free(c->scratch);
	kw_packcache_init(c);
}

static int
scratch_put(struct kw_packcache *c, size_t *n, const void *p, size_t len)
{
	unsigned char *ns;
	size_t ncap;

	if (len > c->scratch_cap - *n) {
		ncap = c->scratch_cap ? c->scratch_cap : 512;
		while (ncap - *n < len)
			ncap *= 2;
		if ((ns = realloc(c->scratch, ncap)) == NULL)
			return -1;
		c->scratch = ns;
		c->scratch_cap = ncap;
	}
	memcpy(c->scratch + *n, p, len);
	*n += len;
	return 0;
}

/*
 * What rec packs to, field by field in table order (a presence byte for
 * an optional field, a string with its terminator, a number as its bytes),
 * hashed. 0 when it cannot be told (a nested field, out of memory).
 */
static uint64_t
record_hash(struct kw_packcache *c, const struct kw_schema *s, const void *rec)
{
	const struct kw_field *f;
	const char *v, *str;
	unsigned char present;
	size_t i, n = 0, sz;
	int rc = 0;
	uint64_t h;

	for (i = 0; i < s->nfields && rc == 0; i++) {
		f = &s->fields[i];
		v = (const char *)rec + f->off;
		present = (unsigned char)kw_field_present(f, rec);
		if (f->optional)
			rc = scratch_put(c, &n, &present, 1);
		if (!present || rc != 0)
			continue;
		switch (f->type) {
		case KW_F_STR:
			rc = scratch_put(c, &n, v, strnlen(v, f->size));
			rc |= scratch_put(c, &n, "", 1);
			break;
		case KW_F_HSTR:
			str = *(char *const *)v;
			if (str == NULL)
				str = "";
			rc = scratch_put(c, &n, str, strlen(str) + 1);
			break;
		case KW_F_CHAR:
			sz = 1;
			goto fixed;
		case KW_F_U64:
		case KW_F_F64:
			sz = 8;
			goto fixed;
		case KW_F_U32:
		case KW_F_I32:
		case KW_F_BOOL:
			sz = 4;
fixed:
			rc = scratch_put(c, &n, v, sz);
			break;
		case KW_F_MAP:
		case KW_F_ARRAY:
			return 0;
		}
	}
	if (rc != 0)
		return 0;
	h = XXH3_64bits(c->scratch, n);
	return h != 0 ? h : 1;
}

/* pid's entry in the last message's index (sorted by pid), or NULL. */
static const struct kw_packcache_ent *
find_last(const struct kw_packcache *c, int32_t pid, size_t *cursor)
{
	size_t lo = 0, hi = c->nlast, mid;

	/* Most snapshots come in pid order: the next one is the one. */
	if (*cursor < c->nlast && c->last[*cursor].pid == pid)
		return &c->last[(*cursor)++];
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->last[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->nlast && c->last[lo].pid == pid) {
		*cursor = lo + 1;
		return &c->last[lo];
	}
	return NULL;
}

static int
reserve_next(struct kw_packcache *c, size_t n)
{
	struct kw_packcache_ent *ne;

	if (c->capnext >= n && c->capnext <= 2 * n + 64)
		return 0;
	if (n == 0) {
		free(c->next);
		c->next = NULL;
		c->capnext = 0;
		return 0;
	}
	if ((ne = realloc(c->next, n * sizeof(*ne))) == NULL)
		return c->capnext >= n ? 0 : -1;
	c->next = ne;
	c->capnext = n;
	return 0;
}

static void
pack_procs(msgpack_packer *pk, const struct kw_snapshot *snap,
    struct kw_packcache *c, const char *last, size_t lastlen, uint64_t lastseq,
    size_t (*tell)(void *sink))
{
	const struct kw_packcache_ent *e;
	struct kw_packcache_ent *ne;
	const struct kw_proc *p;
	size_t i, cursor = 0, off, end;
	int use_last = last != NULL && lastseq != 0 && lastseq == c->last_seq;
	uint64_t h;

	c->keep = reserve_next(c, snap->nprocs) == 0;
	c->nnext = 0;
	msgpack_pack_array(pk, snap->nprocs);
	for (i = 0; i < snap->nprocs; i++) {
		p = &snap->procs[i];
		h = record_hash(c, &kw_proc_schema, p);
		off = tell(pk->data);
		e = use_last && h != 0 ? find_last(c, p->pid, &cursor) : NULL;
		if (e != NULL && e->hash == h && e->off <= lastlen &&
		    e->len <= lastlen - e->off) {
			pk->callback(pk->data, last + e->off, e->len);
			c->copied++;
		} else {
			kw_record_pack(pk, &kw_proc_schema, p);
			c->packed++;
		}
		if (!c->keep)
			continue;
		ne = &c->next[c->nnext++];
		ne->pid = p->pid;
		ne->hash = h;
		ne->off = off;
		end = tell(pk->data);
		ne->len = (uint32_t)(end - off);
		/* A sink that did not grow (failed, or no position): no copy. */
		if (end <= off || end - off > UINT32_MAX)
			ne->hash = 0;
	}
}

void
kw_snapshot_pack_cached(msgpack_packer *pk, const struct kw_snapshot *snap,
    struct kw_packcache *c, const char *last, size_t lastlen, uint64_t lastseq,
    size_t (*tell)(void *sink))
{
	const struct kw_field *f;
	size_t i;

	c->copied = c->packed = 0;
	c->building = 1;
	for (i = 0; i < kw_snapshot_schema.nfields; i++) {
		f = &kw_snapshot_schema.fields[i];
		if (!kw_field_present(f, snap))
			continue;
		if (f->type == KW_F_ARRAY && f->sub == &kw_proc_schema &&
		    f->off == offsetof(struct kw_snapshot, procs)) {
			kw_pack_str(pk, f->key);
			pack_procs(pk, snap, c, last, lastlen, lastseq, tell);
		} else
			kw_field_pack(pk, f, snap);
	}
}

static int
by_pid(const void *a, const void *b)
{
	const struct kw_packcache_ent *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

void
kw_packcache_commit(struct kw_packcache *c, uint64_t seq)
{
	struct kw_packcache_ent *t;
	size_t i, tc;

	if (!c->building)
		return;
	c->building = 0;
	/* Not published: the last message is still the one indexed. */
	if (seq == 0)
		return;
	c->copied_total += c->copied;
	c->packed_total += c->packed;
	if (!c->keep) {
		/* No index of this one: nothing to copy from it. */
		c->nlast = 0;
		c->last_seq = 0;
		return;
	}
	for (i = 1; i < c->nnext; i++)
		if (c->next[i - 1].pid > c->next[i].pid) {
			qsort(c->next, c->nnext, sizeof(*c->next), by_pid);
			break;
		}
	t = c->last;
	tc = c->caplast;
	c->last = c->next;
	c->caplast = c->capnext;
	c->nlast = c->nnext;
	c->next = t;
	c->capnext = tc;
	c->nnext = 0;
	c->last_seq = seq;
}
