/*
 * The eviction policy: a class for every container, then the containers
 * over a threshold in order of how far over, each taken or skipped with a
 * reason. Pure: policy and containers in, classes and decisions out.
 * policy_from_conf builds the policy from a config: the decider's, and
 * kwarden-replay's from a file or the policy table's text.
 *
 * Decisions written down here:
 * - a container that matches no class (no "*" class configured) is in class
 *   "none" and is never acted on ("no class"): an operator who wrote no
 *   catch-all opted only the listed containers into eviction;
 * - min_alive counts every running container of the class, protected ones
 *   included, minus those already acted on and those taken this round;
 * - a container is over a threshold when strictly above it; excess is the
 *   larger of (cpu - cpu_threshold) and (mem - mem_threshold), ties keep
 *   the input order;
 * - a held candidate (cand.hold: Docker unreachable, a retry not due yet)
 *   is skipped with that reason and still counts as alive for min_alive,
 *   so another of its class may be taken instead;
 * - a candidate Docker has not named (cand.unknown) is in class "none":
 *   it counts in no class's alive (an empty name would put it in the "*"
 *   class and make min_alive judge the wrong set) and is skipped with its
 *   hold reason ("unknown to Docker").
 * - a class may override the thresholds (and the ladder and sustain,
 *   which engine.c applies): "over" is judged against its class's;
 * - a hold from the ladder (sustain, escalation, quarantine) is skipped
 *   with its own verdict (cand.hold_verdict) and counts as alive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decider.h"

static void
copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

void
policy_defaults(struct policy *p)
{
	struct policy_class *c;

	memset(p, 0, sizeof(*p));
	p->cpu_threshold = 20.0;
	p->mem_threshold = 20.0;
	p->window_ms = 5000;
	p->action = ACTION_REMOVE;
	p->ladder.step[0] = ACTION_REMOVE;
	p->ladder.n = 1;
	p->stop_timeout_ms = 10000;
	p->escalate_after_ms = 30000;
	p->sustain_ms = 0;
	p->quarantine_after = 0;
	p->quarantine_window_ms = 3600000;
	p->mem_basis = MEM_BASIS_WORKING_SET;
	copy_str(p->protect[p->nprotect++], POLICY_PATTERN_LEN, "grafana");
	copy_str(p->protect[p->nprotect++], POLICY_PATTERN_LEN, "kwarden");

	c = &p->classes[p->nclasses++];
	copy_str(c->name, sizeof(c->name), "high");
	copy_str(c->match[c->nmatch++], POLICY_PATTERN_LEN, "high");
	copy_str(c->match[c->nmatch++], POLICY_PATTERN_LEN, "cpu");
	copy_str(c->match[c->nmatch++], POLICY_PATTERN_LEN, "mem");
	c->min_alive = 2;

	c = &p->classes[p->nclasses++];
	copy_str(c->name, sizeof(c->name), "low");
	copy_str(c->match[c->nmatch++], POLICY_PATTERN_LEN, "*");
	c->wildcard = 1;
	c->min_alive = 3;
}

int
policy_check(const struct policy *p, char *err, size_t errlen)
{
	size_t i, j;

	if (!(p->cpu_threshold >= 0.0 && p->cpu_threshold <= 100.0)) {
		snprintf(err, errlen,
		    "policy.cpu_threshold: %g is not a "
		    "percentage",
		    p->cpu_threshold);
		return -1;
	}
	if (!(p->mem_threshold >= 0.0 && p->mem_threshold <= 100.0)) {
		snprintf(err, errlen,
		    "policy.mem_threshold: %g is not a "
		    "percentage",
		    p->mem_threshold);
		return -1;
	}
	if (p->window_ms == 0) {
		snprintf(err, errlen, "policy.window: must be more than 0");
		return -1;
	}
	if (action_name(p->action) == NULL || p->ladder.n == 0 ||
	    p->ladder.n > POLICY_LADDER_MAX) {
		snprintf(err, errlen, "policy.action: %d is not an action",
		    (int)p->action);
		return -1;
	}
	if (p->quarantine_after > STRIKES_MAX) {
		snprintf(err, errlen,
		    "policy.quarantine_after: %u, at most %d",
		    p->quarantine_after, STRIKES_MAX);
		return -1;
	}
	for (i = 0; i < p->nclasses; i++) {
		if (strcasecmp(p->classes[i].name, "none") == 0) {
			snprintf(err, errlen,
			    "class.none: the name is "
			    "reserved for unclassified containers");
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(p->classes[i].name,
				p->classes[j].name) == 0) {
				snprintf(err, errlen,
				    "class.%s: defined twice",
				    p->classes[i].name);
				return -1;
			}
	}
	return 0;
}

/* Case-insensitive substring of name or image; empty patterns never match. */
static int
pattern_matches(const char *pat, const char *name, const char *image)
{
	if (pat[0] == '\0')
		return 0;
	return (name != NULL && strcasestr(name, pat) != NULL) ||
	    (image != NULL && strcasestr(image, pat) != NULL);
}

