#!/usr/bin/python3
"""Independent reference implementation ("oracle") of multi-touch attribution.

This script is written from the model definitions only; it shares no code with
journeyd and is meant to be used by tests to cross-check the daemon's results.

Input is ChannelAttribution's path format (CSV) with header
``path,total_conversions,total_conversion_value,total_null`` (fields may be
quoted, columns are looked up by name).  ``path`` is a list of channels
separated by ``>``; spaces around each channel name are stripped.

Models
------
Heuristic models work on the raw path (no collapsing of repeated touches):

* ``first_touch``      all credit to the first touch
* ``last_touch``       all credit to the last touch
* ``last_non_direct``  all credit to the last touch whose channel is not a
                       direct channel (default {"direct"}); if every touch is
                       direct, to the last touch
* ``linear``           1/n to each touch
* ``position_based``   n=1: 1; n=2: 1/2 each; n>=3: 0.4 to the first touch,
                       0.4 to the last, 0.2 split evenly over the middle ones

``markov`` (order 1, 2 or 3) builds an absorbing Markov chain over collapsed
paths and attributes by removal effects (solved with dense linear algebra).

``shapley`` computes the exact Shapley value, by brute force over all
coalitions, of the game v(S) = conversions (resp. value) of the rows whose set
of channels is a subset of S.

Rows whose path is empty are excluded from every model; the totals reported
(``total_conversions``, ``total_value``) are those of non-empty-path rows, and
every model conserves them (asserted).

Command line::

    /usr/bin/python3 tests/attribution/oracle.py FILE.csv [--order K]
        [--models m1,m2,...] [--direct a,b]
    /usr/bin/python3 tests/attribution/oracle.py --selftest

Tiny worked example (the hand-checked numbers in the docstrings below):
rows ``"a>b"`` (1 conversion, value 10, 0 null) and ``"b"`` (0 conversions,
value 0, 1 null).

>>> rows = [Row(("a", "b"), 1.0, 10.0, 0.0), Row(("b",), 0.0, 0.0, 1.0)]
>>> m = markov(rows, 1)
>>> round(m["p_conversion"], 12)
0.5
>>> {c: round(r, 12) for c, r in sorted(m["removal_effects"].items())}
{'a': 0.5, 'b': 1.0}
>>> {c: round(v["conversions"], 12) for c, v in sorted(m["channels"].items())}
{'a': 0.333333333333, 'b': 0.666666666667}
>>> {c: round(v["value"], 12) for c, v in sorted(m["channels"].items())}
{'a': 3.333333333333, 'b': 6.666666666667}
>>> round(m["expected_value"], 12)
5.0
>>> m2 = markov(rows, 2)
>>> {c: round(r, 12) for c, r in sorted(m2["removal_effects"].items())}
{'a': 1.0, 'b': 1.0}
>>> {c: round(v["conversions"], 12) for c, v in sorted(m2["channels"].items())}
{'a': 0.5, 'b': 0.5}
>>> s = shapley(rows)
>>> {c: (round(v["conversions"], 12), round(v["value"], 12)) for c, v in sorted(s.items())}
{'a': (0.5, 5.0), 'b': (0.5, 5.0)}
>>> heuristic("first_touch", rows)
{'a': {'conversions': 1.0, 'value': 10.0}, 'b': {'conversions': 0.0, 'value': 0.0}}
>>> heuristic("linear", rows)
{'a': {'conversions': 0.5, 'value': 5.0}, 'b': {'conversions': 0.5, 'value': 5.0}}
"""

import argparse
import collections
import csv
import itertools
import json
import math
import sys

import numpy as np

__all__ = [
    "Row",
    "load_paths",
    "parse_path",
    "heuristic",
    "markov",
    "shapley",
    "run_models",
    "HEURISTIC_MODELS",
    "ALL_MODELS",
]

Row = collections.namedtuple("Row", ["path", "conv", "value", "nulls"])
Row.__doc__ = """One aggregated path row.

path  : tuple of channel names (raw, as written; may be empty)
conv  : total_conversions (float)
value : total_conversion_value (float)
nulls : total_null (float)
"""

HEURISTIC_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "position_based",
)
ALL_MODELS = HEURISTIC_MODELS + ("markov", "shapley")
DEFAULT_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "position_based",
    "markov",
    "shapley",
)

SHAPLEY_MAX_CHANNELS = 14
REL_TOL = 1e-9


# --------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------

