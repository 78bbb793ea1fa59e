#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Regenerates the configuration reference tables in README.md from the
settings tables in src/relay/relay_cfg.c (estafetad) and
src/store/buzond_cfg.c (buzond); tests/e2e/60-docs checks that they agree.
Run from the top of the tree: python3 contrib/gen-cfgref.py"""
import re

# (source, table array, the README table's header line)
TABLES = (
    ("src/relay/relay_cfg.c", "relay_cfg_defs",
     "| setting | type | default | range | meaning |"),
    ("src/store/buzond_cfg.c", "buzond_cfg_defs",
     "| buzond setting | type | default | range | meaning |"),
)
TYPES = {"CFG_STR": "string", "CFG_INT": "integer", "CFG_BOOL": "yes/no",
         "CFG_SIZE": "size", "CFG_DURATION": "duration", "CFG_LIST": "list",
         "CFG_ENUM": "choice"}
UNITS = {"SEC": "1000", "MIN": "60000", "HOUR": "3600000", "DAY": "86400000",
         "LL": ""}


def bound(t, v):
    v = v.strip()
    for k, r in UNITS.items():
        v = v.replace(k, r)
    x = eval(v, {})  # integer arithmetic from our own source only
    if t == "CFG_DURATION":
        for u, d in (("w", 604800000), ("d", 86400000), ("h", 3600000),
                     ("m", 60000), ("s", 1000)):
            if x % d == 0:
                return f"{x // d}{u}"
        return f"{x}ms"
    if t == "CFG_SIZE":
        for u, d in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
            if x % d == 0:
                return f"{x // d}{u}"
    return str(x)


def table(path, array, header):
    src = open(path).read()
    body = src[src.index(array + "[] = {"):]
    ents = re.findall(
        r'\{\s*"(\w+)",\s*(CFG_\w+),\s*((?:"(?:[^"\\]|\\.)*"\s*)+|'
        r'LOCALSTATEDIR "[^"]*"|NULL),\s*([^,]+),\s*([^,]+),\s*OFF\(\w+\),\s*(\w+),\s*'
        r'((?:"(?:[^"\\]|\\.)*"\s*)+)\}', body, re.S)
    rows = [header,
            "|---|---|---|---|---|"]
    for name, t, d, mn, mx, choices, hlp in ents:
        d = d.strip()
        if d.startswith("LOCALSTATEDIR"):
            d = "$localstatedir" + re.findall(r'"([^"]*)"', d)[0]
        else:  # adjacent literals are one string, as in C
            d = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', d))
        rng = ""
        if t in ("CFG_INT", "CFG_SIZE", "CFG_DURATION"):
            rng = f"{bound(t, mn)} – {bound(t, mx)}"
        if t == "CFG_ENUM":
            m = re.search(r"static const char \*const " + choices +
                          r"\[\] = \{([^}]*)\}", src)
            rng = " / ".join(x.strip().strip('"') for x in
                             m.group(1).split(",")
                             if "NULL" not in x and x.strip())
        h = " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', hlp))
        h = re.sub(r"\s+", " ", h)
        dv = f"`{d}`" if d else "(empty)"
        rows.append(f"| `{name}` | {TYPES[t]} | {dv} | {rng} | {h} |")
    return "\n".join(rows)


def main():
    readme = open("README.md").read()
    for path, array, header in TABLES:
        a = readme.index(header + "\n")
        b = readme.index("\n\n", a)
        readme = readme[:a] + table(path, array, header) + readme[b:]
    open("README.md", "w").write(readme)


main()
