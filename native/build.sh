#!/bin/sh
# Rebuilds the prebuilt Node-API addons from native/reuseport.c with the system's Node headers (no
# download). One build per architecture serves every Node version >= 20. Not run at install.
set -eu
cd "$(dirname "$0")/.."
HEADERS=${NODE_HEADERS:-/usr/include/node}
FLAGS="-O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -s -I$HEADERS"
mkdir -p prebuilds/linux-x64 prebuilds/linux-arm64
if command -v x86_64-linux-gnu-gcc >/dev/null; then x86_64-linux-gnu-gcc $FLAGS -o prebuilds/linux-x64/reuseport.node native/reuseport.c; fi
if command -v aarch64-linux-gnu-gcc >/dev/null; then aarch64-linux-gnu-gcc $FLAGS -o prebuilds/linux-arm64/reuseport.node native/reuseport.c; fi
ls -l prebuilds/*/reuseport.node
