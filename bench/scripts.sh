#!/usr/bin/env bash
# Cost of the sandbox on the install-script phase: `sandboxpm install` running eight approved
# install scripts, each in its own sandbox, against the same scripts run bare (same order and
# parallelism, same environment, the package directory as working directory), in one hyperfine
# run. Writes bench/results/scripts.json and the "Install scripts" section of bench/RESULTS.md.
#
#   bench/scripts.sh                          # release build, 3 rounds of 10 runs per command
#   ROUNDS=5 RUNS=20 SANDBOXPM=path/to/sandboxpm bench/scripts.sh
#
# The fixture (bench/scripts_fixture.py) is generated into bench/.work/scripts and served by a
# loopback registry. The project is installed once; every measured run then starts from the same
# state: node_modules and the lockfile in place, the store warm, the "scripts ran" markers and the
# up-to-date record removed. Three commands:
#
#   sandboxed   sandboxpm install                                  (link check + scripts, sandboxed)
#   bare        sandboxpm install --ignore-scripts && sh bare.sh   (link check + the scripts, bare)
#   no scripts  sandboxpm install --ignore-scripts                 (link check only)
#
# The script phase is a command's median minus the median of `no scripts`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
runs=${RUNS:-10}
rounds=${ROUNDS:-3}
work="$here/.work/scripts"

command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
if [ -n "${SANDBOXPM:-}" ]; then
  bin=$(cd "$(dirname "$SANDBOXPM")" && pwd)/$(basename "$SANDBOXPM")
else
  cargo build --release -q --manifest-path "$repo/Cargo.toml"
  bin="$repo/target/release/sandboxpm"
fi
npm_root=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
node_gyp_bin="$npm_root/node_modules/@npmcli/run-script/lib/node-gyp-bin"

rm -rf "$work"
mkdir -p "$work" "$here/results"
python3 "$here/scripts_fixture.py" generate "$work"
python3 "$here/scripts_fixture.py" serve "$work" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$work/port" ] && break; sleep 0.05; done
registry="http://127.0.0.1:$(cat "$work/port")/"

# Every command runs with the same small environment (the host's can dominate node's start-up,
# and the sandbox drops it anyway).
mkdir -p "$work/home"
clean_env=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$work/home" "LANG=C.UTF-8"
  "SANDBOXPM_HOME=$work/sandboxpm-home" "npm_config_registry=$registry" "CI=true")

cd "$work/project"
# The first install resolves, downloads and runs every script once: they must all succeed.
"${clean_env[@]}" "$bin" install >"$work/first-install.log" 2>&1 || {
  cat "$work/first-install.log" >&2
  exit 1
}
grep -q "ran the install scripts of 8 package(s)" "$work/first-install.log" || {
  cat "$work/first-install.log" >&2
  exit 1
}
"${clean_env[@]}" python3 "$here/scripts_fixture.py" bare "$work" "$node_gyp_bin"
"${clean_env[@]}" sh "$work/bare.sh"
for pkg in node_modules/.sandboxpm/bench-*/node_modules/bench-*; do
  case "$pkg" in *bench-util) continue ;; esac
  [ -s "$pkg/built.txt" ] || { echo "no built.txt in $pkg" >&2; exit 1; }
done

reset="rm -f node_modules/.sandboxpm/*/.sandboxpm-scripts-done node_modules/.sandboxpm/.install-state.json"
# From that state, `sandboxpm install` runs all eight scripts again (and nothing else changes).
sh -c "$reset"
"${clean_env[@]}" "$bin" install >"$work/reset-install.log" 2>&1
grep -q "ran the install scripts of 8 package(s)" "$work/reset-install.log" || {
  cat "$work/reset-install.log" >&2
  echo "after the reset, sandboxpm install did not run the eight scripts" >&2
  exit 1
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Rounds, the commands' order rotating between them, so that a load change on this shared
# machine falls on every command alike; the medians are taken over all rounds' runs.
commands=(
  'sandboxed' "$bin install --silent"
  'bare' "$bin install --ignore-scripts --silent && sh $work/bare.sh"
  'no scripts' "$bin install --ignore-scripts --silent"
)
rm -f "$work"/round-*.json
for round in $(seq "$rounds"); do
  args=()
  for k in 0 1 2; do
    i=$(( (k + round - 1) % 3 * 2 ))
    args+=(-n "${commands[$i]}" "${commands[$((i + 1))]}")
  done
  "${clean_env[@]}" hyperfine --warmup 2 --runs "$runs" --prepare "$reset" \
    --export-json "$work/round-$round.json" "${args[@]}" >&2
done
python3 - "$work" "$here/results/scripts.json" <<'PY'
import glob, json, statistics, sys
merged = {}
for path in sorted(glob.glob(sys.argv[1] + "/round-*.json")):
    for r in json.load(open(path))["results"]:
        merged.setdefault(r["command"], []).extend(r["times"])
results = [{"command": c, "times": t, "median": statistics.median(t), "mean": statistics.mean(t),
            "stddev": statistics.stdev(t), "min": min(t), "max": max(t)} for c, t in merged.items()]
json.dump({"results": results}, open(sys.argv[2], "w"), indent=2)
PY
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

BENCH_LOAD="$load_before -> $load_after" BENCH_BINARY="$bin" \
  python3 "$here/render.py" scripts "$here/results/scripts.json" "$here/RESULTS.md"