static int
class_matches(const struct policy_class *c, const char *name,
    const char *image)
{
	size_t i;

	for (i = 0; i < c->nmatch; i++)
		if (strcmp(c->match[i], "*") != 0 &&
		    pattern_matches(c->match[i], name, image))
			return 1;
	return 0;
}

size_t
policy_classify(const struct policy *p, const char *name, const char *image,
    const char *label_class)
{
	size_t i, last_wild = POLICY_CLASS_NONE;
	int pass;

	if (label_class != NULL && label_class[0] != '\0')
		for (i = 0; i < p->nclasses; i++)
			if (strcasecmp(p->classes[i].name, label_class) == 0)
				return i;
	/* Classes without "*" first, then the "*" ones, in file order. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < p->nclasses; i++) {
			if (p->classes[i].wildcard != pass)
				continue;
			if (class_matches(&p->classes[i], name, image))
				return i;
		}
	for (i = 0; i < p->nclasses; i++)
		if (p->classes[i].wildcard)
			last_wild = i;
	return last_wild;
}

const char *
policy_protected_by(const struct policy *p, const char *name,
    const char *image)
{
	size_t i;

	for (i = 0; i < p->nprotect; i++)
		if (pattern_matches(p->protect[i], name, image))
			return p->protect[i];
	return NULL;
}

const char *
policy_class_name(const struct policy *p, size_t class_idx)
{
	if (class_idx == POLICY_CLASS_NONE || class_idx >= p->nclasses)
		return "none";
	return p->classes[class_idx].name;
}

double
policy_cpu_threshold(const struct policy *p, size_t k)
{
	if (k < p->nclasses && p->classes[k].has_cpu_threshold)
		return p->classes[k].cpu_threshold;
	return p->cpu_threshold;
}

double
policy_mem_threshold(const struct policy *p, size_t k)
{
	if (k < p->nclasses && p->classes[k].has_mem_threshold)
		return p->classes[k].mem_threshold;
	return p->mem_threshold;
}

const struct policy_ladder *
policy_ladder_of(const struct policy *p, size_t k)
{
	if (k < p->nclasses && p->classes[k].has_ladder)
		return &p->classes[k].ladder;
	return &p->ladder;
}

uint64_t
policy_sustain_ms(const struct policy *p, size_t k)
{
	if (k < p->nclasses && p->classes[k].has_sustain)
		return p->classes[k].sustain_ms;
	return p->sustain_ms;
}

double
policy_throttle_pct(const struct policy *p, size_t k)
{
	if (p->throttle_to > 0)
		return p->throttle_to;
	return policy_cpu_threshold(p, k);
}

static const char *const action_names[] = {
	[ACTION_REMOVE] = "remove",
	[ACTION_STOP] = "stop",
	[ACTION_KILL] = "kill",
	[ACTION_DRY_RUN] = "dry-run",
	[ACTION_THROTTLE] = "throttle",
	[ACTION_QUARANTINE] = "quarantine",
	[ACTION_RELEASE] = "release",
};

const char *
action_name(enum action a)
{
	if ((size_t)a >= sizeof(action_names) / sizeof(action_names[0]))
		return NULL;
	return action_names[a];
}

int
action_parse(const char *s, enum action *a)
{
	size_t i;

	/* quarantine and release are the decider's own, not a step. */
	for (i = 0; i <= ACTION_THROTTLE; i++)
		if (strcmp(s, action_names[i]) == 0) {
			*a = (enum action)i;
			return 0;
		}
	return -1;
}

