/*
 * kwarden-reader: the two snapshot sources (a /proc walk and the kernel
 * modules' JSON file), each split into pure parsers and the I/O around them.
 */
#ifndef READER_H
#define READER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "kwarden.h"

/* procfs.c */

/* The fields of /proc/<pid>/stat the reader uses. */
struct procfs_stat {
	int32_t pid;
	int32_t ppid;
	char state;
	char comm[KW_NAME_LEN];
	uint64_t flags; /* PF_*, e.g. PF_KTHREAD */
	uint64_t utime; /* ticks, whole thread group */
	uint64_t stime;
	uint64_t num_threads;
	uint64_t starttime; /* clock ticks since boot */
	uint64_t vsize;	    /* bytes */
	uint64_t rss_pages;
};

struct procfs_statm {
	uint64_t size_pages;
	uint64_t resident_pages;
};

struct procfs_status {
	uint32_t uid; /* real uid */
	uint32_t threads;
	int has_uid;
	int has_threads;
};

#define PROCFS_PF_KTHREAD 0x00200000

/*
 * Parsers: buf need not be NUL-terminated. 0 on success, -1 when the
 * content does not have the expected shape.
 */
int procfs_parse_stat(const char *buf, size_t len, struct procfs_stat *st);
int procfs_parse_statm(const char *buf, size_t len, struct procfs_statm *sm);
int procfs_parse_status(const char *buf, size_t len, struct procfs_status *ss);
/* MemTotal, MemFree, MemAvailable; mem_used_kb = total - free (seed). */
int procfs_parse_meminfo(const char *buf, size_t len, struct kw_host *h);
/* The number of "cpuN" lines of /proc/stat; 0 if none. */
uint32_t procfs_count_cpus(const char *buf, size_t len);
/*
 * /proc/<pid>/cmdline in place: NULs become spaces, trailing NULs and
 * spaces are trimmed, the result capped at KW_CMDLINE_MAX - 1 bytes and
 * NUL-terminated (buf must hold len + 1 bytes). Returns the new length.
 */
size_t procfs_cmdline_clean(char *buf, size_t len);
/* Clock ticks to ns without overflow for any realistic tick count. */
uint64_t procfs_ticks_to_ns(uint64_t ticks, uint64_t hz);

struct procfs_counters {
	uint64_t samples;
	uint64_t vanished;   /* pid gone mid-read: skipped */
	uint64_t errors;     /* pid unreadable otherwise */
	uint64_t cache_hits; /* cmdline and cgroup not re-read */
	uint64_t cache_misses;
};

struct procfs;

/* root is a /proc mount or a fixture tree like it. NULL on ENOMEM. */
struct procfs *procfs_new(const char *root);
void procfs_free(struct procfs *pf);
/*
 * Fill snap (cleared first) with the host and every process. A process
 * that vanishes mid-read is skipped. -1 with err when the root itself or
 * its meminfo cannot be read, or on allocation failure.
 */
int procfs_sample(struct procfs *pf, struct kw_snapshot *snap, char *err,
    size_t errlen);
void procfs_get_counters(const struct procfs *pf, struct procfs_counters *c);
/*
 * For a kmod snapshot without cgroup paths (the seed's modules): fill
 * container_id and cgroup (the claim, kw_cgroup_file_claim) of every
 * process that has no cgroup from <root>/<pid>/cgroup, cached per (pid,
 * name). A process gone meanwhile is a host process. -1 on ENOMEM.
 */
int procfs_fill_container_ids(struct procfs *pf, struct kw_snapshot *snap);

/* kmod.c */

/*
 * Parse the kernel modules' JSON (strict, or the seed's with trailing
 * commas) into snap (cleared first). Returns -1 with err when the snapshot
 * is rejected as a whole; else the number of malformed process entries
 * that were skipped (err then names the first of them).
 */
int snapshot_parse_json(const char *buf, size_t len, struct kw_snapshot *snap,
    char *err, size_t errlen);
