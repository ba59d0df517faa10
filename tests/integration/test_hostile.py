#!/usr/bin/python3
"""Hostile messages through Kafka: each to the DLQ with its reason, memory bounded.

A corpus of bad messages of many kinds — truncated, deeply nested, huge
strings, invalid UTF-8, NaN/Infinity, duplicate keys, wrong types,
out-of-range numbers, MessagePack with lying lengths, empty, tombstones,
a null key, oversized, unknown dialects — is produced (python3-confluent-
kafka) to a real mock-cluster topic between valid events, round after
round, while journeyd runs with a real redis-server. Then, read back with
kcat:

- every bad message is in the DLQ exactly once per time it was sent, its
  bytes unchanged, with `journeyd.error` = the reason this corpus expects
  for its kind and a `journeyd.detail`;
- every valid message (a null key included) is counted, none lost;
- journeyd's resident memory after the last rounds is within a few MB of
  what it was after the first ones (no growth per bad message), and the
  daemon never stopped;
- user-controlled strings that look like key syntax, hash tags, globs or
  other keys (as user_id, channel and props) never appear in a Redis key,
  and each comes back from a query as its own series, byte for byte.

The figures (kinds, messages, RSS) are printed as TAP diagnostics.
"""
import json
import os
import signal
import time

import jdtest as jt

TOPICS = ["journey.events", "journey.events.dlq", "journey.alerts"]
with open(jt.JOURNEYD, "rb") as f:
    ASAN = b"__asan_init" in f.read()
TS = 1795400000000  # 2026-11-23T…Z, within max_future of any clock after it


def ev(**kw):
    e = {"event_id": "h", "type": "lead", "ts": TS, "user_id": "u", "channel": "wechat"}
    e.update(kw)
    return json.dumps(e, separators=(",", ":")).encode()


def nested(n):
    return b'{"event_id":"h","type":"lead","ts":1,"props":' + b'{"a":' * n + b"1" + b"}" * n + b"}"


def mp_str32_lying():
    # a map of one pair whose key claims 1,000,000,000 bytes
    return b"\x81\xdb\x3b\x9a\xca\x00event_id"


KEY = b"k"  # replaced by the kind's name: the DLQ keeps the key, spread over partitions


def corpus():
    """(kind, key, value, headers, expected journeyd.error)."""
    big = "x" * 20000
    c = [
        ("empty", KEY, b"", None, "empty"),
        ("tombstone", KEY, None, None, "empty"),
        ("truncated_json", KEY, ev()[:-7], None, "json_syntax"),
        ("trailing_garbage", KEY, ev() + b" x", None, "json_syntax"),
        ("nan", KEY, b'{"event_id":"h","type":"lead","ts":1,"value":NaN}', None, "json_syntax"),
        ("infinity", KEY, b'{"event_id":"h","type":"lead","ts":1,"value":-Infinity}', None,
         "json_syntax"),
        ("bom", KEY, b"\xef\xbb\xbf" + ev(), None, "bad_encoding"),
        ("deep_json", KEY, nested(200), None, "too_deep"),
        ("deep_array", KEY, b"[" * 5000, None, "too_deep"),
        ("huge_string", KEY, ev(event_id=big), None, "bad_type"),
        ("oversized", KEY, ev(props={"note": "y" * 200}) + b" " * 70000, None, "too_large"),
        ("invalid_utf8", KEY, ev(channel="w").replace(b'"w"', b'"\xff\xfe"'), None, "bad_utf8"),
        ("overlong_utf8", KEY, ev(channel="w").replace(b'"w"', b'"\xc0\xaf"'), None, "bad_utf8"),
        ("lone_surrogate", KEY, ev(channel="w").replace(b'"w"', b'"\\ud800"'), None, "bad_utf8"),
        ("control_char", KEY, ev(channel="w").replace(b'"w"', b'"a\\u0001b"'), None, "bad_type"),
        ("duplicate_key", KEY, b'{"event_id":"h","type":"lead","type":"touch","ts":1}', None,
         "duplicate_key"),
        ("event_id_number", KEY, ev(event_id=7), None, "bad_type"),
        ("type_uppercase", KEY, ev(type="Bad Type"), None, "bad_type"),
        ("ts_object", KEY, ev(ts={"s": 1}), None, "bad_ts"),
        ("ts_text", KEY, ev(ts="yesterday"), None, "bad_ts"),
        ("ts_negative", KEY, ev(ts=-1), None, "bad_ts"),
        ("ts_year_10000", KEY, ev(ts="10000-01-01T00:00:00Z"), None, "bad_ts"),
        ("ts_far_future", KEY, ev(ts=253402300799000), None, "bad_ts"),
        ("value_text", KEY, ev(type="conversion", value="abc"), None, "bad_type"),
        ("value_1e400", KEY, ev(type="conversion", value=1) .replace(b'"value":1', b'"value":1e400'),
         None, "bad_value"),
        ("value_400_digits", KEY, ev(type="conversion", value=1).replace(
            b'"value":1', b'"value":' + b"9" * 400), None, "bad_value"),
        ("missing_event_id", KEY, b'{"type":"lead","ts":1}', None, "missing_field"),
        ("touch_without_user", KEY, b'{"event_id":"h","type":"touch","ts":1,"channel":"w"}', None,
         "missing_field"),
        ("array", KEY, b"[1,2,3]", None, "not_object"),
        ("bare_string", KEY, b'"lead"', None, "not_object"),
        ("too_many_props", KEY, ev(props={f"p{i}": i for i in range(40)}), None, "bad_type"),
        ("prop_key_uppercase", KEY, ev(props={"Bad": 1}), None, "bad_type"),
        ("channel_too_long", KEY, ev(channel="c" * 65), None, "bad_type"),
        ("msgpack_truncated", KEY, jt.mp_pack({"event_id": "h", "type": "lead", "ts": 1})[:-3],
         None, "msgpack_syntax"),
        ("msgpack_lying_length", KEY, mp_str32_lying(), None, "msgpack_syntax"),
        ("msgpack_lying_count", KEY, b"\xdf\xff\xff\xff\xff\xa1a\x01", None, "msgpack_syntax"),
        ("msgpack_nan_value", KEY, jt.mp_pack({"event_id": "h", "type": "conversion", "ts": 1,
                                                "user_id": "u", "value": float("nan")}),
         None, "bad_value"),
        ("msgpack_deep", KEY, b"\x81\xa1a" * 200 + b"\x01", None, "too_deep"),
        ("binary_garbage", KEY, bytes(range(0x00, 0x40)), None, "bad_encoding"),
        ("cloudevents_0_3", KEY, b'{"specversion":"0.3","id":"h","type":"lead",'
         b'"source":"/s","time":"2026-11-23T00:00:00Z"}', None, "bad_type"),
        ("ce_binary_bad_time", KEY, b'{"user_id":"u"}',
         [("ce_specversion", b"1.0"), ("ce_id", b"h"), ("ce_type", b"lead"),
          ("ce_time", b"not a time"), ("ce_source", b"/s")], "bad_ts"),
        ("segment_without_timestamp", KEY, b'{"type":"track","event":"Signed Up",'
         b'"messageId":"h","userId":"u"}', None, "missing_field"),
        ("null_key_bad", None, b"{", None, "json_syntax"),
    ]
    return [(kind, kind.encode() if key is KEY else key, value, headers, reason)
            for kind, key, value, headers, reason in c]


