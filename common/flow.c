/*
 * Backpressure for one client of a producer: pause over the high
 * watermark, resume under the low one, cut off past the hard limit. And
 * the limits every socket enforces, their counters and their log lines.
 */
#include <stdarg.h>
#include <stdio.h>

#include "kwarden.h"

#define LIMIT_LOG_EVERY_NS (60ull * 1000000000ull)

static struct kw_limits limits = {
	.stream_clients = 64,
	.stream_replays = 10,
	.replay_interval_ms = 60000,
	.ctl_clients = 64,
	.ctl_idle_ms = 60000,
	.ctl_reply_bytes = 1u << 20,
	.stream_client_bytes = 4u << 20,
	.stream_queued_bytes = 64u << 20,
	.docker_lookups = 32,
	.docker_lookup_interval_ms = 60000,
	.cgroup_dirs = 4,
};

static const char *const hit_names[KW_HIT__COUNT] = {
	[KW_HIT_STREAM_CLIENTS] = "stream_clients_refused",
	[KW_HIT_STREAM_REPLAYS] = "stream_replays_refused",
	[KW_HIT_ACKS] = "acks_refused",
	[KW_HIT_CTL_CLIENTS] = "ctl_clients_evicted",
	[KW_HIT_CTL_IDLE] = "ctl_idle_closed",
	[KW_HIT_CTL_REPLY_BYTES] = "ctl_reply_bytes_cut",
	[KW_HIT_STREAM_CLIENT_BYTES] = "stream_client_bytes_cut",
	[KW_HIT_STREAM_QUEUED_BYTES] = "stream_queued_bytes_cut",
	[KW_HIT_DOCKER_LOOKUPS] = "docker_lookups_deferred",
	[KW_HIT_CGROUP_DIRS] = "cgroup_dirs_refused",
};

static struct {
	uint64_t count;
	uint64_t logged_ns; /* mono time of the last line, 0: never */
	uint64_t unlogged;  /* hits since that line */
} hits[KW_HIT__COUNT];

void
kw_limits_set(const struct kw_limits *l)
{
	limits = *l;
}

const struct kw_limits *
kw_limits_get(void)
{
	return &limits;
}

void
kw_limits_from_conf(const struct kw_conf *conf, struct kw_limits *l)
{
	l->stream_clients = kw_conf_int(conf, "limits.stream_clients");
	l->stream_replays = kw_conf_int(conf, "limits.stream_replays");
	l->replay_interval_ms = kw_conf_ms(conf, "limits.replay_interval");
	l->ctl_clients = kw_conf_int(conf, "limits.ctl_clients");
	l->ctl_idle_ms = kw_conf_ms(conf, "limits.ctl_idle_timeout");
	l->ctl_reply_bytes = kw_conf_size(conf, "limits.ctl_reply_bytes");
	l->stream_client_bytes =
	    kw_conf_size(conf, "limits.stream_client_bytes");
	l->stream_queued_bytes =
	    kw_conf_size(conf, "limits.stream_queued_bytes");
	l->docker_lookups = kw_conf_int(conf, "limits.docker_lookups");
	l->docker_lookup_interval_ms =
	    kw_conf_ms(conf, "limits.docker_lookup_interval");
	l->cgroup_dirs = kw_conf_int(conf, "limits.cgroup_dirs");
}

void
kw_limit_hit(enum kw_limit_hit which, const char *fmt, ...)
{
	uint64_t now = kw_mono_ns();
	char msg[256];
	va_list ap;

	if ((unsigned)which >= KW_HIT__COUNT)
		return;
	hits[which].count++;
	if (hits[which].logged_ns != 0 &&
	    now - hits[which].logged_ns < LIMIT_LOG_EVERY_NS) {
		hits[which].unlogged++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (hits[which].unlogged > 0)
		log_warnx("%s (%s: %llu more in the last minute, %llu in "
			  "all)",
		    msg, hit_names[which],
		    (unsigned long long)hits[which].unlogged,
		    (unsigned long long)hits[which].count);
	else
		log_warnx("%s (%s: %llu in all; logged at most once a "
			  "minute)",
		    msg, hit_names[which],
		    (unsigned long long)hits[which].count);
	hits[which].logged_ns = now ? now : 1;
	hits[which].unlogged = 0;
}

uint64_t
kw_limit_count(enum kw_limit_hit which)
{
	if ((unsigned)which >= KW_HIT__COUNT)
		return 0;
	return hits[which].count;
}

const char *
kw_limit_name(enum kw_limit_hit which)
{
	if ((unsigned)which >= KW_HIT__COUNT)
		return "?";
	return hit_names[which];
}

enum kw_flow_verdict
kw_flow_sent(struct kw_flow *f, size_t n, size_t backlog)
{
	/* What was queued before this write: one message alone never cuts. */
	size_t before = f->inflight;

	f->inflight += n;
	if (before + backlog > f->hard_limit)
		return KW_FLOW_CUT;
	if (f->inflight >= f->high_water)
		f->paused = 1;
	return f->paused ? KW_FLOW_PAUSE : KW_FLOW_GO;
}

int
kw_flow_written(struct kw_flow *f, size_t n)
{
	f->inflight = n > f->inflight ? 0 : f->inflight - n;
	if (f->paused && f->inflight <= f->low_water) {
		f->paused = 0;
		return 1;
	}
	return 0;
}
