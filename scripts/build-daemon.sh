#!/usr/bin/env bash
# Build the server binaries — qtum-lnd (the daemon), qtum-ln (its CLI), qtum-esplora (the
# Esplora-style REST server over qtumd) and qtum-backupd (the backup server for phones) — and
# copy them into OUTDIR. The Dockerfile and CI both
# call this script, so the image and the tests run binaries built the same way.
#
#   scripts/build-daemon.sh [--profile release|dev] [--dry-run] OUTDIR
#
#   --profile   cargo profile (default: release). cargo writes the dev profile to
#               <target>/debug and the release profile to <target>/release.
#   --dry-run   print the commands without running any of them.
#
# Environment: CARGO (default: cargo); CARGO_TARGET_DIR and CARGO_BUILD_TARGET are honoured
# when looking for the built binaries, as cargo honours them when writing them.
#
# Exit status: 0 on success, 2 for bad usage, 1 when a step fails.
set -euo pipefail

BINARIES=(qtum-lnd qtum-ln qtum-esplora qtum-backupd)

# The package that builds a binary (most are named alike).
package_of() {
  case "$1" in
    qtum-backupd) echo qtum-backup-server ;;
    *) echo "$1" ;;
  esac
}

usage() {
  echo "usage: scripts/build-daemon.sh [--profile release|dev] [--dry-run] OUTDIR" >&2
}
fail_usage() {
  echo "build-daemon: $*" >&2
  usage
  exit 2
}

profile=release
dry=0
outdir=
while [ $# -gt 0 ]; do
  case "$1" in
    --profile)
      [ $# -ge 2 ] || fail_usage "--profile needs a value (release or dev)"
      profile=$2
      shift 2
      ;;
    --profile=*) profile=${1#--profile=}; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) fail_usage "unknown option $1" ;;
    *)
      [ -z "$outdir" ] || fail_usage "one OUTDIR only (got '$outdir' and '$1')"
      outdir=$1
      shift
      ;;
  esac
done
if [ $# -gt 0 ]; then
  if [ -n "$outdir" ] || [ $# -gt 1 ]; then
    fail_usage "one OUTDIR only"
  fi
  outdir=$1
fi
[ -n "$outdir" ] || fail_usage "OUTDIR is missing"

case "$profile" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) fail_usage "unknown profile '$profile' (release or dev)" ;;
esac

# Paths given relative to where the script was started are made absolute before moving to the
# repository root (cargo reads CARGO_TARGET_DIR relative to its working directory).
absolute() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}
outdir=$(absolute "$outdir")
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  target_dir=$(absolute "$CARGO_TARGET_DIR")
  export CARGO_TARGET_DIR="$target_dir"
else
  target_dir=target
fi
bin_dir="$target_dir${CARGO_BUILD_TARGET:+/$CARGO_BUILD_TARGET}/$profile_dir"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CARGO=${CARGO:-cargo}

run() {
  echo "+ $*"
  if [ "$dry" = 0 ]; then
    "$@"
  fi
}

packages=()
for b in "${BINARIES[@]}"; do
  packages+=(-p "$(package_of "$b")")
done

run bash scripts/patch-deps.sh
run "$CARGO" build --locked --profile "$profile" "${packages[@]}"
run mkdir -p "$outdir"
for b in "${BINARIES[@]}"; do
  if [ "$dry" = 0 ] && [ ! -f "$bin_dir/$b" ]; then
    echo "build-daemon: $bin_dir/$b is missing after the build (is $b a [[bin]] of its crate?)" >&2
    exit 1
  fi
  run cp "$bin_dir/$b" "$outdir/$b"
done

if [ "$dry" = 1 ]; then
  echo "build-daemon: dry run, nothing was built or copied"
  exit 0
fi
echo "build-daemon: copied ($profile profile) to $outdir:"
for b in "${BINARIES[@]}"; do
  size=$(wc -c <"$outdir/$b")
  sum=$(sha256sum "$outdir/$b" | cut -d' ' -f1)
  printf '  %-13s %10s bytes  sha256 %s\n' "$b" "${size// /}" "$sum"
done