int
ladder_parse(const char *s, struct policy_ladder *l, const char *key,
    char *err, size_t errlen)
{
	char item[32];
	const char *p = s, *end;
	size_t len, i;
	enum action a;

	memset(l, 0, sizeof(*l));
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		p = end;
		if (action_parse(item, &a) == -1) {
			snprintf(err, errlen,
			    "%s: \"%s\" is not one of "
			    "throttle, stop, kill, remove, dry-run",
			    key, item);
			return -1;
		}
		for (i = 0; i < l->n; i++)
			if (l->step[i] == a) {
				snprintf(err, errlen, "%s: step \"%s\" twice",
				    key, item);
				return -1;
			}
		if (l->n == POLICY_LADDER_MAX) {
			snprintf(err, errlen, "%s: at most %d steps", key,
			    POLICY_LADDER_MAX);
			return -1;
		}
		l->step[l->n++] = a;
	}
	if (l->n == 0) {
		snprintf(err, errlen, "%s: no step", key);
		return -1;
	}
	for (i = 0; i < l->n; i++)
		if (l->step[i] == ACTION_DRY_RUN && l->n > 1) {
			snprintf(err, errlen,
			    "%s: dry-run goes alone, not in "
			    "a ladder",
			    key);
			return -1;
		}
	return 0;
}

void
ladder_format(const struct policy_ladder *l, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < l->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? "," : "", action_name(l->step[i]));
}

const char *
policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_TAKEN:
		return "taken";
	case POLICY_SKIP_ACTED:
		return "already-acted";
	case POLICY_SKIP_PROTECTED:
		return "protected";
	case POLICY_SKIP_NO_CLASS:
		return "no-class";
	case POLICY_SKIP_MIN_ALIVE:
		return "min-alive";
	case POLICY_SKIP_HOLD:
		return "held";
	case POLICY_SKIP_SUSTAIN:
		return "sustain-pending";
	case POLICY_SKIP_ESCALATE:
		return "escalation-pending";
	case POLICY_SKIP_LADDER_END:
		return "ladder-end";
	case POLICY_SKIP_QUARANTINED:
		return "quarantined";
	}
	return "?";
}

/* Excess first (largest first), then input order. */
static int
decision_cmp(const void *a, const void *b)
{
	const struct policy_decision *da = a, *db = b;

	if (da->excess != db->excess)
		return da->excess > db->excess ? -1 : 1;
	if (da->cand != db->cand)
		return da->cand < db->cand ? -1 : 1;
	return 0;
}

/* One decimal, or three significant digits below 1 % so none reads 0.0. */
static void
format_pct(char *buf, size_t len, double v)
{
	if (v > 0 && v < 1)
		snprintf(buf, len, "%.3g%%", v);
	else
		snprintf(buf, len, "%.1f%%", v);
}

/* A figure and its threshold, two decimals rather than "20.0% > 20.0%". */
static void
format_pair(char *v, char *t, size_t len, double value, double threshold)
{
	format_pct(v, len, value);
	format_pct(t, len, threshold);
	if (strcmp(v, t) == 0) {
		snprintf(v, len, "%.2f%%", value);
		snprintf(t, len, "%.2f%%", threshold);
	}
}

/* "cpu 48.3% > 20.0%", the larger excess first, both when both are over. */
static void
format_over(double cpu_t, double mem_t, const struct policy_cand *c, char *buf,
    size_t len)
{
	char cpu[40], mem[40], v[16], t[16];
	int cpu_over = c->cpu_pct > cpu_t;
	int mem_over = c->mem_pct > mem_t;

	format_pair(v, t, sizeof(v), c->cpu_pct, cpu_t);
	snprintf(cpu, sizeof(cpu), "cpu %s > %s", v, t);
	format_pair(v, t, sizeof(v), c->mem_pct, mem_t);
	snprintf(mem, sizeof(mem), "mem %s > %s", v, t);
	if (cpu_over && mem_over) {
		if (c->mem_pct - mem_t > c->cpu_pct - cpu_t)
			snprintf(buf, len, "%s, %s", mem, cpu);
		else
			snprintf(buf, len, "%s, %s", cpu, mem);
	} else
		snprintf(buf, len, "%s", cpu_over ? cpu : mem);
}

