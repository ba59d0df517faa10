#!/usr/bin/python3
"""The README's five-minute tour, verbatim, after `tools/quickstart`.

Runs `tools/quickstart` in the source tree (it installs what is missing,
builds build/, starts redis-server and journeyd with its embedded broker,
and leaves them running), then takes every ```sh block of the README's
"A five-minute tour" section as written and runs them in one bash session,
in order, from the repository's top directory, with a short pause between
blocks as a reader would take. Each block's output is checked for what the
README says it shows: the events in the windows, the dead letter with its
reason, the CampaignOverBudget alert on the alerts topic and in the API,
the dead letter and the firing alert in the metrics, and the attribution
tables. Ends with `tools/quickstart stop`.

This test stops and restarts a quickstart demo already running in the same
tree (the tour needs a fresh one).
"""
import json
import os
import re
import subprocess
import sys
import time

import jdtest as jt

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = ["first_touch", "last_touch", "last_non_direct", "linear", "position_based",
          "time_decay", "markov", "shapley"]
PAUSE_S = 2  # between blocks: a reader copies one block at a time


def tour_blocks(readme):
    """The ```sh blocks of the README's tour section, in order."""
    m = re.search(r"^## A five-minute tour\n(.*?)^## ", readme, re.S | re.M)
    if not m:
        return None
    return re.findall(r"^```sh\n(.*?)^```$", m.group(1), re.S | re.M)


