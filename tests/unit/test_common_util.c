/*
 * common/util.c: the backoff sequence, the container id check, the error
 * buffer and the UTF-8 decoder (a table of RFC 3629's edge cases), which
 * the JSON, Prometheus and tap writers share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kwarden.h"

static void
backoff__doubles__to_the_cap(void **state)
{
	uint64_t ms = 100;
	uint64_t want[] = { 200, 400, 800, 1000, 1000 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ms = kw_backoff_next(ms, 1000);
		assert_int_equal(ms, want[i]);
	}
	assert_int_equal(kw_backoff_next(0, 1000), 1);
	assert_int_equal(kw_backoff_next(0, 0), 0);
	/* No wrap near the top of the type. */
	assert_int_equal(kw_backoff_next(UINT64_MAX / 2 + 1, UINT64_MAX),
	    UINT64_MAX);
}

static void
container_id__64_lowercase_hex__only(void **state)
{
	char id[KW_CONTAINER_ID_LEN + 2];

	(void)state;
	memset(id, 'a', KW_CONTAINER_ID_LEN);
	id[KW_CONTAINER_ID_LEN] = '\0';
	id[5] = '7';
	assert_true(kw_is_container_id(id, KW_CONTAINER_ID_LEN));
	assert_true(kw_cid_ok(id));
	assert_false(kw_is_container_id(id, KW_CONTAINER_ID_LEN - 1));
	assert_false(kw_cid_ok(NULL));
	assert_false(kw_cid_ok(""));
	id[9] = 'A';
	assert_false(kw_cid_ok(id));
	id[9] = 'g';
	assert_false(kw_cid_ok(id));
	id[9] = 'a';
	id[KW_CONTAINER_ID_LEN] = 'a';
	id[KW_CONTAINER_ID_LEN + 1] = '\0';
	assert_false(kw_cid_ok(id));
}

static void
seterr__null_and_truncation(void **state)
{
	char err[8];

	(void)state;
	kw_seterr(NULL, 0, "%s", "ignored");
	kw_seterr(err, 0, "%s", "ignored");
	kw_seterr(err, sizeof(err), "%d: %s", 42, "too long");
	assert_string_equal(err, "42: too");
}

struct utf8_case {
	const char *bytes;
	size_t n;
	size_t want;
};

static void
utf8_len__rfc3629_table(void **state)
{
	static const struct utf8_case cases[] = {
		{ "a", 1, 1 },
		{ "\x7f", 1, 1 },
		{ "\xc3\xa9", 2, 2 },	      /* é */
		{ "\xc3", 1, 0 },	      /* cut */
		{ "\xc0\x80", 2, 0 },	      /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },	      /* overlong */
		{ "\xe0\x80\x80", 3, 0 },     /* overlong */
		{ "\xe0\xa0\x80", 3, 3 },     /* U+0800 */
		{ "\xed\x9f\xbf", 3, 3 },     /* U+D7FF */
		{ "\xed\xa0\x80", 3, 0 },     /* surrogate */
		{ "\xef\xbf\xbd", 3, 3 },     /* U+FFFD */
		{ "\xf0\x8f\xbf\xbf", 4, 0 }, /* overlong */
		{ "\xf0\x90\x80\x80", 4, 4 }, /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, 4 }, /* U+10FFFF */
		{ "\xf4\x90\x80\x80", 4, 0 }, /* past U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\x80", 1, 0 },	  /* continuation */
		{ "\xe2\x82", 2, 0 },	  /* cut */
		{ "\xe2\x28\xa1", 3, 0 }, /* bad continuation */
		{ "", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(kw_utf8_len((const unsigned char *)cases[i]
						 .bytes,
				     cases[i].n),
		    cases[i].want);
	}
}

static void
utf8_cut__never_splits(void **state)
{
	const char *s = "ab\xc3\xa9"
			"c"; /* a b é c */

	(void)state;
	assert_int_equal(kw_utf8_cut(s, 5, 10), 5);
	assert_int_equal(kw_utf8_cut(s, 5, 4), 4);
	assert_int_equal(kw_utf8_cut(s, 5, 3), 2);
	assert_int_equal(kw_utf8_cut(s, 5, 2), 2);
	assert_int_equal(kw_utf8_cut(s, 5, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff__doubles__to_the_cap),
		cmocka_unit_test(container_id__64_lowercase_hex__only),
		cmocka_unit_test(seterr__null_and_truncation),
		cmocka_unit_test(utf8_len__rfc3629_table),
		cmocka_unit_test(utf8_cut__never_splits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
