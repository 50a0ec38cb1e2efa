#!/usr/bin/env bash
# Cross-build libqtum_lightning.so for Android (arm64-v8a, armeabi-v7a, x86_64) with the NDK's
# clang, generate the Kotlin bindings, and package both into an AAR (android/).
#
#   scripts/build-android.sh [--dry-run] [--profile release-size] [--abis "arm64-v8a x86_64"]
#
# Needs: the Android NDK (ANDROID_NDK_HOME or ANDROID_NDK_ROOT; r26+), the rustup targets
#   aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
# and, for the AAR step only, Gradle 8.9+ with the Android SDK (ANDROID_HOME); without Gradle the
# script stops after placing the .so files and the Kotlin sources in android/src/main.
#
# The libraries are built unstripped (the profile's `strip` is turned off for this build): UniFFI
# 0.31 reads the bindings' metadata from the symbol table, so the Kotlin is generated from an
# unstripped library and checked to be there; only then is each library stripped (the NDK's
# llvm-strip) into jniLibs, the copy the AAR ships.
#
# minSdk 24: the NDK's API-24 clang wrappers. Every library is linked with
# -z max-page-size=16384 so it loads on 16 KB-page devices (required by Google Play for
# Android 15+). The release-size profile keeps panic=unwind: a Rust panic becomes a Kotlin
# exception instead of killing the app.
#
# --dry-run prints every command without running anything and reports missing prerequisites
# as warnings (CI runs it: this machine has no NDK).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
PROFILE=release-size
ABIS="arm64-v8a armeabi-v7a x86_64"
API=24
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1; shift ;;
    --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
    --abis) ABIS="${2:?--abis needs a value}"; shift 2 ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "build-android: unknown option $1" >&2; exit 2 ;;
  esac
done

CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# shellcheck source=scripts/mobile-flags.sh
. scripts/mobile-flags.sh
# 16 KB pages (Google Play, Android 15+); packed relocations (Android's own packing, which its
# loader reads from API 23, for minSdk 24; scripts/measure-size.sh measures the same cut with
# RELR); and the flags every phone library shares (scripts/mobile-flags.sh: code folding, no
# unwind tables where nothing unwinds, no build paths). README, "Library size".
PAGE_FLAGS="$MOBILE_PAGE_FLAGS -C link-arg=-Wl,--pack-dyn-relocs=android $(mobile_rustflags "$PWD")"

run() {
  echo "+ $*"
  if [ "$DRY" = 0 ]; then "$@"; fi
}

missing=0
need() { # need <what> <hint>
  if [ "$DRY" = 1 ]; then
    echo "build-android: (dry run) missing: $1 — $2" >&2
  else
    echo "build-android: missing: $1 — $2" >&2
    missing=1
  fi
}

# ----- prerequisites -----
NDK="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
case "$(uname -s)" in
  Linux) HOST_TAG=linux-x86_64 ;;
  Darwin) HOST_TAG=darwin-x86_64 ;; # the NDK ships this tag for Apple silicon too
  *) HOST_TAG=unsupported ;;
esac
TOOLCHAIN="$NDK/toolchains/llvm/prebuilt/$HOST_TAG/bin"
if [ -z "$NDK" ]; then
  need "Android NDK" "install it (sdkmanager 'ndk;27.2.12479018') and set ANDROID_NDK_HOME"
  NDK="\$ANDROID_NDK_HOME"
  TOOLCHAIN="$NDK/toolchains/llvm/prebuilt/$HOST_TAG/bin"
elif [ ! -x "$TOOLCHAIN/clang" ]; then
  need "NDK clang at $TOOLCHAIN" "ANDROID_NDK_HOME must point at an NDK r26 or newer"
fi
installed_targets="$(rustup target list --installed 2>/dev/null || true)"

