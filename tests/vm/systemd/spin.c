/*
 * spin.c - the busy container of tests/vm/systemd: built static on the
 * host, copied into a FROM scratch image inside the VM, it burns one CPU
 * until it is killed.
 */
int
main(void)
{
	volatile unsigned long n = 0;

	for (;;)
		n++;
	return 0;
}
