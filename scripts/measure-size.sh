#!/usr/bin/env bash
# Measures the phone library: the release-size profile, --features mobile and the flags of
# scripts/mobile-flags.sh, as scripts/build-android.sh ships it, built for the Linux targets of
# this machine (no NDK here): x86_64 (the Android emulator's and Chromebooks' ABI) and aarch64
# (the ABI of phones and of iOS devices). The same LLVM back end and lld produce the Android
# libraries; README, "Library size", says what differs.
#
#   scripts/measure-size.sh [--targets "x86_64 aarch64"] [--compare] [--by-crate]
#
# --compare   also builds each target without the flags of mobile-flags.sh (the profile, the
#             feature, 16 KB pages and RELR only) and prints both
# --by-crate  where the code goes: function sizes from the unstripped library, summed by crate
#
# Needs for aarch64: Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (the C compiler,
# linker driver and strip) and `rustup target add aarch64-unknown-linux-gnu`. The stripped
# libraries are left in target/size/. `make size` runs this script.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS="x86_64 aarch64"
COMPARE=0
BY_CRATE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) TARGETS="${2:?--targets needs a value}"; shift 2 ;;
    --compare) COMPARE=1; shift ;;
    --by-crate) BY_CRATE=1; shift ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "measure-size: unknown option $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/mobile-flags.sh
. scripts/mobile-flags.sh
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT="$TARGET_DIR/size"
# rustc's own lld, behind the C compiler driver (-fuse-ld=lld finds gcc-ld/ld.lld through -B).
GCC_LD="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld"
BASE_FLAGS="-C link-arg=-B$GCC_LD -C link-arg=-fuse-ld=lld $MOBILE_PAGE_FLAGS -C link-arg=-Wl,-z,pack-relative-relocs"

triple() {
  case "$1" in
    x86_64) echo x86_64-unknown-linux-gnu ;;
    aarch64) echo aarch64-unknown-linux-gnu ;;
    *) echo "measure-size: unknown target $1 (x86_64 or aarch64)" >&2; exit 2 ;;
  esac
}
tool() { # tool <arch> <binutils name>
  if [ "$1" = "$(uname -m)" ]; then echo "$2"; else echo "$1-linux-gnu-$2"; fi
}
packages() { # packages <arch>: the Debian packages that provide tool's names
  if [ "$1" = "$(uname -m)" ]; then echo "gcc binutils"; else echo "gcc-$1-linux-gnu libc6-dev-arm64-cross"; fi
}

missing=0
for arch in $TARGETS; do
  t="$(triple "$arch")"
  if ! rustup target list --installed 2>/dev/null | grep -qx "$t"; then
    echo "measure-size: missing rust target $t: rustup target add $t" >&2
    missing=1
  fi
  for b in gcc strip size nm; do
    if ! command -v "$(tool "$arch" "$b")" >/dev/null 2>&1; then
      echo "measure-size: missing $(tool "$arch" "$b"): apt-get install $(packages "$arch")" \
        "(or your system's equivalent)" >&2
      missing=1
      break
    fi
  done
done
[ "$missing" = 0 ] || exit 1

bash scripts/patch-deps.sh
mkdir -p "$OUT"

# build <arch> <label> <with mobile flags: 1|0>: builds, strips into $OUT, prints one row.
build() {
  local arch="$1" label="$2" mobile="$3"
  local t T t_ flags cflags lib out
  t="$(triple "$arch")"
  T="$(echo "$t" | tr 'a-z-' 'A-Z_')"
  t_="$(echo "$t" | tr '-' '_')"
  flags="$BASE_FLAGS"
  cflags=""
  if [ "$mobile" = 1 ]; then
    flags="$flags $(mobile_rustflags "$PWD")"
    cflags="$MOBILE_CFLAGS"
  fi
  env "CC_$t_=$(tool "$arch" gcc)" "CARGO_TARGET_${T}_LINKER=$(tool "$arch" gcc)" \
    "CARGO_TARGET_${T}_RUSTFLAGS=$flags" "CFLAGS_$t_=$cflags" \
    CARGO_PROFILE_RELEASE_SIZE_STRIP=false \
    "$CARGO" build -q -p qtum-lightning --lib --profile release-size --features mobile --target "$t" \
    2> "$OUT/build-$arch-$label.log" || {
    tail -n 30 "$OUT/build-$arch-$label.log" >&2
    echo "measure-size: the $arch $label build failed ($OUT/build-$arch-$label.log)" >&2
    exit 1
  }
  lib="$TARGET_DIR/$t/release-size/libqtum_lightning.so"
  out="$OUT/$arch-$label.so"
  "$(tool "$arch" strip)" --strip-all -o "$out" "$lib"
  # The sections of the stripped library: code, unwind tables, read-only data, the rest.
  "$(tool "$arch" size)" -A "$out" | awk -v name="$arch $label" -v total="$(stat -c %s "$out")" '
    $1 == ".text" { text += $2 }
    $1 == ".eh_frame" || $1 == ".eh_frame_hdr" || $1 == ".gcc_except_table" { unwind += $2 }
    $1 == ".rodata" { ro += $2 }
    END {
      printf "| %-22s | %12d | %10d | %10d | %10d | %10d |\n", name, total, text, unwind, ro, total - text - unwind - ro
    }'
  if [ "$BY_CRATE" = 1 ]; then
    echo "$arch $label: function bytes by crate (before identical code folding)" >> "$OUT/by-crate.txt"
    "$(tool "$arch" nm)" --size-sort -C -S "$lib" | python3 -c '
import collections, re, sys
sizes = collections.Counter()
for line in sys.stdin:
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4 or parts[2] not in "tTwW":
        continue
    name = parts[3].lstrip("<&*( ").replace("dyn ", "").replace("mut ", "")
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", name)
    if name.startswith("OUTLINED_FUNCTION_"):
        crate = "(outlined by LLVM)"
    else:
        crate = m.group(0) if m and "::" in name else "(C and assembly)"
    sizes[crate] += int(parts[1], 16)
for crate, size in sizes.most_common(15):
    print(f"    {size:10d}  {crate}")
' >> "$OUT/by-crate.txt"
  fi
}

rm -f "$OUT/by-crate.txt"
echo "| build                  | stripped     | code       | unwind     | rodata     | other      |"
echo "|------------------------|--------------|------------|------------|------------|------------|"
for arch in $TARGETS; do
  [ "$COMPARE" = 1 ] && build "$arch" "profile-only" 0
  build "$arch" "shipped" 1
done
if [ "$BY_CRATE" = 1 ]; then cat "$OUT/by-crate.txt"; fi
echo "stripped libraries: $OUT/"
