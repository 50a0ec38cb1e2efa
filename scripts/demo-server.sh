#!/usr/bin/env bash
# The tutorial's server part with two qtum-lnd daemons, driven by qtum-ln (`make demo-server`).
#   scripts/demo-server.sh                                   # on an in-process regtest harness
#   scripts/demo-server.sh --rpc http://u:p@127.0.0.1:13889  # on an external `qtumd -regtest`
# The binaries are built by scripts/build-daemon.sh, the script the Dockerfile uses.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/server-bin
bash scripts/build-daemon.sh --profile "${PROFILE:-dev}" "$out" >/dev/null
exec "$out/qtum-ln" demo-server "$@"