struct kmod_info {
	/* Entries without a cgroup path (the seed's format). */
	size_t no_container_id;
	/* The delta file's header and footer (delta is 0 for other files). */
	int delta; /* "full" was present */
	int full;
	uint64_t generation;
	uint64_t cap_hits;
	int32_t *exited; /* heap (kmod_info_free), sorted */
	size_t nexited;
};
void kmod_info_free(struct kmod_info *info);

/* snapshot_parse_json, telling what the input lacked (info may be NULL) */
int kmod_parse(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, char *err, size_t errlen);
/*
 * One pass of the delta file: as kmod_parse, and its own fields ("full",
 * "generation", "cap_hits", "exited") are required; info (required) is
 * filled, its exited pids sorted, and must be freed (kmod_info_free).
 */
int kmod_parse_delta(const char *buf, size_t len, struct kw_snapshot *snap,
    struct kmod_info *info, char *err, size_t errlen);
/* Drop trailing commas (outside strings) by turning them into spaces. */
void kmod_strip_trailing_commas(char *buf, size_t len);
/*
 * Read the whole file at path (any size up to KMOD_MAX_FILE) and parse it;
 * returns as snapshot_parse_json, err prefixed with the path.
 */
int source_kmod_read(const char *path, struct kw_snapshot *snap,
    struct kmod_info *info, char *err, size_t errlen);

#define KMOD_MAX_FILE (256u << 20) /* refuse larger files */

/*
 * Called by kmod_delta_read on a pass whose records lack container ids
 * (a cgroup path the module cut), before it is applied; -1 fails it.
 */
typedef int (*kmod_fill_fn)(void *arg, struct kw_snapshot *pass);

/*
 * The module's delta file (kmod_path + "_delta"): kept open between
 * samples (the module keeps, per open file, what this reader was given),
 * each pass applied to the last full snapshot kept here.
 */
struct kmod_delta {
	int fd; /* -1: closed */
	char path[PATH_MAX];
	struct kw_snapshot base; /* merged, sorted by pid */
	int have_base;
	struct kw_snapshot *lent;   /* holds base until given back */
	uint64_t generation;	    /* of the last pass applied */
	struct kw_snapshot scratch; /* the pass being parsed */
	kmod_fill_fn fill;
	void *fill_arg;
	char *buf;
	size_t cap;
	/* counters for `status` */
	uint64_t passes; /* applied */
	uint64_t full_passes;
	uint64_t errors; /* passes refused: fell back */
	uint64_t opens;
	uint64_t cap_hits; /* the module's, last header */
	size_t last_records;
	size_t last_exited;
	/* The last pass applied: full, or its records' and exited pids. */
	int last_full;
	struct kw_pidset changed; /* sorted */
	struct kw_pidset exited;  /* sorted */
};

void kmod_delta_init(struct kmod_delta *kd);
void kmod_delta_free(struct kmod_delta *kd);
/* Close the file and forget the base: the next read opens it again. */
void kmod_delta_reset(struct kmod_delta *kd);
/*
 * Read one pass of the delta file at path (opened on first use or after an
 * error) and apply it to kd->base, which is then lent to out (swapped, no
 * copy): out must be handed back with kmod_delta_give_back() before the
 * next read, unchanged but for its cgroup figures, or the base is lost
 * (the next pass is then refused and the file reopened). Returns 0, or
 * -1 with err (the file is then closed: the next open's first pass is
 * full; out is cleared).
 */
int kmod_delta_read(struct kmod_delta *kd, const char *path,
    struct kw_snapshot *out, char *err, size_t errlen);
/* Take the base back from snap (a no-op unless it was lent to it). */
void kmod_delta_give_back(struct kmod_delta *kd, struct kw_snapshot *snap);
void kmod_delta_set_fill(struct kmod_delta *kd, kmod_fill_fn fn, void *arg);
/* kw_snapshot_apply of a parsed pass and its header. */
int kmod_delta_apply(struct kw_snapshot *base, struct kw_snapshot *delta,
    const struct kmod_info *info, char *err, size_t errlen);

