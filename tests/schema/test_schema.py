#!/usr/bin/python3
"""test_schema.py — schemas/event.schema.json and journeyd's decoder agree, line by line.

Every line of the corpus goes through `journeyctl check events --json` (the decoder journeyd
runs) and through a JSON Schema draft-07 validator preceded by an I-JSON parse (RFC 7493: UTF-8,
no duplicate member names, no lone surrogates, no NaN/Infinity), and the two verdicts must be
the same:
  corpus_valid.ndjson      both accept every line
  corpus_invalid.ndjson    both reject every line (and journeyd with the "_error" reason, if given)
  corpus_divergent.ndjson  the documented divergences: each line's "_expect" says what each side
                           does, so a divergence that disappears or changes fails too
  corpus_dialects.ndjson   Segment and CloudEvents inputs decode, and the flat event journeyd
                           maps them to ("event" in the output, minus "dialect") is schema-valid
Generated sweeps then check every boundary of lengths, props counts, numbers and calendar dates.

Run with Debian's /usr/bin/python3 (python3-jsonschema). Environment: JOURNEYCTL (the binary),
SCHEMA (the schema file), CORPUS_DIR (this directory). Prints TAP; exits 1 on any failure.
"""
import calendar
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
from jsonschema import Draft7Validator, FormatChecker

JOURNEYCTL = os.environ.get("JOURNEYCTL", "")
SCHEMA = os.environ.get("SCHEMA", "")
CORPUS_DIR = os.environ.get("CORPUS_DIR", os.path.dirname(os.path.abspath(__file__)))

# The dialect corpus needs events.type_map (not settable from the environment).
DIALECT_CONFIG = """events:
  type_map:
    "Order Completed": conversion
    "Ad Clicked": touch
    com.shop.order.completed: conversion
"""

results = []  # (ok, description, detail)


def check(ok, desc, detail=""):
    results.append((bool(ok), desc, detail))


# ---------------------------------------------------------------- the two sides

class NotIJson(ValueError):
    pass


