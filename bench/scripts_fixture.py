"""The fixture of bench/scripts.sh: packages with install scripts, a loopback registry serving
them, and a runner that runs the same scripts bare.

    scripts_fixture.py generate WORK   # WORK/registry (packuments, tarballs), WORK/project
    scripts_fixture.py serve WORK      # serve WORK/registry on 127.0.0.1, port in WORK/port
    scripts_fixture.py bare WORK NODE_GYP_BIN
                                       # WORK/bare.sh: the scripts, bare, as sandboxpm runs them

The packages do what install scripts do, in small: six `node install.js` that generate a few
dozen files (and require a dependency, as build scripts do), one `sh` script that copies its
sources, and one that compiles a C file with `cc` and runs the result. `bench-cc` depends on
`bench-node-1`, so there are two levels, as in a real tree. Every byte is deterministic.
"""
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import sys
import tarfile

NODE_SCRIPT = r"""
const fs = require('fs');
const path = require('path');
const util = require('bench-util');
const me = require('./package.json');
fs.mkdirSync('lib', { recursive: true });
for (let i = 0; i < 40; i++) {
  const body = util.banner(me.name, i) + 'module.exports = ' + JSON.stringify({ i, name: me.name }) + ';\n';
  fs.writeFileSync(path.join('lib', 'part' + i + '.js'), body);
}
const blob = Buffer.alloc(256 * 1024);
for (let i = 0; i < blob.length; i++) blob[i] = (i * 31 + me.name.length) & 0xff;
fs.writeFileSync(path.join('lib', 'data.bin'), blob);
fs.writeFileSync('built.txt', 'BUILT ' + me.name + '\n');
"""

C_SOURCE = r"""
#include <stdio.h>
int main(void) {
    unsigned long sum = 0;
    for (unsigned long i = 0; i < 100000; i++) sum += i * i % 7;
    printf("BUILT bench-cc %lu\n", sum);
    return 0;
}
"""


