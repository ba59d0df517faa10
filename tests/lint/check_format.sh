#!/usr/bin/env bash
# Every C file follows the committed .clang-format (apply with clang-format -i).
# Prints TAP: one line per file.
set -u
cd "$(dirname "$0")/../.."
n=0
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find daemon tools tests -name '*.[ch]'); do
    n=$((n + 1))
    if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "ok $n - $f"
    else
        bad=$((bad + 1))
        echo "not ok $n - $f # run: clang-format -i $f"
    fi
done
echo "1..$n"
[ $bad -eq 0 ] && [ $n -gt 0 ]
