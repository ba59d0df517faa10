#!/usr/bin/env bash
# The systemd unit verifies (systemd-analyze verify, offline, no PID 1 needed),
# carries the settings the daemon relies on, and `meson install` puts the
# binaries, the unit, the example config and every rules/*.yaml where it says.
# Usage: check_unit.sh BUILT_UNIT BUILT_JOURNEYD BUILDDIR. Prints TAP.
set -u
unit=$1
journeyd=$2
builddir=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/jd-unit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0
bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
    n=$((n + 1))
    bad=$((bad + 1))
    echo "not ok $n - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/# /'
    return 0
}
check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
    local d=$1
    shift
    if "$@"; then ok "$d"; else notok "$d"; fi
}

# The installation layout, joined the way meson joins prefix and directories.
eval "$(python3 - "$builddir/meson-info/intro-buildoptions.json" <<'EOF'
import json, os, sys
opts = {o['name']: o['value'] for o in json.load(open(sys.argv[1]))}
for k in ('sbindir', 'bindir', 'sysconfdir'):
    print(f"{k}='{os.path.join(opts['prefix'], opts[k])}'")
print(f"prefix='{opts['prefix']}'")
EOF
)"
unitdir=$prefix/lib/systemd/system

# 1. systemd-analyze verify, with ExecStart= pointing at the built binary (it
#    checks that the command exists); warnings go to stderr with exit status 0,
#    so any output at all is a failure.
sed "s#$sbindir/journeyd#$journeyd#g" "$unit" >"$tmp/journeyd.service"
if out=$(/usr/bin/systemd-analyze verify --man=no "$tmp/journeyd.service" 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify: no complaints"
else
    notok "systemd-analyze verify complains" "$out"
fi

# 2-7. the settings the daemon's behaviour depends on
has() { grep -qxF "$1" "$unit"; }
for line in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' RestartPreventExitStatus=78 \
    DynamicUser=yes ProtectSystem=strict "ExecStart=$sbindir/journeyd -c $sysconfdir/journeyd/journeyd.yaml"; do
    check "unit has $line" has "$line"
done

# 8-13. meson install into a staging directory
dest=$tmp/dest
if out=$(meson install --no-rebuild --destdir "$dest" -C "$builddir" 2>&1); then
    ok "meson install --destdir"
else
    notok "meson install --destdir fails" "$(printf '%s\n' "$out" | tail -20)"
fi
check "journeyd in sbindir" test -x "$dest$sbindir/journeyd"
check "journeyctl in bindir" test -x "$dest$bindir/journeyctl"
check "unit in $unitdir, as configured" cmp -s "$unit" "$dest$unitdir/journeyd.service"
check "example config in sysconfdir" cmp -s "$src/config/journeyd.yaml" \
    "$dest$sysconfdir/journeyd/journeyd.yaml"
missing=
for r in "$src"/rules/*.yaml; do
    cmp -s "$r" "$dest$sysconfdir/journeyd/rules/$(basename "$r")" || missing="$missing $(basename "$r")"
done
if [ -z "$missing" ]; then
    ok "every rules/*.yaml installed"
else
    notok "rule files not installed (list them in config/meson.build):$missing"
fi

# 14. the installed example passes --check-config from the unit's
#     WorkingDirectory (rules.dirs: [rules] is relative to it)
if out=$(cd "$dest$sysconfdir/journeyd" &&
    "$dest$sbindir/journeyd" --check-config -c "$dest$sysconfdir/journeyd/journeyd.yaml" 2>&1); then
    ok "installed config passes --check-config in $sysconfdir/journeyd"
else
    notok "installed config fails --check-config" "$out"
fi

echo "1..$n"
[ $bad -eq 0 ]
