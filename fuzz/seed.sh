#!/bin/sh
# Copy the fixture's files into the seed corpora of the cargo-fuzz targets.
set -eu
cd "$(dirname "$0")"
repo=../tests/data/repo
mkdir -p corpus/deb_read corpus/packages corpus/release corpus/relations corpus/inrelease
cp "$repo"/pool/main/f/*/*.deb corpus/deb_read/
for f in "$repo"/dists/*/main/binary-amd64/Packages*; do
    case "$f" in
        *.gz) k='\001' ;;
        *.xz) k='\002' ;;
        *) k='\000' ;;
    esac
    { printf "$k"; cat "$f"; } > "corpus/packages/$(echo "${f#$repo/}" | tr / _)"
done
for f in "$repo"/dists/*/Release; do cp "$f" "corpus/release/$(echo "${f#$repo/}" | tr / _)"; done
for f in "$repo"/dists/*/InRelease; do cp "$f" "corpus/inrelease/$(echo "${f#$repo/}" | tr / _)"; done
grep -h '^Depends:' "$repo"/dists/*/main/binary-amd64/Packages | sed 's/^Depends: //' |
    split -l 1 - corpus/relations/depends-
