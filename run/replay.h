/*
 * kwarden-replay's work (replay.c): the decider's own engine (libdecider)
 * run again over the container rows a database recorded, under the
 * recorded policy or another, and what it would have done set beside what
 * was done (the deletions table). Reads the database only.
 */
#ifndef REPLAY_H
#define REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "kwarden.h"

/* Exit codes of kwarden-replay, also replay_run's returns. */
#define REPLAY_OK     0
#define REPLAY_EDB    1 /* cannot read it, or not a kwarden database */
#define REPLAY_EUSAGE 2 /* the command line or the config */

/* A recorded action appears up to this long after its sample's ts. */
#define REPLAY_MATCH_WINDOW_S 300

struct replay_opts {
	const char *db;
	const char *conf_file;	      /* NULL: the recorded policy */
	const char *const *overrides; /* "SECTION.KEY=VALUE" */
	size_t noverrides;
	uint64_t since_s; /* 0: from the first row */
	uint64_t until_s; /* 0: to the last row */
};

/* An action: one the policy would take, or one the decider took. */
struct replay_event {
	char container_id[KW_CID_LEN];
	char name[128];
	char class_name[KW_NAME_LEN];
	uint64_t ts; /* unix seconds */
	char action[16];
	uint32_t step;
	char reason[256];
	char result[256]; /* recorded: Docker's answer */
	long other;	  /* the matching one, -1: none */
};

struct replay_events {
	struct replay_event *e;
	size_t n, cap;
};

struct replay_result {
	struct replay_events would; /* in sample order */
	struct replay_events did;   /* in row order */
	uint64_t samples;
	uint64_t rows;
	uint64_t epochs;	    /* decider runs seen */
	uint64_t policies;	    /* recorded policy rows used */
	uint64_t first_ts, last_ts; /* of the samples */
	uint64_t oom;		    /* samples the engine dropped */
	size_t same;		    /* pairs */
};

/*
 * Run it. REPLAY_OK with res filled; else the exit code and a message in
 * err ("DB: ..." or "config: ..."). res is freed with replay_result_free
 * whatever the return.
 */
int replay_run(const struct replay_opts *o, struct replay_result *res,
    char *err, size_t errlen);
void replay_result_free(struct replay_result *res);
/*
 * Pair each would-be action with the first recorded one of the same
 * container, action and step not paired yet, recorded from 2 s before
 * to REPLAY_MATCH_WINDOW_S after it. Sets other on both sides; returns
 * the pairs.
 */
size_t replay_match(struct replay_events *would, struct replay_events *did);

#endif /* REPLAY_H */
