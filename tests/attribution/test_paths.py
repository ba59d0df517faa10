#!/usr/bin/python3
"""Path-level attribution (`journeyctl attribution --paths`) against an
independent implementation (oracle.py: dense linear solves, brute-force
Shapley) on ../shared/attribution/PathData.csv and on small files.

For Markov orders 1, 2 and 3 every channel's removal effects, attributed
conversions and value must agree to 1e-9 (relative), the heuristic models
and Shapley too; every model conserves conversions and value; the output is
byte-identical run to run; the csv, json and svg formats are well-formed and
agree with each other; bad files get file:line:col messages.

usage: test_paths.py JOURNEYCTL [PATHDATA.csv]   (prints TAP)
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

CTL = sys.argv[1]
# A copy of ../shared/attribution/PathData.csv (public ChannelAttribution data).
PATHDATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "PathData.csv")

results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


def ctl(*args, stdin=None):
    p = subprocess.run([CTL, *args], capture_output=True, text=True, input=stdin, timeout=300)
    return p.returncode, p.stdout, p.stderr


def close(a, b, rel=1e-9, abs_=1e-9):
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


MODELS = ["first_touch", "last_touch", "last_non_direct", "linear", "position_based", "markov",
          "shapley"]


def compare(label, got, want_models, markov_want=None):
    """got: journeyctl json; want_models: {model: {channel: {conversions, value}}}."""
    rows = {(r["model"], r["channel"]): r for r in got["rows"]}
    bad = []
    for m, chans in want_models.items():
        for ch, w in chans.items():
            g = rows.get((m, ch))
            if g is None:
                bad.append(f"{m}/{ch} missing")
            elif not (close(g["conversions"], w["conversions"]) and close(g["value"], w["value"])):
                bad.append(f"{m}/{ch}: got {g['conversions']!r}/{g['value']!r}, "
                           f"want {w['conversions']!r}/{w['value']!r}")
    check(f"{label}: every model and channel agrees with the oracle", not bad, "; ".join(bad[:5]))
    if markov_want:
        mk = got.get("markov", {})
        bad = [ch for ch, re in markov_want["removal_effects"].items()
               if not close(mk.get("removal_effects", {}).get(ch, -1), re)]
        bad += [ch + " (value)" for ch, re in markov_want["removal_effects_value"].items()
                if not close(mk.get("removal_effects_value", {}).get(ch, -1), re)]
        check(f"{label}: markov removal effects agree", not bad, ",".join(bad))
        check(f"{label}: P(conversion) agrees",
              close(mk.get("p_conversion", -1), markov_want["p_conversion"]))
    for m in got["models"]:
        c = sum(r["conversions"] for r in got["rows"] if r["model"] == m)
        v = sum(r["value"] for r in got["rows"] if r["model"] == m)
        check(f"{label}: {m} conserves conversions and value",
              close(c, got["total_conversions"]) and close(v, got["total_value"]),
              f"{c} vs {got['total_conversions']}, {v} vs {got['total_value']}")


def main():
    rows = oracle.load_paths(PATHDATA)
    for order in (1, 2, 3):
        rc, out, err = ctl("attribution", "--paths", PATHDATA, "--order", str(order),
                           "--format", "json")
        check(f"order {order}: journeyctl attribution --paths exits 0", rc == 0, err)
        if rc:
            continue
        got = json.loads(out)
        want = {m: oracle.heuristic(m, rows) for m in MODELS
                if m not in ("markov", "shapley")}
        mk = oracle.markov(rows, order)
        want["markov"] = mk["channels"]
        if order == 1:
            want["shapley"] = oracle.shapley(rows)
        compare(f"PathData order {order}", got, want, mk)
        rc2, out2, _ = ctl("attribution", "--paths", PATHDATA, "--order", str(order),
                           "--format", "json")
        check(f"order {order}: byte-identical run to run", rc2 == 0 and out2 == out)
        if order in (1, 2):
            print(f"# PathData markov order {order}: P(conversion) "
                  f"{got['markov']['p_conversion']:.12f}")
            for r in sorted((r for r in got["rows"] if r["model"] == "markov"),
                            key=lambda r: -r["conversions"]):
                ch = r["channel"]
                print(f"#   {ch:8s} RE {got['markov']['removal_effects'][ch]:.9f} "
                      f"conversions {r['conversions']:.6f} value {r['value']:.6f}")

    # csv: the contract's header, long form, agrees with json
    rc, out, err = ctl("attribution", "--paths", PATHDATA, "--format", "csv")
    lines = list(csv.reader(io.StringIO(out)))
    check("csv: header is the contract's",
          rc == 0 and lines and lines[0] == ["conversion_type", "model", "channel", "campaign",
                                             "conversions", "value", "spend", "roi"], err)
    rc, js, _ = ctl("attribution", "--paths", PATHDATA, "--format", "json")
    jrows = {(r["model"], r["channel"]): r for r in json.loads(js)["rows"]}
    ok = len(lines) - 1 == len(jrows) and all(
        float(l[4]) == jrows[(l[1], l[2])]["conversions"] and
        float(l[5]) == jrows[(l[1], l[2])]["value"] and l[6] == "" and l[7] == ""
        for l in lines[1:])
    check("csv: one row per model and channel, full precision, equal to json", ok)

    # svg: well-formed, one bar per model and channel in each of two panels
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "chart.svg")
        rc, _, err = ctl("attribution", "--paths", PATHDATA, "--format", "svg", "--output", path)
        ok = rc == 0 and os.path.exists(path)
        check("svg: written to --output, saying where", ok and path in err, err)
        if ok:
            try:
                doc = xml.dom.minidom.parse(path)
                bars = [r for r in doc.getElementsByTagName("rect")
                        if "bar" in (r.getAttribute("class") or "").split()]
                check("svg: well-formed with a bar per model x channel x panel",
                      doc.documentElement.tagName == "svg" and len(bars) == 2 * 7 * 12,
                      f"{len(bars)} bars")
            except Exception as e:  # noqa: BLE001
                check("svg: well-formed", False, str(e))
        rc, out, _ = ctl("attribution", "--paths", PATHDATA)
        check("table: lists every channel and a total line",
              rc == 0 and all(f"\n{c}" in out for c in ("alpha", "zeta", "total")) and
              "removal effects" in out)

        # small files: (none) for empty paths, direct channels from the config
        small = os.path.join(d, "small.csv")
        with open(small, "w") as f:
            f.write("path,total_conversions,total_conversion_value,total_null\n"
                    "seo > direct,2,10,1\n\"\",1,4,0\nseo,0,0,3\n")
        cfg = os.path.join(d, "c.yaml")
        with open(cfg, "w") as f:
            f.write("attribution:\n  direct_channels: [seo]\n")
        rc, out, err = ctl("-c", cfg, "attribution", "--paths", small, "--format", "json")
        got = json.loads(out) if rc == 0 else {"rows": []}
        rows_ = {(r["model"], r["channel"]): r for r in got["rows"]}
        check("empty paths are credited to (none) by every model",
              rc == 0 and all(rows_[(m, "(none)")]["conversions"] == 1 for m in MODELS), err)
        check("last_non_direct skips the configured direct channels",
              rc == 0 and rows_[("last_non_direct", "direct")]["conversions"] == 2)
        rc, out, err = ctl("attribution", "--paths", small, "--model", "linear", "--format",
                           "json")
        check("--model limits the models", rc == 0 and json.loads(out)["models"] == ["linear"])

        bad = os.path.join(d, "bad.csv")
        with open(bad, "w") as f:
            f.write("path,total_conversions\na > b,1\nc >  > d,2\n")
        rc, out, err = ctl("attribution", "--paths", bad)
        check("a bad file gets file:line:col", rc == 1 and f"{bad}:3:5: empty channel name" in err,
              err)
        rc, out, err = ctl("attribution", "--paths", os.path.join(d, "missing.csv"))
        check("a missing file is an error", rc == 1 and "missing.csv" in err, err)
        rc, out, err = ctl("attribution", "--paths", small, "--format", "xml")
        check("an unknown format is a usage error", rc == 2 and "table, csv, json or svg" in err)

    print(f"1..{len(results)}")
    for i, (name, ok, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok and detail:
            print(f"# {detail}")


main()