def tarball(files):
    """A gzip'd npm tarball (entries under package/), deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            data = files[name].encode() if isinstance(files[name], str) else files[name]
            info = tarfile.TarInfo("package/" + name)
            info.size = len(data)
            info.mtime = 499162500
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def packages():
    """(name, manifest, files) of every package."""
    out = []
    util = {"name": "bench-util", "version": "1.0.0", "main": "index.js"}
    out.append((util, {
        "index.js": "exports.banner = (name, i) => '/* ' + name + ' part ' + i + ' */\\n';\n",
    }))
    for n in range(1, 7):
        m = {
            "name": f"bench-node-{n}", "version": "1.0.0",
            "dependencies": {"bench-util": "1.0.0"},
            "scripts": {"postinstall": "node install.js"},
        }
        out.append((m, {"install.js": NODE_SCRIPT, "index.js": "module.exports = 1;\n"}))
    m = {
        "name": "bench-sh", "version": "1.0.0",
        "scripts": {"postinstall": "mkdir -p dist && cp -R src/. dist/ && ls dist > built.txt"},
    }
    out.append((m, {f"src/file{i}.txt": f"file {i}\n" * 50 for i in range(30)}))
    m = {
        "name": "bench-cc", "version": "1.0.0",
        "dependencies": {"bench-node-1": "1.0.0"},
        "scripts": {"postinstall": "mkdir -p bin && cc -O2 -o bin/hello src/hello.c && ./bin/hello > built.txt"},
    }
    out.append((m, {"src/hello.c": C_SOURCE}))
    return [(m, dict(files, **{"package.json": json.dumps(m, indent=2) + "\n"})) for m, files in out]


def generate(work):
    registry = os.path.join(work, "registry")
    os.makedirs(registry, exist_ok=True)
    deps = {}
    for manifest, files in packages():
        name, version = manifest["name"], manifest["version"]
        data = tarball(files)
        os.makedirs(os.path.join(registry, name, "-"), exist_ok=True)
        with open(os.path.join(registry, name, "-", f"{name}-{version}.tgz"), "wb") as f:
            f.write(data)
        doc = dict(manifest)
        doc["dist"] = {
            "tarball": f"@REGISTRY@{name}/-/{name}-{version}.tgz",
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            "shasum": hashlib.sha1(data).hexdigest(),
        }
        if "scripts" in manifest:
            doc["hasInstallScript"] = True
        packument = {"name": name, "dist-tags": {"latest": version}, "versions": {version: doc}}
        with open(os.path.join(registry, name, "packument.json"), "w") as f:
            json.dump(packument, f)
        if name != "bench-util":
            deps[name] = version
    project = os.path.join(work, "project")
    os.makedirs(project, exist_ok=True)
    with open(os.path.join(project, "package.json"), "w") as f:
        json.dump({"name": "bench-scripts-app", "version": "1.0.0", "dependencies": deps}, f, indent=2)
    with open(os.path.join(project, ".sandboxpmrc"), "w") as f:
        json.dump({"whitelist": sorted(deps)}, f, indent=2)


def serve(work):
    registry = os.path.join(work, "registry")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            base = f"http://127.0.0.1:{self.server.server_port}/"
            if len(parts) == 1:
                path, kind = os.path.join(registry, parts[0], "packument.json"), "application/json"
            elif len(parts) == 3 and parts[1] == "-":
                path, kind = os.path.join(registry, parts[0], "-", parts[2]), "application/octet-stream"
            else:
                path, kind = None, None
            if not path or not os.path.isfile(path):
                self.send_response(404)
                self.end_headers()
                return
            body = open(path, "rb").read()
            if kind == "application/json":
                body = body.replace(b"@REGISTRY@", base.encode())
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = os.path.join(work, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.rename(tmp, os.path.join(work, "port"))
    server.serve_forever()


def bare(work, node_gyp_bin):
    """WORK/bare.sh: every script, unsandboxed, with the environment sandboxpm gives it (npm's
    variables, the same PATH, an empty HOME), the package directory as working directory, level
    by level, at most `nproc` at a time, as sandboxpm's scheduler runs them."""
    project = os.path.join(work, "project")
    store = os.path.join(project, "node_modules", ".sandboxpm")
    node = os.path.realpath(os.popen("command -v node").read().strip())
    npm = os.path.realpath(os.popen("command -v npm").read().strip())
    home = os.path.join(work, "bare-home")
    os.makedirs(home, exist_ok=True)
    caller_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    levels = {}
    manifests = {m["name"]: m for m, _ in packages()}

    def level(name):
        deps = [d for d in manifests[name].get("dependencies", {}) if "scripts" in manifests[d]]
        return 1 + max((level(d) for d in deps), default=0)

    runners = os.path.join(work, "bare")
    os.makedirs(runners, exist_ok=True)
    for name, m in manifests.items():
        if "scripts" not in m:
            continue
        script = m["scripts"]["postinstall"]
        links = os.path.join(store, f"{name}@1.0.0", "node_modules")
        pkg = os.path.join(links, name)
        path = ":".join([os.path.join(links, ".bin"), os.path.join(pkg, "node_modules", ".bin"),
                         node_gyp_bin, caller_path])
        env = {
            "npm_lifecycle_event": "postinstall", "npm_lifecycle_script": script,
            "npm_package_name": name, "npm_package_version": "1.0.0",
            "npm_package_json": os.path.join(pkg, "package.json"),
            "npm_node_execpath": node, "npm_execpath": npm, "INIT_CWD": project,
            "PATH": path, "HOME": home, "TMPDIR": "/tmp",
            "npm_config_node_gyp": os.path.join(os.path.dirname(npm), "..", "node_modules",
                                                "node-gyp", "bin", "node-gyp.js"),
        }
        if os.environ.get("npm_config_registry"):
            env["npm_config_registry"] = os.environ["npm_config_registry"]
        assigns = " ".join(f"{k}={sh_quote(v)}" for k, v in sorted(env.items()))
        runner = os.path.join(runners, name + ".sh")
        with open(runner, "w") as f:
            f.write(f"cd {sh_quote(pkg)} && exec env -i {assigns} /bin/sh -c {sh_quote(script)}\n")
        levels.setdefault(level(name), []).append(runner)
    with open(os.path.join(work, "bare.sh"), "w") as f:
        f.write("set -e\n")
        for n in sorted(levels):
            listed = " ".join(sh_quote(r) for r in sorted(levels[n]))
            f.write(f"printf '%s\\n' {listed} | xargs -P \"$(nproc)\" -n 1 sh\n")


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    command, work = sys.argv[1], sys.argv[2]
    if command == "generate":
        generate(work)
    elif command == "serve":
        serve(work)
    elif command == "bare":
        bare(work, sys.argv[3])
    else:
        sys.exit(f"unknown command {command}")
