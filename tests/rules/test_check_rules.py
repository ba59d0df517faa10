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


BROKEN = """tables:
  cap: {default: 10}
groups:
  - name: g
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
"""
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "broken.yaml")
    with open(path, "w") as f:
        f.write(BROKEN)
    p = subprocess.run([ctl, "check", "rules", path], capture_output=True, text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 1, "a broken rule file exits 1")
    want = [
        f"{path}:7:39: error: expr: unknown table nope",
        f"{path}:8:28: warning: severity 'urgent' is not one of",
        f"{path}:10:16: warning: ratio() without min_denominator",
        f"{path}:12:24: error: annotation summary: unknown variable '$valu'",
        f"{path}:16:11: error: expr: unknown function frob()",
        f"{path}:19:9: error: unknown key 'bogus' in rule",
        f"{path}:18:30: error: expr: expected ')'",
    ]
    for w in want:
        check(any(l.startswith(w) for l in lines), f"reports {w.split(': ', 1)[1][:60]!r}")
    check(lines[-1].startswith("FAILED: 5 errors, 2 warnings"), "counts errors and warnings")

    p = subprocess.run([ctl, "check", "rules", os.path.join(root, "rules")], capture_output=True,
                       text=True)
    check(p.returncode == 0 and "SUCCESS: 10 rules in 2 groups" in p.stdout,
          "the shipped rules compile without a warning: " + p.stdout.strip().splitlines()[-1])

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