void
policy_decide(const struct policy *p, const struct policy_cand *cand, size_t n,
    struct policy_result *res)
{
	uint32_t left[POLICY_CLASS_MAX];
	struct policy_decision *d;
	const struct policy_class *cls;
	const char *prot;
	double cpu_ex, mem_ex, cpu_t, mem_t;
	size_t i, k;

	res->ndec = res->taken = res->skipped = 0;
	memset(res->running, 0, sizeof(res->running));
	memset(res->alive, 0, sizeof(res->alive));

	for (i = 0; i < n; i++) {
		k = cand[i].unknown ? POLICY_CLASS_NONE :
				      policy_classify(p, cand[i].name,
					  cand[i].image, cand[i].label_class);
		res->class_of[i] = k;
		if (k == POLICY_CLASS_NONE)
			continue;
		res->running[k]++;
		if (!cand[i].acted)
			res->alive[k]++;
	}

	for (i = 0; i < n; i++) {
		cpu_t = policy_cpu_threshold(p, res->class_of[i]);
		mem_t = policy_mem_threshold(p, res->class_of[i]);
		if (!(cand[i].cpu_pct > cpu_t) && !(cand[i].mem_pct > mem_t))
			continue;
		d = &res->dec[res->ndec++];
		memset(d, 0, sizeof(*d));
		d->cand = i;
		d->class_idx = res->class_of[i];
		cpu_ex = cand[i].cpu_pct - cpu_t;
		mem_ex = cand[i].mem_pct - mem_t;
		d->excess = cpu_ex > mem_ex ? cpu_ex : mem_ex;
		format_over(cpu_t, mem_t, &cand[i], d->over, sizeof(d->over));
	}
	if (res->ndec > 1)
		qsort(res->dec, res->ndec, sizeof(res->dec[0]), decision_cmp);

	/* left[]: alive in each class after the decisions taken so far. */
	memcpy(left, res->alive, sizeof(left));
	for (i = 0; i < res->ndec; i++) {
		d = &res->dec[i];
		k = d->class_idx;
		cls = k == POLICY_CLASS_NONE ? NULL : &p->classes[k];
		if (cand[d->cand].acted) {
			d->verdict = POLICY_SKIP_ACTED;
			snprintf(d->reason, sizeof(d->reason),
			    "already being acted on");
		} else if ((prot = policy_protected_by(p, cand[d->cand].name,
				cand[d->cand].image)) != NULL) {
			d->verdict = POLICY_SKIP_PROTECTED;
			snprintf(d->reason, sizeof(d->reason),
			    "protected (matches \"%s\")", prot);
		} else if (cand[d->cand].unknown) {
			d->verdict = POLICY_SKIP_HOLD;
			snprintf(d->reason, sizeof(d->reason), "%s",
			    cand[d->cand].hold != NULL ? cand[d->cand].hold :
							 "unknown to Docker");
		} else if (cls == NULL) {
			d->verdict = POLICY_SKIP_NO_CLASS;
			snprintf(d->reason, sizeof(d->reason),
			    "no class (class none is never acted on)");
		} else if (cand[d->cand].hold != NULL) {
			d->verdict =
			    cand[d->cand].hold_verdict != POLICY_TAKEN ?
			    cand[d->cand].hold_verdict :
			    POLICY_SKIP_HOLD;
			snprintf(d->reason, sizeof(d->reason), "%s",
			    cand[d->cand].hold);
		} else if (left[k] <= cls->min_alive) {
			d->verdict = POLICY_SKIP_MIN_ALIVE;
			snprintf(d->reason, sizeof(d->reason),
			    "class %s at min_alive (%u alive, min %u)",
			    cls->name, left[k], cls->min_alive);
		} else {
			d->verdict = POLICY_TAKEN;
			left[k]--;
			copy_str(d->reason, sizeof(d->reason), d->over);
		}
		if (d->verdict == POLICY_TAKEN)
			res->taken++;
		else
			res->skipped++;
	}
}

