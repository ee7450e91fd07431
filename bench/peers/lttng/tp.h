/*
 * LTTng-UST tracepoint provider for the evtrace benchmark: the same workload event as evtrace's
 * (a u64 counter, a u32 thread number and a 16-byte string).
 *
 * The 2.13 compatibility names (TRACEPOINT_EVENT, ctf_*) are used because they build unchanged
 * against every 2.x liblttng-ust-dev, including Debian bookworm's 2.13.5.
 */
#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER evtrace_bench

#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./tp.h"

#if !defined(EVTRACE_BENCH_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define EVTRACE_BENCH_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

TRACEPOINT_EVENT(
    evtrace_bench,
    sample,
    TP_ARGS(uint64_t, counter, uint32_t, thread, const char *, tag),
    TP_FIELDS(
        ctf_integer(uint64_t, counter, counter)
        ctf_integer(uint32_t, thread, thread)
        /* A fixed 16-byte text array: the string is always 16 bytes, as in the evtrace event. */
        ctf_array_text(char, tag, tag, 16)
    )
)

#endif /* EVTRACE_BENCH_TP_H */

#include <lttng/tracepoint-event.h>
