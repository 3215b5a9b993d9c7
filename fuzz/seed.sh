#!/usr/bin/env bash
# Fills the fuzz corpora (fuzz/corpus/<target>, gitignored) with seeds; cargo-fuzz adds what it
# discovers next to them. Re-running only refreshes the seeds.
#   decode      every recording of the test fixtures, <version>-<scenario>.recv
#   session     each recording's client bytes (.sent), `\0SERVER\0`, then its server bytes
#               (.recv): the actions, then the replies
#   cli_output  `<command>\n<text>` for each CLI command a recording sends, with its reply
#               (`Output: ` prefixes removed), and the queue recordings as `queue show` text
# The .sent files are only in the shared recordings (AMI_CORPUS, default ../../shared/corpus);
# without them session and cli_output start from the server bytes alone.
set -euo pipefail
cd "$(dirname "$0")"
shared="${AMI_CORPUS:-../../shared/corpus}"
mkdir -p corpus/decode corpus/session corpus/cli_output
for dir in ../crates/ami-proto/tests/fixtures/corpus/*/; do
    version=$(basename "$dir")
    for file in "$dir"*.recv; do
        scenario=$(basename "$file" .recv)
        name="$version-$scenario"
        cp "$file" "corpus/decode/$name.recv"
        sent="$shared/$version/$scenario.sent"
        if [ -f "$sent" ]; then
            { cat "$sent"; printf '\0SERVER\0'; cat "$file"; } >"corpus/session/$name"
            # Each distinct command, with the reply text.
            { grep -a '^Command:' "$sent" || true; } | sed 's/^Command: *//; s/\r$//' | sort -u | {
                n=0
                while IFS= read -r command; do
                    n=$((n + 1))
                    { printf '%s\n' "$command"; sed 's/^Output: \{0,1\}//' "$file"; } \
                        >"corpus/cli_output/$name-$n"
                done
            }
        else
            cp "$file" "corpus/session/$name"
        fi
        case "$scenario" in
            queue*) { printf 'queue show\n'; cat "$file"; } >"corpus/cli_output/$name-queue-show" ;;
        esac
    done
done
# What the fuzzer once found (fixed since, each with a regression test) is seeded too, so every
# run, CI's short ones included, replays it first.
for dir in findings/*/; do
    [ -d "$dir" ] || continue
    target=$(basename "$dir")
    cp "$dir"* "corpus/$target/"
done
for target in decode session cli_output; do
    echo "seeds: $target $(find "corpus/$target" -type f | wc -l) files"
done
