"""Renders hyperfine JSON exports into a section of bench/RESULTS.md (medians and ratios).

`render.py merge <dir> <tool> <out>` first joins one tool's single-run exports (`<tool>-<k>.json`
in <dir>, as bench/install.sh writes them while the tools take turns) into one export.
"""
import json
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone


def median_ms(result):
    return result["median"] * 1000.0


def spawn_section(data):
    results = {r["command"]: r for r in data["results"]}
    lines = [
        "## Spawn overhead (`bench/spawn.sh`)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}, kernel {platform.release()}, {nproc()} cores), "
        f"{results['true (bare)']['times'].__len__()} runs each after 20 warm-ups, one hyperfine run.",
        "",
        "| command | median | mean ± σ | overhead vs bare (median) |",
        "| --- | ---: | ---: | ---: |",
    ]
    backends = ("native", "landlock", "bwrap", "docker")
    for prog in ("true", "node -e 0"):
        bare = median_ms(results[f"{prog} (bare)"])
        variants = ["bare"] + [f"sandboxpm exec --backend {b}" for b in backends] + ["namespaces only"]
        for variant in variants:
            r = results.get(f"{prog} ({variant})")
            if r is None:
                continue
            med = median_ms(r)
            over = "" if variant == "bare" else f"+{med - bare:.2f} ms"
            lines.append(
                f"| `{prog}` {variant} | {med:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {over} |"
            )
    bare = median_ms(results["true (bare)"])
    over = {
        b: median_ms(results[f"true (sandboxpm exec --backend {b})"]) - bare
        for b in backends
        if f"true (sandboxpm exec --backend {b})" in results
    }
    lines += [
        "",
        "Overhead over bare `/bin/true` (medians), per backend: "
        + ", ".join(f"{b} **{ms:.2f} ms**" for b, ms in over.items())
        + ". Target for the default (native) backend: at most 2 ms.",
        "",
        f"The kernel floor: `unshare` creating the same seven namespaces around `/bin/true` (no mounts, "
        f"no pivot, no filters) costs {median_ms(results['true (namespaces only)']) - bare:.2f} ms over bare in this run.",
        "",
        "Every backend runs the same resolved default policy (`sandboxpm policy show`): native, bwrap "
        "and docker execute the same mount plan; landlock enforces it with Landlock alone. Each run "
        "includes policy resolution. All variants run under the same reduced environment.",
        "",
    ]
    return "\n".join(lines)


