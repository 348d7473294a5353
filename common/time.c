/*
 * Clocks and the parsers for human durations ("500ms", "5m", "7d") and
 * sizes ("64k", "16MiB") used by the config file and the command line.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kwarden.h"

#define FRAC_DIGITS_MAX	9

uint64_t
kw_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
kw_mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct unit {
	const char	*name;
	uint64_t	 mult;
};

/*
 * "<digits>[.<digits>]<unit>" with the unit looked up case-sensitively
 * (durations) or not (sizes). The result must be a whole number of the
 * base unit and fit in 64 bits. No sign, no spaces, no exponents.
 */
static int
parse_scaled(const char *s, const struct unit *units, int icase,
    uint64_t *out)
{
	unsigned __int128	 ipart = 0, frac = 0, den = 1, v;
	const char		*p = s;
	size_t			 nfrac = 0;

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
		return -1;	/* not a whole number of the base unit */
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
		{ "", 1 }, { "b", 1 },
		{ "k", 1ULL << 10 }, { "kb", 1ULL << 10 },
		{ "kib", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "mb", 1ULL << 20 },
		{ "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "gb", 1ULL << 30 },
		{ "gib", 1ULL << 30 },
		{ "t", 1ULL << 40 }, { "tb", 1ULL << 40 },
		{ "tib", 1ULL << 40 },
		{ NULL, 0 },
	};

	return parse_scaled(s, units, 1, bytes);
}
