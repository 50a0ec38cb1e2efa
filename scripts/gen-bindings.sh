#!/usr/bin/env bash
# Build the SDK's cdylib and generate its Kotlin, Swift and Python bindings with the workspace's
# own uniffi-bindgen (library mode: the API is read from the metadata inside the library, and
# uniffi.toml gives the package/module names).
#
#   scripts/gen-bindings.sh [--profile dev|release|release-size] [--no-build] [--dry-run]
#
# Outputs (generated, git-ignored; this script is their source of truth):
#   bindings/python/src/qtum_lightning/qtum_lightning.py  + libqtum_lightning.so copied beside it
#   bindings/kotlin/src/main/kotlin/org/qtum/lightning/qtum_lightning.kt
#   bindings/swift/QtumLightning.swift, QtumLightningFFI.h, QtumLightningFFI.modulemap
#
# The Kotlin test loads the library from target/<profile>/ through jna.library.path; the
# library keeps the file name bindgen was given (libqtum_lightning.so): never rename it.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=dev
BUILD=1
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
    --release) PROFILE=release; shift ;;
    --no-build) BUILD=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "gen-bindings: unknown option $1" >&2; exit 2 ;;
  esac
done

CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$PROFILE" in
  dev) OUT_DIR="$TARGET_DIR/debug" ;;
  *) OUT_DIR="$TARGET_DIR/$PROFILE" ;;
esac
case "$(uname -s)" in
  Darwin) LIB_FILE=libqtum_lightning.dylib ;;
  *) LIB_FILE=libqtum_lightning.so ;;
esac
LIB="$OUT_DIR/$LIB_FILE"
# The generator is a host tool: always the dev build, whatever the library's profile.
BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"

run() {
  echo "+ $*"
  if [ "$DRY" = 0 ]; then "$@"; fi
}

if [ "$BUILD" = 1 ]; then
  run bash scripts/patch-deps.sh
  # One invocation for the library, the generator, and the regtest harness and backup server
  # the binding tests start.
  run "$CARGO" build -p qtum-lightning -p uniffi-bindgen -p qtum-regtest -p qtum-backup-server
  if [ "$PROFILE" != dev ]; then
    run "$CARGO" build -p qtum-lightning --lib --profile "$PROFILE"
  fi
fi
if [ "$DRY" = 0 ]; then
  for f in "$LIB" "$BINDGEN"; do
    [ -f "$f" ] || { echo "gen-bindings: $f is missing (run without --no-build)" >&2; exit 1; }
  done
fi

PY_PKG=bindings/python/src/qtum_lightning
KT_SRC=bindings/kotlin/src/main/kotlin
SWIFT_OUT=bindings/swift

run rm -f "$PY_PKG/qtum_lightning.py" "$PY_PKG/$LIB_FILE" "$KT_SRC/org/qtum/lightning/qtum_lightning.kt" \
  "$SWIFT_OUT/QtumLightning.swift" "$SWIFT_OUT/QtumLightningFFI.h" "$SWIFT_OUT/QtumLightningFFI.modulemap"
run "$BINDGEN" generate --library "$LIB" --language python --out-dir "$PY_PKG" --no-format
run "$BINDGEN" generate --library "$LIB" --language kotlin --out-dir "$KT_SRC" --no-format
run "$BINDGEN" generate --library "$LIB" --language swift --out-dir "$SWIFT_OUT" --no-format
run cp "$LIB" "$PY_PKG/$LIB_FILE"
echo "gen-bindings: Kotlin, Swift and Python generated from $LIB"
