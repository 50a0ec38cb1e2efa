#!/usr/bin/env bash
# Build QtumLightningFFI.xcframework (static libqtum_lightning.a for iOS devices, and for the
# simulator with arm64 and x86_64 lipo'd into one slice) and generate the Swift bindings into
# ios/Sources/QtumLightning, for the Swift package in ios/.
#
#   scripts/build-ios.sh [--dry-run] [--profile release-size]
#
# Needs macOS with Xcode (xcodebuild, lipo, the iOS SDKs) and the rustup targets
#   aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios.
# --dry-run prints every command without running anything and reports missing prerequisites
# as warnings (CI runs it on Linux, where no Swift toolchain exists).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
PROFILE=release-size
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1; shift ;;
    --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "build-ios: unknown option $1" >&2; exit 2 ;;
  esac
done

CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
DEVICE=aarch64-apple-ios
SIM_TARGETS="aarch64-apple-ios-sim x86_64-apple-ios"
export IPHONEOS_DEPLOYMENT_TARGET=15.0

run() {
  echo "+ $*"
  if [ "$DRY" = 0 ]; then "$@"; fi
}

missing=0
need() {
  if [ "$DRY" = 1 ]; then
    echo "build-ios: (dry run) missing: $1 — $2" >&2
  else
    echo "build-ios: missing: $1 — $2" >&2
    missing=1
  fi
}

[ "$(uname -s)" = Darwin ] || need "macOS" "the iOS SDKs and xcodebuild exist only on macOS"
for tool in xcodebuild lipo; do
  command -v "$tool" >/dev/null 2>&1 || need "$tool" "install Xcode and run xcode-select --install"
done
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
for t in $DEVICE $SIM_TARGETS; do
  grep -qx "$t" <<<"$installed_targets" || need "rust target $t" "rustup target add $t"
done
if [ "$missing" = 1 ]; then
  echo "build-ios: prerequisites missing (see above); nothing was built" >&2
  exit 1
fi

run bash scripts/patch-deps.sh
for t in $DEVICE $SIM_TARGETS; do
  run "$CARGO" build -p qtum-lightning --lib --features mobile --profile "$PROFILE" --target "$t"
done

OUT="$TARGET_DIR/ios"
SIM_LIB="$OUT/simulator/libqtum_lightning.a"
HEADERS="$OUT/headers"
run rm -rf "$OUT" ios/QtumLightningFFI.xcframework
run mkdir -p "$OUT/simulator" "$HEADERS"
run lipo -create \
  "$TARGET_DIR/aarch64-apple-ios-sim/$PROFILE/libqtum_lightning.a" \
  "$TARGET_DIR/x86_64-apple-ios/$PROFILE/libqtum_lightning.a" \
  -output "$SIM_LIB"

# Swift sources, header and module map from the host library's metadata (same crate, same
# API); the module map must be called module.modulemap inside the xcframework.
run bash scripts/gen-bindings.sh
run cp bindings/swift/QtumLightningFFI.h "$HEADERS/"
run cp bindings/swift/QtumLightningFFI.modulemap "$HEADERS/module.modulemap"
run mkdir -p ios/Sources/QtumLightning
run cp bindings/swift/QtumLightning.swift ios/Sources/QtumLightning/QtumLightning.swift

run xcodebuild -create-xcframework \
  -library "$TARGET_DIR/$DEVICE/$PROFILE/libqtum_lightning.a" -headers "$HEADERS" \
  -library "$SIM_LIB" -headers "$HEADERS" \
  -output ios/QtumLightningFFI.xcframework
echo "build-ios: ios/QtumLightningFFI.xcframework and ios/Sources/QtumLightning/QtumLightning.swift are ready;"
echo "build-ios: test with: xcodebuild -scheme QtumLightning -destination 'generic/platform=iOS Simulator' (in ios/)"