rust_target() {
  case "$1" in
    arm64-v8a) echo aarch64-linux-android ;;
    armeabi-v7a) echo armv7-linux-androideabi ;;
    x86_64) echo x86_64-linux-android ;;
    *) echo "build-android: unknown ABI $1" >&2; exit 2 ;;
  esac
}
clang_prefix() {
  case "$1" in
    arm64-v8a) echo aarch64-linux-android$API ;;
    armeabi-v7a) echo armv7a-linux-androideabi$API ;;
    x86_64) echo x86_64-linux-android$API ;;
  esac
}
for abi in $ABIS; do
  t="$(rust_target "$abi")"
  grep -qx "$t" <<<"$installed_targets" || need "rust target $t" "rustup target add $t"
done
if [ "$missing" = 1 ]; then
  echo "build-android: prerequisites missing (see above); nothing was built" >&2
  exit 1
fi

# ----- the native libraries (unstripped in the target directory) -----
run bash scripts/patch-deps.sh
JNI=android/src/main/jniLibs
# cargo's profile override by environment: CARGO_PROFILE_<NAME>_STRIP (dashes as underscores).
STRIP_OFF="CARGO_PROFILE_$(echo "$PROFILE" | tr 'a-z-' 'A-Z_')_STRIP=false"
built() { # built <abi>: the unstripped library cargo wrote
  local dir="$PROFILE"
  [ "$PROFILE" = dev ] && dir=debug
  echo "$TARGET_DIR/$(rust_target "$1")/$dir/libqtum_lightning.so"
}
for abi in $ABIS; do
  t="$(rust_target "$abi")"
  T="$(echo "$t" | tr 'a-z-' 'A-Z_')"
  t_="$(echo "$t" | tr '-' '_')"
  cc="$TOOLCHAIN/$(clang_prefix "$abi")-clang"
  # cc-rs (SQLite, secp256k1) and rustc's linker both use the NDK's clang for this API level.
  run env "CC_$t_=$cc" "AR_$t_=$TOOLCHAIN/llvm-ar" "CFLAGS_$t_=$MOBILE_CFLAGS" \
    "CARGO_TARGET_${T}_LINKER=$cc" \
    "CARGO_TARGET_${T}_RUSTFLAGS=$PAGE_FLAGS" \
    "$STRIP_OFF" \
    "$CARGO" build -p qtum-lightning --lib --features mobile --profile "$PROFILE" --target "$t"
done

# ----- the Kotlin bindings, from the first ABI's unstripped library -----
first_abi="${ABIS%% *}"
KOTLIN_OUT=android/src/main/kotlin
KOTLIN_FILE="$KOTLIN_OUT/org/qtum/lightning/qtum_lightning.kt"
run rm -f "$KOTLIN_FILE"
run "$CARGO" build -p uniffi-bindgen
run "$TARGET_DIR/debug/uniffi-bindgen" generate --library "$(built "$first_abi")" \
  --language kotlin --out-dir "$KOTLIN_OUT" --no-format
# uniffi-bindgen writes nothing, and says nothing, for a library without metadata.
if [ "$DRY" = 0 ] && ! grep -q "class Node" "$KOTLIN_FILE" 2>/dev/null; then
  echo "build-android: no Kotlin bindings were generated from $(built "$first_abi")" \
    "(a stripped library has no UniFFI metadata)" >&2
  exit 1
fi

# ----- the shipped libraries: stripped copies -----
for abi in $ABIS; do
  run mkdir -p "$JNI/$abi"
  run "$TOOLCHAIN/llvm-strip" --strip-all -o "$JNI/$abi/libqtum_lightning.so" "$(built "$abi")"
done

# ----- the AAR -----
if [ -x android/gradlew ]; then
  GRADLE=(android/gradlew -p android)
elif command -v gradle >/dev/null 2>&1; then
  GRADLE=(gradle -p android)
else
  GRADLE=()
fi
if [ ${#GRADLE[@]} -eq 0 ]; then
  echo "build-android: no Gradle found: the .so files are in $JNI and the Kotlin in" \
    "android/src/main/kotlin; run 'gradle -p android assembleRelease' where Gradle and the" \
    "Android SDK are installed" >&2
  [ "$DRY" = 1 ] && echo "+ gradle -p android assembleRelease"
  exit 0
fi
run "${GRADLE[@]}" assembleRelease
echo "build-android: android/build/outputs/aar/qtum-lightning-android-release.aar"
