#!/usr/bin/env bash
# The README's main command: the Qtum Eclair tutorial's journey with two SDK nodes.
#   scripts/demo.sh                                   # on an in-process Qtum regtest harness
#   scripts/demo.sh --rpc http://u:p@127.0.0.1:13889  # on an external `qtumd -regtest`
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/patch-deps.sh
cargo build -q -p qtum-ln
exec target/debug/qtum-ln demo "$@"
