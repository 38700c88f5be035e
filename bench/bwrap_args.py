"""Translates sandboxpm's native mount plan (from `sandboxpm policy show --json`) into bubblewrap
arguments, so that the benchmark compares the two with the same file system view."""
import json
import sys

plan = json.load(sys.stdin)
resolved = plan["resolved"]
args = ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
for op in plan["native"]["mounts"]:
    kind, path = op["op"], op.get("path")
    if kind == "tmpfs":
        args += ["--tmpfs", path]
    elif kind == "bind":
        args += ["--bind" if op["writable"] else "--ro-bind", path, path]
    elif kind == "copy_file":
        args += ["--ro-bind", path, path]
    elif kind == "proc":
        args += ["--proc", path]
    elif kind == "dev":
        args += ["--dev", path]
    elif kind == "symlink":
        args += ["--symlink", op["target"], path]
    elif kind == "hide_file":
        args += ["--ro-bind", "/dev/null", path]
    elif kind == "hide_dir":
        args += ["--tmpfs", path, "--remount-ro", path]
    elif kind == "pin":
        args += ["--bind", path, path]
    elif kind == "read_only":
        args += ["--ro-bind", path, path]
for key, value in resolved["env"].items():
    args += ["--setenv", key, value]
args += ["--chdir", resolved["cwd"]]
print(" ".join(args))
