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
  - every malformed message is in the DLQ at least once (at-least-once DLQ);
  - instances joining, leaving and dying in one group mid-stream (each a
    rebalance with batches in flight) still give exact totals.
"""
import os
import random
import signal
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

    producer = jt.Producing(broker.bootstrap, "journey.events", msgs, 4000)
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

    # --- scale-out: instances join and leave one group mid-stream ----------
    # Each join and leave is a rebalance (eager: everything revoked, then
    # re-assigned) while batches are in flight; every total must still be
    # exact. A last instance drains whatever the others left.
    more, oracle2 = jt.generate(20000, seed=12, t0=jt.T0_MS + 86400000)
    both = jt.merge_oracles(oracle, oracle2)
    scale = []
    for name in ("scale-a", "scale-b"):
        os.makedirs(os.path.join(work, name))  # each its own config and log
        scale.append(jt.Journeyd(os.path.join(work, name), broker.bootstrap, redis.url,
                                 prefix="scale", group="scale", extra=small))
    a, b = scale
    producer = jt.Producing(broker.bootstrap, "journey.events", more, 1000)
    producer.start()

    a.start(exit_on_eof=False)
    ok = a.wait_log("partition claimed")
    b.start(exit_on_eof=False)  # joins: everything is revoked and shared out
    ok = b.wait_log("partition claimed") and ok
    a.proc.send_signal(signal.SIGTERM)  # leaves cleanly: b takes everything
    tap.eq(a.wait(timeout=60), 0, "scale-out: an instance leaves with SIGTERM and exits 0")
    ok = b.wait_log("partitions assigned", 2) and ok
    a.start(exit_on_eof=False)  # and comes back
    ok = a.wait_log("partitions assigned", 2) and ok
    tap.ok(ok, "scale-out: a join, a leave and a rejoin were each served")
    producer.join()
    b.kill9()  # one dies: its partitions move after the session timeout
    a.proc.send_signal(signal.SIGTERM)
    a.wait(timeout=60)
    a.start(exit_on_eof=True)
    tap.eq(a.wait(timeout=600), 0, "scale-out: the last instance drains and exits 0")
    jt.check_totals(tap, a, both, at, "scale-out with joins, leaves and a kill")
finally:
    if broker:
        broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
