#!/usr/bin/env bash
# Install benchmark: sandboxpm against npm, pnpm and bun on the same fixtures, in one run.
#
#   bench/install.sh                       # alotta-files (../shared/fixtures) and bench/fixtures/app
#   RUNS=5 FIXTURES=app bench/install.sh   # one fixture, more runs
#   BENCH_FS=ext4-journal bench/install.sh # projects and caches on a fresh journaled ext4 (root)
#
# BENCH_FS=ext4-journal puts every project and cache on an ext4 with a journal, the default of
# mkfs.ext4, in a loop-mounted image under bench/.work. Some machines (this one's CI VM) run a
# journal-less ext4, where each new inode skips every inode freed in the last one to six minutes
# and each skip reads the inode table: right after a scenario's `rm -rf` of a cache or of
# node_modules, creating files gets slower for every tool, and more for those that create more
# directories and symlinks. The results go to a section of their own.
#
# Scenarios (as in pnpm's benchmark): clean (no cache, no lockfile, no node_modules), cache+lock
# (no node_modules), cache only, lockfile only, up to date. Scripts are not run by any tool, so
# the numbers compare resolution, download, extraction and linking. The tools take turns: run k
# of every tool, then run k+1 (see the loop). Medians and ratios go to bench/RESULTS.md; raw
# hyperfine exports (one per run, and merged per tool) to bench/results/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
runs=${RUNS:-3}
work="$here/.work"
tools="$work/tools"
mkdir -p "$tools" "$here/results"

# Peers, installed from the registry npm is configured with (never a hard-coded host).
if [ ! -x "$tools/node_modules/.bin/pnpm" ] || [ ! -x "$tools/node_modules/.bin/bun" ]; then
  npm install --no-audit --no-fund --prefix "$tools" pnpm bun >&2
fi
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
# RSS lines are appended; the last one per (fixture, tool, scenario) is shown.
cargo build --release -q --manifest-path "$repo/Cargo.toml"
results="$here/results"
fs=${BENCH_FS:-}
case "$fs" in
  "") ;;
  ext4-journal)
    image="$work/ext4-journal.img"
    mnt="$work/ext4-journal"
    mkdir -p "$mnt"
    mountpoint -q "$mnt" && umount "$mnt"
    rm -f "$image"
    truncate -s 16G "$image"
    # Inode tables and journal initialised now: by default a kernel thread zeroes them in the
    # background for minutes after mounting, slowing whichever tool runs first.
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$image"
    mount -o loop "$image" "$mnt"
    trap 'cd "$here"; umount "$mnt" 2>/dev/null; rm -f "$image"' EXIT
    results="$here/results/ext4-journal"
    ;;
  *) echo "BENCH_FS: unknown file system '$fs' (ext4-journal)" >&2; exit 2 ;;
esac
mkdir -p "$results"
# Projects, caches and the lockfiles kept aside live here (the tools stay in $tools).
data=${mnt:-$work}
export PATH="$tools/node_modules/.bin:$PATH"
sandboxpm="$repo/target/release/sandboxpm"

fixture_dir() {
  case "$1" in
    alotta-files) echo "$repo/../shared/fixtures/alotta-files" ;;
    *) echo "$here/fixtures/$1" ;;
  esac
}

# tool -> install command, lockfile name, cache directory (inside $data/cache/<tool>).
cmd_of() {
  local c="$data/cache/$1"
  case "$1" in
    npm) echo "npm install --legacy-peer-deps --ignore-scripts --no-audit --no-fund --cache $c" ;;
    pnpm) echo "pnpm install --ignore-scripts --store-dir $c/store --cache-dir $c/cache --config.strict-peer-dependencies=false" ;;
    bun) echo "env BUN_INSTALL_CACHE_DIR=$c bun install --ignore-scripts" ;;
    sandboxpm) echo "env SANDBOXPM_HOME=$c $sandboxpm install --ignore-scripts --silent" ;;
  esac
}
lock_of() {
  case "$1" in
    npm) echo package-lock.json ;; pnpm) echo pnpm-lock.yaml ;; bun) echo bun.lock ;; sandboxpm) echo sandboxpm-lock.json ;;
  esac
}

