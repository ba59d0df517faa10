#!/usr/bin/python3
"""journeyctl check rules and replay, as a growth lead meets them: every error of a
broken file with its file:line:col, the shipped rules clean, and a replay that
prints exactly the alert messages of alerts.md. Prints TAP."""
import json
import os
import subprocess
import sys
import tempfile

ctl = sys.argv[1]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
n = 0
bad = 0


def check(ok, what):
    global n, bad
    n += 1
    bad += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - {what}")


# ten different mistakes (and two risky forms): a message each, at its place
BROKEN = """tables:
  cap: {default: 10}
groups:
  - name: g
    interval: 5x
    timezone: Mars/Olympus
    rules:
      - alert: A
        expr: count(lead[1d]) > table(nope)
        labels: {severity: urgent}
      - alert: B
        expr: "ratio(count(a[1h]), count(b[1h])) > 2"
        annotations:
          summary: "{{ $valu }}"
      - alert: C
        expr: >-
          count(lead[1d]) >
          frob(2)
      - alert: D
        expr: count(lead[5m] > 3
        bogus: 1
      - alert: E
        expr: count(lead[90s]) > 1
        for: soon
        on_no_data: maybe
"""
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "broken.yaml")
    with open(path, "w") as f:
        f.write(BROKEN)
    p = subprocess.run([ctl, "check", "rules", path], capture_output=True, text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 1, "a broken rule file exits 1")
    want = [
        f"{path}:5:15: error: interval: unknown unit in duration '5x'",
        f"{path}:6:15: error: timezone: Mars/Olympus: no such timezone",
        f"{path}:9:39: error: expr: unknown table nope",
        f"{path}:10:28: warning: severity 'urgent' is not one of",
        f"{path}:12:16: warning: ratio() without min_denominator",
        f"{path}:14:24: error: annotation summary: unknown variable '$valu'",
        f"{path}:18:11: error: expr: unknown function frob()",
        f"{path}:21:9: error: unknown key 'bogus' in rule",
        f"{path}:20:30: error: expr: expected ')'",
        f"{path}:23:26: error: expr: a range is a whole number of minutes",
        f"{path}:24:14: error: for: expected a number in duration 'soon'",
        f"{path}:25:21: error: on_no_data: 'maybe' is not one of ok, keep, alert",
    ]
    for w in want:
        check(any(l.startswith(w) for l in lines), f"reports {w.split(': ', 1)[1][:60]!r}")
    check(len(lines) == len(want) + 1 and lines[-1].startswith("FAILED: 10 errors, 2 warnings"),
          "ten errors and two warnings, each reported once, then the counts")

    p = subprocess.run([ctl, "check", "rules", os.path.join(root, "rules")], capture_output=True,
                       text=True)
    check(p.returncode == 0 and "SUCCESS: 10 rules in 3 groups" in p.stdout and
          "(0 warnings)" in p.stdout,
          "the shipped rules compile without a warning: " + p.stdout.strip().splitlines()[-1])

    # ranges the retention cannot answer at the group's ticks: a warning at the selector
    RET = """groups:
  - name: minutely
    interval: 1m
    rules:
      - alert: WeekOverWeek
        expr: pct_change(sum(cost.value[1w]), 1w) > 30%
      - alert: ThreeDays
        expr: count(lead[3d]) > 1
      - alert: OffsetPastIt
        expr: count(lead[2h] offset 3d) > 1
      - alert: Calendar
        expr: consecutive(3, day, count(lead[day]) > 1)
  - name: hourly
    interval: 1h
    rules:
      - alert: WeekOverWeekHourly
        expr: pct_change(sum(cost.value[1w]), 1w) > 30%
      - alert: HalfYear
        expr: count(lead[100d] offset 100d) > 1
  - name: ninety
    interval: 90m
    rules:
      - alert: NotWholeHours
        expr: count(lead[4d]) > 1
  - name: daily-local
    interval: 1d
    timezone: Asia/Shanghai
    rules:
      - alert: LocalMidnights
        expr: count(lead[200d]) > 1
  - name: daily-utc
    interval: 1d
    timezone: UTC
    rules:
      - alert: UtcMidnights
        expr: count(lead[200d]) > 1
"""
    path = os.path.join(tmp, "retention.yaml")
    with open(path, "w") as f:
        f.write(RET)
    p = subprocess.run([ctl, "check", "rules", path], capture_output=True, text=True)
    lines = p.stdout.splitlines()
    want = [f"{path}:6:30: warning: at this group's ticks (every 1m) the range needs minute "
            "buckets from 1w back, but windows.retention.minute keeps 3d: the rule would be "
            "skipped at every tick; give it a group whose interval is whole hours (hour buckets "
            "are kept 130d), or raise windows.retention.minute",
            f"{path}:10:21: warning: at this group's ticks (every 1m) the range needs minute "
            "buckets from 3d2h back",
            f"{path}:19:21: warning: at this group's ticks (every 1h) the range needs hour "
            "buckets from 200d back, but windows.retention.hour keeps 130d: the rule would be "
            "skipped at every tick; raise windows.retention.hour",
            f"{path}:24:21: warning: at this group's ticks (every 1h30m) the range needs minute "
            "buckets from 4d back",
            # local midnights are whole hours, not whole days, in UTC: hour buckets
            f"{path}:30:21: warning: at this group's ticks (every 1d) the range needs hour "
            "buckets from 200d back"]
    for w in want:
        check(any(l.startswith(w) for l in lines), f"retention: {w.split(': ', 2)[2][:70]!r}")
    check(p.returncode == 0 and lines[-1].endswith("(5 warnings)"),
          "retention: warnings only, nothing else flagged (3d at minute ticks, calendar "
          "periods, a week over week at hourly ticks, 200d at UTC midnights): " + lines[-1])
    # the config's retention decides: with minute buckets kept 15 days the minutely one is fine
    cfg = os.path.join(tmp, "ret.yaml")
    with open(cfg, "w") as f:
        f.write("windows:\n  retention:\n    minute: 15d\n")
    p = subprocess.run([ctl, "-c", cfg, "check", "rules", path], capture_output=True, text=True)
    check(p.returncode == 0 and not any(":6:30:" in l for l in p.stdout.splitlines()),
          "retention: checked against the -c config's windows.retention")

    # journeyctl query applies the same checks before it touches Redis
    for q, msg in (("pct_change(count(a[1m]))", "pct_change() takes an expression"),
                   ("consecutive(3, fortnight, count(a[day]) > 1)", "consecutive() takes a count"),
                   ("ratio(count(a[1h]))", "ratio() takes two expressions")):
        p = subprocess.run([ctl, "query", q, "--at", "1700000040"], capture_output=True,
                           text=True)
        check(p.returncode == 2 and msg in p.stderr, f"query {q!r} refused: {p.stderr.strip()[:80]!r}")

    # replay: the silence rule over a file with a gap, messages exactly as alerts.md
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        for i in range(30):
            f.write(json.dumps({"event_id": f"e{i}", "type": "touch", "user_id": "u1",
                                "channel": "douyin",
                                "ts": f"2026-11-23T00:{i:02d}:00Z"}) + "\n")
        f.write(json.dumps({"event_id": "late", "type": "touch", "user_id": "u1",
                            "channel": "douyin", "ts": "2026-11-23T01:00:00Z"}) + "\n")
    p = subprocess.run([ctl, "replay", "--rules", os.path.join(root, "rules", "growth-ops.yaml"),
                        "--lateness", "0s", "--external-url", "http://host:9464", events],
                       capture_output=True, text=True)
    msgs = [json.loads(l) for l in p.stdout.splitlines()]
    silent = [m for m in msgs if m["groupLabels"]["alertname"] == "TrackingSilent"]
    check(p.returncode == 0, "replay exits 0")
    check(len(silent) == 1, f"one TrackingSilent message (got {len(silent)})")
    if silent:
        m = silent[0]
        a = m["alerts"][0]
        check(m["version"] == "4" and m["status"] == "firing" and m["receiver"] == "journey.alerts"
              and m["groupKey"] == '{}:{alertname="TrackingSilent"}' and m["truncatedAlerts"] == 0,
              "Alertmanager v4 envelope")
        check(a["startsAt"] == "2026-11-23T00:45:00Z" and a["evaluatedAt"] == a["startsAt"]
              and a["endsAt"] == "0001-01-01T00:00:00Z", "fires at 00:45, when 15 minutes hold no touch")
        check(a["labels"] == {"alertname": "TrackingSilent", "severity": "critical", "team": "data"},
              "labels: the rule's and alertname")
        check(a["seq"] == 1 and a["value"] == 1 and a["threshold"] is None, "seq, value, threshold")
        check(a["generatorURL"] == "http://host:9464/#TrackingSilent", "generatorURL")
        check(a["rule"]["group"] == "growth-ops" and a["rule"]["expr"] == "absent(touch[15m])",
              "rule group and expression")
        check(list(m.keys()) == ["version", "status", "receiver", "groupKey", "truncatedAlerts",
                                 "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                                 "alerts"], "keys in the order of alerts.md")
    check("1 late" not in p.stderr and "31 events" in p.stderr, "replay summary: " + p.stderr.strip())
print(f"1..{n}")
sys.exit(1 if bad else 0)