/* ns per unit of the seed's proc_jiffies (it is ns: see kmod.c) */
#define KMOD_SEED_JIFFY_NS 1

/* cgstat.c: each container's figures from its own cgroup */

enum cgstat_layout {
	CGSTAT_NONE, /* no cgroup fs (or turned off) */
	CGSTAT_V1,
	CGSTAT_V2,
};

/*
 * A container's cgroup directory, found once from one of its processes.
 * Its usage files stay open (read again with pread each sample); the rest
 * is read in full every detail_every samples and kept in last.
 */
struct cgstat_dir {
	char container_id[KW_CID_LEN];
	char claim[KW_CGDIR_MAX];     /* its processes' kw_proc.cgroup */
	char dir[KW_CGROUP_PATH_MAX]; /* "/docker/<id>" */
	int seen;		      /* in the current sample */
	int fd_cpu;		      /* -1: closed */
	int fd_mem;
	uint64_t detail_at;	/* cg->samples of the last full read */
	uint64_t inactive_file; /* bytes, from the last full read */
	struct kw_cgroup_stat last;
};

struct cgstat {
	char root[256]; /* /sys/fs/cgroup, or a fixture */
	char proc_root[256];
	enum cgstat_layout layout;
	char cpu_sub[32]; /* v1 hierarchies: "cpu", ... */
	char cpuacct_sub[32];
	char memory_sub[32];
	struct cgstat_dir *dirs;
	size_t ndirs, capdirs;
	uint64_t detail_every; /* samples between full reads (>= 1) */
	size_t max_fds;	       /* usage files kept open, at most */
	size_t open_fds;
	uint64_t samples;
	uint64_t reads;	       /* containers read */
	uint64_t full_reads;   /* of which in full */
	uint64_t errors;       /* containers that could not be */
	uint64_t last_errors;  /* in the last sample */
	size_t dirs_per_id;    /* directories read per container id */
	uint64_t dirs_refused; /* processes in a directory past it */
	uint64_t last_refused; /* in the last sample */
	char last_error[320];
};

/*
 * Parsers (buf need not be NUL-terminated): a single value ("123", or
 * "max": *is_max), a "key value" line of a flat-keyed file, the avg10
 * figures of a PSI file ("some ..." required, "full ..." optional).
 */
int cgstat_parse_value(const char *buf, size_t len, uint64_t *v, int *is_max);
int cgstat_parse_kv(const char *buf, size_t len, const char *key, uint64_t *v);
int cgstat_parse_psi(const char *buf, size_t len, double *some_avg10,
    double *full_avg10, int *has_full);
/*
 * usage and memory.stat (v2 names, or v1's total_*) into st's memory
 * figures; -1 when memory.stat has no inactive_file (working set = usage).
 */
int cgstat_memory_from_stat(const char *stat, size_t len, int v2,
    uint64_t usage, struct kw_cgroup_stat *st);
/* v2 when root has cgroup.controllers, else v1 with its hierarchies. */
enum cgstat_layout cgstat_layout(const char *root, char *cpu_sub,
    char *cpuacct_sub, char *memory_sub, size_t sublen);
/*
 * cgroup_root "" turns the reads off. -1 when cgroup_root holds no
 * hierarchy this can read (the source then stays off).
 */
int cgstat_init(struct cgstat *cg, const char *cgroup_root,
    const char *proc_root);
void cgstat_free(struct cgstat *cg);
/* One container's directory (relative to each hierarchy). -1 with err. */
int cgstat_read(const struct cgstat *cg, const char *dir,
    struct kw_cgroup_stat *st, char *err, size_t errlen);
/*
 * A kw_cgroup_stat in snap for every directory a container's processes
 * claim (kw_proc.cgroup), at most dirs_per_id per container id: a
 * look-alike directory naming a real container's id is read as its own,
 * never instead of the real one, and the decider keeps the real one's.
 * A directory whose files cannot be read is left out and counted (the
 * figures then come from the processes). -1 on allocation failure.
 */
int cgstat_collect(struct cgstat *cg, struct kw_snapshot *snap);

#endif /* READER_H */
