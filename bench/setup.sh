#!/usr/bin/env bash
# Installs what the evtrace benchmark's peers need on Debian (bookworm): LTTng-UST 2.13, the
# session daemon and lttng CLI, babeltrace2 to read the CTF traces back, and a C compiler for the
# tracepoint provider in bench/peers/lttng. The tracing and Perfetto peers are Rust crates and
# need nothing here (the Perfetto SDK is compiled by its -sys crate with the system's C++ compiler).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
    liblttng-ust-dev lttng-tools babeltrace2 gcc g++ libc6-dev
