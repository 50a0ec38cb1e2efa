#!/usr/bin/env bash
# Build the React Native package's native parts for the phones and put them where the generated
# Android (CMake) and iOS (podspec) wiring looks for them:
#   react-native/android/src/main/jniLibs/<abi>/libqtum_lightning.so   (scripts/build-android.sh)
#   react-native/QtumLightningFFI.xcframework                          (scripts/build-ios.sh)
#
#   scripts/build-react-native.sh [--android] [--ios] [--dry-run]     (both by default)
#
# Needs what those scripts need (the NDK; macOS with Xcode). CI runs it with --dry-run only.
set -euo pipefail
cd "$(dirname "$0")/.."

ANDROID=0
IOS=0
DRY=()
while [ $# -gt 0 ]; do
  case "$1" in
    --android) ANDROID=1; shift ;;
    --ios) IOS=1; shift ;;
    --dry-run) DRY=(--dry-run); shift ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "build-react-native: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$ANDROID" = 0 ] && [ "$IOS" = 0 ]; then
  ANDROID=1
  IOS=1
fi
run() {
  echo "+ $*"
  if [ ${#DRY[@]} -eq 0 ]; then "$@"; fi
}

run bash scripts/gen-react-native.sh
if [ "$ANDROID" = 1 ]; then
  bash scripts/build-android.sh "${DRY[@]}"
  run mkdir -p react-native/android/src/main
  run cp -R android/src/main/jniLibs react-native/android/src/main/
fi
if [ "$IOS" = 1 ]; then
  bash scripts/build-ios.sh "${DRY[@]}"
  run rm -rf react-native/QtumLightningFFI.xcframework
  run cp -R ios/QtumLightningFFI.xcframework react-native/
fi
echo "build-react-native: the package in react-native/ is ready for an app (npm install <path>)"
