/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The arithmetic of the records, in 64 bits whatever the width of long.
 * Kept apart so that tests/vm/kwtest.c builds the very same code in user
 * space: the includer provides u32, u64, div64_u64() and div_u64_rem()
 * (<linux/math64.h> in the kernel).
 */
#ifndef KWARDEN_KMODS_KWMATH_H
#define KWARDEN_KMODS_KWMATH_H

/**
 * kw_units_kb() - @count units of @unit bytes, in kB
 * @count: e.g. pages from si_meminfo()
 * @unit: bytes per unit (mem_unit)
 *
 * totalram * mem_unit in an unsigned long overflows at 4 GiB on a 32-bit
 * kernel (PAE); here the product is 64 bits.
 *
 * Return: kB, rounded down.
 */
static inline u64 kw_units_kb(u64 count, u32 unit)
{
	return (count * unit) >> 10;
}

/**
 * kw_mem_pct() - @rss_kb as a percentage of @total_kb, two decimals
 * @rss_kb: resident set, kB
 * @total_kb: MemTotal, kB; 0 gives 0.00
 * @whole: receives the integer part
 * @hundredths: receives the two decimals, 0..99
 *
 * rss_kb * 10000 overflows 32 bits from 420 MiB of RSS: the product is
 * 64 bits (good up to 1.8e15 kB) and both divisions are 64-bit ones that
 * 32-bit kernels can do (no compiler helper needed).
 */
static inline void kw_mem_pct(u64 rss_kb, u64 total_kb, u64 *whole,
			      u32 *hundredths)
{
	u64 x100 = total_kb ? div64_u64(rss_kb * 10000, total_kb) : 0;

	*whole = div_u64_rem(x100, 100, hundredths);
}

#endif /* KWARDEN_KMODS_KWMATH_H */
