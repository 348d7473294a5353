/*
 * kwarden-top's model and view: what the decider's stream and control
 * sockets said (top-model.c) and the frame drawn from it (top-view.c).
 * Both are free of I/O, clocks and globals, so unit tests drive them.
 */
#ifndef KW_TOP_H
#define KW_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

#define TOP_CLASS_MAX	16
#define TOP_ACTIONS_MAX 32
#define TOP_LINE_MAX	512
#define TOP_STATE_LEN	256
#define TOP_EXTRA_LEN	512

enum top_daemon {
	TOP_READER,
	TOP_DECIDER,
	TOP_RECORDER,
	TOP_DAEMON__COUNT,
};

/* What one daemon's `status` said, or why it did not answer. */
struct top_health {
	int reachable;
	char error[160]; /* why not reachable */
	double uptime_s;
	uint64_t errors;
	char last_error[160];
	uint64_t samples;
	uint64_t samples_failed;    /* reader */
	uint64_t pub_seq;	    /* reader, decider */
	uint64_t acked_seq;	    /* decider: the recorder's ack */
	uint64_t in_seq;	    /* decider, recorder: last got */
	int in_connected;	    /* decider, recorder */
	double last_snapshot_age_s; /* decider, < 0 unknown */
	char docker_state[32];	    /* decider */
	char docker_error[160];	    /* decider */
	uint64_t pending_rows;	    /* recorder */
	uint64_t db_errors;	    /* recorder */
};

struct top_class {
	char name[KW_NAME_LEN];
	int64_t min_alive;
	int64_t alive;
	int64_t running;
};

struct top_policy {
	int known;
	double cpu_threshold;
	double mem_threshold;
	uint64_t window_ms;
	char action[32];
	char protect[160];	   /* comma-joined */
	char extra[TOP_EXTRA_LEN]; /* fields we do not know */
	struct top_class classes[TOP_CLASS_MAX];
	size_t nclasses;
};

/* What `containers` adds to a container of the stream. */
struct top_ctl_ctr {
	char container_id[KW_CID_LEN];
	char state[TOP_STATE_LEN];
	uint64_t ws_kb;		   /* working set, 0: not given */
	char extra[TOP_EXTRA_LEN]; /* fields we do not know */
};

/* One row of the table: the stream's record and the control reply. */
struct top_row {
	struct kw_container_rec rec;
	char state[TOP_STATE_LEN];
	char extra[TOP_EXTRA_LEN];
	uint64_t ws_kb;
	double excess; /* over the nearer threshold */
};

struct top_action {
	uint64_t ts_ns;
	struct kw_deletion_rec rec;
};

/* One sample: a sys record, then its containers and processes. */
struct top_sample {
	int have_sys;
	uint64_t ts_ns;
	struct kw_sys_rec sys;
	struct kw_container_rec *ctrs;
	size_t nctrs, ctrs_cap;
	struct kw_proc_rec *procs;
	size_t nprocs, procs_cap;
};

struct top_model {
	struct top_sample cur;			    /* last complete sample */
	struct top_sample pending;		    /* being received */
	uint64_t samples;			    /* complete ones seen */
	struct top_action actions[TOP_ACTIONS_MAX]; /* a ring */
	size_t nactions, actions_head;
	struct top_policy policy;
	struct top_health health[TOP_DAEMON__COUNT];
	int health_known[TOP_DAEMON__COUNT];
	struct top_ctl_ctr *ctl;
	size_t nctl, ctl_cap;
	int ctl_known;
	/* The stream's link, as the screen tells it. */
	int stream_up;
	char stream_note[320];
	uint64_t stream_epoch;
	uint64_t stream_restarts; /* new epochs seen */
	uint64_t stream_lost;	  /* messages, in gaps */
	uint64_t bad_records;	  /* refused */
	char bad_record[256];	  /* the last, why */
};

/* top-model.c */
void top_model_init(struct top_model *m);
void top_model_free(struct top_model *m);
/* Stream messages; a sys starts a sample, commit ends it. -1: no memory. */
int top_model_msg(struct top_model *m, const struct kw_msg *msg, char *err,
    size_t errlen);
