#!/usr/bin/python3
"""Rules end to end through Kafka (rules.md, alerts.md, operations.md).

1. Every seed rule's unit-test timeline (rules/tests/*.test.yaml, whose
   hand-computed expectations `journeyctl test rules` checks) is produced
   into Kafka; journeyd consumes it with the shipped rules and publishes to
   the alerts topic; kcat reads the messages back. They must be exactly,
   byte for byte, the messages `journeyctl replay` computes from the same
   events (so the daemon fires and resolves at the hand-computed ticks),
   in per-alert order with seq 1, 2, 3 …, with the CloudEvents headers.
2. Two instances in one group and one Redis: exactly one evaluates (the
   lease); one is SIGKILLed mid-stream and the other takes over; together
   they publish exactly the alerts one instance publishes, none missing,
   none duplicated (a repeat is only allowed as the same fingerprint and
   seq with the same body).
3. State lives in Redis: a restart neither re-pends nor re-fires; SIGHUP
   with a broken rule file keeps the old rules, with a good one swaps them
   in; a late event is counted and alerts already sent are not retracted;
   the heartbeat alert is always firing.
4. A quiet partition does not hold the watermark: one partition gets a
   single event just before a tick and nothing more, the others keep
   moving; with an idle timeout of an hour the tick is evaluated anyway,
   because the consumer reports the quiet partition at its log end (its
   event time moves on by the wall time since). Event times are fixed, not
   the clock's: the partition moves on from its own event time.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import jdtest as jt

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = [os.path.join(SRC, "rules", f) for f in ("growth-daily.yaml", "growth-ops.yaml")]
TESTS = [os.path.join(SRC, "rules", "tests", f)
         for f in ("growth-daily.test.yaml", "growth-ops.test.yaml")]
URL = "http://journeyd.test:9464"

tap = jt.Tap()
work = jt.workdir("alerts")
# one copy of the shipped rules that every instance and the replay load: the
# messages name the rule file
RULES_DIR = os.path.join(work, "rules")
os.makedirs(RULES_DIR)
for r in RULES:
    shutil.copy(r, RULES_DIR)


def events_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def as_msgs(events):
    """Keyed by user (journeys stay on one partition), JSON values."""
    return [{"key": (e.get("user_id") or "anon").encode(), "value": json.dumps(e).encode(),
             "headers": None} for e in events]


def replay(path, alerts_topic, lateness="0s"):
    """What `journeyctl replay` publishes for the events of \p path (same rules, same topic)."""
    cfg = os.path.join(work, f"replay-{alerts_topic}.yaml")
    with open(cfg, "w") as f:
        f.write(f"kafka:\n  topics:\n    alerts: \"{alerts_topic}\"\n")
    args = [jt.JOURNEYCTL, "-c", cfg, "replay", "--lateness", lateness, "--external-url", URL,
            "--quiet", "--rules", RULES_DIR]
    r = subprocess.run(args + [path], capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise RuntimeError(f"replay {path}: {r.stderr}")
    return [l for l in r.stdout.splitlines() if l.strip()]


def check_same(got, want, name):
    """Same messages (as a multiset) and, per fingerprint, seq 1, 2, 3 … in topic order."""
    g = sorted(v for _, v, _ in got)
    w = sorted(want)
    if not tap.ok(g == w, f"{name}: {len(got)} alert messages, exactly those of replay ({len(w)})",
                  "missing: " + "; ".join([x[-400:] for x in w if x not in g][:2]) +
                  "\nunexpected: " + "; ".join([x[-400:] for x in g if x not in w][:2])):
        return
    seqs = {}
    ordered = True
    for key, v, _ in got:
        a = json.loads(v)["alerts"][0]
        ordered &= a["fingerprint"] == key and a["seq"] == seqs.get(key, 0) + 1
        seqs[key] = a["seq"]
    tap.ok(ordered, f"{name}: keyed by fingerprint, seq 1, 2, 3 … in topic order")


def setup_instance(d, broker, redis, prefix, group, topic, alerts, extra=None):
    os.makedirs(d, exist_ok=True)
    ex = {"kafka.topics.events": topic, "kafka.topics.alerts": alerts,
          "kafka.topics.dlq": topic + ".dlq", "rules.lateness": "0s",
          "http.external_url": URL, "rules.lease_ttl": "2s", "rules.idle_timeout": "2s",
          "rules.dirs": RULES_DIR}
    ex.update(extra or {})
    return jt.Journeyd(d, broker.bootstrap, redis.url, prefix=prefix, group=group, extra=ex)


def quiet_partition():
    from confluent_kafka import Producer
    qrules = os.path.join(work, "quiet-rules")
    os.makedirs(qrules)
    with open(os.path.join(qrules, "quiet.yaml"), "w") as f:
        f.write("groups:\n  - name: quiet\n    interval: 1m\n    rules:\n"
                "      - alert: QuietMarker\n        expr: count by (channel) (marker[1m]) > 0\n"
                "        labels: {severity: info}\n")
    q = setup_instance(os.path.join(work, "quiet"), broker, redis, "q", "q", "quiet",
                       "quiet.alerts", {"rules.dirs": qrules, "rules.idle_timeout": "1h"})
    q.start(exit_on_eof=False)
    tap.ok(q.wait_log("evaluating rules (lease taken)", timeout=60), "quiet: journeyd evaluates")
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})

    def send(part, ev):
        p.produce("quiet", value=json.dumps(ev).encode(), key=ev["user_id"].encode(),
                  partition=part)
        p.flush(10)

    t0 = 1795392000000 + 59000  # 2026-11-23T00:00:59Z: one second before a tick
    send(0, {"type": "marker", "ts": jt.rfc3339(t0), "user_id": "m", "event_id": "m",
             "channel": "web"})
    fired, i = False, 0
    end = time.time() + 60
    while time.time() < end and not fired:
        # the other partitions move on (event time well past the tick); partition 0 stays quiet
        for part in (1, 2, 3):
            send(part, {"type": "touch", "ts": jt.rfc3339(t0 + 5000 + i * 1000),
                        "user_id": f"u{i}", "event_id": f"t{part}-{i}", "channel": "web"})
        i += 1
        time.sleep(0.3)
        got, _ = jt.alerts_on(broker.bootstrap, "quiet.alerts")
        fired = any(json.loads(v)["alerts"][0]["labels"]["alertname"] == "QuietMarker"
                    for _, v, _ in got)
    tap.ok(fired, "quiet partition: the tick after its only event is evaluated while it is "
           "quiet (idle timeout 1h)", q.tail())
    meta = redis.cli("HMGET", "{q}:p:quiet:0", "st", "wt", "ct").split()
    tap.ok(len(meta) == 3 and int(meta[0]) == t0 and int(meta[2]) > int(meta[1]),
           "quiet partition: Redis records it at its log end after its last batch", meta)
    q.proc.send_signal(signal.SIGTERM)
    tap.ok(q.wait(timeout=60) == 0, "quiet: stopped cleanly", q.tail())


redis = jt.Redis(work)
broker = None
try:
    redis.start()
    # the seed cases (topics c1..c11), the two-instance run, the state checks
    ncases = 11
    topics = []
    for k in range(1, ncases + 1):
        topics += [f"c{k}", f"c{k}.alerts"]
    topics += ["two", "two.alerts.one", "two.alerts.two", "st", "st.alerts", "quiet",
               "quiet.alerts"]
    broker = jt.Broker(4, topics)
    evdir = os.path.join(work, "events")
    os.makedirs(evdir)
    r = subprocess.run([jt.JOURNEYCTL, "test", "rules", "--events-out", evdir] + TESTS,
                       capture_output=True, text=True)
    tap.ok(r.returncode == 0, "journeyctl test rules: every hand-computed seed timeline holds",
           r.stdout[-2000:])

    # ---------------------------------------------------------------- 1
    # (developing: JD_CASES="3 6" runs only those cases, JD_SECTIONS="1" only section 1)
    # The cases are independent (own topics, prefixes and groups in one Redis and one
    # broker), so they run three at a time; their checks are reported in case order.
    only = [int(x) for x in os.environ.get("JD_CASES", "").split()] or range(1, ncases + 1)
    sections = os.environ.get("JD_SECTIONS", "1234")

    def run_case(k, topic, alerts, prefix, group):
        t0 = time.time()
        path = os.path.join(evdir, f"{k}.ndjson")
        evs = events_of(path)
        want = replay(path, alerts)
        jt.produce(broker.bootstrap, topic, as_msgs(evs))
        j = setup_instance(os.path.join(work, prefix), broker, redis, prefix, group, topic, alerts)
        j.start(exit_on_eof=True)
        rc = j.wait(timeout=300)
        got, beats = jt.alerts_on(broker.bootstrap, alerts) if rc == 0 else ([], [])
        return evs, want, rc, j.tail(), got, beats, time.time() - t0

    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(max_workers=3)
    jobs = {k: pool.submit(run_case, k, f"c{k}", f"c{k}.alerts", f"c{k}", f"g{k}")
            for k in (only if "1" in sections else [])}
    if "2" in sections:
        # section 2's reference: a single instance over case 11's events, own prefix and group
        jobs["one"] = pool.submit(run_case, 11, "two", "two.alerts.one", "one", "one")
    for k in (only if "1" in sections else []):
        evs, want, rc, tail, got, beats, secs = jobs[k].result()
        if not tap.ok(rc == 0, f"case {k}: journeyd consumed {len(evs)} events and exited 0",
                      tail):
            continue
        check_same(got, want, f"case {k}")
        tap.diag(f"case {k}: {secs:.1f} s")
        if k == 3 and got:
            hdrs = got[0][2]
            a = json.loads(got[0][1])["alerts"][0]
            tap.ok(hdrs.get("ce_specversion") == "1.0" and
                   hdrs.get("ce_id") == f"{a['fingerprint']}-1" and
                   hdrs.get("ce_type") == "journeyd.alert.firing" and
                   hdrs.get("ce_subject") == a["labels"]["alertname"] and
                   hdrs.get("content-type") == "application/json",
                   "CloudEvents headers on the alert messages", hdrs)
        if k == 1:
            b = [json.loads(v)["alerts"][0] for _, v, _ in beats]
            tap.ok(len(b) >= 1 and all(x["status"] == "firing" and
                                       x["labels"]["severity"] == "info" for x in b),
                   f"the heartbeat alert is firing ({len(b)} heartbeat messages)")

    # ---------------------------------------------------------------- 4
    if "4" in sections:
        quiet_partition()

    # ---------------------------------------------------------------- 2
    if "2" not in sections:
        raise SystemExit
    # the longest seed timeline (case 11), into two instances of one group (the reference,
    # a single instance over the same topic, ran with section 1)
    path = os.path.join(evdir, "11.ndjson")
    want2 = replay(path, "two.alerts.two")
    _, want, rc, tail, ref, _, _ = jobs["one"].result()
    pool.shutdown()
    tap.ok(rc == 0, "reference instance exited 0", tail)
    check_same(ref, want, "one instance")

    # a takeover waits out the session timeout (6 s) before the partitions move: the
    # watermark must not treat the dead instance's partitions as idle meanwhile, so
    # the idle timeout is longer than the takeover (rules/README.md)
    small = {"batch.max_events": "200", "rules.idle_timeout": "20s"}
    a = setup_instance(os.path.join(work, "a"), broker, redis, "two", "two", "two",
                       "two.alerts.two", small)
    b = setup_instance(os.path.join(work, "b"), broker, redis, "two", "two", "two",
                       "two.alerts.two", small)
    a.start(exit_on_eof=False)
    tap.ok(a.wait_log("evaluating rules (lease taken)", timeout=60), "instance A took the evaluator lease")
    b.start(exit_on_eof=False)
    time.sleep(1.0)
    leaders = sum("evaluating rules (lease taken)" in open(x.log).read() for x in (a, b))
    tap.eq(leaders, 1, "exactly one of two instances evaluates")
    a.kill9()  # mid-stream: the leader dies holding the lease
    tap.ok(b.wait_log("evaluating rules (lease taken)", timeout=30),
           "instance B took the lease over after A was killed")
    # B finishes the stream; once idle its watermark reaches the last event (the wait
    # ends as soon as every alert is there: the bound only matters for slow builds)
    start = time.time()
    got = []
    while time.time() < start + 300:
        got, _ = jt.alerts_on(broker.bootstrap, "two.alerts.two")
        if len({(k, json.loads(v)["alerts"][0]["seq"]) for k, v, _ in got}) >= len(want):
            break
        time.sleep(1)
    tap.diag(f"instance B delivered the alerts {time.time() - start:.0f} s after taking over")
    b.proc.send_signal(signal.SIGTERM)
    tap.ok(b.wait(timeout=60) == 0, "instance B stopped cleanly on SIGTERM", b.tail())
    got, _ = jt.alerts_on(broker.bootstrap, "two.alerts.two")
    uniq = {}
    same = True
    for k, v, _ in got:
        s = json.loads(v)["alerts"][0]["seq"]
        same &= uniq.setdefault((k, s), v) == v
    tap.ok(same, f"repeats ({len(got) - len(uniq)}) are only the same fingerprint and seq, "
           "byte for byte")
    def brief(v):
        a = json.loads(v)["alerts"][0]
        return (a["labels"]["alertname"], a["seq"], a["status"], a["evaluatedAt"])
    tap.ok(sorted(uniq.values()) == sorted(want2),
           "two instances, one killed: no missing and no duplicate alert",
           f"missing {sorted(set(map(brief, want2)) - set(map(brief, uniq.values())))}\n"
           f"unexpected {sorted(set(map(brief, uniq.values())) - set(map(brief, want2)))}")

    # ---------------------------------------------------------------- 3
    # restart keeps state; SIGHUP; late events
    path = os.path.join(evdir, "3.ndjson")  # leads outpace capacity: fires, 18 repeats, resolves
    evs = events_of(path)
    want = replay(path, "st.alerts")
    half = [e for e in evs if e["ts"] < "2026-11-23T18:00:00Z"]
    rest = evs[len(half):]
    jt.produce(broker.bootstrap, "st", as_msgs(half))
    s = setup_instance(os.path.join(work, "st"), broker, redis, "st", "st", "st", "st.alerts")
    s.start(exit_on_eof=True)
    tap.ok(s.wait(timeout=300) == 0, "first half consumed", s.tail())
    first, _ = jt.alerts_on(broker.bootstrap, "st.alerts")
    tap.ok(len(first) >= 2, f"the alert fired before the restart ({len(first)} messages)")
    # a restart, then the rest: no re-pending, no re-firing: the union is the replay
    jt.produce(broker.bootstrap, "st", as_msgs(rest))
    s.start(exit_on_eof=False)
    tap.ok(s.wait_log("evaluating rules (lease taken)", timeout=60), "restarted instance evaluates")
    time.sleep(1)
    # a broken rule file: the old rules keep running
    bad = os.path.join(RULES_DIR, "zz-broken.yaml")
    with open(bad, "w") as f:
        f.write("groups:\n  - name: broken\n    interval: 1m\n    rules:\n"
                "      - alert: Broken\n        expr: count(lead[1h] >\n")
    s.proc.send_signal(signal.SIGHUP)
    tap.ok(s.wait_log("reload failed: the previous rules keep running", timeout=60),
           "SIGHUP with a broken file: reload refused, old rules kept")
    log = open(s.log).read()
    tap.ok("zz-broken.yaml:6:" in log, "the reload error names file:line:col")
    os.unlink(bad)
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    tap.ok(open(s.log).read().count("rules loaded") >= 2, "SIGHUP with good files: rules swapped")
    end = time.time() + 120
    while time.time() < end:
        got, _ = jt.alerts_on(broker.bootstrap, "st.alerts")
        if len(got) >= len(want):
            break
        time.sleep(1)
    # a late event: counted, and nothing already sent is retracted or re-sent
    late = [{"type": "lead", "ts": "2026-11-23T16:00:00Z", "user_id": "late-user",
             "event_id": "late-1", "channel": "douyin"}]
    jt.produce(broker.bootstrap, "st", as_msgs(late))
    time.sleep(3)
    s.proc.send_signal(signal.SIGTERM)
    tap.ok(s.wait(timeout=60) == 0, "stopped cleanly", s.tail())
    got, _ = jt.alerts_on(broker.bootstrap, "st.alerts")
    tap.eq(sorted(v for _, v, _ in got), sorted(want),
           "restart + reload + a late event: exactly the replay's messages, none re-sent")
    late_n = redis.cli("HGET", "{st}:stats", "late").strip()
    tap.eq(late_n, "1", "the late event is counted")
except SystemExit:
    pass
except Exception as e:  # report, never hang
    import traceback
    tap.ok(False, f"test raised {type(e).__name__}: {e}", traceback.format_exc())
finally:
    if broker:
        broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
