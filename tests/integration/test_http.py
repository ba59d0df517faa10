#!/usr/bin/python3
"""The HTTP face of a live daemon (operations.md, "Observability").

A real redis-server and librdkafka's mock cluster; journeyd with the shipped
rules, all attribution models and http.listen on a free port; a seeded mix
of ~4,000 events (every dialect, duplicates, malformed ones, cost events,
conversions) produced with python3-confluent-kafka. Then, against an
independent count of what was produced:

- /-/healthy answers at once, /-/ready once the partitions are claimed.
- /metrics passes `promtool check metrics`, has every family operations.md
  asks for, and its numbers are exact: events by type and outcome, dead
  letters, spend per channel, and every model's attributed conversions and
  value summing to the conversions produced (conservation).
- /api/v1/rules and /api/v1/alerts have Prometheus's shapes, every seed rule
  with a health and a state.
- POST /-/reload with a broken rule file answers 500 and the reload metric
  drops to 0; with the file mended, 200 and 1; GET /-/reload is 405.
- sd_notify (NOTIFY_SOCKET on a socket of the test): READY=1 once, when the
  partitions are claimed — a reload before then announces nothing — and
  each later reload is RELOADING=1 then READY=1.
- The status page, loaded in headless Chromium, shows every rule with its
  state, the partitions and the attribution chart; a screenshot is written
  to tests/artifacts/status-page.png (ignored by git).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import jdtest as jt

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = [os.path.join(SRC, "rules", f) for f in ("growth-daily.yaml", "growth-ops.yaml")]
TOPICS = ["journey.events", "journey.events.dlq", "journey.alerts"]
MODELS = ["first_touch", "last_touch", "last_non_direct", "linear", "position_based",
          "time_decay", "markov", "shapley"]
FAMILIES = [
    "journeyd_build_info", "journeyd_events_total", "journeyd_dlq_messages_total",
    "journeyd_batches_total", "journeyd_batch_duration_seconds", "journeyd_flush_duration_seconds",
    "journeyd_redis_round_trips_total", "journeyd_redis_up",
    "journeyd_redis_state_lost_total", "journeyd_kafka_partitions_assigned",
    "journeyd_kafka_fetcher_wakes_total",
    "journeyd_kafka_consumer_lag", "journeyd_watermark_timestamp_seconds", "journeyd_rules_leader",
    "journeyd_rule_evaluations_total", "journeyd_rule_evaluation_failures_total",
    "journeyd_rule_group_duration_seconds", "journeyd_alerts", "journeyd_alert_messages_total",
    "journeyd_config_last_reload_successful", "journeyd_config_last_reload_success_timestamp_seconds",
    "journeyd_attributed_conversions_total", "journeyd_attributed_value_total",
    "journeyd_spend_total", "process_cpu_seconds_total", "process_resident_memory_bytes",
    "process_start_time_seconds", "process_open_fds",
]

tap = jt.Tap()
work = jt.workdir("http")
rules_dir = os.path.join(work, "rules")
os.makedirs(rules_dir)
for r in RULES:
    shutil.copy(r, rules_dir)


PORT = jt.free_port()
BASE = f"http://127.0.0.1:{PORT}"


def http(path, method="GET"):
    return jt.http(BASE + path, method)


samples, total = jt.metric_samples, jt.metric_total


redis = jt.Redis(work)
redis.start()
broker = jt.Broker(4, TOPICS)
jd = jt.Journeyd(work, broker.bootstrap, f"unix://{redis.sock}", extra={
    "http.listen": f"127.0.0.1:{PORT}",
    "rules.dirs": rules_dir,
    "rules.idle_timeout": "2s",
})
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(os.path.join(work, "notify.sock"))
notify.setblocking(False)


def notices():
    """READY=1 and RELOADING=1 received so far, in order."""
    out = []
    while True:
        try:
            m = notify.recv(4096).decode()
        except BlockingIOError:
            return out
        out += [line for line in m.splitlines() if line in ("READY=1", "RELOADING=1")]


try:
    os.environ["NOTIFY_SOCKET"] = os.path.join(work, "notify.sock")
    jd.start(exit_on_eof=False)
    del os.environ["NOTIFY_SOCKET"]
    deadline = time.time() + 30
    st = None
    while time.time() < deadline and st != 200:
        st, _, body = http("/-/healthy")
        time.sleep(0.1)
    tap.eq(st, 200, "/-/healthy answers 200")
    # a reload while the partitions are not claimed yet (both checks in the event loop)
    before = http("/-/ready")[0]
    early = http("/-/reload", "POST")[0]
    after = http("/-/ready")[0]
    tap.eq(early, 200, "POST /-/reload before ready answers 200")
    ready = None
    deadline = time.time() + 60
    while time.time() < deadline and ready != 200:
        ready, _, rbody = http("/-/ready")
        time.sleep(0.2)
    tap.eq(ready, 200, "/-/ready turns 200 once partitions are assigned and claimed")
    got = notices()
    if before == 503 and after == 503:
        tap.eq(got, ["READY=1"], "sd_notify: one READY=1 at readiness; the reload before it "
               "announced nothing")
    else:
        tap.diag(f"journeyd was ready before the early reload ({before}, {after}): not judged")
        tap.eq(got[0:1], ["READY=1"], "sd_notify: READY=1 first")

    msgs, oracle = jt.generate(4000, seed=51, users=300)
    jt.produce(broker.bootstrap, "journey.events", msgs)
    n = len(msgs)
    deadline = time.time() + 120
    s = {}
    while time.time() < deadline:
        _, _, text = http("/metrics")
        s = samples(text)
        if total(s, "journeyd_events_total") >= n:
            break
        time.sleep(0.5)
    tap.eq(total(s, "journeyd_events_total"), n, "every produced message is counted once")

    status, ctype, text = http("/metrics")
    tap.eq(status, 200, "/metrics answers 200")
    tap.ok(ctype.startswith("text/plain; version=0.0.4"), "content type is text format 0.0.4", ctype)
    with open(os.path.join(work, "metrics.txt"), "w") as f:
        f.write(text)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    tap.ok(r.returncode == 0, "promtool check metrics passes", r.stdout + r.stderr)
    s = samples(text)
    names = {n for n, _ in s}
    for fam in FAMILIES:
        tap.ok(fam in names or fam + "_bucket" in names, f"family {fam} present")
    tap.ok(not any(("user_id", v) in l or ("campaign", v) in l
                   for (_, l) in s for v in [dict(l).get("user_id"), dict(l).get("campaign")]
                   if v is not None), "no user or campaign labels")

    for typ, want in sorted(oracle["count"].items()):
        got = total(s, "journeyd_events_total", type=typ, outcome="ok") + \
            total(s, "journeyd_events_total", type=typ, outcome="late")
        tap.eq(int(got), want, f"events applied of type {typ} (ok + late)")
    tap.eq(int(total(s, "journeyd_events_total", outcome="duplicate")), oracle["dups"],
           "duplicates counted")
    tap.eq(int(total(s, "journeyd_events_total", outcome="dlq")), oracle["bad"],
           "dead letters counted")
    tap.eq(int(total(s, "journeyd_dlq_messages_total")), oracle["bad"],
           "dead letters by reason add up")
    for (typ, ch), micros in sorted(oracle["sum_by_channel"].items()):
        if typ == "cost":
            got = total(s, "journeyd_spend_total", channel=ch)
            tap.ok(abs(got - micros / 1e6) < 1e-6, f"spend of {ch}", f"{got} vs {micros / 1e6}")
    conv = oracle["count"].get("conversion", 0)
    value = oracle["sum_micros"].get("conversion", 0) / 1e6
    tap.ok(conv > 0, "the data holds conversions", str(conv))
    for m in MODELS:
        c = total(s, "journeyd_attributed_conversions_total", model=m)
        v = total(s, "journeyd_attributed_value_total", model=m)
        tap.ok(abs(c - conv) < 1e-3 and abs(v - value) < 1e-3 * max(1, conv),
               f"{m}: attributed conversions and value are conserved",
               f"{c} vs {conv}, {v} vs {value}")
    tap.ok(total(s, "journeyd_kafka_partitions_assigned") == 4, "4 partitions assigned")
    tap.ok(total(s, "journeyd_redis_up") == 1, "Redis up")
    tap.ok(total(s, "journeyd_batch_duration_seconds_count") >= 1, "batch latency observed")

    # the rules API
    status, ctype, body = http("/api/v1/rules")
    doc = json.loads(body)
    tap.ok(status == 200 and doc.get("status") == "success", "/api/v1/rules succeeds")
    groups = doc["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    want = set()
    for path in RULES:
        with open(path) as f:
            want |= set(re.findall(r"^\s*- alert: (\w+)", f.read(), re.M))
    tap.eq({r["name"] for r in rules}, want, f"the {len(want)} shipped rules are listed")
    tap.ok(all(set(r) >= {"name", "query", "state", "health", "labels", "annotations", "alerts",
                          "lastEvaluation", "evaluationTime", "type", "duration"} for r in rules),
           "every rule has Prometheus's fields")
    tap.ok(all(r["state"] in ("inactive", "pending", "firing") for r in rules),
           "every rule has a state")
    tap.ok(all(set(g) >= {"name", "file", "rules", "interval"} for g in groups),
           "every group has Prometheus's fields")
    status, _, body = http("/api/v1/alerts")
    doc = json.loads(body)
    tap.ok(status == 200 and doc["status"] == "success" and isinstance(doc["data"]["alerts"], list),
           "/api/v1/alerts succeeds with a list")

    # reload: broken, then mended
    status, _, _ = http("/-/reload")
    tap.eq(status, 405, "GET /-/reload is 405")
    bad = os.path.join(rules_dir, "zz-broken.yaml")
    with open(bad, "w") as f:
        f.write("groups:\n  - name: broken\n    rules:\n      - alert: X\n        expr: sum(\n")
    status, _, body = http("/-/reload", "POST")
    tap.ok(status == 500 and "zz-broken.yaml:5:" in body,
           "POST /-/reload with a broken rule file answers 500 with file:line", body)
    s = samples(http("/metrics")[2])
    tap.eq(total(s, "journeyd_config_last_reload_successful"), 0, "reload metric drops to 0")
    os.unlink(bad)
    status, _, body = http("/-/reload", "POST")
    tap.eq(status, 200, "POST /-/reload with good files answers 200")
    s = samples(http("/metrics")[2])
    tap.eq(total(s, "journeyd_config_last_reload_successful"), 1, "reload metric back at 1")
    tap.eq(total(s, "journeyd_config_reloads_total"), 3, "three reloads counted")
    tap.eq(notices(), ["RELOADING=1", "READY=1"] * 2,
           "sd_notify: each reload since readiness is RELOADING=1, then READY=1")
    status, _, _ = http("/nope")
    tap.eq(status, 404, "unknown paths are 404")
    # a request body is never read: past 4 KiB the answer is 413 and the connection closes
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as c:
        c.sendall(b"POST /-/reload HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n" +
                  b"x" * 8192)
        head = c.recv(200).decode(errors="replace")
    tap.ok(head.startswith("HTTP/1.1 413"), "a 1 MiB request body is refused with 413", head)
    s = samples(http("/metrics")[2])
    tap.eq(total(s, "journeyd_config_reloads_total"), 3, "... and did not reload")

    # the status page, as a browser renders it
    status, ctype, page = http("/")
    tap.ok(status == 200 and ctype.startswith("text/html"), "/ is an HTML page")
    tap.ok("<script" not in page and "http://" not in page.replace(BASE, "").replace(
        "http://www.w3.org/2000/svg", ""), "no scripts, no external assets")
    chrome = shutil.which("chromium")
    if not chrome:
        tap.ok(False, "chromium is installed (tools/deps test installs it)")
    else:
        # an artefact for people, kept out of the repository (.gitignore)
        os.makedirs(os.path.join(SRC, "tests", "artifacts"), exist_ok=True)
        shot = os.path.join(SRC, "tests", "artifacts", "status-page.png")
        flags = [chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={os.path.join(work, 'chrome')}", "--window-size=1280,2400"]
        def states():
            doc = json.loads(http("/api/v1/rules")[2])
            return [r for g in doc["data"]["groups"] for r in g["rules"]]

        # rules still move (the watermark follows the clock): judge a page rendered while
        # /api/v1/rules said the same before and after it
        for _ in range(5):
            rules = states()
            r = subprocess.run(flags + ["--dump-dom", BASE + "/"], capture_output=True,
                               text=True, timeout=120)
            if [x["state"] for x in states()] == [x["state"] for x in rules]:
                break
        dom = r.stdout
        tap.ok(r.returncode == 0 and "<h1>journeyd</h1>" in dom, "Chromium renders the page",
               r.stderr[-500:])
        for rule in rules:
            row = re.search(r'<tr class="(\w+)" data-rule="%s">' % re.escape(rule["name"]), dom)
            tap.ok(row is not None and row.group(1) == rule["state"],
                   f"page shows {rule['name']} as {rule['state']}")
        tap.ok(dom.count("<td>") > 20 and "applied offset" in dom, "page shows the partitions")
        tap.ok("<svg" in dom and "Attribution by channel and model" in dom and
               all(m in dom for m in MODELS), "page shows the attribution chart, every model",
               re.sub(r"(?s).*<h2>Attribution</h2>", "", dom)[:300])
        tap.ok(any(r["name"] == "CampaignOverBudget" and r["state"] == "firing" and
                   re.search(r'data-rule="CampaignOverBudget">(.*?)</tr>', dom) and
                   re.search(r'data-rule="CampaignOverBudget">(.*?)</tr>', dom).group(1).count(
                       "never") == 0 for r in rules),
               "a firing rule shows its last evaluation, kept across the reloads")
        r = subprocess.run(flags + [f"--screenshot={shot}", BASE + "/"], capture_output=True,
                           text=True, timeout=120)
        size = os.path.getsize(shot) if os.path.exists(shot) else 0
        tap.ok(size > 20000, "screenshot written", f"{shot}: {size} bytes")
        tap.diag(f"screenshot: {shot}")
finally:
    if jd.proc and jd.proc.poll() is None:
        jd.proc.terminate()
        try:
            jd.wait(60)
        except subprocess.TimeoutExpired:
            jd.kill9()
    if tap.failed:
        tap.diag(jd.tail(40))
    broker.stop()
    redis.kill()
    jt.cleanup(work)
tap.done()