/* class.NAME.cpu_threshold, mem_threshold, action, sustain: "" inherits. */
static int
class_overrides(const struct kw_conf *conf, struct policy_class *c, char *err,
    size_t errlen)
{
	char key[128];

	snprintf(key, sizeof(key), "class.%s.cpu_threshold", c->name);
	if ((c->has_cpu_threshold = kw_conf_str(conf, key)[0] != '\0'))
		c->cpu_threshold = kw_conf_num(conf, key);
	snprintf(key, sizeof(key), "class.%s.mem_threshold", c->name);
	if ((c->has_mem_threshold = kw_conf_str(conf, key)[0] != '\0'))
		c->mem_threshold = kw_conf_num(conf, key);
	snprintf(key, sizeof(key), "class.%s.sustain", c->name);
	if ((c->has_sustain = kw_conf_str(conf, key)[0] != '\0'))
		c->sustain_ms = kw_conf_ms(conf, key);
	snprintf(key, sizeof(key), "class.%s.action", c->name);
	if ((c->has_ladder = kw_conf_str(conf, key)[0] != '\0') &&
	    ladder_parse(kw_conf_str(conf, key), &c->ladder, key, err,
		errlen) == -1)
		return -1;
	return 0;
}

/*
 * The policy from the config. -1 with err when it does not fit
 * (too many classes or patterns) or does not make sense.
 */
int
policy_from_conf(const struct kw_conf *conf, struct policy *p, char *err,
    size_t errlen)
{
	struct policy_class *c;
	char key[128];
	size_t i, j, n;

	memset(p, 0, sizeof(*p));
	p->cpu_threshold = kw_conf_num(conf, "policy.cpu_threshold");
	p->mem_threshold = kw_conf_num(conf, "policy.mem_threshold");
	p->window_ms = kw_conf_ms(conf, "policy.window");
	p->interval_ms = kw_conf_ms(conf, "reader.interval");
	if (mem_basis_parse(kw_conf_str(conf, "policy.mem_basis"),
		&p->mem_basis) == -1) {
		snprintf(err, errlen,
		    "policy.mem_basis: \"%s\" is not one of "
		    "working_set, rss, anon",
		    kw_conf_str(conf, "policy.mem_basis"));
		return -1;
	}
	if (ladder_parse(kw_conf_str(conf, "policy.action"), &p->ladder,
		"policy.action", err, errlen) == -1)
		return -1;
	p->action = p->ladder.step[0];
	if (kw_conf_str(conf, "policy.throttle_to")[0] != '\0')
		p->throttle_to = kw_conf_num(conf, "policy.throttle_to");
	p->stop_timeout_ms = kw_conf_ms(conf, "policy.stop_timeout");
	p->escalate_after_ms = kw_conf_ms(conf, "policy.escalate_after");
	p->sustain_ms = kw_conf_ms(conf, "policy.sustain");
	p->quarantine_after =
	    (uint32_t)kw_conf_int(conf, "policy.quarantine_after");
	p->quarantine_window_ms = kw_conf_ms(conf, "policy.quarantine_window");
	n = kw_conf_list(conf, "policy.protect", p->protect,
	    POLICY_PROTECT_MAX);
	if (n > POLICY_PROTECT_MAX) {
		snprintf(err, errlen,
		    "policy.protect: %zu patterns, at most "
		    "%d",
		    n, POLICY_PROTECT_MAX);
		return -1;
	}
	p->nprotect = n;

	n = kw_conf_class_count(conf);
	if (n > POLICY_CLASS_MAX) {
		snprintf(err, errlen, "%zu [class.*] sections, at most %d", n,
		    POLICY_CLASS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		c = &p->classes[p->nclasses++];
		snprintf(c->name, sizeof(c->name), "%s",
		    kw_conf_class_name(conf, i));
		snprintf(key, sizeof(key), "class.%s.match", c->name);
		c->nmatch =
		    kw_conf_list(conf, key, c->match, POLICY_MATCH_MAX);
		if (c->nmatch > POLICY_MATCH_MAX) {
			snprintf(err, errlen, "%s: %zu patterns, at most %d",
			    key, c->nmatch, POLICY_MATCH_MAX);
			return -1;
		}
		for (j = 0; j < c->nmatch; j++)
			if (strcmp(c->match[j], "*") == 0)
				c->wildcard = 1;
		snprintf(key, sizeof(key), "class.%s.min_alive", c->name);
		c->min_alive = (uint32_t)kw_conf_int(conf, key);
		if (class_overrides(conf, c, err, errlen) == -1)
			return -1;
	}
	return policy_check(p, err, errlen);
}