tap = jt.Tap()
work = jt.workdir("hostile")
redis = jt.Redis(work)
broker = None
try:
    redis.start()
    broker = jt.Broker(8, TOPICS)
    kinds = corpus()
    tap.ok(len(kinds) >= 30, f"the corpus has {len(kinds)} kinds of bad message (>= 30)")
    jd = jt.Journeyd(work, broker.bootstrap, redis.url, prefix="h", group="h")
    jd.start(exit_on_eof=False)
    tap.ok(jd.wait_log("ready", timeout=60), "journeyd is ready", jd.tail())

    # 30 rounds: the mock cluster keeps 5 MB per partition, and the DLQ holds the
    # 20-70 KB messages of the big kinds
    rounds_early, rounds_late = 5, 25
    sent_bad, sent_ok = {}, 0
    sent_as = {}  # (exact bytes or None, key is None) -> kind
    valid_null_key = 0

    def send_round(r):
        """One round: every bad kind between valid events, ids unique per round."""
        global sent_ok, valid_null_key
        msgs = []
        for i, (kind, key, value, headers, _) in enumerate(kinds):
            v = ev(event_id=f"ok-{r}-{i}", user_id=f"user-{i % 7}")
            msgs.append({"key": f"user-{i % 7}".encode(), "value": v, "headers": None})
            sent_ok += 1
            if value is not None:
                value = value.replace(b'"event_id":"h"', f'"event_id":"h-{r}-{i}"'.encode())
            msgs.append({"key": key, "value": value, "headers": headers})
            sent_bad[kind] = sent_bad.get(kind, 0) + 1
            sent_as[(value, key is None)] = kind
        # a valid event without a key is an event like any other
        msgs.append({"key": None, "value": ev(event_id=f"nokey-{r}"), "headers": None})
        sent_ok += 1
        valid_null_key += 1
        jt.produce(broker.bootstrap, "journey.events", msgs)

    def applied():
        s = redis.cli("HGETALL", "{h}:stats").split("\n")
        st = dict(zip(s[0::2], s[1::2]))
        return (sum(int(v) for k, v in st.items() if k.startswith("ok:")), int(st.get("dlq", 0)))

    def wait_applied(ok, dlq, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline and applied() != (ok, dlq):
            time.sleep(0.3)
        return applied()

    def rss_kb():
        with open(f"/proc/{jd.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    for r in range(rounds_early):
        send_round(r)
    got = wait_applied(sent_ok, sum(sent_bad.values()))
    tap.eq(got, (sent_ok, sum(sent_bad.values())),
           f"after {rounds_early} rounds: every valid event applied, every bad one dead-lettered")
    rss_early = rss_kb()
    for r in range(rounds_early, rounds_early + rounds_late):
        send_round(r)
    got = wait_applied(sent_ok, sum(sent_bad.values()))
    tap.eq(got, (sent_ok, sum(sent_bad.values())),
           f"after {rounds_early + rounds_late} rounds: every valid event applied "
           f"({sent_ok}, {valid_null_key} without a key), every bad one dead-lettered "
           f"({sum(sent_bad.values())})")
    rss_late = rss_kb()
    tap.diag(f"{len(kinds)} kinds x {rounds_early + rounds_late} rounds = "
             f"{sum(sent_bad.values())} bad messages among {sent_ok} valid ones; "
             f"RSS {rss_early // 1024} MB after {rounds_early} rounds, {rss_late // 1024} MB after "
             f"{rounds_early + rounds_late}")
    name = (f"memory stays bounded: RSS grew {(rss_late - rss_early) // 1024} MB over "
            f"{rounds_late} more rounds (< 16 MB)")
    if ASAN:
        # AddressSanitizer keeps freed memory in its quarantine: RSS says nothing there
        tap.ok(True, name + " # SKIP under AddressSanitizer")
    else:
        tap.ok(rss_late - rss_early < 16 * 1024, name)
    tap.ok(jd.proc.poll() is None, "journeyd is still running")

    dlq = jt.read_topic(broker.bootstrap, "journey.events.dlq")
    tap.eq(len(dlq), sum(sent_bad.values()), "the DLQ holds every bad message once")
    by_kind = {}
    unmatched = []
    for d in dlq:
        h = d.get("headers") or []
        hd = dict(zip(h[0::2], h[1::2]))
        payload = None if d.get("payload") is None else jt.payload_bytes(d)
        kind = sent_as.get((payload, d.get("key") is None))
        if kind is None:
            unmatched.append((d.get("key"), (payload or b"")[:80]))
            continue
        by_kind.setdefault(kind, []).append((hd.get("journeyd.error"),
                                             bool(hd.get("journeyd.detail"))))
    tap.eq(unmatched, [], "every dead letter is one of the corpus's messages, bytes unchanged")
    for kind, key, value, _, reason in kinds:
        got = by_kind.get(kind, [])
        tap.ok(len(got) == sent_bad[kind] and all(g == (reason, True) for g in got),
               f"{kind}: {sent_bad[kind]} x to the DLQ as {reason}, with a detail",
               f"got {sorted(set(got))} x {len(got)}")
    # Key safety: user-controlled strings (user_id, channel, props) that look like key
    # syntax, hash tags, globs or other keys never reach a Redis key (users are hashed,
    # labels live in series ids), and label values come back exactly, none merged.
    hostile = ["ZQX:a:b", "{ZQX}", "ZQX*?[]", "ZQX }{ :{h}:stats", "ZQX\u00e9\U0001f600\u4e2d",
               "ZQX" + "y" * 61, "ZQX\\", "ZQX\"q\"", "ZQX%s%n", "ZQX:h}:p:journey.events:0",
               "j:journey.events:0:ZQX", "ZQX\u202e"]
    msgs = []
    for i, h in enumerate(hostile):
        for k in range(i + 1):
            msgs.append({"key": h.encode(), "headers": None, "value": json.dumps(
                {"event_id": f"key-{i}-{k}", "type": "lead", "ts": TS, "user_id": h,
                 "channel": h, "props": {"device": h}}).encode()})
    jt.produce(broker.bootstrap, "journey.events", msgs)
    sent_ok += len(msgs)
    got = wait_applied(sent_ok, sum(sent_bad.values()))
    tap.eq(got, (sent_ok, sum(sent_bad.values())),
           f"key safety: {len(msgs)} events with {len(hostile)} hostile strings all applied")
    keys = redis.cli("--scan", "--pattern", "*").splitlines()
    tap.ok(keys and all(k.startswith("{h}:") for k in keys),
           f"key safety: all {len(keys)} Redis keys are under the prefix",
           [k for k in keys if not k.startswith("{h}:")][:5])
    tap.eq([k for k in keys if "ZQX" in k], [], "key safety: no user-controlled string in a key")
    vec = jd.query_vector("count by (channel) (lead[1d])", TS - TS % 3600000 + 3600000)
    got = {dict(k).get("channel"): v for k, v in vec.items() if "ZQX" in dict(k).get("channel", "")}
    tap.eq(got, {h: str(i + 1) for i, h in enumerate(hostile)},
           "key safety: every hostile channel counted apart, its value byte for byte")
    jd.proc.send_signal(signal.SIGTERM)
    tap.ok(jd.wait(timeout=60) == 0, "journeyd stopped cleanly", jd.tail())
except Exception as e:  # report, never hang
    import traceback
    tap.ok(False, f"test raised {type(e).__name__}: {e}", traceback.format_exc())
finally:
    if broker:
        broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
