#!/usr/bin/env bash
# Tests the logic of scripts/build-android.sh without an NDK: a fake NDK (clang, llvm-ar,
# llvm-strip), a fake cargo whose library carries "UniFFI metadata" only when the profile's
# strip is turned off, and a fake uniffi-bindgen that, like the real one, writes nothing for a
# library without metadata. Checks the order (unstripped build -> bindings from the unstripped
# library -> stripped copies in jniLibs) and that a library without metadata fails the build
# instead of shipping an AAR without bindings.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

setup() { # setup <name> <honour_strip_off: 1|0>
  local repo="$tmp/$1"
  mkdir -p "$repo/scripts" "$repo/bin" "$repo/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin"
  cp "$here/build-android.sh" "$here/mobile-flags.sh" "$repo/scripts/"
  printf '#!/bin/sh\necho patch-deps >> "%s/log"\n' "$repo" > "$repo/scripts/patch-deps.sh"
  local tc="$repo/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin"
  for c in clang aarch64-linux-android24-clang armv7a-linux-androideabi24-clang x86_64-linux-android24-clang llvm-ar; do
    printf '#!/bin/sh\nexit 0\n' > "$tc/$c"
  done
  # llvm-strip --strip-all -o OUT IN: drops the metadata line.
  cat > "$tc/llvm-strip" <<STRIP
#!/bin/sh
echo "strip \$*" >> "$repo/log"
out="\$3"; in="\$4"
grep -v UNIFFI_META "\$in" > "\$out"; echo stripped >> "\$out"
STRIP
  cat > "$repo/bin/rustup" <<'RUSTUP'
#!/bin/sh
printf 'aarch64-linux-android\narmv7-linux-androideabi\nx86_64-linux-android\nx86_64-unknown-linux-gnu\n'
RUSTUP
  cat > "$repo/bin/cargo" <<CARGO
#!/bin/bash
echo "cargo \$* strip_off=\${CARGO_PROFILE_RELEASE_SIZE_STRIP:-unset}" >> "$repo/log"
env | grep -E '^(CARGO_TARGET_[A-Z0-9_]+_RUSTFLAGS|CFLAGS_[a-z0-9_]+)=' | sed 's/^/env /' >> "$repo/log"
target=""; profile=""; pkg=""
while [ \$# -gt 0 ]; do
  case "\$1" in --target) target=\$2; shift ;; --profile) profile=\$2; shift ;; -p) pkg=\$2; shift ;; esac
  shift
done
if [ "\$pkg" = uniffi-bindgen ]; then
  mkdir -p "\$CARGO_TARGET_DIR/debug"
  cat > "\$CARGO_TARGET_DIR/debug/uniffi-bindgen" <<'BINDGEN'
#!/bin/bash
echo "bindgen \$*" >> "\$LOG"
lib=""; out=""
while [ \$# -gt 0 ]; do
  case "\$1" in --library) lib=\$2; shift ;; --out-dir) out=\$2; shift ;; esac
  shift
done
if grep -q UNIFFI_META "\$lib"; then
  mkdir -p "\$out/org/qtum/lightning"; echo "class Node" > "\$out/org/qtum/lightning/qtum_lightning.kt"
fi
BINDGEN
  chmod +x "\$CARGO_TARGET_DIR/debug/uniffi-bindgen"
  exit 0
fi
dir="\$CARGO_TARGET_DIR/\$target/\$profile"; mkdir -p "\$dir"
echo "code for \$target" > "\$dir/libqtum_lightning.so"
if [ "$2" = 1 ] && [ "\${CARGO_PROFILE_RELEASE_SIZE_STRIP:-}" = false ]; then
  echo UNIFFI_META >> "\$dir/libqtum_lightning.so"
fi
CARGO
  chmod +x "$repo/bin/"* "$tc/"* "$repo/scripts/"*
  echo "$repo"
}

run_script() { # run_script <repo> [args...]
  local repo="$1"; shift
  (cd "$repo" && env -i HOME="$HOME" PATH="$repo/bin:/usr/bin:/bin" LOG="$repo/log" \
    CARGO="$repo/bin/cargo" CARGO_TARGET_DIR="$repo/target" ANDROID_NDK_HOME="$repo/ndk" \
    bash scripts/build-android.sh "$@" > "$repo/out" 2> "$repo/err")
}