peak_rss_kb() { # one extra run under GNU time, in the prepared state
  /usr/bin/time -f '%M' -o "$data/rss" sh -c "$1" >/dev/null 2>&1 || true
  cat "$data/rss" 2>/dev/null | tail -1
}

read -ra tool_list <<< "${TOOLS:-sandboxpm npm pnpm bun}"
scenarios=(clean cache+lock cache-only lock-only up-to-date)
for fixture in ${FIXTURES:-alotta-files app}; do
  src=$(fixture_dir "$fixture")
  declare -A prep=()
  for tool in "${tool_list[@]}"; do
    proj="$data/proj/$fixture-$tool"
    rm -rf "$proj" "$data/cache/$tool"; mkdir -p "$proj"
    cp "$src/package.json" "$proj/"
    cmd=$(cmd_of "$tool"); lock=$(lock_of "$tool"); cache="$data/cache/$tool"
    cd "$proj"
    # Produce a lockfile and a warm cache once; kept aside for the scenarios that need them.
    sh -c "$cmd" >/dev/null 2>&1
    cp "$lock" "$data/$fixture-$tool.lock" 2>/dev/null || cp bun.lockb "$data/$fixture-$tool.lock" 2>/dev/null || true
    [ -f bun.lockb ] && lock=bun.lockb
    prep[$tool,lock]=$lock
    prep[$tool,clean]="rm -rf node_modules $lock $cache"
    prep[$tool,cache+lock]="rm -rf node_modules; cp $data/$fixture-$tool.lock $lock"
    prep[$tool,cache-only]="rm -rf node_modules $lock"
    prep[$tool,lock-only]="rm -rf node_modules $cache; cp $data/$fixture-$tool.lock $lock"
    prep[$tool,up-to-date]="true"
    cd "$here"
  done
  # Each tool has its own project and cache, so the tools take turns within a scenario: run k of
  # every tool happens in the same minute, and a slow or fast spell of this shared machine falls
  # on all of them. The order rotates with k (nobody always runs right after the same tool), and
  # every run starts after a sync, so no tool pays for the writeback of the one before. The order
  # of the scenarios matters: each one's runs end in the state the next one starts from (a clean
  # run leaves a warm cache; lock-only leaves node_modules for up-to-date).
  for scenario in "${scenarios[@]}"; do
    rounds="$results/rounds/$fixture-$scenario"
    rm -rf "$rounds"; mkdir -p "$rounds"
    for ((k = 0; k < runs; k++)); do
      for ((i = 0; i < ${#tool_list[@]}; i++)); do
        tool=${tool_list[(i + k) % ${#tool_list[@]}]}
        cd "$data/proj/$fixture-$tool"
        hyperfine --runs 1 --warmup 0 --ignore-failure --prepare "${prep[$tool,$scenario]}; sync" \
          --export-json "$rounds/$tool-$k.json" -n "$tool $scenario" "$(cmd_of "$tool")" >&2
      done
    done
    for tool in "${tool_list[@]}"; do
      python3 "$here/render.py" merge "$rounds" "$tool" "$results/install-$fixture-$tool-$scenario.json"
      cd "$data/proj/$fixture-$tool"
      lock=${prep[$tool,lock]}
      sh -c "${prep[$tool,$scenario]}"
      rss=$(peak_rss_kb "$(cmd_of "$tool")")
      # Leave the full state (node_modules, lockfile, cache) for the next scenario.
      [ -f "$lock" ] || cp "$data/$fixture-$tool.lock" "$lock" 2>/dev/null || true
      echo "{\"fixture\":\"$fixture\",\"tool\":\"$tool\",\"scenario\":\"$scenario\",\"rss_kb\":${rss:-0}}" >> "$results/install-rss.jsonl"
    done
    cd "$here"
  done
  unset prep
done
python3 "$here/render.py" install "$results" "$here/RESULTS.md" $fs
