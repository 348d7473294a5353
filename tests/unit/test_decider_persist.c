/*
 * persist.c: the strikes and the actions whose call is out, written to
 * their files beside the database and read back by the next decider; an
 * unchanged table is not written again, a file that does not parse is
 * kept aside and the table starts empty, a write that fails is counted.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../decider/decider.h"

#define HOUR 3600

static const char id[] = "0123456789abcdef0123456789abcdef"
			 "0123456789abcdef0123456789abcdef";

struct fixture {
	char dir[64];
	struct decider *a, *b; /* the decider that saves, the next one */
};

static struct decider *
decider_at(const char *dir)
{
	struct decider *dz;

	assert_non_null(dz = calloc(1, sizeof(*dz)));
	acts_init(&dz->eng.acts);
	strikes_init(&dz->eng.strikes);
	snprintf(dz->strikes_path, sizeof(dz->strikes_path),
	    "%s/decider-strikes.json", dir);
	snprintf(dz->acts_path, sizeof(dz->acts_path), "%s/decider-acts.json",
	    dir);
	return dz;
}

static void
decider_gone(struct decider *dz)
{
	acts_free(&dz->eng.acts);
	strikes_free(&dz->eng.strikes);
	free(dz->acts_saved);
	free(dz);
}

static int
setup(void **state)
{
	struct fixture *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-persist-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->a = decider_at(f->dir);
	f->b = decider_at(f->dir);
	*state = f;
	return 0;
}

static void
rm(const char *dir, const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	(void)unlink(p);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	decider_gone(f->a);
	decider_gone(f->b);
	rm(f->dir, "decider-strikes.json");
	rm(f->dir, "decider-acts.json");
	rm(f->dir, "decider-strikes.json.bad");
	rm(f->dir, "decider-acts.json.bad");
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static int
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void
put(const char *path, const char *text)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void
persist__acts_file__read_back_by_the_next_decider(void **state)
{
	struct fixture *f = *state;
	struct act_entry *e;
	struct stat sb;

	assert_non_null(e = acts_get(&f->a->eng.acts, id));
	e->state = ACT_IN_FLIGHT;
	e->action = ACTION_STOP;
	snprintf(e->name, sizeof(e->name), "web_1");
	decider_save_acts(f->a);
	assert_int_equal(f->a->acts_saves, 1);
	assert_int_equal(stat(f->a->acts_path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	/* Unchanged: not written again. */
	decider_save_acts(f->a);
	assert_int_equal(f->a->acts_saves, 1);

	decider_load_acts(f->b, 20000);
	assert_int_equal(f->b->acts_loaded, 1);
	assert_non_null(e = acts_find(&f->b->eng.acts, id));
	assert_int_equal(e->state, ACT_UNKNOWN);
	assert_int_equal(e->action, ACTION_STOP);
	assert_string_equal(e->name, "web_1");
}

static void
persist__strikes_file__read_back_when_dirty_only(void **state)
{
	struct fixture *f = *state;
	struct strike_entry *s;

	/* Nothing changed: no file. */
	assert_int_equal(decider_save_strikes(f->a), 0);
	assert_int_equal(f->a->strikes_saves, 0);
	assert_false(exists(f->a->strikes_path));

	assert_int_equal(strikes_add(&f->a->eng.strikes, "compose:p/web",
			     "p-web-1", 100, HOUR, 2),
	    0);
	assert_int_equal(strikes_add(&f->a->eng.strikes, "compose:p/web",
			     "p-web-2", 200, HOUR, 2),
	    1);
	assert_int_equal(strikes_add(&f->a->eng.strikes, "name:db", "db", 300,
			     HOUR, 2),
	    0);
	assert_true(f->a->eng.strikes.dirty);
	assert_int_equal(decider_save_strikes(f->a), 0);
	assert_int_equal(f->a->strikes_saves, 1);
	assert_false(f->a->eng.strikes.dirty);
	assert_int_equal(decider_save_strikes(f->a), 0);
	assert_int_equal(f->a->strikes_saves, 1);

	decider_load_strikes(f->b);
	assert_int_equal(f->b->eng.strikes.n, 2);
	assert_non_null(s = strikes_find(&f->b->eng.strikes, "compose:p/web"));
	assert_true(s->quarantined);
	assert_int_equal(s->nstrikes, 2);
	assert_non_null(s = strikes_find(&f->b->eng.strikes, "name:db"));
	assert_int_equal(s->nstrikes, 1);
}

static void
persist__bad_files__kept_aside_tables_empty(void **state)
{
	struct fixture *f = *state;
	char bad[4200];

	put(f->b->strikes_path, "{\"version\":2,\"identities\":[]}");
	put(f->b->acts_path, "not json");
	decider_load_strikes(f->b);
	decider_load_acts(f->b, 20000);
	assert_int_equal(f->b->eng.strikes.n, 0);
	assert_int_equal(f->b->eng.acts.n, 0);
	assert_int_equal(f->b->acts_loaded, 0);
	assert_false(exists(f->b->strikes_path));
	assert_false(exists(f->b->acts_path));
	snprintf(bad, sizeof(bad), "%s.bad", f->b->strikes_path);
	assert_true(exists(bad));
	snprintf(bad, sizeof(bad), "%s.bad", f->b->acts_path);
	assert_true(exists(bad));
}

static void
persist__no_files__nothing_loaded(void **state)
{
	struct fixture *f = *state;

	decider_load_strikes(f->b);
	decider_load_acts(f->b, 20000);
	assert_int_equal(f->b->eng.strikes.n, 0);
	assert_int_equal(f->b->eng.acts.n, 0);
	assert_int_equal(f->b->acts_loaded, 0);
}

static void
persist__write_fails__counted_still_dirty(void **state)
{
	struct fixture *f = *state;
	struct act_entry *e;

	snprintf(f->a->strikes_path, sizeof(f->a->strikes_path),
	    "%s/missing/decider-strikes.json", f->dir);
	snprintf(f->a->acts_path, sizeof(f->a->acts_path),
	    "%s/missing/decider-acts.json", f->dir);
	assert_int_equal(strikes_add(&f->a->eng.strikes, "name:db", "db", 300,
			     HOUR, 2),
	    0);
	assert_int_equal(decider_save_strikes(f->a), -1);
	assert_int_equal(f->a->strikes_save_errors, 1);
	assert_true(f->a->eng.strikes.dirty);
	assert_non_null(e = acts_get(&f->a->eng.acts, id));
	e->state = ACT_IN_FLIGHT;
	e->action = ACTION_REMOVE;
	decider_save_acts(f->a);
	assert_int_equal(f->a->acts_save_errors, 1);
	assert_int_equal(f->a->acts_saves, 0);
	assert_null(f->a->acts_saved);
}

static void
persist__no_path__nothing_written(void **state)
{
	struct fixture *f = *state;

	f->a->strikes_path[0] = '\0';
	f->a->acts_path[0] = '\0';
	assert_int_equal(strikes_add(&f->a->eng.strikes, "name:db", "db", 300,
			     HOUR, 2),
	    0);
	assert_int_equal(decider_save_strikes(f->a), 0);
	decider_save_acts(f->a);
	assert_int_equal(f->a->strikes_saves + f->a->acts_saves, 0);
	assert_int_equal(f->a->strikes_save_errors + f->a->acts_save_errors,
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    persist__acts_file__read_back_by_the_next_decider, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    persist__strikes_file__read_back_when_dirty_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    persist__bad_files__kept_aside_tables_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    persist__no_files__nothing_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    persist__write_fails__counted_still_dirty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    persist__no_path__nothing_written, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
