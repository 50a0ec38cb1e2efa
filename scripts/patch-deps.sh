#!/usr/bin/env bash
# Prepare the Qtum-patched copies of the upstream crates listed in patches/crates.txt.
#
# For each `name version sha256` line: let cargo fetch the exact crates.io release, check the
# .crate file against the pinned checksum, unpack it into .deps/<name>-<version>/ and apply
# patches/<name>-<version>.patch. Cargo.toml's [patch.crates-io] points at those directories.
#
# Idempotent and offline after the first run: a stamp records the hash of the inputs (crate list,
# patch files, this script) and a rerun with the same inputs returns at once without touching the
# network. Any change to a patch rebuilds every patched copy from the pristine .crate file.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps"
list="$root/patches/crates.txt"
cargo_home=${CARGO_HOME:-$HOME/.cargo}

inputs_hash() {
  {
    cat "$list" "$0"
    for f in "$root"/patches/*.patch; do
      if [ -e "$f" ]; then cat "$f"; fi
    done
  } | sha256sum | cut -d' ' -f1
}

want=$(inputs_hash)
if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$want" ]; then
  exit 0
fi

mkdir -p "$dest/.fetch/src"
entries=()
while read -r name version sum; do
  case "$name" in ''|'#'*) continue ;; esac
  entries+=("$name $version $sum")
done <"$list"

# A throwaway manifest that depends on exactly the pinned versions; `[workspace]` keeps it out
# of our own workspace.
{
  printf '[package]\nname = "qtum-deps-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
  printf '[workspace]\n\n[dependencies]\n'
  for e in "${entries[@]}"; do
    set -- $e
    printf '%s = "=%s"\n' "$1" "$2"
  done
} >"$dest/.fetch/Cargo.toml"
: >"$dest/.fetch/src/lib.rs"

find_crate() {
  # The registry cache holds one directory per index; take the first match.
  ls "$cargo_home"/registry/cache/*/"$1-$2.crate" 2>/dev/null | head -n 1
}

need_fetch=0
for e in "${entries[@]}"; do
  set -- $e
  [ -n "$(find_crate "$1" "$2")" ] || need_fetch=1
done
if [ "$need_fetch" = 1 ]; then
  echo "patch-deps: fetching pinned crates with cargo" >&2
  cargo fetch --manifest-path "$dest/.fetch/Cargo.toml" >&2
fi

for e in "${entries[@]}"; do
  set -- $e
  name=$1 version=$2 sum=$3
  crate=$(find_crate "$name" "$version")
  if [ -z "$crate" ]; then
    echo "patch-deps: $name-$version.crate not found after cargo fetch" >&2
    exit 1
  fi
  got=$(sha256sum "$crate" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "patch-deps: checksum mismatch for $name-$version: expected $sum, got $got" >&2
    exit 1
  fi
  tmp=$(mktemp -d "$dest/.unpack.XXXXXX")
  tar -xzf "$crate" -C "$tmp"
  patch_file="$root/patches/$name-$version.patch"
  if [ -f "$patch_file" ]; then
    if ! patch -d "$tmp/$name-$version" -p1 --batch --forward --quiet <"$patch_file"; then
      echo "patch-deps: $patch_file does not apply to $name-$version" >&2
      rm -rf "$tmp"
      exit 1
    fi
  fi
  # Cargo checks a path dependency's files itself; drop the registry's checksum marker.
  rm -f "$tmp/$name-$version/.cargo-ok"
  # Path dependencies are "local" to cargo, so their warnings would flood every build log the
  # way registry crates' never do; silence them as cargo does for crates.io sources.
  if ! grep -q '^\[lints' "$tmp/$name-$version/Cargo.toml"; then
    printf '\n[lints.rust]\nwarnings = "allow"\n' >>"$tmp/$name-$version/Cargo.toml"
  fi
  rm -rf "${dest:?}/$name-$version"
  mv "$tmp/$name-$version" "$dest/$name-$version"
  rmdir "$tmp"
  echo "patch-deps: $name-$version ready$([ -f "$patch_file" ] && echo ' (patched)')" >&2
done

echo "$want" >"$dest/.stamp"