void top_model_commit(struct top_model *m);
/* Control replies (one JSON line each). -1 with err on a bad reply. */
int top_model_status(struct top_model *m, enum top_daemon d, const char *line,
    char *err, size_t errlen);
int top_model_policy(struct top_model *m, const char *line, char *err,
    size_t errlen);
int top_model_containers(struct top_model *m, const char *line, char *err,
    size_t errlen);
void top_model_unreachable(struct top_model *m, enum top_daemon d,
    const char *why);
/*
 * The reply to `explain NAME` as text for the screen, lines joined by
 * '\n': the JSON indented, or "not supported by this decider" when the
 * decider answers "unknown command".
 */
void top_explain_text(const char *name, const char *line, char *out,
    size_t len);
/* The most recent action first: i = 0 .. nactions-1. */
const struct top_action *top_model_action(const struct top_model *m, size_t i);

/* top-view.c: sorting, bars, formatting and the frame. */
enum top_sort {
	TOP_SORT_EXCESS,
	TOP_SORT_NAME,
	TOP_SORT_CLASS,
	TOP_SORT_CPU,
	TOP_SORT_MEM,
	TOP_SORT_STATE,
	TOP_SORT__COUNT,
};

/* How a character is drawn (colour or attribute). */
enum top_role {
	TOP_ROLE_NORMAL,
	TOP_ROLE_BOLD,
	TOP_ROLE_TITLE, /* table headings */
	TOP_ROLE_OK,	/* under a threshold */
	TOP_ROLE_WARN,	/* near one, or a degraded daemon */
	TOP_ROLE_HOT,	/* over one, or a daemon down */
	TOP_ROLE_DIM,
	TOP_ROLE_SELECTED,
	TOP_ROLE__COUNT,
};

struct top_line {
	char text[TOP_LINE_MAX + 1];
	unsigned char role[TOP_LINE_MAX];
	size_t len;
};

struct top_screen {
	struct top_line *lines;
	size_t n, cap;
};

/* What the person chose; render keeps selected and scroll in range. */
struct top_view {
	enum top_sort sort;
	int reverse;
	char filter[KW_NAME_LEN]; /* a class, "" for all */
	size_t selected;	  /* row in the filtered table */
	size_t scroll;
	int width;
	int height;		      /* 0: no limit (--once) */
	const char *explain;	      /* lines to show, or NULL */
	char selected_id[KW_CID_LEN]; /* out: the row's id */
	char selected_name[128];      /* out */
};

const char *top_sort_name(enum top_sort s);
/* Excess over the nearer threshold, as the decider's policy ranks it. */
double top_excess(double cpu_pct, double mem_pct, double cpu_threshold,
    double mem_threshold);
void top_sort_rows(struct top_row *rows, size_t n, enum top_sort sort,
    int reverse);
/*
 * A bar of width cells for value against threshold: the threshold sits in
 * the middle, so the bar spans 0 .. 2 x threshold; '>' in the last cell
 * when the value is beyond it. role[] gets OK below the threshold, HOT past
 * it. Returns width (text is not NUL-terminated past width).
 */
size_t top_bar(char *text, unsigned char *role, size_t width, double value,
    double threshold);
/* "512K", "1.5M", "23.5G" from kB. */
void top_fmt_kb(char *buf, size_t len, uint64_t kb);
/* "0.4s", "12s", "3m05s", "2h03m", "4d02h". */
void top_fmt_age(char *buf, size_t len, double seconds);
/* Printable ASCII only: anything else becomes '?'. */
void top_sanitize(char *dst, size_t len, const char *src);
/* The table's rows, joined, filtered and sorted; caller frees. */
struct top_row *top_rows(const struct top_model *m, const char *filter,
    enum top_sort sort, int reverse, size_t *n);
/* The whole frame; now_ns is the wall clock. -1 when out of memory. */
int top_render(const struct top_model *m, struct top_view *v, uint64_t now_ns,
    struct top_screen *s);
void top_screen_free(struct top_screen *s);
/* The frame as plain text, one '\n' per line. */
void top_screen_print(const struct top_screen *s, FILE *fp);

#endif /* KW_TOP_H */
