# shellcheck shell=bash
# The code-generation flags of the phone libraries. Sourced (not run) by build-android.sh, which
# ships them, and by measure-size.sh, which measures them, so that the figure in the README is
# the library the AAR carries. README, "Library size", gives what each flag saves.
#
# mobile_rustflags <repo root>
#   prints the RUSTFLAGS every phone target shares (the linker must be lld):
#   - identical code folding;
#   - no unwind table for a function that cannot unwind (-C force-unwind-tables=no). The
#     profile keeps panic=unwind: every function a panic can cross still has its table, so a
#     panic still reaches UniFFI's catch_unwind and becomes an exception in the app; only
#     functions the compiler proved nounwind lose theirs;
#   - the build machine's paths replaced (this repository by "qtum-lightning", the crates.io
#     sources by "crates") in panic locations: they do not ship to phones.
# MOBILE_PAGE_FLAGS
#   16 KB pages: Google Play requires libraries that load on 16 KB-page devices (Android 15+).
# MOBILE_CFLAGS
#   extra C flags for the C dependencies (SQLite, libsecp256k1, ring's C parts): no unwind
#   tables, since no Rust panic crosses a C frame: rusqlite catches panics in its callbacks
#   and the others never call back into Rust.

mobile_rustflags() {
  local root="$1"
  local registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
  local flags="-C link-arg=-Wl,--icf=all -C force-unwind-tables=no"
  # RUSTFLAGS is split on whitespace: a path with a space cannot be remapped this way.
  case "$root$registry" in
    *[[:space:]]*) echo "mobile-flags: a path has a space; panic locations keep the build paths" >&2 ;;
    *) flags="$flags --remap-path-prefix=$root=qtum-lightning --remap-path-prefix=$registry=crates" ;;
  esac
  echo "$flags"
}

MOBILE_PAGE_FLAGS="-C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,common-page-size=16384"
MOBILE_CFLAGS="-fno-asynchronous-unwind-tables -fno-unwind-tables"
