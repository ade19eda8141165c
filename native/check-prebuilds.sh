#!/bin/sh
# Checks the committed prebuilt addons (npm run check:prebuilds; CI runs it before the tests):
# 1. prebuilds/SHA256SUMS lists exactly the shipped files, each with its current SHA-256;
# 2. each addon rebuilt from native/reuseport.c is byte-identical to the committed one, where this
#    machine has the toolchain that made it (Debian 12, gcc 12.2.0, the same compiler build as named
#    in the file's .comment); elsewhere it says that it skipped the rebuild and why.
# Fails on any difference. Takes about a second.
set -eu
cd "$(dirname "$0")/.."
SHIPPED="linux-x64/reuseport.node linux-arm64/reuseport.node"

listed=$(sed -n 's/^[0-9a-f]\{64\} [ *]//p' prebuilds/SHA256SUMS | sort | tr '\n' ' ' | sed 's/ $//')
expected=$(printf '%s\n' $SHIPPED | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$listed" != "$expected" ]; then
  echo "check-prebuilds: prebuilds/SHA256SUMS lists '$listed', the package ships '$expected'" >&2
  exit 1
fi
if ! (cd prebuilds && sha256sum --check --strict --quiet SHA256SUMS); then
  echo "check-prebuilds: prebuilds/SHA256SUMS does not match the committed addons" \
    "(sh native/build.sh rewrites both)" >&2
  exit 1
fi
echo "check-prebuilds: prebuilds/SHA256SUMS matches $SHIPPED"

# Why this machine cannot reproduce the committed file for target $1 with compiler $2, or nothing.
cannot_rebuild() {
  os=$(. /etc/os-release 2>/dev/null && echo "${ID:-?} ${VERSION_ID:-?}")
  if [ "$os" != "debian 12" ]; then echo "this is $os, the committed files were made on debian 12"; return; fi
  if ! command -v "$2" >/dev/null; then echo "no $2 here"; return; fi
  version=$("$2" -dumpfullversion)
  if [ "$version" != 12.2.0 ]; then echo "$2 is $version, the committed files were made by 12.2.0"; return; fi
  made_by=$(LC_ALL=C grep -a -o 'GCC: ([^)]*) [0-9.]*' "prebuilds/$1/reuseport.node" | head -n 1)
  here="GCC: $("$2" --version | head -n 1 | cut -d ' ' -f 2-)"
  if [ "$made_by" != "$here" ]; then echo "the committed file was made by '$made_by', $2 is '$here'"; fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in linux-x64 linux-arm64; do
  case "$target" in linux-x64) cc=x86_64-linux-gnu-gcc ;; linux-arm64) cc=aarch64-linux-gnu-gcc ;; esac
  why=$(cannot_rebuild "$target" "$cc")
  if [ -n "$why" ]; then
    echo "check-prebuilds: skipped rebuilding $target: $why"
    continue
  fi
  sh native/build.sh "$target" "$work/$target.node"
  if ! cmp "$work/$target.node" "prebuilds/$target/reuseport.node"; then
    echo "check-prebuilds: $target rebuilt from native/reuseport.c differs from the committed file" \
      "(rebuild with sh native/build.sh and commit prebuilds/)" >&2
    exit 1
  fi
  echo "check-prebuilds: $target rebuilt with $cc $("$cc" -dumpfullversion): identical to the committed file"
done