def nproc():
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def replace_section(path, title, body):
    try:
        text = open(path).read()
    except FileNotFoundError:
        text = "# Benchmark results\n\nEach section is rewritten by the script named in its title.\n\n"
    # The title ends at " (" or the line's end: "Install" must not match "Install scripts".
    pattern = re.compile(rf"^## {re.escape(title)}(?= \(|$).*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    open(path, "w").write(text)


def install_section(results_dir, fs=None):
    import glob
    import os
    rows = {}
    for path in glob.glob(os.path.join(results_dir, "install-*-*.json")):
        try:
            data = json.load(open(path))
        except ValueError:
            continue  # a run still being written
        for r in data["results"]:
            tool, scenario = r["command"].split(" ", 1)
            fixture = os.path.basename(path)[len("install-"):].split("-" + tool + "-")[0]
            rows[(fixture, scenario, tool)] = r
    rss = {}
    rss_path = os.path.join(results_dir, "install-rss.jsonl")
    if os.path.exists(rss_path):
        for line in open(rss_path):
            e = json.loads(line)
            rss[(e["fixture"], e["scenario"], e["tool"])] = e["rss_kb"]
    tools = ["sandboxpm", "npm", "pnpm", "bun"]
    scenarios = ["clean", "cache+lock", "cache-only", "lock-only", "up-to-date"]
    title = "## Install (`bench/install.sh`)"
    where = ""
    if fs == "ext4-journal":
        title = "## Install on a journaled ext4 (`BENCH_FS=ext4-journal bench/install.sh`)"
        where = ("Projects and caches on a fresh ext4 with a journal (mkfs.ext4's default) and its inode tables initialised before the first run, "
                 "loop-mounted from an image on the same disk. ")
    lines = [
        title,
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} ({nproc()} cores). "
        f"{where}All tools in one run, scripts not run by any tool. Median wall time (peak RSS); "
        "ratio = sandboxpm / peer (below 1 means sandboxpm is faster).",
        "",
    ]
    for fixture in sorted({k[0] for k in rows}):
        lines += [f"### {fixture}", "",
                  "| scenario | " + " | ".join(tools) + " | vs npm | vs pnpm | vs bun |",
                  "| --- |" + " ---: |" * (len(tools) + 3)]
        for sc in scenarios:
            cells, med = [], {}
            for t in tools:
                r = rows.get((fixture, sc, t))
                if r is None:
                    cells.append("n/a")
                    continue
                med[t] = r["median"]
                failed = any(c != 0 for c in r.get("exit_codes", []))
                mb = rss.get((fixture, sc, t), 0) / 1024
                cells.append(f"{r['median']:.2f} s ({mb:.0f} MB){' FAILED' if failed else ''}")
            ratios = [f"{med['sandboxpm'] / med[p]:.2f}" if "sandboxpm" in med and p in med and med[p] > 0 else "n/a"
                      for p in ("npm", "pnpm", "bun")]
            lines.append(f"| {sc} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
        lines.append("")
    return "\n".join(lines)


def scripts_section(data):
    import os
    r = {x["command"]: x for x in data["results"]}
    sandboxed, bare, none = (r[k]["median"] * 1000.0 for k in ("sandboxed", "bare", "no scripts"))
    phase_sbx, phase_bare = sandboxed - none, bare - none
    scripts = 8
    runs = len(r["sandboxed"]["times"])

    def row(name, what):
        x = r[name]
        return (f"| {what} | {x['median'] * 1000:.0f} ms | {x['mean'] * 1000:.0f} ± {x['stddev'] * 1000:.0f} ms "
                f"| {x['min'] * 1000:.0f}–{x['max'] * 1000:.0f} ms |")

    binary = os.environ.get("BENCH_BINARY", "")
    build = "debug build" if "/debug/" in binary else "release build"
    lines = [
        "## Install scripts (`bench/scripts.sh`)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}, kernel {platform.release()}, {nproc()} cores), sandboxpm {build}, "
        f"{runs} runs per command (rounds rotating the commands' order, 2 warm-ups each); load average "
        f"{os.environ.get('BENCH_LOAD', '?')} (the machine is shared: expect noise)."
        + (f" {os.environ['BENCH_NOTE']}" if os.environ.get("BENCH_NOTE") else ""),
        "",
        f"{scripts} approved install scripts (six `node install.js` generating files, one `sh` copy, one "
        "`cc` compile-and-run; two levels), node_modules and the store in place; each run first removes "
        "the scripts-ran markers, so every run executes all the scripts.",
        "",
        "| command | median | mean ± σ | range |",
        "| --- | ---: | ---: | ---: |",
        row("sandboxed", "`sandboxpm install` (scripts sandboxed)"),
        row("bare", "`sandboxpm install --ignore-scripts` + the same scripts bare"),
        row("no scripts", "`sandboxpm install --ignore-scripts`"),
        "",
        f"Script phase (median minus `--ignore-scripts`): sandboxed **{phase_sbx:.0f} ms**, bare "
        f"**{phase_bare:.0f} ms**, ratio **{phase_sbx / phase_bare:.2f}** "
        f"({(phase_sbx - phase_bare) / scripts:+.1f} ms per script). Target: at most 1.10.",
        f"Whole install with scripts, sandboxed / bare: {sandboxed / bare:.2f}.",
        "",
    ]
    return "\n".join(lines)


def merge(rounds_dir, tool, out):
    import glob
    import os
    import statistics
    runs = []
    for path in glob.glob(os.path.join(rounds_dir, f"{tool}-*.json")):
        if re.fullmatch(re.escape(tool) + r"-\d+\.json", os.path.basename(path)):
            runs += json.load(open(path))["results"]
    if not runs:
        sys.exit(f"render.py merge: no runs of {tool} in {rounds_dir}")
    times = [t for r in runs for t in r["times"]]
    merged = {
        "command": runs[0]["command"],
        "mean": statistics.mean(times),
        "stddev": statistics.stdev(times) if len(times) > 1 else None,
        "median": statistics.median(times),
        "user": statistics.mean(r["user"] for r in runs),
        "system": statistics.mean(r["system"] for r in runs),
        "min": min(times),
        "max": max(times),
        "times": times,
        "exit_codes": [c for r in runs for c in r.get("exit_codes", [])],
    }
    json.dump({"results": [merged]}, open(out, "w"), indent=2)


if __name__ == "__main__":
    if sys.argv[1] == "merge":
        merge(*sys.argv[2:5])
        sys.exit(0)
    kind, src, dest = sys.argv[1:4]
    if kind == "install":
        fs = sys.argv[4] if len(sys.argv) > 4 else None
        body = install_section(src, fs)
        replace_section(dest, "Install on a journaled ext4" if fs == "ext4-journal" else "Install", body)
        print(body)
        sys.exit(0)
    data = json.load(open(src))
    if kind == "spawn":
        body = spawn_section(data)
        replace_section(dest, "Spawn overhead", body)
        print(body)
    elif kind == "scripts":
        body = scripts_section(data)
        replace_section(dest, "Install scripts", body)
        print(body)