def parse_path(text):
    """Split a ChannelAttribution path string into a tuple of channel names.

    Channels are separated by '>' with optional spaces around each one.
    A blank string gives the empty path.  An empty channel name inside a
    non-blank path (e.g. "a>>b") is an error.

    >>> parse_path(" eta > iota>alpha ")
    ('eta', 'iota', 'alpha')
    >>> parse_path("  ")
    ()
    """
    if text.strip() == "":
        return ()
    parts = tuple(p.strip() for p in text.split(">"))
    if any(p == "" for p in parts):
        raise ValueError("empty channel name in path %r" % (text,))
    return parts


def _num(text, what, lineno):
    try:
        return float(text.strip()) if text.strip() != "" else 0.0
    except ValueError:
        raise ValueError("line %d: bad %s %r" % (lineno, what, text))


def load_paths(path):
    """Read a ChannelAttribution path CSV file and return a list of Row.

    The header must contain ``path``, ``total_conversions`` and
    ``total_null``; ``total_conversion_value`` is optional (0 if absent).
    Fields may be quoted.  Rows are returned in file order, paths raw
    (not collapsed); rows with an empty path are kept (the models skip them).
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return rows
        header = [h.strip().lstrip("\ufeff").strip() for h in header]
        idx = {h: i for i, h in enumerate(header)}
        for col in ("path", "total_conversions", "total_null"):
            if col not in idx:
                raise ValueError("%s: missing column %r" % (path, col))
        ip = idx["path"]
        ic = idx["total_conversions"]
        iv = idx.get("total_conversion_value")
        inl = idx["total_null"]
        for lineno, rec in enumerate(reader, start=2):
            if not rec or all(f.strip() == "" for f in rec):
                continue
            conv = _num(rec[ic], "total_conversions", lineno)
            value = _num(rec[iv], "total_conversion_value", lineno) if iv is not None else 0.0
            nulls = _num(rec[inl], "total_null", lineno)
            rows.append(Row(parse_path(rec[ip]), conv, value, nulls))
    return rows


def _as_rows(rows):
    return [r if isinstance(r, Row) else Row(tuple(r[0]), float(r[1]), float(r[2]), float(r[3]))
            for r in rows]


def _nonempty(rows):
    return [r for r in _as_rows(rows) if len(r.path) > 0]


def _channels(rows):
    return sorted({c for r in rows for c in r.path})


def _totals(rows):
    return (math.fsum(r.conv for r in rows), math.fsum(r.value for r in rows))


def _check_conservation(name, result, total_conv, total_value):
    sc = math.fsum(v["conversions"] for v in result.values())
    sv = math.fsum(v["value"] for v in result.values())
    for what, got, want in (("conversions", sc, total_conv), ("value", sv, total_value)):
        if not math.isclose(got, want, rel_tol=REL_TOL, abs_tol=1e-9):
            raise AssertionError("%s: %s not conserved: sum %r != total %r"
                                 % (name, what, got, want))


# --------------------------------------------------------------------------
# heuristic models
# --------------------------------------------------------------------------

def _weights(model, path, direct_channels, first_weight, last_weight):
    """Return a list of (touch index, weight) for one raw path."""
    n = len(path)
    if model == "first_touch":
        return [(0, 1.0)]
    if model == "last_touch":
        return [(n - 1, 1.0)]
    if model == "last_non_direct":
        for i in range(n - 1, -1, -1):
            if path[i] not in direct_channels:
                return [(i, 1.0)]
        return [(n - 1, 1.0)]
    if model == "linear":
        return [(i, 1.0 / n) for i in range(n)]
    if model == "position_based":
        if n == 1:
            return [(0, 1.0)]
        if n == 2:
            return [(0, 0.5), (1, 0.5)]
        mid = (1.0 - first_weight - last_weight) / (n - 2)
        return [(0, first_weight)] + [(i, mid) for i in range(1, n - 1)] + [(n - 1, last_weight)]
    raise ValueError("unknown heuristic model %r" % (model,))


def heuristic(model, rows, direct_channels=("direct",), first_weight=0.4, last_weight=0.4):
    """Attribute with a heuristic (rule based) model on raw paths.

    model           : one of HEURISTIC_MODELS
    rows            : iterable of Row (or (path, conv, value, nulls) tuples)
    direct_channels : channels skipped by last_non_direct (default {"direct"})
    first_weight, last_weight : position_based weights for n >= 3

    Each touch of a path gets conv*weight conversions and value*weight value;
    repeated touches of one channel add up.  Rows with an empty path are
    skipped.  Returns {channel: {"conversions": float, "value": float}} over
    every channel that appears in a non-empty path (sorted by name); totals
    are asserted to be conserved.
    """
    rows = _nonempty(rows)
    direct = set(direct_channels)
    conv = {c: [] for c in _channels(rows)}
    val = {c: [] for c in conv}
    for r in rows:
        for i, w in _weights(model, r.path, direct, first_weight, last_weight):
            conv[r.path[i]].append(r.conv * w)
            val[r.path[i]].append(r.value * w)
    result = {c: {"conversions": math.fsum(conv[c]), "value": math.fsum(val[c])} for c in conv}
    tc, tv = _totals(rows)
    _check_conservation(model, result, tc, tv)
    return result


# --------------------------------------------------------------------------
# Markov chain model
# --------------------------------------------------------------------------

def _collapse(path):
    out = []
    for c in path:
        if not out or out[-1] != c:
            out.append(c)
    return tuple(out)


def _states_of(path, order):
    """Transient states (tuples) visited by a collapsed path for the given order."""
    return [tuple(path[max(0, i + 1 - order):i + 1]) for i in range(len(path))]


def markov(rows, order=1):
    """Markov-chain removal-effect attribution of the given order (1, 2 or 3).

    Paths are collapsed (a>a>b -> a>b).  The transient state at position i is
    the tuple of the last min(order, i) channels up to position i.  For each
    non-empty row with weight w = conv + nulls: start->s1, s_i->s_{i+1} get w,
    s_n->conv gets conv and s_n->null gets nulls.  P(a->b) = count/row total.

    p_conversion is the absorption probability in conv from start, solved
    exactly (dense numpy.linalg.solve).  Removing channel c turns every state
    whose tuple contains c into an absorbing null; RE_c = 1 - P_c / P.
    Attributed conversions = RE_c / sum RE * total conversions.

    Value: y_s = sum_j P(s,j) y_j + V_s / N_s, with V_s the conversion value
    of rows whose last state is s and N_s the outgoing count of s;
    REv_c = 1 - y_start(c removed) / y_start; attributed value =
    REv_c / sum REv * total value.

    Returns dict with keys "channels" ({ch: {"conversions", "value"}}),
    "removal_effects", "removal_effects_value", "p_conversion",
    "expected_value" (y_start) and "states" (number of transient states).
    """
    if order < 1:
        raise ValueError("order must be >= 1")
    rows = _nonempty(rows)
    channels = _channels(rows)
    tc, tv = _totals(rows)

    counts = collections.defaultdict(float)      # (from, to) -> weight
    end_value = collections.defaultdict(float)   # state -> V_s
    state_set = set()
    START, CONV, NULL = "start", "conv", "null"
    for r in rows:
        states = _states_of(_collapse(r.path), order)
        w = r.conv + r.nulls
        state_set.update(states)
        end_value[states[-1]] += r.value
        seq = [START] + states
        if w != 0:
            for a, b in zip(seq, seq[1:]):
                counts[(a, b)] += w
        if r.conv != 0:
            counts[(states[-1], CONV)] += r.conv
        if r.nulls != 0:
            counts[(states[-1], NULL)] += r.nulls

    # index: 0 = start, 1.. = transient states
    states = sorted(state_set)
    index = {START: 0}
    for i, s in enumerate(states, start=1):
        index[s] = i
    n = len(states) + 1
    out_tot = np.zeros(n)
    for (a, _b), w in counts.items():
        out_tot[index[a]] += w

    Q = np.zeros((n, n))       # transient -> transient probabilities
    R = np.zeros(n)            # transient -> conv probabilities
    Vrate = np.zeros(n)        # V_s / N_s
    for (a, b), w in counts.items():
        ia = index[a]
        p = w / out_tot[ia]
        if b == CONV:
            R[ia] += p
        elif b == NULL:
            pass
        else:
            Q[ia, index[b]] += p
    for s, v in end_value.items():
        i = index[s]
        if out_tot[i] > 0:
            Vrate[i] = v / out_tot[i]

    # states with no outgoing transitions behave as absorbing null
    dead = out_tot <= 0

    def solve(removed_mask):
        absorb = removed_mask | dead
        A = np.eye(n) - Q
        A[absorb, :] = 0.0
        A[absorb, absorb] = 1.0
        rhs = np.stack([R, Vrate], axis=1)
        rhs[absorb, :] = 0.0
        x = np.linalg.solve(A, rhs)
        return float(x[0, 0]), float(x[0, 1])

    no_removal = np.zeros(n, dtype=bool)
    p_conv, y_start = solve(no_removal)

    re, rev = {}, {}
    for c in channels:
        mask = np.zeros(n, dtype=bool)
        for s in states:
            if c in s:
                mask[index[s]] = True
        pc, yc = solve(mask)
        re[c] = 1.0 - pc / p_conv if p_conv > 0 else 0.0
        rev[c] = 1.0 - yc / y_start if y_start > 0 else 0.0

    sre = math.fsum(re.values())
    srev = math.fsum(rev.values())
    result = {}
    for c in channels:
        result[c] = {
            "conversions": re[c] / sre * tc if sre > 0 else 0.0,
            "value": rev[c] / srev * tv if srev > 0 else 0.0,
        }
    _check_conservation("markov(order=%d)" % order, result, tc, tv)
    return {
        "channels": result,
        "removal_effects": re,
        "removal_effects_value": rev,
        "p_conversion": p_conv,
        "expected_value": y_start,
        "states": len(states),
    }


# --------------------------------------------------------------------------
# Shapley value (brute force from the definition)
# --------------------------------------------------------------------------

def shapley(rows, max_channels=SHAPLEY_MAX_CHANNELS):
    """Exact Shapley attribution by brute force over all coalitions.

    Game: v(S) = total conversions (resp. conversion value) of the non-empty
    rows whose SET of channels is a subset of S.  For each channel i,
    phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S)),
    computed literally (no closed form).  Refuses more than max_channels
    channels (2^n coalitions).

    Returns {channel: {"conversions": float, "value": float}}; totals are
    asserted to be conserved (efficiency: sum phi = v(N) - v(empty)).
    """
    rows = _nonempty(rows)
    channels = _channels(rows)
    n = len(channels)
    if n > max_channels:
        raise ValueError("shapley: %d channels > %d (brute force refused)" % (n, max_channels))
    tc, tv = _totals(rows)
    if n == 0:
        return {}
    bit = {c: 1 << i for i, c in enumerate(channels)}

    # aggregate rows by channel-set bitmask
    agg = collections.defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        m = 0
        for c in r.path:
            m |= bit[c]
        agg[m][0] += r.conv
        agg[m][1] += r.value
    masks = np.array(sorted(agg), dtype=np.int64)
    gains = np.array([agg[m] for m in masks.tolist()], dtype=float)   # (k, 2)

    # v(S) for every coalition S, literally: sum over rows with set subset of S
    full = (1 << n) - 1
    v = np.zeros(((1 << n), 2))
    for S in range(1 << n):
        inside = (masks & (full & ~S)) == 0
        v[S] = gains[inside].sum(axis=0)

    fact = [math.factorial(k) for k in range(n + 1)]
    weight = [fact[s] * fact[n - s - 1] / fact[n] for s in range(n)]
    popcount = [bin(S).count("1") for S in range(1 << n)]

    result = {}
    for i, c in enumerate(channels):
        b = 1 << i
        terms_c, terms_v = [], []
        for S in range(1 << n):
            if S & b:
                continue
            w = weight[popcount[S]]
            d = v[S | b] - v[S]
            terms_c.append(w * d[0])
            terms_v.append(w * d[1])
        result[c] = {"conversions": math.fsum(terms_c), "value": math.fsum(terms_v)}
    _check_conservation("shapley", result, tc, tv)
    return result


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------

def run_models(rows, models=DEFAULT_MODELS, order=1, direct_channels=("direct",)):
    """Run the requested models and return the JSON-ready result dict."""
    rows = _as_rows(rows)
    ne = _nonempty(rows)
    tc, tv = _totals(ne)
    out = {}
    for m in models:
        if m in HEURISTIC_MODELS:
            out[m] = {"channels": heuristic(m, ne, direct_channels=direct_channels)}
        elif m == "markov":
            out[m] = markov(ne, order)
        elif m == "shapley":
            out[m] = {"channels": shapley(ne)}
        elif m == "time_decay":
            raise ValueError("time_decay needs touch times; not available in path mode")
        else:
            raise ValueError("unknown model %r" % (m,))
    return {
        "models": out,
        "total_conversions": tc,
        "total_value": tv,
        "empty_path_rows": len(rows) - len(ne),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="Reference multi-touch attribution oracle")
    ap.add_argument("file", nargs="?", help="ChannelAttribution path CSV")
    ap.add_argument("--order", type=int, default=1, help="Markov order (1..3), default 1")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma separated model list")
    ap.add_argument("--direct", default="direct",
                    help="comma separated direct channels for last_non_direct")
    ap.add_argument("--selftest", action="store_true", help="run the docstring tests")
    args = ap.parse_args(argv)

    if args.selftest:
        import doctest
        res = doctest.testmod(sys.modules[__name__])
        print("doctest: %d attempted, %d failed" % (res.attempted, res.failed))
        return 1 if res.failed else 0
    if not args.file:
        ap.error("FILE is required")
    if args.order not in (1, 2, 3):
        ap.error("--order must be 1, 2 or 3")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    direct = [d.strip() for d in args.direct.split(",") if d.strip()]
    rows = load_paths(args.file)
    result = run_models(rows, models, args.order, direct)
    json.dump(result, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
