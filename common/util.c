/*
 * Small helpers every part of kwarden needs the same way: a capped
 * doubling backoff, the container id check, an error buffer, and the one
 * UTF-8 decoder the JSON, Prometheus and log writers share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kwarden.h"

uint64_t
kw_backoff_next(uint64_t ms, uint64_t max_ms)
{
	if (ms >= max_ms / 2)
		return max_ms;
	return ms == 0 ? 1 : ms * 2;
}

int
kw_is_container_id(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != KW_CONTAINER_ID_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
kw_cid_ok(const char *s)
{
	return s != NULL && kw_is_container_id(s, strlen(s));
}

void
kw_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * RFC 3629: no overlong forms (C0, C1, E0 80-9F, F0 80-8F), no surrogates
 * (ED A0-BF), nothing past U+10FFFF (F4 90-BF, F5-FF).
 */
size_t
kw_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

size_t
kw_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}
