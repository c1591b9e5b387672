"""The Python Orbax side of `npm run bench` (benches/bench.mjs drives it; not meant to be run alone).

A long-lived worker: bench.mjs sends one JSON command per line on stdin and reads one JSON reply
per line on stdout (everything else Python, JAX or absl print goes to stderr). Trees are built
from the leaf list bench.mjs sends, with the same deterministic generator as bench.mjs
(`values_f32` below), so both sides save identical bytes; bench.mjs compares the sha256 of the
trees before measuring anything.

Commands:
  {"cmd": "build", "leaves": [{"path": [...], "shape": [...], "dtype": "float32"|"bfloat16",
                               "seed": k, "chunk_byte_size": n|null}, ...]}
      -> {"bytes", "sha256", "seconds"}
  {"cmd": "save", "dir": ...}
      -> {"return_s", "commit_s", "rss_before", "peak_rss"}  (StandardCheckpointer: save() then
         wait_until_finished(); Orbax writes in a background thread after save() returns)
  {"cmd": "restore", "dir": ..., "concurrent_gb": null|x}
      -> {"seconds", "rss_before", "peak_rss", "bytes"}
  {"cmd": "slice", "dir": ..., "param": ..., "region": [[start, end], ...]}
      -> {"seconds", "bytes"}   (TensorStore over the item's OCDBT root: what a Python browsing
         tool does, since Orbax's restore has no slice argument)
  {"cmd": "info"} -> {"orbax", "jax", "numpy", "tensorstore", "python"}
  {"cmd": "exit"}
"""
import gc
import hashlib
import json
import os
import sys
import time

# Keep stdout for the protocol: anything else written to it goes to stderr.
_protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import ml_dtypes  # noqa: E402
import jax  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
import tensorstore as ts  # noqa: E402

BLOCK = 1 << 22


def hash32(x):
    """Chris Wellons' lowbias32 on uint32 arrays (wrapping arithmetic), as bench.mjs `hash32`."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    x = x ^ (x >> np.uint32(16))
    return x


def values_f32(seed, n):
    """Weights-like float32 values: the sum of two 32-bit hashes, centred and scaled by 2^-37
    (a triangular distribution in about +-0.03 with full-precision mantissas). Every step is
    exact in float64, so the final rounding to float32 matches JavaScript's Float32Array store."""
    base = int(hash32(np.array([seed], dtype=np.uint32))[0])
    out = np.empty(n, dtype=np.float32)
    with np.errstate(over="ignore"):
        for start in range(0, n, BLOCK):
            i = np.arange(start, min(n, start + BLOCK), dtype=np.uint32)
            two_i = i * np.uint32(2) + np.uint32(base)
            h1 = hash32(two_i).astype(np.float64)
            h2 = hash32(two_i + np.uint32(1)).astype(np.float64)
            out[start:start + len(i)] = ((h1 + h2 - 4294967296.0) * 2.0 ** -37).astype(np.float32)
    return out


def to_bfloat16(f32):
    """Round-to-nearest-even on the bit pattern, as bench.mjs does."""
    b = f32.view(np.uint32)
    with np.errstate(over="ignore"):
        r = ((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
    return r.view(ml_dtypes.bfloat16)


def set_path(tree, path, value):
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def clear_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def status_bytes(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


state = {"tree": None, "save_args": None, "bytes": 0}


def build(cmd):
    start = time.perf_counter()
    state["tree"] = None
    gc.collect()
    tree, save_args = {}, {}
    digest = hashlib.sha256()
    total = 0
    for leaf in cmd["leaves"]:
        n = int(np.prod(leaf["shape"], dtype=np.int64))
        values = values_f32(leaf["seed"], n)
        if leaf["dtype"] == "bfloat16":
            values = to_bfloat16(values)
        elif leaf["dtype"] != "float32":
            raise ValueError(f"unsupported dtype {leaf['dtype']}")
        values = values.reshape(leaf["shape"])
        digest.update(values.view(np.uint8).data)
        total += values.nbytes
        set_path(tree, leaf["path"], values)
        cbs = leaf.get("chunk_byte_size")
        set_path(save_args, leaf["path"], ocp.SaveArgs(chunk_byte_size=cbs) if cbs else ocp.SaveArgs())
    state.update(tree=tree, save_args=save_args, bytes=total)
    return {"bytes": total, "sha256": digest.hexdigest(), "seconds": time.perf_counter() - start}


def save(cmd):
    ck = ocp.StandardCheckpointer()
    gc.collect()
    clear_peak()
    rss_before = status_bytes("VmRSS")
    start = time.perf_counter()
    ck.save(cmd["dir"], state["tree"], save_args=state["save_args"])
    returned = time.perf_counter() - start
    ck.wait_until_finished()
    committed = time.perf_counter() - start
    peak = status_bytes("VmHWM")
    ck.close()
    return {"return_s": returned, "commit_s": committed, "rss_before": rss_before, "peak_rss": peak}


def restore(cmd):
    kwargs = {}
    if cmd.get("concurrent_gb") is not None:
        kwargs["restore_concurrent_gb"] = cmd["concurrent_gb"]
    ck = ocp.StandardCheckpointer(**kwargs)
    # A tree of numpy arrays as the target: Orbax restores numpy arrays (host memory, like
    # orbax-ts), the fastest of its restore types on a CPU-only host.
    target = state["tree"]
    gc.collect()
    clear_peak()
    rss_before = status_bytes("VmRSS")
    start = time.perf_counter()
    restored = ck.restore(cmd["dir"], target)
    leaves = jax.tree_util.tree_leaves(restored)
    seconds = time.perf_counter() - start
    peak = status_bytes("VmHWM")
    nbytes = sum(x.nbytes for x in leaves)
    if not all(isinstance(x, np.ndarray) for x in leaves):
        raise TypeError("Orbax restored something other than numpy arrays")
    del restored, leaves
    ck.close()
    gc.collect()
    return {"seconds": seconds, "rss_before": rss_before, "peak_rss": peak, "bytes": nbytes}


def read_slice(cmd):
    gc.collect()
    start = time.perf_counter()
    spec = {
        "driver": "zarr",
        "kvstore": {"driver": "ocdbt", "base": "file://" + cmd["dir"], "path": cmd["param"] + "/"},
    }
    array = ts.open(spec, open=True, read=True).result()
    index = tuple(slice(a, b) for a, b in cmd["region"])
    data = array[index].read().result()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes": int(data.nbytes)}


def info(_cmd):
    from importlib.metadata import version

    return {
        "orbax": version("orbax-checkpoint"),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "tensorstore": version("tensorstore"),
        "python": sys.version.split()[0],
    }


COMMANDS = {"build": build, "save": save, "restore": restore, "slice": read_slice, "info": info}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        if cmd["cmd"] == "exit":
            break
        try:
            reply = {"ok": True, **COMMANDS[cmd["cmd"]](cmd)}
        except Exception as e:  # reported to bench.mjs, which stops
            import traceback

            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        _protocol.write(json.dumps(reply) + "\n")
        _protocol.flush()


if __name__ == "__main__":
    main()
