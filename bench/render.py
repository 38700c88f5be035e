"""Renders hyperfine JSON exports into a section of bench/RESULTS.md (medians and ratios)."""
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
    for prog in ("true", "node -e 0"):
        bare = median_ms(results[f"{prog} (bare)"])
        for variant in ("bare", "sandboxpm exec", "bwrap"):
            r = results[f"{prog} ({variant})"]
            med = median_ms(r)
            over = "" if variant == "bare" else f"+{med - bare:.2f} ms"
            lines.append(
                f"| `{prog}` {variant} | {med:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {over} |"
            )
    t = results
    ours = median_ms(t["true (sandboxpm exec)"]) - median_ms(t["true (bare)"])
    bw = median_ms(t["true (bwrap)"]) - median_ms(t["true (bare)"])
    lines += [
        "",
        f"sandboxpm's overhead for `/bin/true`: **{ours:.2f} ms** (target: at most 2 ms); "
        f"bubblewrap with equivalent flags: {bw:.2f} ms.",
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
    pattern = re.compile(rf"^## {re.escape(title)}.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    open(path, "w").write(text)


if __name__ == "__main__":
    kind, src, dest = sys.argv[1:4]
    data = json.load(open(src))
    if kind == "spawn":
        body = spawn_section(data)
        replace_section(dest, "Spawn overhead", body)
        print(body)
