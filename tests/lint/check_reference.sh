#!/usr/bin/env bash
# config/README.md is generated from the config table (journeyd --config-reference)
# and must match it; config/journeyd.yaml, the example, must pass --check-config.
set -u
journeyd=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
if diff -u "$src/config/README.md" <("$journeyd" --config-reference) >/tmp/jd-ref.diff; then
    echo "ok 1 - config/README.md matches journeyd --config-reference"
else
    echo "not ok 1 - config/README.md is stale # regenerate: journeyd --config-reference > config/README.md"
    sed 's/^/# /' /tmp/jd-ref.diff | head -20
fi
if out=$(cd "$src" && "$journeyd" --check-config -c config/journeyd.yaml 2>&1); then
    echo "ok 2 - config/journeyd.yaml passes --check-config"
else
    echo "not ok 2 - config/journeyd.yaml fails --check-config"
    echo "$out" | sed 's/^/# /'
fi
echo "1..2"
diff -q "$src/config/README.md" <("$journeyd" --config-reference) >/dev/null &&
    (cd "$src" && "$journeyd" --check-config -c config/journeyd.yaml >/dev/null 2>&1)
