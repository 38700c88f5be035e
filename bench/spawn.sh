#!/usr/bin/env bash
# Spawn overhead of `sandboxpm exec` against the same command unsandboxed and under bubblewrap
# with equivalent isolation, measured in one run with hyperfine. Writes bench/results/spawn.json
# and the table in bench/RESULTS.md.
#
#   bench/spawn.sh            # 300 runs per command
#   RUNS=1000 bench/spawn.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
runs=${RUNS:-300}

for tool in hyperfine bwrap; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool" >&2
    apt-get install -y -qq "$( [ "$tool" = bwrap ] && echo bubblewrap || echo hyperfine )" >/dev/null
  fi
done
cargo build --release -q --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/sandboxpm"
node=$(command -v node)

# A small project directory, like a package's, as the working directory.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/project" && echo '{"name":"bench"}' > "$work/project/package.json"
cd "$work/project"

# bubblewrap with the same file system view: sandboxpm's own mount plan, translated.
bwrap_args=$("$bin" policy show --json | python3 "$here/bwrap_args.py")

# Every variant runs with the same small environment: the host's can dominate (node parses
# NODE_EXTRA_CA_CERTS at start-up, 100+ ms here), and the sandbox drops it anyway.
clean_env=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$HOME" "LANG=C.UTF-8")

mkdir -p "$here/results"
"${clean_env[@]}" hyperfine -N --warmup 20 --runs "$runs" --export-json "$here/results/spawn.json" \
  -n 'true (bare)' '/bin/true' \
  -n 'true (sandboxpm exec)' "$bin exec -- /bin/true" \
  -n 'true (sandboxpm exec --backend landlock)' "$bin exec --backend landlock -- /bin/true" \
  -n 'true (bwrap)' "bwrap $bwrap_args -- /bin/true" \
  -n 'true (namespaces only)' "unshare --user --mount --pid --fork --net --ipc --uts --cgroup /bin/true" \
  -n 'node -e 0 (bare)' "$node -e 0" \
  -n 'node -e 0 (sandboxpm exec)' "$bin exec -- $node -e 0" \
  -n 'node -e 0 (sandboxpm exec --backend landlock)' "$bin exec --backend landlock -- $node -e 0" \
  -n 'node -e 0 (bwrap)' "bwrap $bwrap_args -- $node -e 0" >&2

python3 "$here/render.py" spawn "$here/results/spawn.json" "$here/RESULTS.md"
