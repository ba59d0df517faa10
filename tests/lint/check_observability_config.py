#!/usr/bin/python3
"""The monitoring files of config/ are valid and use only metrics journeyd exposes.

- promtool check rules / check config / test rules on config/prometheus/;
- every PromQL expression of the Grafana dashboards (panel targets and template
  variable queries) and of the alert rules names only metrics of journeyd's
  /metrics (the list below) or Prometheus built-ins, and only known PromQL
  functions and keywords (so a misspelled metric or function fails);
- every dashboard panel has a title and the templated Prometheus data source.
Prints TAP.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "config" / "prometheus"
GRAFANA = ROOT / "config" / "grafana"
DASHBOARDS = [GRAFANA / "journeyd-ops.json", GRAFANA / "journeyd-growth.json"]
ALERTS = PROM / "journeyd-alerts.yml"
DATASOURCE_UID = "${datasource}"

# journeyd /metrics: the names fixed for dashboards and alert rules.
JOURNEYD_METRICS = {
    "journeyd_build_info",
    "journeyd_events_total",
    "journeyd_dlq_messages_total",
    "journeyd_batches_total",
    "journeyd_batches_refused_total",
    "journeyd_redis_round_trips_total",
    "journeyd_redis_up",
    "journeyd_redis_state_lost_total",
    "journeyd_kafka_partitions_assigned",
    "journeyd_kafka_consumer_lag",
    "journeyd_watermark_timestamp_seconds",
    "journeyd_rules_leader",
    "journeyd_rules_loaded",
    "journeyd_rule_evaluations_total",
    "journeyd_rule_evaluation_failures_total",
    "journeyd_rule_series_limited_total",
    "journeyd_series",
    "journeyd_series_limit",
    "journeyd_types",
    "journeyd_types_limit",
    "journeyd_rule_group_last_evaluation_timestamp_seconds",
    "journeyd_alerts",
    "journeyd_alert_messages_total",
    "journeyd_config_last_reload_successful",
    "journeyd_config_last_reload_success_timestamp_seconds",
    "journeyd_config_reloads_total",
    "journeyd_config_reload_failures_total",
    "journeyd_attributed_conversions_total",
    "journeyd_attributed_value_total",
    "journeyd_spend_total",
    "journeyd_attribution_null_paths_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
}
JOURNEYD_HISTOGRAMS = {
    "journeyd_batch_duration_seconds",
    "journeyd_flush_duration_seconds",
    "journeyd_rule_group_duration_seconds",
}
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                       "scrape_samples_post_metric_relabeling", "scrape_series_added", "ALERTS",
                       "ALERTS_FOR_STATE"}
KNOWN_METRICS = (JOURNEYD_METRICS | PROMETHEUS_BUILTINS
                 | {h + s for h in JOURNEYD_HISTOGRAMS for s in ("_bucket", "_sum", "_count")})

PROMQL_WORDS = {
    # aggregation operators and keywords
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "bool", "offset", "atan2",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp",
    "floor", "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
    "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
    "sqrt", "time", "timestamp", "vector", "year", "avg_over_time", "min_over_time",
    "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
    # Grafana's Prometheus template queries
    "label_values", "label_names", "metrics", "query_result",
    "inf", "nan",
}


def promql_identifiers(expr):
    """The bare identifiers of a PromQL expression: metric names, functions, keywords."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\$\{[^}]*\}|\$\w+", "1", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    e = re.sub(r"#.*", "", e)  # comments
    return re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*", e)


def unknown_names(expr):
    bad = []
    for word in promql_identifiers(expr):
        if word in KNOWN_METRICS or word.lower() in PROMQL_WORDS:
            continue
        bad.append(word)
    # label_values(metric, label): the label name is not a metric
    m = re.match(r"\s*label_values\(\s*([\w:]+)\s*,\s*(\w+)\s*\)\s*$", expr)
    if m:
        bad = [w for w in bad if w != m.group(2)]
    return bad


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def alert_exprs(text):
    """The expr: values of a rules file written as config/prometheus does (plain or |)."""
    exprs = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        value = m.group(2).strip()
        if value in ("|", ">", "|-", ">-"):
            indent = len(m.group(1))
            block = []
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            value = "\n".join(block)
        exprs.append(value)
    return exprs


