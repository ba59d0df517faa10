#!/usr/bin/python3
"""One concept per module, one prefix per module: every symbol an object file
of the core library exports must begin with its module's prefix (the file
name, `store_read.c` -> `store_`), so `nm` alone tells where a name lives.
Prints TAP; the argument is the core static library (libjdcore.a)."""
import os
import subprocess
import sys

lib = sys.argv[1]
# modules whose prefix is not simply their file stem
PREFIX = {"err": ("jd_err",), "config_table": ("config_",), "store_read": ("store_",),
          "store_flush": ("store_",), "hash": ("hash",), "query_ops": ("query_",),
          "rule": ("rule_", "ruleset_"), "rule_check": ("rule_",),
          "rule_load": ("rule_", "ruleset_"), "engine_state": ("engine_",),
          "store_eval": ("store_",), "store_journey": ("store_",), "report_write": ("report_",),
          "attr_learn": ("attr_",), "attr_sort": ("attr_",)}
out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True, text=True,
                     check=True).stdout
n = 0
bad = 0
obj = None
for line in out.splitlines():
    if line.endswith(":"):
        obj = line[:-1]
        continue
    parts = line.split()
    if len(parts) != 3 or not obj:
        continue
    sym = parts[2]
    if sym.startswith(("__odr_asan", "__asan", "__ubsan", "__sancov")):
        continue  # sanitizer instrumentation, not our names
    stem = os.path.basename(obj)
    for ext in (".c.o", ".o"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    stem = stem.split("_", 1)[1] if "_" in stem and stem.split("_", 1)[0] in (
        "core", "decode", "aggregate", "store", "evaluate", "consume", "publish",
        "attribute", "observe") else stem
    allowed = PREFIX.get(stem, (stem + "_",))
    n += 1
    ok = sym.startswith(allowed)
    bad += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - {stem}: {sym}"
          + ("" if ok else f" # expected prefix {' or '.join(allowed)}"))
print(f"1..{n}")
sys.exit(1 if bad or n == 0 else 0)
