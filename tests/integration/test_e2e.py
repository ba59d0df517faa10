#!/usr/bin/python3
"""End to end: the journeyd binary, a Kafka-protocol broker, a real Redis.

A seeded stream in all dialects (flat JSON, MessagePack, Segment, CloudEvents
structured and binary) with re-sent duplicates and malformed messages is
produced by python3-confluent-kafka. journeyd runs to the end of the topic
(--exit-on-eof); every total from `journeyctl query` must equal the oracle
computed from the generator, the DLQ must hold exactly the malformed
messages with their reason headers, and a second run over the same topic
must change nothing. Also: the command-line contract (--version,
--check-config, exit 78 with file:line:col, SIGTERM drains and exits 0),
Redis being down at start, a key journeyd cannot write (held, named, then
resumed), and auto.offset.reset=latest surviving a crash before the first
batch.
"""
import os
import re
import signal
import subprocess
import time

import jdtest as jt

tap = jt.Tap()
TOPICS = ["journey.events", "journey.events.dlq", "journey.alerts"]
work = jt.workdir("e2e")
redis = jt.Redis(work)
broker = None
try:
    # --- the command-line contract ---------------------------------------
    r = subprocess.run([jt.JOURNEYD, "--version"], capture_output=True, text=True)
    tap.ok(r.returncode == 0 and all(x in r.stdout for x in
                                    ("journeyd", "librdkafka", "hiredis", "msgpack-c", "libyaml")),
           "--version names journeyd and its libraries", r.stdout)
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w") as f:
        f.write("kafka:\n  bokers: x\nredis:\n  url: 5\n  prefix: jd\nbatch:\n  max_events: -1\n")
    r = subprocess.run([jt.JOURNEYD, "--check-config", "-c", bad], capture_output=True, text=True)
    tap.eq(r.returncode, 78, "--check-config on a bad file exits 78")
    tap.ok(f"{bad}:2:3: unknown key 'kafka.bokers' (did you mean 'kafka.brokers'?)" in r.stderr,
           "unknown key reported as file:line:col with a suggestion", r.stderr)
    tap.ok(f"{bad}:7:15: batch.max_events: must be between" in r.stderr,
           "every error is reported, not just the first", r.stderr)
    r = subprocess.run([jt.JOURNEYD, "--check-config", "-c", bad], capture_output=True, text=True,
                       env=dict(os.environ, JOURNEYD_KAFKA_GROPU="x"))
    tap.ok("JOURNEYD_KAFKA_GROPU is not a journeyd setting" in r.stderr,
           "unknown JOURNEYD_ environment variables are errors", r.stderr)

    # --- the stream --------------------------------------------------------
    redis.start()
    broker = jt.Broker(8, TOPICS)
    msgs, oracle = jt.generate(20000, seed=7)
    tap.diag(f"{len(msgs)} messages: {oracle['bad']} malformed, {oracle['dups']} re-sent")
    jt.produce(broker.bootstrap, "journey.events", msgs)

    jd = jt.Journeyd(work, broker.bootstrap, redis.url)
    jd.start(exit_on_eof=True)
    rc = jd.wait(timeout=300)
    tap.eq(rc, 0, "journeyd --exit-on-eof drains the topic and exits 0")
    if rc:
        tap.diag(jd.tail())
    at = jt.T0_MS + 5 * 86400000  # [at - 7d, at) holds the whole stream
    jt.check_totals(tap, jd, oracle, at, "first run")

    dlq = jt.read_topic(broker.bootstrap, "journey.events.dlq")
    tap.eq(len(dlq), oracle["bad"], "the DLQ holds exactly the malformed messages")
    tap.eq(sorted(jt.payload_bytes(d) for d in dlq),
           sorted(m["value"] for m in msgs if m["kind"] == "bad"),
           "dead letters carry the original bytes")
    hdr_ok = all({"journeyd.error", "journeyd.detail", "journeyd.source.topic",
                  "journeyd.source.partition", "journeyd.source.offset"} <=
                 set(d["headers"][0::2]) for d in dlq)
    tap.ok(hdr_ok, "every dead letter has reason and source headers")
    reasons = {d["headers"][d["headers"].index("journeyd.error") + 1] for d in dlq}
    tap.ok(reasons <= {"json_syntax", "bad_type", "missing_field", "not_object", "bad_utf8",
                       "bad_ts", "bad_encoding"} and len(reasons) >= 4, f"DLQ reasons are machine codes: {sorted(reasons)}")
    stats = dict(zip(*[iter(redis.cli("HGETALL", "{jd}:stats").split("\n"))] * 2))
    tap.eq(int(stats.get("dup", 0)), oracle["dups"], "duplicates counted exactly once each")
    tap.eq(int(stats.get("dlq", 0)), oracle["bad"], "DLQ count recorded with the batch")

    # --- a second run over the same topic changes nothing --------------------
    jd.start(exit_on_eof=True)
    tap.eq(jd.wait(timeout=300), 0, "second run exits 0")
    jt.check_totals(tap, jd, oracle, at, "after a second run")

    # --- a fetch queue smaller than a batch's worth: the waker keeps it fed -----
    # librdkafka 2.0.2 stops fetching once its queue passes queued.min.messages
    # and looks again up to a second later; consume.c wakes it. Over a fresh
    # prefix (its own totals) the run must wake it and lose nothing.
    small = os.path.join(work, "small-queue")
    os.makedirs(small)
    sq = jt.Journeyd(small, broker.bootstrap, redis.url, prefix="jdsq", group="it-sq",
                     extra={"kafka.consumer.queued.min.messages": "2000",
                            "batch.max_events": "500"})
    sq.start(exit_on_eof=True)
    tap.eq(sq.wait(timeout=300), 0, "small fetch queue: drains the topic and exits 0")
    m = re.search(r'msg="stopped" .* fetch_wakes=(\d+)', sq.tail(400))
    tap.ok(m and int(m.group(1)) > 0, "small fetch queue: the fetcher was woken",
           m.group(0)[-200:] if m else sq.tail(5))
    jt.check_totals(tap, sq, oracle, at, "small fetch queue")

    # --- SIGTERM drains and exits 0 ------------------------------------------
    jd.start(exit_on_eof=False)
    time.sleep(5)
    jd.proc.send_signal(signal.SIGTERM)
    tap.eq(jd.wait(timeout=60), 0, "SIGTERM: drain and exit 0")

    # --- Redis down at start: pause, retry, resume -----------------------------
    redis.kill()
    more, oracle2 = jt.generate(3000, seed=8, t0=jt.T0_MS + 86400000)
    jt.produce(broker.bootstrap, "journey.events", more)
    jd.start(exit_on_eof=True)
    time.sleep(4)
    tap.ok(jd.proc.poll() is None, "journeyd keeps running while Redis is down")
    redis.start()
    tap.eq(jd.wait(timeout=300), 0, "resumes once Redis is back and drains")
    merged = jt.merge_oracles(oracle, oracle2)
    jt.check_totals(tap, jd, merged, at + 86400000, "after the Redis outage")
    tap.ok("Redis" in jd.tail(200), "the outage is logged", jd.tail(5))

    # --- a key the flush cannot write: hold, say which, resume once fixed ----
    # Someone else's value where journeyd's counters go. The flush script
    # refuses the whole batch before writing; journeyd pauses and retries
    # with backoff (no crash, no partial batch), and once the key is deleted
    # it applies everything exactly once.
    os.makedirs(os.path.join(work, "held"))
    held = jt.Journeyd(os.path.join(work, "held"), broker.bootstrap, redis.url, prefix="held",
                       group="held")
    redis.cli("SET", "{held}:stats", "not a hash")
    held.start(exit_on_eof=True)
    deadline = time.time() + 60
    while time.time() < deadline and "cannot write" not in held.tail(200):
        time.sleep(0.2)
    time.sleep(2)
    tap.ok(held.proc.poll() is None and "{held}:stats: is not a hash" in held.tail(200),
           "an unwritable key holds the partitions and is named in the log", held.tail(5))
    tap.eq(redis.cli("EXISTS", "{held}:p:journey.events:0"), "1",
           "partitions are claimed while held")
    tap.eq(redis.cli("HGET", "{held}:p:journey.events:0", "next"), "0",
           "nothing was applied while held (the offset is still the pinned start)")
    redis.cli("DEL", "{held}:stats")
    tap.eq(held.wait(timeout=300), 0, "once the key is gone it drains and exits 0")
    jt.check_totals(tap, held, merged, at + 86400000, "after the held flush")

    # --- auto.offset.reset=latest: the first claim pins the start -----------
    # A new deployment (its own prefix and group) starts at the end of the
    # topic and is killed before its first batch; events produced meanwhile
    # must be counted by the restart, not skipped because "the end" moved.
    os.makedirs(os.path.join(work, "late"))  # its own config and log
    late = jt.Journeyd(os.path.join(work, "late"), broker.bootstrap, redis.url, prefix="late",
                       group="late")
    latest = ("-X", "auto.offset.reset=latest")
    late.start(exit_on_eof=False, args=latest)
    deadline = time.time() + 60
    while time.time() < deadline and late.tail(400).count("from=first_claim") < 8:
        time.sleep(0.2)
    claimed = late.tail(400).count("from=first_claim")
    late.kill9()
    tap.eq(claimed, 8, "latest: every partition's start pinned at its first claim")
    t3 = jt.T0_MS + 30 * 86400000
    third, oracle3 = jt.generate(2000, seed=9, t0=t3)
    jt.produce(broker.bootstrap, "journey.events", third)
    late.start(exit_on_eof=True, args=latest)
    tap.eq(late.wait(timeout=300), 0, "latest: the restart drains and exits 0")
    failed = tap.failed
    jt.check_totals(tap, late, oracle3, t3 + 5 * 86400000, "latest, restarted before a batch")
    if tap.failed > failed:  # once seen in CI, never reproduced: show where each run read from
        with open(late.log) as f:
            for line in f:
                if re.search(r"partition claimed|assign|revok|rebalance|at its end|skipped|"
                             r"no longer holds|stopped|error", line):
                    tap.diag(line.rstrip()[:300])
finally:
    if broker:
        broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
