/*
 * The LTTng-UST side of the evtrace benchmark, built by evtrace-bench into a shared library that
 * its LTTng child process dlopen()s. Timing, threads and counting stay in Rust so that every
 * system is measured by the same harness; only the event loop is here, so a call crosses the
 * FFI boundary once per burst, not once per event.
 */
#include <stdint.h>
#include "tp.h"

static const char TAG[16] = {'0', '1', '2', '3', '4', '5', '6', '7',
                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

/* Whether a session has enabled the event in this process (the tracepoint's state word). */
int evtrace_bench_lttng_enabled(void)
{
    return tracepoint_enabled(evtrace_bench, sample);
}

/*
 * Writes `n` events numbered from `start`. tracepoint() tests the state word itself, so with no
 * session this loop measures the disabled path and with one the enabled path, as the evtrace
 * loop does with `if event.enabled() { event.write(..) }`.
 */
void evtrace_bench_lttng_write(uint64_t start, uint64_t n, uint32_t thread)
{
    for (uint64_t i = start; i < start + n; i++)
        tracepoint(evtrace_bench, sample, i, thread, TAG);
}