# 1. The whole build, in order.
repo="$(setup good 1)"
if run_script "$repo"; then ok "build succeeds"; else bad "build succeeds: $(cat "$repo/err")"; fi
kt="$repo/android/src/main/kotlin/org/qtum/lightning/qtum_lightning.kt"
check "Kotlin bindings generated" 'grep -q "class Node" "$kt"'
for abi in arm64-v8a armeabi-v7a x86_64; do
  so="$repo/android/src/main/jniLibs/$abi/libqtum_lightning.so"
  check "$abi: shipped library is stripped" 'grep -q stripped "$so" && ! grep -q UNIFFI_META "$so"'
done
check "every library built with strip off" \
  '[ "$(grep -c "cargo build -p qtum-lightning.*strip_off=false" "$repo/log")" = 3 ]'
check "every library built with the mobile feature (small crypto tables)" \
  '[ "$(grep -c "cargo build -p qtum-lightning --lib --features mobile" "$repo/log")" = 3 ]'
check "every library without unwind tables where nothing unwinds" \
  '[ "$(grep -c "^env CARGO_TARGET_.*_RUSTFLAGS=.*-C force-unwind-tables=no" "$repo/log")" = 3 ]'
check "every library folds identical code and keeps 16 KB pages" \
  '[ "$(grep "^env CARGO_TARGET_.*_RUSTFLAGS=" "$repo/log" | grep -c -- "--icf=all.*" )" = 3 ] && [ "$(grep -c "max-page-size=16384" "$repo/log")" = 3 ]'
check "no build path ships: this repository and the crates' sources remapped" \
  '[ "$(grep "^env CARGO_TARGET_.*_RUSTFLAGS=" "$repo/log" | grep -c -- "--remap-path-prefix=$repo=qtum-lightning --remap-path-prefix=.*registry/src=crates")" = 3 ]'
check "the C dependencies without unwind tables" \
  '[ "$(grep -c "^env CFLAGS_[a-z0-9_]*=-fno-asynchronous-unwind-tables -fno-unwind-tables" "$repo/log")" = 3 ]'
check "bindings read the unstripped library in target/" \
  'grep -q "bindgen generate --library $repo/target/aarch64-linux-android/release-size/libqtum_lightning.so" "$repo/log" || grep -q "bindgen generate --library target/aarch64-linux-android/release-size/" "$repo/log"'
order="$(grep -n -E "^(cargo build -p qtum-lightning|bindgen|strip)" "$repo/log" | cut -d: -f2 | cut -c1-5 | uniq | tr '\n' ' ')"
check "order: build, bindings, strip ($order)" '[ "$order" = "cargo bindg strip " ]'
check "no Gradle here: says where the outputs are" 'grep -q "no Gradle found" "$repo/err"'

# 2. A library without metadata (a stripped build) fails loudly.
repo="$(setup stripped 0)"
if run_script "$repo"; then bad "a library without metadata must fail"; else ok "a library without metadata fails"; fi
check "the failure says why" 'grep -q "no Kotlin bindings were generated" "$repo/err"'
check "nothing shipped without bindings" '[ ! -e "$repo/android/src/main/jniLibs/arm64-v8a/libqtum_lightning.so" ]'

# 3. Prerequisites and usage.
repo="$(setup nondk 1)"
set +e
(cd "$repo" && env -i HOME="$HOME" PATH="$repo/bin:/usr/bin:/bin" CARGO="$repo/bin/cargo" \
  CARGO_TARGET_DIR="$repo/target" bash scripts/build-android.sh > "$repo/out" 2> "$repo/err")
status=$?
set -e
check "without an NDK: exit 1" '[ "$status" = 1 ]'
check "without an NDK: nothing built" '! grep -q "cargo build" "$repo/log" 2>/dev/null'
set +e
run_script "$repo" --frobnicate
status=$?
set -e
check "unknown option: exit 2" '[ "$status" = 2 ]'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