def run_blocks(blocks, env, timeout):
    """One bash session; returns [(output, status of the block's last command)]."""
    script = []
    for i, b in enumerate(blocks):
        script.append(f"printf '\\n@@@block {i}\\n'\n{b}printf '\\n@@@status {i} %d\\n' $?\n"
                      f"sleep {PAUSE_S}\n")
    r = subprocess.run(["bash"], input="".join(script), cwd=SRC, env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = []
    for i in range(len(blocks)):
        m = re.search(rf"^@@@block {i}\n(.*?)^@@@status {i} (\d+)$", r.stdout, re.S | re.M)
        out.append((m.group(1), int(m.group(2))) if m else (None, None))
    return out, r.stdout


def main():
    tap = jt.Tap()
    blocks = tour_blocks(open(os.path.join(SRC, "README.md")).read())
    if not tap.ok(blocks and len(blocks) == 8, "the README has the tour's eight sh blocks",
                  f"found {len(blocks or [])}: update this test with the README"):
        tap.done()

    # a fresh reader's shell: none of the test's JOURNEYD_* overrides
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYD_")}
    qs = subprocess.run([os.path.join(SRC, "tools", "quickstart")], cwd=SRC, env=env, text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    tap.ok(qs.returncode == 0 and "journeyd and redis-server keep running" in qs.stdout,
           "tools/quickstart ends with journeyd running", qs.stdout[-3000:])
    try:
        t0 = time.time()
        # the alert waits for the next minute tick: at most ~65 s
        res, whole = run_blocks(blocks, env, timeout=300)
        tap.diag(f"tour ran in {time.time() - t0:.0f} s")
        check(tap, res, whole)
    except subprocess.TimeoutExpired as e:
        tap.ok(False, "the tour finishes within 5 minutes", (e.output or "")[-3000:])
    finally:
        subprocess.run([os.path.join(SRC, "tools", "quickstart"), "stop"], cwd=SRC, env=env,
                       capture_output=True)
    tap.done()


def check(tap, res, whole):
    if not tap.ok(all(o is not None for o, _ in res), "every block ran", whole[-3000:]):
        return
    (env_out, env_rc), (prod_out, prod_rc), (q_out, q_rc), (dlq_out, dlq_rc), \
        (alert_out, alert_rc), (api_out, api_rc), (attr_out, attr_rc), (by, by_rc) = res
    tap.ok(env_rc == 0 and env_out.strip() == "", ". .quickstart/env: quiet and successful",
           env_out)
    tap.ok(prod_rc == 0, "kcat produced the five events", prod_out)

    tap.ok(q_rc == 0 and re.search(r"^tour-launch\s+25000$", q_out, re.M),
           "query: tour-launch's spend over 5m is 25000", q_out)
    tap.ok(re.search(r"^wechat\s+1$", q_out, re.M), "query: one tour-launch lead from wechat",
           q_out)

    tap.ok(dlq_rc == 0 and "journeyd.error=bad_ts" in dlq_out, "DLQ: the broken event with "
           "journeyd.error=bad_ts", dlq_out)
    tap.ok('{"event_id":"tour-5","type":"lead","ts":"yesterday","user_id":"tour-u2"}' in dlq_out,
           "DLQ: the message unchanged", dlq_out)

    msg = None
    for line in alert_out.splitlines():
        try:
            msg = json.loads(line)
            break
        except ValueError:
            pass
    tap.ok(alert_rc == 0 and msg is not None, "alerts topic: a JSON alert message for "
           "tour-launch", alert_out)
    a = (msg or {}).get("alerts", [{}])[0]
    tap.eq((msg or {}).get("version"), "4", "the alert message is Alertmanager v4")
    tap.eq(a.get("labels"), {"alertname": "CampaignOverBudget", "campaign": "tour-launch",
                             "severity": "warning", "team": "growth"},
           "the alert's labels")
    tap.eq((a.get("status"), a.get("value"), a.get("threshold"), a.get("seq")),
           ("firing", 25000, 20000, 1), "firing, value 25000, threshold 20000, seq 1")
    tap.eq(a.get("annotations", {}).get("summary"),
           "tour-launch spent 25k in 24 h, 25% over its budget of 20k", "the alert's summary")

    tap.ok(api_rc == 0 and re.search(r'"alertname": "CampaignOverBudget",\s+"campaign": '
                                      r'"tour-launch"', api_out),
           "/api/v1/alerts: CampaignOverBudget for tour-launch", api_out)
    m = re.search(r'^journeyd_dlq_messages_total\{reason="bad_ts"\} (\d+)$', api_out, re.M)
    tap.ok(m and int(m.group(1)) >= 1, "/metrics: the bad_ts dead letter counted", api_out)
    m = re.search(r'^journeyd_alerts\{state="firing"\} (\d+)$', api_out, re.M)
    tap.ok(m and int(m.group(1)) >= 1, "/metrics: a firing alert", api_out)

    tap.ok(attr_rc == 0 and re.search(r"^Attribution of conversion, ", attr_out, re.M),
           "attribution: the report's heading", attr_out[:2000])
    for block in ("conversions", "value", "roi"):
        tap.ok(re.search(rf"^{block}\s+" + r"\s+".join(MODELS), attr_out, re.M),
               f"attribution: the {block} block with all eight models side by side",
               attr_out[:3000])
    tap.ok(re.search(r"^total(\s+\d+\.00){8}$", attr_out, re.M) and
           re.search(r"^wechat\s", attr_out, re.M),
           "attribution: a total row for every model, and a wechat row", attr_out[:3000])
    tap.ok("removal effects" in attr_out, "attribution: the Markov removal effects",
           attr_out[-1500:])

    tap.ok(by_rc == 0 and re.search(r"^wechat/tour-launch(\s+1\.00){6}\s+-\s+-$", by, re.M),
           "attribution --by campaign: one conversion credited to tour-launch by each "
           "rule-based model", by)
    tap.ok(re.search(r"^wechat/tour-launch(\s+1999\.00){6}\s+-\s+-\s+25000\.00$", by, re.M),
           "attribution --by campaign: 1999 credited, 25000 spent", by)
    tap.ok(re.search(r"^wechat/tour-launch(\s+0\.080){6}\s+-\s+-$", by, re.M),
           "attribution --by campaign: ROI 0.080", by)


if __name__ == "__main__":
    sys.exit(main())
