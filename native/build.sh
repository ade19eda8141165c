#!/bin/sh
# Rebuilds the prebuilt Node-API addons from native/reuseport.c with the system's Node headers (no
# download) and writes prebuilds/SHA256SUMS, which the loader checks before it loads an addon. One
# build per architecture serves every Node version >= 20. Not run at install.
#
#   sh native/build.sh                      both shipped targets into prebuilds/, then the manifest
#   sh native/build.sh linux-x64 OUT.node   one target into OUT.node (native/check-prebuilds.sh)
#
# Fails when a shipped target cannot be built (Debian: gcc-aarch64-linux-gnu and libc6-dev-arm64-cross
# for arm64 on an x86_64 machine).
# Reproducible: the same compiler and binutils give byte-identical files in any directory: the source
# is named by a relative path and -s keeps no debug info or symbol table, so no path is embedded; the
# build id is a hash of the contents.
set -eu
cd "$(dirname "$0")/.."
HEADERS=${NODE_HEADERS:-/usr/include/node}
FLAGS="-O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -s
  -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,relro,-z,now -Wl,--build-id=sha1 -I$HEADERS"

build() { # target output
  case "$1" in
    linux-x64) cc=x86_64-linux-gnu-gcc package="gcc (on x86_64) or gcc-x86-64-linux-gnu" ;;
    linux-arm64) cc=aarch64-linux-gnu-gcc package="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
    *) echo "build.sh: unknown target $1 (linux-x64, linux-arm64)" >&2; exit 2 ;;
  esac
  if ! command -v "$cc" >/dev/null; then
    echo "build.sh: $cc not found: cannot build $1 (Debian: apt-get install $package)" >&2
    exit 1
  fi
  # glibc turns _FORTIFY_SOURCE off without a word when it sees no optimisation: check it is on.
  # shellcheck disable=SC2086 # FLAGS is a list of words
  level=$(printf '#include <string.h>\n__USE_FORTIFY_LEVEL\n' | "$cc" $FLAGS -E -P -x c - | tail -n 1)
  if [ "$level" != 2 ]; then echo "build.sh: _FORTIFY_SOURCE is not in effect for $1 (level $level)" >&2; exit 1; fi
  # shellcheck disable=SC2086
  "$cc" $FLAGS -o "$2" native/reuseport.c
}

if [ ! -f "$HEADERS/node_api.h" ]; then
  echo "build.sh: no $HEADERS/node_api.h (Debian: the nodejs package; or set NODE_HEADERS)" >&2
  exit 1
fi
if [ $# -eq 2 ]; then
  build "$1" "$2"
  exit 0
fi
if [ $# -ne 0 ]; then
  echo "usage: sh native/build.sh [TARGET OUTPUT]" >&2
  exit 2
fi
# Both targets build before anything in prebuilds/ changes: a failure leaves the shipped set as it was.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in linux-x64 linux-arm64; do build "$target" "$work/$target.node"; done
for target in linux-x64 linux-arm64; do
  mkdir -p "prebuilds/$target"
  mv "$work/$target.node" "prebuilds/$target/reuseport.node"
done
(cd prebuilds && sha256sum linux-x64/reuseport.node linux-arm64/reuseport.node) > "$work/SHA256SUMS"
mv "$work/SHA256SUMS" prebuilds/SHA256SUMS
cat prebuilds/SHA256SUMS
