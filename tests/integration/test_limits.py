#!/usr/bin/python3
"""Cardinality limits: per event type and per rule, never silent, never unbounded.

journeyd runs with limits.types 4, limits.series_per_type 50 and
limits.series_per_rule 5 against a real redis-server and a mock-cluster
topic of one partition (so the order in which series appear is the
production order). A producer puts a fresh campaign in 80 label sets of
`touch` and invents six event types. Then:

- exactly the first 50 label sets of `touch` are applied (100 events: the
  windows count them exactly) and the 60 events of the 30 later ones are
  dead letters with `journeyd.error: cardinality` and a detail naming
  limits.series_per_type; Redis's series index holds 50 entries;
- of the six new types the first two are applied and four events are dead
  letters naming limits.types;
- /metrics shows journeyd_series{type="touch"} 50, the limits, and the 64
  dead letters by reason; promtool accepts the page;
- a rule that yields one series per campaign (50 > 5) fails at every tick
  with a message naming limits.series_per_rule (journeyd_rule_series_limited
  _total, /api/v1/rules lastError) and publishes nothing, while a rule with
  three series fires as usual;
- after a restart the guard knows the index from Redis: known label sets
  are applied, new ones are still dead letters.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import jdtest as jt

TOPICS = ["journey.events", "journey.events.dlq", "journey.alerts"]
tap = jt.Tap()
work = jt.workdir("limits")
rules_dir = os.path.join(work, "rules")
os.makedirs(rules_dir)
with open(os.path.join(rules_dir, "limits.yaml"), "w") as f:
    f.write("groups:\n  - name: limits\n    interval: 1m\n    rules:\n"
            "      - alert: EveryCampaign\n        expr: count by (campaign) (touch[1h]) > 0\n"
            "      - alert: EveryChannel\n        expr: count by (channel) (touch[1h]) > 0\n")
PORT = jt.free_port()
BASE = f"http://127.0.0.1:{PORT}"
CHANNELS = ["wechat", "douyin", "sem_baidu"]
# event time: recent (a minute boundary 30 minutes ago), so nothing is too old
T = (int(time.time()) // 60 - 30) * 60000
seq = 0


def event(type_, ts, **kw):
    global seq
    seq += 1
    e = {"event_id": f"e{seq}", "type": type_, "ts": jt.rfc3339(ts)}
    e.update(kw)
    return {"key": b"one", "value": json.dumps(e).encode(), "headers": None}


def touch(i, ts):
    return event("touch", ts, user_id=f"u{i}", channel=CHANNELS[i % 3], campaign=f"c-{i}")


def metrics():
    return jt.metric_samples(jt.http(BASE + "/metrics")[2])


def wait_counted(n, timeout=90):
    """Metrics once journeyd has counted n events (applied or dead letters)."""
    deadline = time.time() + timeout
    s = {}
    while time.time() < deadline:
        s = metrics()
        if jt.metric_total(s, "journeyd_events_total") >= n:
            break
        time.sleep(0.3)
    return s


def applied(s, type_):
    """Events of the type applied to windows (on time or late)."""
    return sum(jt.metric_total(s, "journeyd_events_total", type=type_, outcome=o)
               for o in ("ok", "late"))


def cardinality_letters():
    out = []
    for d in jt.read_topic(broker.bootstrap, "journey.events.dlq"):
        h = d["headers"] or []
        if "journeyd.error" in h and h[h.index("journeyd.error") + 1] == "cardinality":
            out.append((json.loads(d["payload"]), h[h.index("journeyd.detail") + 1]))
    return out


redis = jt.Redis(work)
redis.start()
broker = jt.Broker(1, TOPICS)
jd = jt.Journeyd(work, broker.bootstrap, f"unix://{redis.sock}", extra={
    "http.listen": f"127.0.0.1:{PORT}", "rules.dirs": rules_dir, "rules.idle_timeout": "2s",
    "limits.types": "4", "limits.series_per_type": "50", "limits.series_per_rule": "5",
    "attribution.models": ""})
try:
    jd.start(exit_on_eof=False)
    # lead and touch are the first two types; each campaign is sent twice, 1 s apart
    msgs = [event("lead", T, user_id="u0")]
    for r in range(2):
        msgs += [touch(i, T + (2 * i + r) * 1000) for i in range(80)]
    msgs += [event(f"type_{c}", T + 200000) for c in "abcdef"]
    msgs.append(event("lead", T + 10 * 60000, user_id="u0"))  # moves the watermark on
    jt.produce(broker.bootstrap, "journey.events", msgs)
    s = wait_counted(len(msgs))
    tap.eq(jt.metric_total(s, "journeyd_events_total"), len(msgs),
           f"all {len(msgs)} messages are accounted for")
    tap.eq(applied(s, "touch"), 100,
           "touch: the 100 events of the first 50 label sets are applied")
    tap.eq(jt.metric_total(s, "journeyd_dlq_messages_total", reason="cardinality"), 64,
           "64 dead letters counted as reason=cardinality (60 touches, 4 new types)")
    tap.eq(jt.metric_total(s, "journeyd_series", type="touch"), 50,
           "journeyd_series{type=\"touch\"} is 50")
    tap.eq((jt.metric_total(s, "journeyd_series_limit"), jt.metric_total(s, "journeyd_types"),
            jt.metric_total(s, "journeyd_types_limit")), (50, 4, 4),
           "journeyd_series_limit 50, journeyd_types 4 of journeyd_types_limit 4")

    letters = cardinality_letters()
    over = sorted({d["campaign"] for d, _ in letters if d["type"] == "touch"},
                  key=lambda c: int(c[2:]))
    tap.eq(over, [f"c-{i}" for i in range(50, 80)],
           "the dead-lettered touches are those of campaigns c-50..c-79, each event unchanged")
    tap.eq(sorted(d["type"] for d, _ in letters if d["type"] != "touch"),
           ["type_c", "type_d", "type_e", "type_f"],
           "the types beyond limits.types are dead letters; type_a and type_b are applied")
    details = {d["type"] == "touch": det for d, det in letters}
    tap.ok("limits.series_per_type (50)" in details.get(True, "") and
           'campaign "c-' in details.get(True, ""),
           "a refused touch's detail names the limit and the new labels", details.get(True))
    tap.ok("limits.types (4 types)" in details.get(False, ""),
           "a refused type's detail names limits.types", details.get(False))

    at = T + 10 * 60000
    tap.eq(jd.query_vector("count(touch[1h])", at), {(): "100"},
           "windows: count(touch[1h]) is exactly the 100 applied events")
    tap.eq(len(jd.query_vector("count by (campaign) (touch[1h])", at)), 50,
           "a query by campaign finds 50 series")
    hlen = redis.cli("HLEN", "{jd}:s:touch").strip()
    tap.eq(hlen, "50", "Redis's series index of touch holds 50 entries")

    # the rules: one series per campaign is over limits.series_per_rule, per channel is not
    deadline = time.time() + 60
    while time.time() < deadline:
        s = metrics()
        if jt.metric_total(s, "journeyd_rule_series_limited_total", rule="EveryCampaign") and \
                jt.metric_total(s, "journeyd_alert_messages_total", status="firing") >= 3:
            break
        time.sleep(0.5)
    limited = jt.metric_total(s, "journeyd_rule_series_limited_total", rule="EveryCampaign")
    tap.ok(limited >= 1, f"EveryCampaign was limited at {limited:.0f} ticks "
           "(journeyd_rule_series_limited_total)")
    tap.eq(jt.metric_total(s, "journeyd_rule_evaluation_failures_total", rule="EveryCampaign"),
           limited, "each limited tick is an evaluation failure")
    tap.eq(jt.metric_total(s, "journeyd_rule_series_limited_total", rule="EveryChannel"), 0,
           "EveryChannel (3 series) is never limited")
    rules = json.loads(jt.http(BASE + "/api/v1/rules")[2])
    last = {r["name"]: r.get("lastError", "") for g in rules["data"]["groups"]
            for r in g["rules"]}
    tap.ok("50 series exceed limits.series_per_rule (5)" in last.get("EveryCampaign", ""),
           "/api/v1/rules: EveryCampaign's lastError names the limit", last.get("EveryCampaign"))
    alerts, _ = jt.alerts_on(broker.bootstrap, "journey.alerts")
    names = [json.loads(v)["alerts"][0]["labels"]["alertname"] for _, v, _ in alerts]
    tap.eq(sorted(set(names)), ["EveryChannel"],
           f"the alerts topic has EveryChannel's alerts ({len(names)}) and none of EveryCampaign")
    tap.ok(jd.tail(100000).count("limits.series_per_rule") >= 1,
           "the log says why EveryCampaign failed")
    r = subprocess.run(["promtool", "check", "metrics"], input=jt.http(BASE + "/metrics")[2],
                       capture_output=True, text=True)
    tap.ok(r.returncode == 0, "promtool check metrics accepts the page", r.stdout + r.stderr)

    # restart: the guard starts from Redis's index
    jd.proc.send_signal(signal.SIGTERM)
    tap.eq(jd.wait(timeout=60), 0, "SIGTERM: journeyd exits 0")
    before = len(letters)
    jd.start(exit_on_eof=False)
    more = [touch(i, T + 300000 + i) for i in range(10)]
    more += [touch(i, T + 300000 + i) for i in range(100, 110)]
    more.append(event("type_z", T + 300000))
    jt.produce(broker.bootstrap, "journey.events", more)
    s = wait_counted(len(more))
    tap.eq(applied(s, "touch"), 10,
           "after a restart the 10 touches of known label sets are applied")
    tap.eq(jt.metric_total(s, "journeyd_series", type="touch"), 50,
           "the guard loaded touch's 50 series from Redis")
    new = cardinality_letters()[before:]
    tap.eq(sorted(d.get("campaign", d["type"]) for d, _ in new),
           sorted([f"c-{i}" for i in range(100, 110)] + ["type_z"]),
           "new label sets and a new type are still dead letters after the restart")
    tap.eq(jd.query_vector("count(touch[1h])", at), {(): "110"},
           "windows: 110 touches, exactly")
except Exception as e:  # report, never hang
    import traceback
    tap.ok(False, f"test raised {type(e).__name__}: {e}", traceback.format_exc())
finally:
    if jd.proc and jd.proc.poll() is None:
        jd.kill9()
    broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
