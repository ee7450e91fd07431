/* Instantiates the probes and the tracepoint definitions of tp.h (exactly once per library). */
#define TRACEPOINT_CREATE_PROBES
#define TRACEPOINT_DEFINE
#include "tp.h"
