/*
 * Clocks and the parsers for human durations ("500ms", "5m", "7d") and
 * sizes ("64k", "16MiB") used by the config file and the command line.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kwarden.h"

#define FRAC_DIGITS_MAX 9

uint64_t
kw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
kw_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct unit {
	const char *name;
	uint64_t mult;
};

/*
 * "<digits>[.<digits>]<unit>" with the unit looked up case-sensitively
 * (durations) or not (sizes). The result must be a whole number of the
 * base unit and fit in 64 bits. No sign, no spaces, no exponents.
 */
static int
parse_scaled(const char *s, const struct unit *units, int icase, uint64_t *out)
{
	unsigned __int128 ipart = 0, frac = 0, den = 1, v;
	const char *p = s;
	size_t nfrac = 0;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		ipart = ipart * 10 + (unsigned)(*p++ - '0');
		if (ipart > UINT64_MAX)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (++nfrac > FRAC_DIGITS_MAX)
				return -1;
			frac = frac * 10 + (unsigned)(*p++ - '0');
			den *= 10;
		}
	}
	for (; units->name != NULL; units++) {
		if (icase ? strcasecmp(p, units->name) == 0 :
			    strcmp(p, units->name) == 0)
			break;
	}
	if (units->name == NULL)
		return -1;
	if ((frac * units->mult) % den != 0)
		return -1; /* not a whole number of the base unit */
	v = ipart * units->mult + frac * units->mult / den;
	if (v > UINT64_MAX)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int
kw_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct unit units[] = {
		{ "", 1000 },
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 },
		{ "d", 24 * 60 * 60 * 1000 },
		{ NULL, 0 },
	};

	return parse_scaled(s, units, 0, ms);
}

int
kw_parse_size(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
		{ "", 1 },
		{ "b", 1 },
		{ "k", 1ULL << 10 },
		{ "kb", 1ULL << 10 },
		{ "kib", 1ULL << 10 },
		{ "m", 1ULL << 20 },
		{ "mb", 1ULL << 20 },
		{ "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 },
		{ "gb", 1ULL << 30 },
		{ "gib", 1ULL << 30 },
		{ "t", 1ULL << 40 },
		{ "tb", 1ULL << 40 },
		{ "tib", 1ULL << 40 },
		{ NULL, 0 },
	};

	return parse_scaled(s, units, 1, bytes);
}

/* n digits at *p into *v; the pointer moves past them. -1 if not there. */
static int
digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

/* ".123" after seconds: nanoseconds; the pointer moves past them. */
static int
fraction_ns(const char **p, uint64_t *ns)
{
	uint64_t scale = 100000000ULL;
	const char *s = *p;

	*ns = 0;
	if (*s != '.')
		return 0;
	s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (scale == 0)
			return -1;
		*ns += (uint64_t)(*s - '0') * scale;
		scale /= 10;
	}
	*p = s;
	return 0;
}

#define UNIX_S_MAX 253402300799ULL /* 9999-12-31T23:59:59Z */

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|(+|-)HH[:]MM] */
static int
parse_iso(const char *s, uint64_t *out_ns)
{
	struct tm tm;
	uint64_t frac = 0;
	int64_t t, off = 0;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh, om, sign;

	if (digits(&s, 4, &y) == -1 || *s++ != '-' ||
	    digits(&s, 2, &mo) == -1 || *s++ != '-' || digits(&s, 2, &d) == -1)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) == -1 || *s++ != ':' ||
		    digits(&s, 2, &mi) == -1)
			return -1;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &sec) == -1 ||
			    fraction_ns(&s, &frac) == -1)
				return -1;
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (digits(&s, 2, &oh) == -1)
			return -1;
		if (*s == ':')
			s++;
		if (digits(&s, 2, &om) == -1 || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	}
	if (*s != '\0')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm) - off;
	if (t < 0 || (uint64_t)t > UNIX_S_MAX)
		return -1;
	*out_ns = (uint64_t)t * 1000000000ULL + frac;
	return 0;
}

int
kw_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	const char *p;
	uint64_t v = 0, frac, ms;

	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "now") == 0) {
		*out_ns = now_ns;
		return 0;
	}
	if (*s == '-') {
		if (kw_parse_duration_ms(s + 1, &ms) == -1 ||
		    ms > now_ns / 1000000ULL)
			return -1;
		*out_ns = now_ns - ms * 1000000ULL;
		return 0;
	}
	for (p = s; isdigit((unsigned char)*p) && p - s < 12; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (p - s >= 5 && (*p == '\0' || *p == '.')) {
		if (fraction_ns(&p, &frac) == -1 || *p != '\0' ||
		    v > UNIX_S_MAX)
			return -1;
		*out_ns = v * 1000000000ULL + frac;
		return 0;
	}
	return parse_iso(s, out_ns);
}
