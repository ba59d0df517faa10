#!/usr/bin/python3
"""Credentials pass through and never show (issue 6, "Hostile input").

A real redis-server that requires a password for its default user and has an
ACL user; librdkafka's mock cluster. journeyd authenticates every way the
config allows, and no secret appears in its logs, in `--check-config` or
`--dump-config` output, in config error messages or on any HTTP page:

- `redis.url` redis://USER:PASSWORD@host (ACL user, over TCP);
- `redis.username` + `redis.password_file` named relative to
  $CREDENTIALS_DIRECTORY (systemd LoadCredential), over a unix socket;
- `redis.password` (the default user, `requirepass`);
- a wrong password from the environment (JOURNEYD_REDIS_PASSWORD): refused
  by Redis, said so in the log, the password not;
- a malformed `redis.url` holding a password: the error names the key only;
- Kafka SASL settings under `kafka.consumer` / `kafka.producer` reach
  librdkafka (it tries SASL against the broker), and a misspelt credential
  property is refused without its value.
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

import jdtest as jt

TOPICS = ["journey.events", "journey.events.dlq", "journey.alerts"]
ACL_PW = "ACL-s3cret-2a"
DEFAULT_PW = "DEFAULT-s3cret-1b"
WRONG_PW = "WRONG-s3cret-4d"
KAFKA_PW = "KAFKA-s3cret-3c"
SECRETS = [ACL_PW, DEFAULT_PW, WRONG_PW, KAFKA_PW]

tap = jt.Tap()
work = jt.workdir("secrets")


def leaks(text):
    return [s for s in SECRETS if s in text]


class AuthRedis:
    """redis-server with requirepass and an ACL user, on TCP and a unix socket."""

    def __init__(self, d):
        self.port = jt.free_port()
        self.sock = os.path.join(d, "redis.sock")
        conf = os.path.join(d, "redis.conf")
        with open(conf, "w") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\nunixsocket {self.sock}\n"
                    f"unixsocketperm 700\ndir {d}\nlogfile {d}/redis.log\nsave \"\"\n"
                    f"requirepass {DEFAULT_PW}\nuser jd on >{ACL_PW} ~* &* +@all\n")
        self.proc = jt.spawn(["redis-server", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        for _ in range(300):
            if self.cli("PING", check=False) == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args, check=True):
        r = subprocess.run(["redis-cli", "-s", self.sock, "--user", "jd", "--pass", ACL_PW,
                            "--no-auth-warning", *args], capture_output=True, text=True)
        if check and r.returncode:
            raise RuntimeError(r.stderr)
        return r.stdout.strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def config(d, redis_url, extra_lines=(), http=""):
    path = os.path.join(d, "journeyd.yaml")
    os.makedirs(os.path.join(d, "rules"), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join([
            "kafka:",
            f"  brokers: \"{broker.bootstrap}\"",
            f"  group: {os.path.basename(d)}",
            "  consumer:",
            "    session.timeout.ms: \"6000\"",
            "redis:",
            f"  url: \"{redis_url}\"",
            f"  prefix: {os.path.basename(d)}",
            "  connect_timeout: 1s",
            "events:",
            "  max_future: 365d",
            "rules:",
            f"  dirs: [\"{os.path.join(d, 'rules')}\"]",
            "http:",
            f"  listen: \"{http}\"",
            *extra_lines]) + "\n")
    return path


def run(args, env=None, timeout=60):
    e = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYD_")}
    e.update(env or {})
    return subprocess.run([jt.JOURNEYD, *args], capture_output=True, text=True, env=e,
                          timeout=timeout)


def start(args, log, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYD_")}
    e.update(env or {})
    f = open(log, "w")
    return jt.spawn([jt.JOURNEYD, *args], stdout=f, stderr=f, env=e)


def wait_for(pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def applied(redis, prefix):
    v = redis.cli("HGET", f"{{{prefix}}}:stats", "ok:lead", check=False)
    return int(v) if v.isdigit() else 0


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


broker = None
redis = None
try:
    redis = AuthRedis(work)
    broker = jt.Broker(2, TOPICS)
    N = 20
    jt.produce(broker.bootstrap, "journey.events",
               [{"key": f"u{i}".encode(), "headers": None,
                 "value": json.dumps({"event_id": f"e{i}", "type": "lead", "user_id": f"u{i}",
                                      "ts": 1795400000000 + i, "channel": "wechat"}).encode()}
                for i in range(N)])

    # ------------------------------------------------- the URL form, check and dump
    d = os.path.join(work, "url")
    os.makedirs(d)
    url = f"redis://jd:{ACL_PW}@127.0.0.1:{redis.port}/0"
    cfg = config(d, url, http=f"127.0.0.1:{jt.free_port()}")
    r = run(["-c", cfg, "--check-config"])
    tap.ok(r.returncode == 0, "--check-config with a password in redis.url: valid", r.stderr)
    tap.eq(leaks(r.stdout + r.stderr), [], "--check-config shows no secret")
    r = run(["-c", cfg, "--dump-config"])
    tap.ok(r.returncode == 0 and "redis://jd:<redacted>@127.0.0.1" in r.stdout,
           "--dump-config shows redis.url with <redacted>", r.stdout[:2000] + r.stderr)
    tap.eq(leaks(r.stdout + r.stderr), [], "--dump-config shows no secret")

    os.makedirs(os.path.join(work, "badurl"))
    bad = config(os.path.join(work, "badurl"), f"redis://jd:{ACL_PW}@127.0.0.1:99999/0")
    r = run(["-c", bad, "--check-config"])
    tap.ok(r.returncode == 78 and "redis.url" in r.stderr,
           "a malformed redis.url is refused (exit 78) and named", r.stderr)
    tap.eq(leaks(r.stdout + r.stderr), [], "the error about it shows no secret")

    # ------------------------------------------------- the URL form, running, every page
    log = os.path.join(d, "journeyd.log")
    p = start(["-c", cfg], log)
    ok = wait_for(lambda: applied(redis, "url") == N)
    tap.ok(ok, f"redis://jd:…@host: authenticated as the ACL user, {N} events applied",
           open(log).read()[-2000:])
    admin = "http://" + [l for l in open(cfg) if "listen" in l][0].split('"')[1]
    pages = ""
    for path in ("/", "/metrics", "/api/v1/rules", "/api/v1/alerts", "/-/ready", "/-/healthy"):
        status, body = get(admin + path)
        pages += body
        tap.ok(status == 200 and not leaks(body), f"GET {path}: 200, no secret",
               f"status {status}, leaks {leaks(body)}")
    tap.ok("redis://jd:&lt;redacted&gt;@127.0.0.1" in pages or
           "redis://jd:<redacted>@127.0.0.1" in pages,
           "the status page shows the Redis URL redacted")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    text = open(log).read()
    tap.ok("redis://jd:<redacted>@127.0.0.1" in text, "the log names Redis with the password "
           "redacted", text[-2000:])
    tap.eq(leaks(text), [], "the log shows no secret")

    # ------------------------------------------------- username + password file (credential)
    d = os.path.join(work, "cred")
    creds = os.path.join(d, "credentials")
    os.makedirs(creds)
    with open(os.path.join(creds, "redis-password"), "w") as f:
        f.write(ACL_PW + "\n")
    cfg = config(d, f"unix://{redis.sock}")
    r = run(["-c", cfg, "--set", "redis.username=jd", "--set",
             "redis.password_file=redis-password", "--exit-on-eof"],
            env={"CREDENTIALS_DIRECTORY": creds}, timeout=120)
    tap.ok(r.returncode == 0 and applied(redis, "cred") == N,
           "redis.username + redis.password_file from $CREDENTIALS_DIRECTORY, over a unix "
           f"socket: {N} events applied", r.stderr[-2000:])
    tap.eq(leaks(r.stdout + r.stderr), [], "its log shows no secret")

    # ------------------------------------------------- the default user's password
    d = os.path.join(work, "default")
    os.makedirs(d)
    cfg = config(d, f"redis://127.0.0.1:{redis.port}")
    r = run(["-c", cfg, "--exit-on-eof"], env={"JOURNEYD_REDIS_PASSWORD": DEFAULT_PW},
            timeout=120)
    tap.ok(r.returncode == 0 and applied(redis, "default") == N,
           f"redis.password (requirepass, from JOURNEYD_REDIS_PASSWORD): {N} events applied",
           r.stderr[-2000:])
    tap.eq(leaks(r.stdout + r.stderr), [], "its log shows no secret")

    # ------------------------------------------------- a wrong password
    d = os.path.join(work, "wrong")
    os.makedirs(d)
    cfg = config(d, f"redis://jd@127.0.0.1:{redis.port}")
    log = os.path.join(d, "journeyd.log")
    p = start(["-c", cfg, "--set", "redis.username=jd"], log,
              env={"JOURNEYD_REDIS_PASSWORD": WRONG_PW})
    refused = wait_for(lambda: "WRONGPASS" in open(log).read() or
                       "invalid username-password" in open(log).read(), timeout=30)
    tap.ok(refused, "a wrong password: Redis's refusal is in the log",
           open(log).read()[-2000:])
    tap.ok(p.poll() is None, "journeyd keeps running and retrying (Redis may be fixed)")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    tap.eq(leaks(open(log).read()), [], "its log shows no secret, right or wrong")
    tap.eq(applied(redis, "wrong"), 0, "nothing was written under the wrong credentials")

    # ------------------------------------------------- Kafka SASL passes through
    d = os.path.join(work, "sasl")
    os.makedirs(d)
    sasl = ["    security.protocol: sasl_plaintext", "    sasl.mechanism: PLAIN",
            "    sasl.username: journeyd", f"    sasl.password: \"{KAFKA_PW}\""]
    cfg = config(d, f"unix://{redis.sock}")
    text = open(cfg).read().replace("  consumer:\n", "  consumer:\n" + "\n".join(sasl) + "\n")
    text = text.replace("  consumer:\n", "  producer:\n" + "\n".join(sasl) + "\n  consumer:\n", 1)
    with open(cfg, "w") as f:
        f.write(text)
    r = run(["-c", cfg, "--dump-config"])
    tap.ok(r.returncode == 0 and "sasl.mechanism" in r.stdout and not leaks(r.stdout),
           "--dump-config lists the SASL settings, the password redacted", r.stdout[:3000])
    log = os.path.join(d, "journeyd.log")
    p = start(["-c", cfg, "--set", "redis.username=jd", "--set", f"redis.password={ACL_PW}",
               "-X", "debug=security"], log)
    tried = wait_for(lambda: "SASL" in open(log).read(), timeout=30)
    tap.ok(tried, "librdkafka attempts SASL with the configured mechanism (settings passed "
           "through)", open(log).read()[-2000:])
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    tap.eq(leaks(open(log).read()), [], "its log (librdkafka's security debug included) shows "
           "no secret")

    text = open(cfg).read().replace("sasl.password:", "sasl.pasword:")
    with open(cfg, "w") as f:
        f.write(text)
    r = run(["-c", cfg, "--set", "redis.username=jd", "--set", f"redis.password={ACL_PW}"],
            timeout=60)
    tap.ok(r.returncode != 0 and "sasl.pasword" in r.stderr,
           "a misspelt credential property is refused at start, by name", r.stderr[-2000:])
    tap.eq(leaks(r.stdout + r.stderr), [], "the refusal does not repeat its value")
except Exception as e:  # report, never hang
    import traceback
    tap.ok(False, f"test raised {type(e).__name__}: {e}", traceback.format_exc())
finally:
    if broker:
        broker.stop()
    if redis:
        redis.stop()
    jt.cleanup(work)
tap.done()
