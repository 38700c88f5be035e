#!/usr/bin/env bash
# Spawn overhead of `sandboxpm exec` with each Linux backend (native, landlock, bwrap, docker)
# against the same command unsandboxed, measured in one hyperfine run. Writes
# bench/results/spawn.json and the table in bench/RESULTS.md. The docker backend needs a running
# dockerd (started here when it is installed and not running).
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
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  (dockerd --iptables=false >/tmp/sandboxpm-bench-dockerd.log 2>&1 &)
  for _ in $(seq 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
cargo build --release -q --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/sandboxpm"
node=$(command -v node)

# A small project directory, like a package's, as the working directory.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/project" && echo '{"name":"bench"}' > "$work/project/package.json"
cd "$work/project"

# Every variant runs with the same small environment: the host's can dominate (node parses
# NODE_EXTRA_CA_CERTS at start-up, 100+ ms here), and the sandbox drops it anyway.
clean_env=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$HOME" "LANG=C.UTF-8")

mkdir -p "$here/results"
variants=()
for prog in /bin/true "$node -e 0"; do
  name=$([ "$prog" = /bin/true ] && echo true || echo "node -e 0")
  variants+=(-n "$name (bare)" "$prog")
  for backend in native landlock bwrap docker; do
    variants+=(-n "$name (sandboxpm exec --backend $backend)" "$bin exec --backend $backend -- $prog")
  done
  [ "$name" = true ] && variants+=(-n 'true (namespaces only)' "unshare --user --mount --pid --fork --net --ipc --uts --cgroup /bin/true")
done
"${clean_env[@]}" hyperfine -N --warmup 20 --runs "$runs" --export-json "$here/results/spawn.json" "${variants[@]}" >&2

python3 "$here/render.py" spawn "$here/results/spawn.json" "$here/RESULTS.md"
