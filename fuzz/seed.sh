#!/usr/bin/env bash
# Fills fuzz/corpus/decode (gitignored) with the seeds: every recording of the test fixtures,
# named <version>-<scenario>.recv. cargo-fuzz adds what it discovers next to them.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode
for dir in ../crates/ami-proto/tests/fixtures/corpus/*/; do
    for file in "$dir"*.recv; do
        cp "$file" "corpus/decode/$(basename "$dir")-$(basename "$file")"
    done
done
