#!/usr/bin/python3
"""tools/bench_peer.py — the "straightforward Python consumer" tools/bench compares journeyd with.

    /usr/bin/python3 tools/bench_peer.py --brokers HOST:PORT --topic T --group G
        --redis-port P [--prefix peer] [--batch 10000] [--preaggregate] [--max-messages N]

What a team would write in an afternoon with Debian's python3-confluent-kafka,
python3-redis and python3-msgpack (operations.md, "Performance targets": "a
straightforward Python consumer ... pipelined per batch ... doing only window
counting"):

- a Consumer in a fresh group from the earliest offset, reading batches with
  consume(num_messages=--batch, timeout=0.1) (journeyd's batch.max_wait is
  100 ms too), enable.partition.eof to see where each partition ends;
- each message decoded as JSON or MessagePack (by its first byte) and its
  fields read in the dialects journeyd accepts (flat with `utm`, Segment
  `track`, CloudEvents structured and binary), so it counts what journeyd
  counts; messages without the required fields are skipped (journeyd
  dead-letters them);
- window counting only — no de-duplication, no attribution, no rules: per
  (type, channel) a minute, an hour and a day bucket counter (HINCRBY) and,
  for events with a value, the same three sums (HINCRBYFLOAT);
- by default one command per counter per event into a redis-py pipeline
  (transaction=False) executed once per batch — the straightforward version
  (--preaggregate sums the batch in a dict first, one command per distinct
  counter: what a team does next);
- offsets committed (asynchronously) after each batch's pipeline, and
  synchronously at the end; it stops once every partition reported its end
  (or after --max-messages: the rate is the same, the run shorter).

Timed from the first message received to the last pipeline executed. Prints
one JSON object on stdout: messages, counted, skipped, seconds, per_sec,
redis_commands, pipelines, mode.
"""
import argparse
import datetime
import json
import sys
import time

import msgpack
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
TYPE_MAP = {"Order Completed": "conversion", "Signed Up": "lead", "Ad Clicked": "touch"}


def iso_ms(s):
    """RFC 3339 text to epoch ms (Python 3.11's fromisoformat takes the 'Z')."""
    return int(datetime.datetime.fromisoformat(s).timestamp() * 1000)


def ts_ms(v):
    return v if isinstance(v, int) else iso_ms(v)


def snake(name):
    return TYPE_MAP.get(name) or "_".join(name.lower().split())


def event_of(msg):
    """(type, channel, ts_ms, value or None) of one message, or None if it is unusable."""
    raw = msg.value()
    headers = msg.headers()
    if headers:
        h = {k: v for k, v in headers}
        if b"1.0" == h.get("ce_specversion"):  # CloudEvents, binary mode
            data = (msgpack.unpackb(raw) if raw[:1] != b"{" else json.loads(raw)) if raw else {}
            typ = h.get("ce_type", b"").decode()
            return (TYPE_MAP.get(typ, typ), data.get("channel"), iso_ms(h["ce_time"].decode()),
                    data.get("value"))
    e = json.loads(raw) if raw[:1] == b"{" else msgpack.unpackb(raw)
    if "specversion" in e:  # CloudEvents, structured
        data = e.get("data") or {}
        return (TYPE_MAP.get(e["type"], e["type"]), data.get("channel"), iso_ms(e["time"]),
                data.get("value"))
    if e.get("type") == "track" and "event" in e:  # Segment
        camp = (e.get("context") or {}).get("campaign") or {}
        props = e.get("properties") or {}
        val = props.get("revenue", props.get("value", props.get("amount")))
        return (snake(e["event"]), camp.get("source"),
                ts_ms(e.get("timestamp") or e["originalTimestamp"]), val)
    ch = e.get("channel")
    if ch is None and "utm" in e:
        ch = e["utm"].get("source")
    return e["type"], ch, ts_ms(e["ts"]), e.get("value")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--prefix", default="peer")
    ap.add_argument("--batch", type=int, default=10000, help="consume(num_messages=...)")
    ap.add_argument("--max-messages", type=int, default=0, help="stop after this many (0: all)")
    ap.add_argument("--preaggregate", action="store_true",
                    help="sum each batch in a dict, then one command per distinct counter")
    a = ap.parse_args()

    r = redis.Redis(host="127.0.0.1", port=a.redis_port)
    c = Consumer({"bootstrap.servers": a.brokers, "group.id": a.group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    nparts = len(c.list_topics(a.topic, timeout=10).topics[a.topic].partitions)
    c.subscribe([a.topic])
    at_eof = set()
    messages = counted = skipped = commands = pipelines = 0
    first = last = None
    p = a.prefix
    while len(at_eof) < nparts and not (a.max_messages and messages >= a.max_messages):
        batch = c.consume(num_messages=a.batch, timeout=0.1)
        if not batch:
            continue
        pipe = r.pipeline(transaction=False)
        sums = {} if a.preaggregate else None
        n = 0
        for m in batch:
            err = m.error()
            if err:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(m.partition())
                    continue
                raise RuntimeError(str(err))
            if first is None:
                first = time.monotonic()
            at_eof.discard(m.partition())
            messages += 1
            try:
                typ, ch, ts, val = event_of(m)
            except (ValueError, KeyError, TypeError, AttributeError,
                    msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError):
                skipped += 1
                continue
            if not ch or not isinstance(typ, str):
                skipped += 1
                continue
            counted += 1
            for res, width in (("m", MINUTE), ("h", HOUR), ("d", DAY)):
                key = f"{p}:{typ}:{ch}:{res}"
                bucket = ts // width
                if sums is not None:
                    k = (key, bucket)
                    sums[k] = sums.get(k, 0) + 1
                    if val is not None:
                        k = (key + ":sum", bucket)
                        sums[k] = sums.get(k, 0.0) + val
                    continue
                pipe.hincrby(key, bucket, 1)
                n += 1
                if val is not None:
                    pipe.hincrbyfloat(key + ":sum", bucket, val)
                    n += 1
        if sums:
            for (key, bucket), v in sums.items():
                if isinstance(v, int):
                    pipe.hincrby(key, bucket, v)
                else:
                    pipe.hincrbyfloat(key, bucket, v)
            n += len(sums)
        if n:
            pipe.execute()
            commands += n
            pipelines += 1
            last = time.monotonic()
        if messages:
            c.commit(asynchronous=True)
    try:
        c.commit(asynchronous=False)
    except KafkaException as e:  # nothing new to commit
        if e.args[0].code() != KafkaError._NO_OFFSET:
            raise
    c.close()
    secs = (last - first) if first is not None and last is not None else 0.0
    json.dump({"messages": messages, "counted": counted, "skipped": skipped,
               "seconds": round(secs, 3), "per_sec": round(messages / secs) if secs else 0,
               "redis_commands": commands, "pipelines": pipelines,
               "mode": "preaggregate" if a.preaggregate else "per-event"}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
