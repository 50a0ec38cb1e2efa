#!/usr/bin/env bash
# Tests of scripts/build-daemon.sh that never run cargo:
#   - the dry run lists the right commands and paths for both profiles, and runs nothing;
#   - bad arguments are refused with exit status 2 and a message;
#   - a real run, in a scratch copy of the repository whose cargo and patch-deps.sh are stand-ins,
#     copies the four binaries from the profile's directory and fails when one is missing.
# Prints "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
script="$root/scripts/build-daemon.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1" >&2; }

# check NAME COMMAND...: the command must succeed.
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# A cargo that must never be called: it leaves a mark and fails.
cat >"$tmp/no-cargo" <<EOF
#!/usr/bin/env bash
touch "$tmp/cargo-was-called"
exit 99
EOF
chmod +x "$tmp/no-cargo"

# ----- dry runs -----
expect_dry() { # expect_dry PROFILE DIR ARGS...: run a dry run and compare with the expected listing
  local profile=$1 dir=$2
  shift 2
  local out rc
  out=$(cd "$tmp" && CARGO="$tmp/no-cargo" CARGO_TARGET_DIR='' CARGO_BUILD_TARGET='' \
    bash "$script" "$@" 2>&1)
  rc=$?
  local want
  want=$(cat <<EOF
+ bash scripts/patch-deps.sh
+ $tmp/no-cargo build --locked --profile $profile -p qtum-lnd -p qtum-ln -p qtum-esplora -p qtum-backup-server
+ mkdir -p $tmp/out
+ cp target/$dir/qtum-lnd $tmp/out/qtum-lnd
+ cp target/$dir/qtum-ln $tmp/out/qtum-ln
+ cp target/$dir/qtum-esplora $tmp/out/qtum-esplora
+ cp target/$dir/qtum-backupd $tmp/out/qtum-backupd
build-daemon: dry run, nothing was built or copied
EOF
)
  if [ "$rc" = 0 ] && [ "$out" = "$want" ]; then
    ok "dry run, $profile profile ($*)"
  else
    not_ok "dry run, $profile profile ($*): exit $rc, output:"
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$out") >&2
  fi
}
expect_dry release release --dry-run out
expect_dry release release --profile release --dry-run out
expect_dry dev debug --dry-run --profile dev out
expect_dry dev debug --profile=dev --dry-run "$tmp/out"
check "dry runs call no cargo and create no OUTDIR" \
  test ! -e "$tmp/cargo-was-called" -a ! -e "$tmp/out"

out=$(cd "$tmp" && CARGO="$tmp/no-cargo" CARGO_TARGET_DIR=tgt CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu \
  bash "$script" --dry-run --profile dev out 2>&1)
check "dry run honours CARGO_TARGET_DIR (made absolute) and CARGO_BUILD_TARGET" \
  grep -qx "+ cp $tmp/tgt/x86_64-unknown-linux-gnu/debug/qtum-lnd $tmp/out/qtum-lnd" <<<"$out"

# ----- argument errors -----
expect_refused() { # expect_refused WHAT-THE-MESSAGE-SAYS ARGS...
  local says=$1
  shift
  local out rc
  out=$(cd "$tmp" && CARGO="$tmp/no-cargo" bash "$script" "$@" 2>&1)
  rc=$?
  if [ "$rc" = 2 ] && grep -q -- "$says" <<<"$out" && grep -q "^usage:" <<<"$out"; then
    ok "refused: $* ($says)"
  else
    not_ok "refused: $* — wanted exit 2 and '$says', got exit $rc: $out"
  fi
}
expect_refused "OUTDIR is missing"
expect_refused "OUTDIR is missing" --dry-run
expect_refused "OUTDIR is missing" --profile dev
expect_refused "unknown profile 'release-size'" --profile release-size --dry-run out
expect_refused "unknown profile 'debug'" --profile debug out
expect_refused "--profile needs a value" out --profile
expect_refused "unknown option --release" --release out
expect_refused "one OUTDIR only" --dry-run a b
expect_refused "one OUTDIR only" --dry-run a -- b
check "refusals call no cargo" test ! -e "$tmp/cargo-was-called"

# ----- a real run in a scratch repository -----
repo="$tmp/repo"
mkdir -p "$repo/scripts"
cp "$script" "$repo/scripts/build-daemon.sh"
cat >"$repo/scripts/patch-deps.sh" <<EOF
touch "$tmp/patch-deps-ran"
EOF
# A stand-in cargo: checks its arguments, then "builds" the binaries the packages name (the
# backup server's package builds qtum-backupd).
cat >"$tmp/fake-cargo" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
[ "$1" = build ] && [ "$2" = --locked ] && [ "$3" = --profile ] || { echo "fake-cargo: unexpected $*" >&2; exit 98; }
case "$4" in release) dir=release ;; dev) dir=debug ;; *) exit 97 ;; esac
[ -f scripts/patch-deps.sh ] || { echo "fake-cargo: not run from the repository root" >&2; exit 96; }
out="${CARGO_TARGET_DIR:-target}/$dir"
mkdir -p "$out"
shift 4
while [ $# -gt 0 ]; do
  [ "$1" = -p ] || exit 95
  bin=$2
  [ "$bin" = qtum-backup-server ] && bin=qtum-backupd
  [ "${FAKE_CARGO_SKIP:-}" = "$bin" ] || echo "binary $bin ($dir)" >"$out/$bin"
  shift 2
done
EOF
chmod +x "$tmp/fake-cargo"

out=$(cd "$tmp" && CARGO="$tmp/fake-cargo" CARGO_TARGET_DIR='' bash "$repo/scripts/build-daemon.sh" \
  --profile dev bin-dev 2>&1)
rc=$?
check "real run (dev) exits 0" test "$rc" = 0
check "real run ran patch-deps.sh first" test -e "$tmp/patch-deps-ran"
for b in qtum-lnd qtum-ln qtum-esplora qtum-backupd; do
  check "real run (dev) copied $b from target/debug" \
    grep -qx "binary $b (debug)" "$tmp/bin-dev/$b"
  check "real run (dev) reports $b with its sha256" \
    grep -Eq "^  $b +[0-9]+ bytes  sha256 [0-9a-f]{64}$" <<<"$out"
done

out=$(cd "$tmp" && CARGO="$tmp/fake-cargo" CARGO_TARGET_DIR=elsewhere \
  bash "$repo/scripts/build-daemon.sh" bin-rel 2>&1)
rc=$?
check "real run (release, CARGO_TARGET_DIR relative to the caller) exits 0" test "$rc" = 0
check "real run (release) built into the caller's CARGO_TARGET_DIR" \
  test -f "$tmp/elsewhere/release/qtum-esplora"
check "real run (release) copied the release binaries" \
  grep -qx "binary qtum-lnd (release)" "$tmp/bin-rel/qtum-lnd"

out=$(cd "$tmp" && CARGO="$tmp/fake-cargo" CARGO_TARGET_DIR='' FAKE_CARGO_SKIP=qtum-ln \
  bash "$repo/scripts/build-daemon.sh" --profile release bin-missing 2>&1)
rc=$?
check "a binary missing after the build fails with exit 1" test "$rc" = 1
check "... and names it" grep -q "target/release/qtum-ln is missing" <<<"$out"

out=$(cd "$tmp" && CARGO=false CARGO_TARGET_DIR='' bash "$repo/scripts/build-daemon.sh" bin-fail 2>&1)
rc=$?
check "a failing cargo fails the script" test "$rc" != 0
check "... and copies nothing" test ! -e "$tmp/bin-fail"

check "the script passes bash -n" bash -n "$script"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
