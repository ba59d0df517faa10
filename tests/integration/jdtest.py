"""Shared harness for journeyd's integration tests (run with /usr/bin/python3).

Real parts only: a private redis-server on a unix socket, a Kafka-protocol
broker (librdkafka's mock cluster, run by `journeyctl broker` in its own
process so that killing journeyd never kills the broker), the journeyd
binary, and Debian's python3-confluent-kafka as the independent producer.
The event generator is seeded, and the oracle is computed from what the
generator produced, never from anything journeyd wrote.
"""
import ctypes
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if this test process dies, so an
    aborted test never leaves a server holding the test runner's pipes."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(args, **kw):
    kw.setdefault("preexec_fn", _die_with_parent)
    return subprocess.Popen(args, **kw)


JOURNEYD = os.environ.get("JOURNEYD", "build/daemon/journeyd")
JOURNEYCTL = os.environ.get("JOURNEYCTL", "build/tools/journeyctl")

T0_MS = 1795478400000  # 2026-11-24T00:00:00Z, a whole day


class Tap:
    """Minimal TAP producer: plan at the end, one line per check."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=""):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            for line in str(detail).splitlines() or [""]:
                print(f"# {line}", flush=True)
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, f"got {got!r}, want {want!r}")

    def diag(self, msg):
        for line in str(msg).splitlines():
            print(f"# {line}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


class Redis:
    def __init__(self, workdir, fsync="everysec"):
        self.dir = workdir
        self.sock = os.path.join(workdir, "redis.sock")
        self.url = "unix://" + self.sock
        self.proc = None
        # DEBUG RELOAD lets test_faults put Redis back to an older snapshot in place
        with open(os.path.join(workdir, "redis.conf"), "w") as f:
            f.write(f"port 0\nunixsocket {self.sock}\nunixsocketperm 700\ndir {workdir}\n"
                    f"logfile {workdir}/redis.log\nsave \"\"\nappendonly yes\n"
                    f"appendfsync {fsync}\nmaxmemory-policy noeviction\n"
                    "enable-debug-command local\n")

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = spawn(["redis-server", os.path.join(self.dir, "redis.conf")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.cli("PING", check=False) == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self, sig=signal.SIGKILL):
        if self.proc:
            self.proc.send_signal(sig)
            self.proc.wait()
            self.proc = None

    def cli(self, *args, check=True):
        r = subprocess.run(["redis-cli", "-s", self.sock, *args], capture_output=True, text=True)
        if check and r.returncode:
            raise RuntimeError(r.stderr)
        return r.stdout.strip()


class Broker:
    def __init__(self, partitions, topics, brokers=1):
        args = [JOURNEYCTL, "broker", "--partitions", str(partitions), "--brokers", str(brokers)]
        for t in topics:
            args += ["--topic", t]
        self.proc = spawn(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("BROKERS="):
            raise RuntimeError(f"broker did not start: {line!r}")
        self.bootstrap = line.split("=", 1)[1]

    def fault(self, cmd):
        """One mock-cluster fault command (journeyctl broker's stdin; broker.h)."""
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if reply != "ok":
            raise RuntimeError(f"broker fault {cmd!r}: {reply}")

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Journeyd:
    """One journeyd process with a generated config."""

    def __init__(self, workdir, bootstrap, redis_url, prefix="jd", group="it", extra=None):
        self.workdir = workdir
        self.config = os.path.join(workdir, "journeyd.yaml")
        rules = os.path.join(workdir, "rules")
        os.makedirs(rules, exist_ok=True)
        lines = [
            "kafka:",
            f"  brokers: \"{bootstrap}\"",
            f"  group: {group}",
            "  consumer:",
            "    session.timeout.ms: \"6000\"",
            "    heartbeat.interval.ms: \"500\"",
            "redis:",
            f"  url: \"{redis_url}\"",
            f"  prefix: {prefix}",
            "  command_timeout: 5s",
            "events:",
            "  type_map: {\"Order Completed\": conversion, \"Signed Up\": lead}",
            "  max_future: 365d",
            "rules:",
            f"  dirs: [\"{rules}\"]",
            "http:",
            "  listen: \"\"",
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.extra = extra or {}
        self.proc = None
        self.log = os.path.join(workdir, "journeyd.log")

    def start(self, exit_on_eof=True, args=()):
        cmd = [JOURNEYD, "-c", self.config]
        for k, v in self.extra.items():
            cmd += ["--set", f"{k}={v}"]
        if exit_on_eof:
            cmd.append("--exit-on-eof")
        cmd += list(args)
        self.logf = open(self.log, "a")
        self.proc = spawn(cmd, stdout=self.logf, stderr=self.logf)
        return self.proc

    def wait(self, timeout=300):
        rc = self.proc.wait(timeout=timeout)
        self.logf.close()
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()

    def query(self, expr, at_ms, fmt="json"):
        r = subprocess.run([JOURNEYCTL, "-c", self.config, "query", expr, "--at",
                            str(at_ms // 1000), "--format", fmt],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"journeyctl query {expr!r}: {r.stderr}")
        return json.loads(r.stdout) if fmt == "json" else r.stdout

    def query_vector(self, expr, at_ms):
        """{tuple(sorted labels): value_string}"""
        doc = self.query(expr, at_ms)
        out = {}
        for s in doc["data"]["result"]:
            out[tuple(sorted(s["metric"].items()))] = s["value"][1]
        return out

    def wait_log(self, text, n=1, timeout=40):
        """True once the log holds \p text at least \p n times (polled, bounded)."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.tail(100000).count(text) < n:
            time.sleep(0.2)
        return self.tail(100000).count(text) >= n

    def tail(self, n=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def http(url, method="GET"):
    """(status, content type, body) of one request; status None when nothing answers."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()
    except OSError as e:
        return None, "", str(e)


def metric_samples(text):
    """{(name, frozenset(labels)): value} from Prometheus text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric_total(s, name, **want):
    """The sum of metric \p name's samples whose labels include \p want."""
    return sum(v for (n, l), v in s.items()
               if n == name and all((k, w) in l for k, w in want.items()))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def workdir(name):
    d = tempfile.mkdtemp(prefix=f"jd-it-{name}-")
    return d


def cleanup(d):
    if os.environ.get("KEEP_TMP"):
        print(f"# kept {d}", flush=True)
        return
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------- events

def mp_pack(obj):
    """A small MessagePack encoder, written here so the test does not share
    code with journeyd's decoder (maps, str, int, float, bool, nil)."""
    out = bytearray()

    def enc(o):
        if o is None:
            out.append(0xC0)
        elif o is True:
            out.append(0xC3)
        elif o is False:
            out.append(0xC2)
        elif isinstance(o, int):
            if 0 <= o < 128:
                out.append(o)
            elif o >= 0:
                out.append(0xCF)
                out.extend(struct.pack(">Q", o))
            else:
                out.append(0xD3)
                out.extend(struct.pack(">q", o))
        elif isinstance(o, float):
            out.append(0xCB)
            out.extend(struct.pack(">d", o))
        elif isinstance(o, str):
            b = o.encode()
            if len(b) < 32:
                out.append(0xA0 | len(b))
            else:
                out.append(0xD9 if len(b) < 256 else 0xDA)
                out.extend(struct.pack(">B" if len(b) < 256 else ">H", len(b)))
            out.extend(b)
        elif isinstance(o, dict):
            if len(o) < 16:
                out.append(0x80 | len(o))
            else:
                out.append(0xDE)
                out.extend(struct.pack(">H", len(o)))
            for k, v in o.items():
                enc(k)
                enc(v)
        else:
            raise TypeError(type(o))

    enc(obj)
    return bytes(out)


def rfc3339(ms):
    t = time.gmtime(ms // 1000)
    frac = ms % 1000
    s = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    return s + (f".{frac:03d}Z" if frac else "Z")


CHANNELS = ["douyin", "wechat", "sem_baidu", "live", "direct"]
TYPES = ["touch", "lead", "conversion", "cost", "complaint"]


def generate(n, seed, users=500, t0=T0_MS, spacing_ms=200, dup_rate=0.05, bad_rate=0.04):
    """Returns (messages, oracle). Each message: dict(key, value(bytes), headers, kind).

    Users are keys (one user's journey stays on one partition); cost events are
    keyed by channel so that a re-sent cost event lands on the same partition.
    """
    rnd = random.Random(seed)
    msgs = []
    oracle = {"count": {}, "count_by_channel": {}, "sum_micros": {}, "sum_by_channel": {},
              "touch_users": set(), "bad": 0, "dups": 0}
    sent = []  # valid messages that can be re-sent
    for i in range(n):
        r = rnd.random()
        if r < dup_rate and sent:
            m = rnd.choice(sent[-200:])
            msgs.append(dict(m, kind="dup"))
            oracle["dups"] += 1
            continue
        if r < dup_rate + bad_rate:
            bad = rnd.choice([b'{"event_id":"x","type":"touch"', b"not json",
                              b'{"event_id":"x","type":"Bad Type","ts":1}',
                              b'{"type":"lead","ts":"2026-11-24T00:00:00Z"}', b"[1,2]",
                              b"\xff\xfe", b'{"event_id":"b","type":"touch","ts":1,"user_id":"u",'
                              b'"channel":"' + b"x" * 65 + b'"}'])
            msgs.append({"key": f"u-{rnd.randrange(users)}".encode(), "value": bad,
                         "headers": None, "kind": "bad"})
            oracle["bad"] += 1
            continue
        typ = rnd.choices(TYPES, weights=[50, 15, 10, 5, 5])[0]
        ch = rnd.choice(CHANNELS)
        user = f"u-{rnd.randrange(users)}"
        ts = t0 + i * spacing_ms - (rnd.randrange(600000) if rnd.random() < 0.05 else 0)
        value = None
        if typ in ("conversion", "cost"):
            value = round(rnd.uniform(0, 5000), rnd.choice([0, 2, 6]))
        eid = f"e-{seed}-{i}"
        dialect = rnd.choice(["flat", "flat", "msgpack", "segment", "ce", "ce-binary"])
        key = (ch if typ == "cost" else user).encode()
        headers = None
        fields = {"channel": ch, "props": {"device": rnd.choice(["ios", "android"])}}
        if typ != "cost":
            fields["user_id"] = user
        if value is not None:
            fields["value"] = value
        if dialect == "flat":
            ev = {"event_id": eid, "type": typ, "ts": ts if rnd.random() < 0.5 else rfc3339(ts)}
            ev.update(fields)
            val = json.dumps(ev).encode()
        elif dialect == "msgpack":
            ev = {"event_id": eid, "type": typ, "ts": ts}
            ev.update(fields)
            val = mp_pack(ev)
        elif dialect == "segment":
            name = {"conversion": "Order Completed", "lead": "Signed Up"}.get(typ, typ)
            ev = {"type": "track", "event": name, "messageId": eid, "timestamp": rfc3339(ts),
                  "context": {"campaign": {"source": ch}},
                  "properties": {"device": fields["props"]["device"]}}
            if typ != "cost":
                ev["userId"] = user
            if value is not None:
                ev["properties"]["revenue"] = value
            val = json.dumps(ev).encode()
        elif dialect == "ce":
            data = dict(fields)
            data.pop("user_id", None)
            ev = {"specversion": "1.0", "id": eid, "source": "/shop", "type": typ,
                  "time": rfc3339(ts), "data": data}
            if typ != "cost":
                ev["subject"] = user
            val = json.dumps(ev).encode()
        else:
            data = dict(fields)
            data.pop("user_id", None)
            headers = [("ce_specversion", b"1.0"), ("ce_id", eid.encode()),
                       ("ce_type", typ.encode()), ("ce_time", rfc3339(ts).encode()),
                       ("ce_source", b"/shop")]
            if typ != "cost":
                headers.append(("ce_subject", user.encode()))
            val = json.dumps(data).encode()
        micros = int(round(value * 1_000_000)) if value is not None else 0
        m = {"key": key, "value": val, "headers": headers, "kind": "ok",
             "ev": (typ, ch, micros, user)}
        msgs.append(m)
        sent.append(m)
        _oracle_add(oracle, m["ev"])
    return msgs, oracle


def _oracle_add(oracle, ev):
    typ, ch, micros, user = ev
    oracle["count"][typ] = oracle["count"].get(typ, 0) + 1
    oracle["count_by_channel"][(typ, ch)] = oracle["count_by_channel"].get((typ, ch), 0) + 1
    oracle["sum_micros"][typ] = oracle["sum_micros"].get(typ, 0) + micros
    oracle["sum_by_channel"][(typ, ch)] = oracle["sum_by_channel"].get((typ, ch), 0) + micros
    if typ == "touch":
        oracle["touch_users"].add(user)


def message_identity(value, headers):
    """What tells generated messages apart: CloudEvents' binary mode carries
    the id in a header, so payloads alone repeat."""
    return (value, tuple((k, v) for k, v in headers or ()))


def oracle_of_topic(msgs, held):
    """The oracle of what a topic holds: held are its messages as
    read_values() returns them, msgs what generate() made. A valid event counts
    once however often it is there; every other message is one dead letter."""
    by_value = {message_identity(m["value"], m["headers"]): m for m in msgs if m["kind"] == "ok"}
    oracle = {"count": {}, "count_by_channel": {}, "sum_micros": {}, "sum_by_channel": {},
              "touch_users": set(), "bad": 0, "dups": 0}
    seen = set()
    for _, _, value, headers in held:
        v = message_identity(value, headers)
        m = by_value.get(v)
        if m is None:
            oracle["bad"] += 1
        elif v in seen:
            oracle["dups"] += 1
        else:
            seen.add(v)
            _oracle_add(oracle, m["ev"])
    return oracle


def merge_oracles(*oracles):
    """The oracle of several generated streams produced to one topic."""
    out = {"count": {}, "count_by_channel": {}, "sum_micros": {}, "sum_by_channel": {},
           "touch_users": set(), "bad": 0, "dups": 0}
    for o in oracles:
        for k in ("count", "count_by_channel", "sum_micros", "sum_by_channel"):
            for kk, v in o[k].items():
                out[k][kk] = out[k].get(kk, 0) + v
        out["touch_users"] |= o["touch_users"]
        out["bad"] += o["bad"]
        out["dups"] += o["dups"]
    return out


def produce(bootstrap, topic, msgs, pace_per_sec=None):
    """Produces msgs and returns how many the broker acknowledged.

    Raises if any message failed or was still undelivered after a long wait:
    a test must never blame journeyd for a message its producer lost."""
    from confluent_kafka import Producer  # Debian's python3-confluent-kafka
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4",
                  "linger.ms": 20, "enable.idempotence": True, "acks": "all"})
    errors, acked = [], [0]

    def dr(err, msg):
        if err:
            errors.append(err)
        else:
            acked[0] += 1

    start = time.time()
    for i, m in enumerate(msgs):
        while True:
            try:
                p.produce(topic, value=m["value"], key=m["key"], headers=m["headers"],
                          on_delivery=dr)
                break
            except BufferError:
                p.poll(0.05)
        if pace_per_sec and i % 100 == 0:
            ahead = i / pace_per_sec - (time.time() - start)
            if ahead > 0:
                time.sleep(ahead)
        p.poll(0)
    # under broker faults a message can take minutes (message.timeout.ms is 5 min)
    deadline = time.time() + 320
    while p.flush(5) and time.time() < deadline:
        pass
    left = len(p)
    if errors or left:
        raise RuntimeError(f"producer: {len(errors)} delivery errors (first "
                           f"{errors[0] if errors else None}), {left} undelivered, "
                           f"{acked[0]} of {len(msgs)} acknowledged")
    return acked[0]


class Producing(threading.Thread):
    """produce() in a thread; join() re-raises what the producer raised."""

    def __init__(self, bootstrap, topic, msgs, pace_per_sec=None):
        super().__init__(daemon=True)
        self.args_ = (bootstrap, topic, msgs, pace_per_sec)
        self.error, self.acked = None, 0

    def run(self):
        try:
            self.acked = produce(*self.args_)
        except Exception as e:  # handed to join()
            self.error = e

    def join(self, timeout=None):
        super().join(timeout)
        if not self.is_alive() and self.error:
            raise self.error


def read_topic(bootstrap, topic):
    """Every message of a topic, via kcat (another independent client)."""
    r = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-J"],
                       capture_output=True, timeout=120)
    if r.returncode:
        raise RuntimeError(r.stderr.decode(errors="replace"))
    # payloads are arbitrary bytes: keep them recoverable with surrogateescape
    text = r.stdout.decode("utf-8", "surrogateescape")
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def read_values(bootstrap, topic, partitions):
    """Every message of a topic as (partition, offset, payload, headers), via
    python3-confluent-kafka: byte for byte, which kcat's JSON is not."""
    from confluent_kafka import Consumer, TopicPartition, KafkaError
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "jt-read-values",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out, ends, deadline = [], set(), time.time() + 120
        while len(ends) < partitions:
            if time.time() > deadline:
                raise RuntimeError(f"read_values: {topic} not read to its end in 120 s")
            for m in c.consume(1000, 1.0):
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"read_values: {m.error()}")
                    ends.add(m.partition())
                else:
                    out.append((m.partition(), m.offset(), m.value() or b"",
                                tuple(m.headers() or ())))
        return out
    finally:
        c.close()


def alerts_on(bootstrap, topic):
    """(key, value, headers) of every alert message but the heartbeat, via kcat."""
    out, beats = [], []
    for m in read_topic(bootstrap, topic):
        v = m.get("payload") or ""
        doc = json.loads(v)
        name = doc["alerts"][0]["labels"]["alertname"]
        hdrs = {}
        h = m.get("headers") or []
        for i in range(0, len(h) - 1, 2):
            hdrs[h[i]] = h[i + 1]
        (beats if name == "JourneydHeartbeat" else out).append((m.get("key"), v, hdrs))
    return out, beats


def dead_letter_sources(bootstrap, topic):
    """{(partition, offset)} of the source messages of a DLQ topic's dead letters."""
    seen = set()
    for d in read_topic(bootstrap, topic):
        h = d["headers"] or []
        if "journeyd.source.offset" in h:
            seen.add((h[h.index("journeyd.source.partition") + 1],
                      h[h.index("journeyd.source.offset") + 1]))
    return seen


def payload_bytes(msg):
    """The original bytes of a message read by read_topic()."""
    p = msg.get("payload")
    return b"" if p is None else p.encode("utf-8", "surrogateescape")


def micros_str(m):
    """Exact decimal text of a micros integer, as journeyctl prints it."""
    neg = m < 0
    m = abs(m)
    s = str(m // 1_000_000)
    frac = m % 1_000_000
    if frac:
        s += "." + f"{frac:06d}".rstrip("0")
    return ("-" if neg else "") + s


def check_totals(tap, jd, oracle, at_ms, label):
    """Compares every window total journeyd computed with the oracle.

    The window [at - 7d, at) must contain every generated event (late ones
    reach up to 10 minutes before their stream position)."""
    rng = "[7d]"
    for typ in TYPES:
        want = oracle["count"].get(typ, 0)
        got = jd.query_vector(f"count({typ}{rng})", at_ms)
        tap.eq(got.get((), "?"), str(want), f"{label}: count({typ})")
    got = jd.query_vector(f"count by (channel) (touch{rng})", at_ms)
    want = {(("channel", ch),): str(c) for (t, ch), c in oracle["count_by_channel"].items()
            if t == "touch"}
    tap.eq(got, want, f"{label}: count by (channel) (touch)")
    for typ in ("conversion", "cost"):
        got = jd.query_vector(f"sum({typ}.value{rng})", at_ms)
        tap.eq(got.get((), "?"), micros_str(oracle["sum_micros"].get(typ, 0)),
               f"{label}: exact sum({typ}.value)")
        got = jd.query_vector(f"sum by (channel) ({typ}.value{rng})", at_ms)
        want = {(("channel", ch),): micros_str(s) for (t, ch), s in oracle["sum_by_channel"].items()
                if t == typ}
        tap.eq(got, want, f"{label}: exact sum by (channel) ({typ}.value)")
    got = int(jd.query_vector(f"distinct(touch.user_id{rng})", at_ms).get((), "0"))
    want = len(oracle["touch_users"])
    tap.ok(abs(got - want) <= 0.02 * want, f"{label}: distinct touch users within 2%",
           f"got {got}, want {want}")
