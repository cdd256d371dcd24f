#!/usr/bin/env bash
# Packs the source rock of the version in Cargo.toml:
#   bash rockspec/pack.sh [OUT_DIR]      (default: the current directory)
# writes OUT_DIR/async-VERSION-1.src.rock: the rockspec and one archive of
# the committed source (HEAD) together with every crate it builds with
# (`cargo vendor`, and a .cargo/config.toml that points cargo at them).
# So `luarocks install async-VERSION-1.src.rock` needs no network: only
# Rust, a C compiler and libclang, as `luarocks make` does.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "${1:-.}" && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -1)
rockspec="$repo/rockspec/async-$version-1.rockspec"
[ -f "$rockspec" ] || { echo "pack: no $rockspec for version $version" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="async-$version"
git -C "$repo" archive --prefix="$tree/" HEAD | tar -x -C "$work"
# Cargo.lock pins every crate; --locked refuses to change it.
(cd "$work/$tree" && cargo vendor --locked --quiet vendor >/dev/null)
mkdir -p "$work/$tree/.cargo"
cat >"$work/$tree/.cargo/config.toml" <<'CONFIG'
# Written by rockspec/pack.sh: build from the crates packed beside the
# source, never from the network.
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"

[net]
offline = true
CONFIG
tar -czf "$work/$tree.tar.gz" -C "$work" "$tree"

# The released rockspec, its source the archive just made: `luarocks pack`
# copies that archive into the rock, and installing the rock unpacks it.
sed -e "s#^\\(   url = \\)\"[^\"]*\".*#\\1\"file://$work/$tree.tar.gz\",\\n   dir = \"$tree\",#" \
  "$rockspec" >"$work/async-$version-1.rockspec"
grep -q "file://$work/$tree.tar.gz" "$work/async-$version-1.rockspec" ||
  { echo "pack: could not set the source of $rockspec" >&2; exit 1; }
(cd "$work" && luarocks pack "async-$version-1.rockspec" >/dev/null)
mv "$work/async-$version-1.src.rock" "$out/"
echo "$out/async-$version-1.src.rock"
