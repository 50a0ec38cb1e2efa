#!/usr/bin/env bash
# The React Native package's checks that run without a phone (make test-react-native):
#   1. generate it (scripts/gen-react-native.sh), with the Node.js flavour for step 4;
#   2. `tsc --noEmit` over the package: the generated bindings (strict), the package's API
#      (src/QtumLightning.ts), an app's use of it (test/app-usage.ts, including the calls the
#      package must refuse on the JS thread) and the example screen (example/);
#   3. the generated C++ (JSI bindings and turbo-module glue) compiled with -Wall -Werror against
#      the JSI headers of the react-native npm package, then linked with --no-undefined against
#      the SDK's library: every FFI symbol the C++ calls exists;
#   4. the tutorial journey through the same TypeScript, on Node.js (ubrn's N-API runtime), with
#      the real library and the regtest harness (react-native/node-test).
# Not here: the Android and iOS builds of the module (NDK, Xcode), the Kotlin/Obj-C++ adapters.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
PKG=react-native

bash scripts/gen-react-native.sh --napi "$PKG/node-test/generated"

echo "== tsc"
(cd "$PKG" && npx --no-install tsc --noEmit -p tsconfig.json)

echo "== C++ against the JSI headers, linked against the library"
RN="$PKG/node_modules/react-native/ReactCommon"
UB="$PKG/node_modules/uniffi-bindgen-react-native/cpp/includes"
CXX=${CXX:-g++}
FLAGS=(-std=c++20 -fPIC -fexceptions -frtti -Wall -Werror
  -I"$PKG/cpp" -I"$PKG/cpp/generated" -I"$UB" -I"$RN" -I"$RN/jsi" -I"$RN/callinvoker")
SOURCES=("$PKG/cpp/generated/qtum_lightning.cpp" "$PKG/cpp/react-native-qtum-lightning.cpp")
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$CXX" "${FLAGS[@]}" -shared -o "$out/module.so" "${SOURCES[@]}" "$RN/jsi/jsi/jsi.cpp" \
  -L"$CARGO_TARGET_DIR/debug" -lqtum_lightning -Wl,--no-undefined

echo "== the journey on Node.js"
cargo build -q -p qtum-regtest --bin qtum-regtest
if [ ! -d "$PKG/node-test/node_modules" ]; then
  npm ci --prefix "$PKG/node-test" --no-audit --no-fund
fi
(cd "$PKG/node-test" && REPO_ROOT="$root" npx --no-install tsx journey.test.ts)
