/*
 * What every libFuzzer target of kwarden shares: the entry points libFuzzer
 * calls, and the chunking of one input into the pieces a socket would
 * deliver, derived from the input itself so a crash replays exactly.
 */
#ifndef KW_FUZZ_H
#define KW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise of the code under test: a crash libFuzzer keeps. */
#define FUZZ_CHECK(cond)                                             \
	do {                                                         \
		if (!(cond)) {                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", \
			    __FILE__, __LINE__, #cond);              \
			abort();                                     \
		}                                                    \
	} while (0)

/*
 * The first two bytes of an input choose how the rest arrives: max is the
 * longest piece (0: all at once, 1: a byte at a time), seed drives the
 * lengths in between.
 */
struct fuzz_chunks {
	uint8_t max;
	uint32_t state;
};

static inline void
fuzz_chunks_init(struct fuzz_chunks *ch, uint8_t max, uint8_t seed)
{
	ch->max = max;
	ch->state = 0x9e3779b9u ^ seed;
}

/* The length of the next piece, at most left. */
static inline size_t
fuzz_chunks_next(struct fuzz_chunks *ch, size_t left)
{
	size_t n;

	if (ch->max == 0)
		return left;
	ch->state ^= ch->state << 13; /* xorshift32 */
	ch->state ^= ch->state >> 17;
	ch->state ^= ch->state << 5;
	n = 1 + ch->state % ch->max;
	return n < left ? n : left;
}

#endif /* KW_FUZZ_H */