results = []


def check(ok, name, detail=""):
    results.append((ok, name, detail))


def run(name, argv):
    try:
        p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    except OSError as e:
        check(False, name, str(e))
        return
    check(p.returncode == 0, name, (p.stdout + p.stderr).strip())


promtool = shutil.which("promtool") or "/usr/bin/promtool"
run("promtool check rules journeyd-alerts.yml",
    [promtool, "check", "rules", str(ALERTS.relative_to(ROOT))])
run("promtool check config prometheus.yml",
    [promtool, "check", "config", str((PROM / "prometheus.yml").relative_to(ROOT))])
run("promtool test rules journeyd-alerts.test.yml",
    [promtool, "test", "rules", str((PROM / "journeyd-alerts.test.yml").relative_to(ROOT))])

exprs = alert_exprs(ALERTS.read_text())
bad = {e.strip(): unknown_names(e) for e in exprs}
bad = {e: w for e, w in bad.items() if w}
check(len(exprs) >= 8 and not bad, "journeyd-alerts.yml: every expr uses known metrics",
      f"{len(exprs)} exprs" if len(exprs) < 8 else
      "\n".join(f"{w} in: {e}" for e, w in bad.items()))

loaded = {}
for path in DASHBOARDS:
    name = path.name
    try:
        dash = loaded[name] = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        check(False, f"{name}: valid JSON", str(e))
        continue
    check(True, f"{name}: valid JSON")

    variables = dash.get("templating", {}).get("list", [])
    vtypes = {v.get("name"): v.get("type") for v in variables}
    ds_var = [v for v in variables if v.get("name") == "datasource"]
    check(vtypes.get("datasource") == "datasource" and ds_var[0].get("query") == "prometheus",
          f"{name}: templated prometheus data source variable",
          f"variables: {vtypes}")

    exprs = []  # (where, expr)
    for v in variables:
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            exprs.append((f"variable {v.get('name')}", q))
    problems = []
    npanels = 0
    for p in all_panels(dash.get("panels", [])):
        npanels += 1
        title = p.get("title", "")
        where = f"panel {p.get('id')} {title!r}"
        if not str(title).strip():
            problems.append(f"{where}: no title")
        if p.get("type") == "row":
            continue
        ds = p.get("datasource")
        if not isinstance(ds, dict) or ds.get("uid") != DATASOURCE_UID or ds.get("type") != "prometheus":
            problems.append(f"{where}: datasource is {ds!r}, not the ${{datasource}} variable")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{where}: no targets")
        for t in targets:
            tds = t.get("datasource")
            if tds is not None and tds.get("uid") != DATASOURCE_UID:
                problems.append(f"{where} target {t.get('refId')}: datasource {tds!r}")
            if not t.get("expr", "").strip():
                problems.append(f"{where} target {t.get('refId')}: empty expr")
            exprs.append((f"{where} target {t.get('refId')}", t.get("expr", "")))
    check(npanels > 0 and not problems, f"{name}: {npanels} panels have a title and the templated data source",
          "\n".join(problems))

    unknown = [f"{where}: {', '.join(w)} in {e!r}" for where, e in exprs
               for w in [unknown_names(e)] if w]
    used = {w for _, e in exprs for w in promql_identifiers(e) if w in JOURNEYD_METRICS
            or w.rsplit("_", 1)[0] in JOURNEYD_HISTOGRAMS}
    if not used:
        unknown.append("no journeyd metric found in any expression")
    check(not unknown,
          f"{name}: {len(exprs)} expressions use only journeyd's metrics and PromQL built-ins",
          "\n".join(unknown))

ops = loaded.get("journeyd-ops.json", {})
check(any(v.get("name") == "instance" for v in ops.get("templating", {}).get("list", [])),
      "journeyd-ops.json: has an instance variable")
growth = loaded.get("journeyd-growth.json", {})
model = [v for v in growth.get("templating", {}).get("list", []) if v.get("name") == "model"]
check(bool(model) and model[0].get("multi") is True,
      "journeyd-growth.json: has a multi-value model variable")

print(f"1..{len(results)}")
for k, (ok, name, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {k} - {name}")
    if detail and not ok:
        for line in detail.splitlines():
            print(f"# {line}")
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