def _no_duplicates(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise NotIJson("duplicate member name %r" % k)
        seen.add(k)
    return dict(pairs)


def _no_constant(name):
    raise NotIJson("%s is not JSON" % name)


def _check_surrogates(v):
    if isinstance(v, str):
        v.encode("utf-8")  # raises on a lone surrogate
    elif isinstance(v, list):
        for x in v:
            _check_surrogates(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_surrogates(k)
            _check_surrogates(x)


def ijson_parse(raw):
    """The parser step: RFC 8259 + I-JSON. Raises ValueError (or a subclass) on rejection."""
    text = raw.decode("utf-8")
    obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    _check_surrogates(obj)
    return obj


def lenient_parse(raw):
    """Python's own json, last duplicate wins: what a schema-only pipeline would see."""
    return json.loads(raw.decode("utf-8", "surrogatepass"))


def schema_verdict(validator, raw):
    """('ok'|'invalid', detail) for one line: the parser step, then the schema."""
    try:
        obj = ijson_parse(raw)
    except (ValueError, UnicodeError, RecursionError) as e:
        return "invalid", "parser: %s" % e
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(map(str, e.absolute_path))
        return "invalid", "schema: %s at /%s" % (e.message[:160], where)
    return "ok", ""


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYD_")}
    env.setdefault("LC_ALL", "C")
    return env


def journeyctl(lines, config=None):
    """Runs `journeyctl check events --json` over `lines`; returns one output object per line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.ndjson")
        with open(path, "wb") as f:
            for raw in lines:
                f.write(raw + b"\n")
        cmd = [JOURNEYCTL]
        if config is not None:
            cfg = os.path.join(tmp, "journeyd.yaml")
            with open(cfg, "w") as f:
                f.write(config)
            cmd += ["-c", cfg]
        cmd += ["check", "events", "--json", path]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
                           timeout=60)
    if p.returncode not in (0, 1):
        raise RuntimeError("journeyctl exited %d: %s" % (p.returncode, p.stderr.decode()[:500]))
    out = {}
    for l in p.stdout.decode("utf-8", "replace").split("\n"):
        if not l:
            continue
        o = json.loads(l)
        out[o["line"]] = o
    if len(out) != len(lines):
        raise RuntimeError("journeyctl answered %d of %d lines" % (len(out), len(lines)))
    return [out[i + 1] for i in range(len(lines))]


def read_corpus(name):
    with open(os.path.join(CORPUS_DIR, name), "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, l in enumerate(lines):
        if not l.strip(b"\r"):
            raise RuntimeError("%s:%d: empty line (journeyctl would skip it)" % (name, i + 1))
        if b"\x00" in l:
            raise RuntimeError("%s:%d: NUL byte (journeyctl reads C strings)" % (name, i + 1))
    return lines


def label(name, i, raw):
    m = re.search(rb'"_note":"((?:[^"\\]|\\.)*)"', raw)
    text = m.group(1).decode("utf-8", "replace") if m else raw[:60].decode("utf-8", "replace")
    return "%s:%d %s" % (name, i + 1, text.replace("#", "No."))


def field(raw, name):
    m = re.search(rb'"' + name.encode() + rb'":"([a-z_]+)"', raw)
    return m.group(1).decode() if m else None


def jd_verdict(o):
    return "ok" if o["ok"] else "invalid"


# ---------------------------------------------------------------- corpus checks

def check_schema_itself(schema):
    try:
        Draft7Validator.check_schema(schema)
        check(True, "schema is a valid draft-07 schema")
    except jsonschema.exceptions.SchemaError as e:
        check(False, "schema is a valid draft-07 schema", e.message)
    check(schema.get("$schema") == "http://json-schema.org/draft-07/schema#" and
          schema.get("$id", "").startswith("urn:journeyd:schema:event:") and
          "$defs" not in json.dumps(schema),
          "schema declares draft-07, a urn:journeyd $id, and uses definitions (not $defs)")
    missing = [p for p, s in schema["properties"].items() if "description" not in s]
    missing += ["utm." + p for p, s in schema["properties"]["utm"]["properties"].items()
                if "description" not in s]
    missing += ["definitions/" + d for d, s in schema["definitions"].items()
                if "description" not in s]
    check(not missing, "every property and definition has a description", ", ".join(missing))


def check_agreement(validator, name, want):
    lines = read_corpus(name)
    got = journeyctl(lines)
    for i, (raw, o) in enumerate(zip(lines, got)):
        sv, sdetail = schema_verdict(validator, raw)
        jv = jd_verdict(o)
        why = "" if o["ok"] else " (%s: %s)" % (o["error"], o["detail"])
        detail = "journeyd=%s%s schema=%s %s" % (jv, why, sv, sdetail)
        ok = sv == jv == want
        reason = field(raw, "_error")
        if ok and reason and o.get("error") != reason:
            ok, detail = False, "journeyd rejected it as %s, the line expects %s: %s" % (
                o.get("error"), reason, o.get("detail"))
        check(ok, label(name, i, raw), detail)
    return len(lines)


def check_divergent(validator, name):
    lines = read_corpus(name)
    got = journeyctl(lines)
    for i, (raw, o) in enumerate(zip(lines, got)):
        expect = lenient_parse(raw)["_expect"]
        sv, sdetail = schema_verdict(validator, raw)
        jgot = "ok" if o["ok"] else o["error"]
        problems = []
        if jgot != expect["journeyd"]:
            problems.append("journeyd=%s, want %s" % (jgot, expect["journeyd"]))
        if sv != expect["schema"]:
            problems.append("schema=%s, want %s %s" % (sv, expect["schema"], sdetail))
        if "schema_alone" in expect:
            # the divergence is between journeyd and the schema without the parser step
            alone = "ok" if validator.is_valid(lenient_parse(raw)) else "invalid"
            if alone != expect["schema_alone"]:
                problems.append("schema without the parser step=%s, want %s" % (
                    alone, expect["schema_alone"]))
            if (jgot == "ok") == (alone == "ok"):
                problems.append("journeyd and the schema alone agree: the divergence is gone")
        elif (jgot == "ok") == (sv == "ok"):
            problems.append("the two sides agree: the divergence is gone (update the docs)")
        check(not problems, label(name, i, raw) + " [divergence pinned]", "; ".join(problems))
    return len(lines)


def check_dialects(validator, name):
    lines = read_corpus(name)
    got = journeyctl(lines, DIALECT_CONFIG)
    for i, (raw, o) in enumerate(zip(lines, got)):
        desc = label(name, i, raw) + " maps to a schema-valid flat event"
        if not o["ok"]:
            check(False, desc, "journeyd rejected it: %s: %s" % (o["error"], o["detail"]))
            continue
        mapped = dict(o["event"])
        dialect = mapped.pop("dialect", None)
        errors = list(validator.iter_errors(mapped))
        detail = "; ".join("%s at /%s" % (e.message[:120], "/".join(map(str, e.absolute_path)))
                           for e in errors)
        if dialect not in ("segment", "cloudevents"):
            errors.append(None)
            detail += " dialect is %r" % dialect
        check(not errors, desc, detail)
    return len(lines)


# ---------------------------------------------------------------- generated sweeps

def ev_line(**fields):
    o = {"event_id": "e1", "type": "lead", "ts": 0}
    o.update(fields)
    return json.dumps(o, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sweep(validator, desc, cases):
    """cases: (raw line, expected journeyd verdict, expected schema verdict) — usually equal."""
    got = journeyctl([c[0] for c in cases])
    bad = []
    for (raw, wj, ws), o in zip(cases, got):
        jv = jd_verdict(o)
        sv, sdetail = schema_verdict(validator, raw)
        if jv != wj or sv != ws:
            bad.append("%s: journeyd=%s (want %s) schema=%s (want %s) %s" % (
                raw[:90].decode("utf-8", "replace"), jv, wj, sv, ws, o.get("detail", sdetail)))
    check(not bad, "%s (%d lines)" % (desc, len(cases)), " | ".join(bad[:3]))


def length_cases():
    """Every length around each limit, in 1- to 4-byte characters: bytes decide for journeyd,
    characters for the schema (divergence 1), and they coincide for ASCII."""
    fields = [  # (name, byte limit, min, builder)
        ("event_id", 128, 1, lambda s: ev_line(event_id=s)),
        ("user_id", 256, 1, lambda s: ev_line(user_id=s)),
        ("channel", 64, 1, lambda s: ev_line(channel=s)),
        ("campaign", 128, 0, lambda s: ev_line(campaign=s)),
        ("utm.source as channel", 64, 1, lambda s: ev_line(utm={"source": s})),
        ("utm.campaign as campaign", 128, 0,
         lambda s: ev_line(utm={"source": "s", "campaign": s})),
        ("props string", 256, 0, lambda s: ev_line(props={"k": s})),
        ("type", 64, 1, lambda s: ev_line(type=s)),
        ("props key", 64, 1, lambda s: ev_line(props={s: 1})),
    ]
    cases = []
    for name, limit, lo, build in fields:
        units = ["a"] if name in ("type", "props key") else ["a", "\u00e9", "\u20ac", "\U0001F600"]
        for u in units:
            ub = len(u.encode("utf-8"))
            top = limit // ub + 2
            for n in sorted(set([0, 1, 2, top - 3, top - 2, top - 1, top])):
                if n < 0:
                    continue
                s = u * n
                nbytes, nchars = len(s.encode("utf-8")), len(s)
                jd = "ok" if lo <= nbytes <= limit else "invalid"
                sc = "ok" if lo <= nchars <= limit else "invalid"
                cases.append((build(s), jd, sc))
    return cases


def number_cases():
    ok, bad = "ok", "invalid"
    cases = []
    for lit, v in [("9e12", ok), ("-9e12", ok), ("9000000000000", ok), ("9000000000001", bad),
                   ("-9000000000001", bad), ("8999999999999.999999", ok),
                   ("9000000000000.001", bad), ("-9000000000000.001", bad), ("9.0e12", ok),
                   ("0.9e13", ok), ("90e11", ok), ("9.0000000000001e12", bad), ("1e-7", ok),
                   ("-1e-7", ok), ("0", ok)]:
        head = b'{"event_id":"e1","type":"lead","ts":0,'
        cases.append((head + b'"value":%s}' % lit.encode(), v, v))
        cases.append((head + b'"props":{"n":%s}}' % lit.encode(), v, v))
    for lit, v in [("0", ok), ("-0", ok), ("1", ok), ("-1", bad), ("253402300799999", ok),
                   ("253402300800000", bad), ("2.53402300799999e14", ok), ("1.0", ok),
                   ("1.5", bad), ("1e3", ok), ("1e-1", bad), ("0.0", ok), ("-0.0", ok),
                   ("1795420800000.000", ok)]:
        cases.append((b'{"event_id":"e1","type":"lead","ts":%s}' % lit.encode(), v, v))
    for n in range(0, 19):
        v = ok if n <= 16 else bad
        cases.append((ev_line(props={"p%02d" % i: i for i in range(n)}), v, v))
    return cases


def calendar_cases():
    """Days 28..32 of every month of sample years, every Feb 29 from 1960 to 9999, and
    impossible months: the pattern must reject exactly the dates journeyd rejects."""
    years = list(range(1965, 2035)) + [2096, 2100, 2104, 2396, 2400, 2404, 3000, 9996, 9999]
    dates = set()
    for y in years:
        for m in range(0, 14):
            for d in (0, 1, 28, 29, 30, 31, 32):
                dates.add((y, m, d))
    for y in range(1960, 10000):
        dates.add((y, 2, 29))
    cases = []
    for y, m, d in sorted(dates):
        real = 1 <= m <= 12 and 1 <= d <= (calendar.monthrange(y, m)[1] if 1 <= m <= 12 else 0)
        v = "ok" if real and y >= 1970 else "invalid"
        cases.append((ev_line(ts="%04d-%02d-%02dT12:00:00Z" % (y, m, d)), v, v))
    for t, v in [("00:00:00", "ok"), ("23:59:59", "ok"), ("23:59:60", "ok"),
                 ("24:00:00", "invalid"), ("12:60:00", "invalid"), ("12:00:61", "invalid"),
                 ("12:00:00.", "invalid"), ("12:00:00.0", "ok"), ("12:00:00.0000000001", "ok")]:
        for z, zv in [("Z", "ok"), ("z", "ok"), ("+00:00", "ok"), ("-23:59", "ok"),
                      ("+24:00", "invalid"), ("+12:60", "invalid"), ("", "invalid"),
                      ("+1200", "invalid")]:
            want = "ok" if v == zv == "ok" else "invalid"
            for sep in "Tt ":
                cases.append((ev_line(ts="2026-06-15%s%s%s" % (sep, t, z)), want, want))
    return cases


# ---------------------------------------------------------------- main

def main():
    if not JOURNEYCTL or not os.access(JOURNEYCTL, os.X_OK):
        print("1..0 # SKIP JOURNEYCTL is not set to an executable")
        return 0
    with open(SCHEMA, "rb") as f:
        schema = json.loads(f.read().decode("utf-8"), object_pairs_hook=_no_duplicates)
    validator = Draft7Validator(schema, format_checker=FormatChecker())

    check_schema_itself(schema)
    n_valid = check_agreement(validator, "corpus_valid.ndjson", "ok")
    n_invalid = check_agreement(validator, "corpus_invalid.ndjson", "invalid")
    n_div = check_divergent(validator, "corpus_divergent.ndjson")
    n_dia = check_dialects(validator, "corpus_dialects.ndjson")
    check(n_valid >= 60 and n_invalid >= 90,
          "corpus sizes: %d valid (>= 60), %d invalid (>= 90), %d divergent, %d dialect" % (
              n_valid, n_invalid, n_div, n_dia))
    sweep(validator, "sweep: string lengths in bytes (journeyd) and characters (schema)",
          length_cases())
    sweep(validator, "sweep: value, props numbers, ts integers and props counts at their bounds",
          number_cases())
    sweep(validator, "sweep: calendar dates, times and offsets", calendar_cases())

    print("1..%d" % len(results))
    failed = 0
    for i, (ok, desc, detail) in enumerate(results, 1):
        if ok:
            print("ok %d - %s" % (i, desc))
        else:
            failed += 1
            print("not ok %d - %s # %s" % (i, desc, detail.replace("\n", " ")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
