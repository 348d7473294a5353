/*
 * Backpressure for one client of a producer: pause over the high
 * watermark, resume under the low one, cut off past the hard limit.
 */
#include "kwarden.h"

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
