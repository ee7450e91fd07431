//! evtrace
