#!/usr/bin/python3
"""kill -9 at any moment, then restart: every total exactly as an
uninterrupted run (operations.md, "Delivery guarantees").

A producer streams a seeded mixed-dialect stream (with re-sends and malformed
messages) while journeyd is SIGKILLed at random moments and restarted, and
redis-server is SIGKILLed once mid-stream (AOF everysec) and restarted.
Small batches make the kills land in every phase of the loop (poll, decode,
flush script in flight, offset store, rebalance). Afterwards:
  - every window total equals the oracle computed from the generator;
  - a second, uninterrupted instance group (own Redis prefix) over the same
    topic computes exactly the same totals;
  - every malformed message is in the DLQ at least once (at-least-once DLQ).
"""
import random
import threading
import time

import jdtest as jt

tap = jt.Tap()
TOPICS = ["journey.events", "journey.events.dlq", "journey.alerts"]
work = jt.workdir("crash")
redis = jt.Redis(work)
broker = None
rnd = random.Random(2026)
try:
    redis.start()
    broker = jt.Broker(8, TOPICS)
    msgs, oracle = jt.generate(60000, seed=11)
    tap.diag(f"{len(msgs)} messages: {oracle['bad']} malformed, {oracle['dups']} re-sent")
    small = {"batch.max_events": "300"}
    jd = jt.Journeyd(work, broker.bootstrap, redis.url, prefix="crash", group="crash", extra=small)

    producer = threading.Thread(target=jt.produce,
                                args=(broker.bootstrap, "journey.events", msgs, 4000))
    producer.start()
    kills = 0
    redis_killed = False
    jd.start(exit_on_eof=False)
    while producer.is_alive() or kills < 6:
        time.sleep(rnd.uniform(1.0, 3.5))
        if kills == 3 and not redis_killed:
            redis.kill()  # SIGKILL redis-server mid-stream
            time.sleep(rnd.uniform(0.5, 2.0))
            redis.start()
            redis_killed = True
            continue
        jd.kill9()
        kills += 1
        jd.start(exit_on_eof=False)
    producer.join()
    jd.kill9()
    kills += 1
    tap.ok(kills >= 6, f"journeyd was SIGKILLed {kills} times mid-stream")
    tap.ok(redis_killed, "redis-server was SIGKILLed once mid-stream")

    jd.start(exit_on_eof=True)
    rc = jd.wait(timeout=600)
    tap.eq(rc, 0, "the last run drains the topic and exits 0")
    if rc:
        tap.diag(jd.tail())
    at = jt.T0_MS + 5 * 86400000
    jt.check_totals(tap, jd, oracle, at, "after kill -9 x%d" % kills)

    # an uninterrupted run over the same topic, its own group and prefix
    ref = jt.Journeyd(work, broker.bootstrap, redis.url, prefix="clean", group="clean")
    ref.start(exit_on_eof=True)
    tap.eq(ref.wait(timeout=600), 0, "the uninterrupted run exits 0")
    for expr in ("count by (channel) (touch[7d])", "sum by (channel) (conversion.value[7d])",
                 "sum(cost.value[7d])", "count(lead[7d])", "count(complaint[7d])",
                 "max(conversion.value[7d])", "min(cost.value[7d])"):
        tap.eq(jd.query_vector(expr, at), ref.query_vector(expr, at),
               f"crashed and uninterrupted runs agree: {expr}")

    dlq = jt.read_topic(broker.bootstrap, "journey.events.dlq")
    seen = set()
    for d in dlq:
        h = d["headers"]
        if "journeyd.source.offset" in h:
            seen.add((h[h.index("journeyd.source.partition") + 1],
                      h[h.index("journeyd.source.offset") + 1]))
    tap.eq(len(seen), oracle["bad"], "every malformed message reached the DLQ")
    tap.ok(len(dlq) >= 2 * oracle["bad"], "each group dead-lettered each of them at least once",
           f"{len(dlq)} dead letters")
    tap.diag(f"{len(dlq)} dead letters for {oracle['bad']} malformed messages in two groups "
             "(at-least-once: a kill between produce and flush may repeat one)")
finally:
    if broker:
        broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
