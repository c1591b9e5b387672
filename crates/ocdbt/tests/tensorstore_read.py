"""Reads OCDBT databases written by orbax-ts with real TensorStore (and Orbax's write spec).

Usage: python tensorstore_read.py JOBS_JSON RESULT_JSON

JOBS_JSON is a list of jobs, each {"name", "dir", "action", ...}:
  * action "read": open `dir` with {"driver": "ocdbt", "base": "file://<dir>"}, list every key
    and read every value;
  * action "orbax_write": open `dir` with the kvstore spec Orbax itself builds for MERGE mode
    (config constraints + assume_config: true, `tensorstore_utils.build_kvstore_tspec`),
    write key `key_hex` = `value_hex` (which fails with "Observed config does not match assumed
    config" unless the stored config is byte-compatible with Orbax's), then reopen `dir` plainly
    and list/read everything.
  * action "orbax_merge": run Orbax's own finalize merge
    (`ocdbt_utils.merge_ocdbt_per_process_files`, validation off) on the item directory `dir`
    holding `ocdbt.process_*/` databases, then list/read the merged root.
RESULT_JSON receives {name: {"ok": true, "entries": [[key_hex, value_hex], ...]}} (sorted by key)
or {name: {"ok": false, "error": "..."}} per job. Errors of one job do not stop the others.
"""
import json
import os
import sys

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import tensorstore as ts  # noqa: E402


def read_all(directory):
  kv = ts.KvStore.open({'driver': 'ocdbt', 'base': 'file://' + directory}).result()
  keys = sorted(kv.list().result())
  entries = []
  for k in keys:
    r = kv.read(k).result()
    if r.state != 'value':
      raise RuntimeError('listed key %r reads as %s' % (k, r.state))
    entries.append([k.hex(), bytes(r.value).hex()])
  return entries


def orbax_write(directory, key, value):
  from orbax.checkpoint._src.serialization import tensorstore_utils as ts_utils
  spec = ts_utils.build_kvstore_tspec(
      directory.rstrip('/') + '/', use_ocdbt=True,
      ocdbt_write_options=ts_utils.OcdbtKvStoreWriteOptions(
          mode=ts_utils.OcdbtWriteMode.MERGE))
  kv = ts.KvStore.open(ts.KvStore.Spec(spec),
                       context=ts_utils.get_ts_context(use_ocdbt=True)).result()
  kv.write(key, value).result()
  del kv
  return read_all(directory)


def orbax_merge(directory):
  import asyncio
  from etils import epath
  from orbax.checkpoint._src.serialization import ocdbt_utils
  from orbax.checkpoint._src.serialization import tensorstore_utils as ts_utils
  asyncio.run(ocdbt_utils.merge_ocdbt_per_process_files(
      epath.Path(directory), ts_utils.get_ts_context(use_ocdbt=True), use_zarr3=False,
      enable_validation=False))
  return read_all(directory)


def main():
  with open(sys.argv[1]) as f:
    jobs = json.load(f)
  results = {}
  for job in jobs:
    try:
      if job['action'] == 'read':
        entries = read_all(job['dir'])
      elif job['action'] == 'orbax_write':
        entries = orbax_write(job['dir'], bytes.fromhex(job['key_hex']),
                              bytes.fromhex(job['value_hex']))
      elif job['action'] == 'orbax_merge':
        entries = orbax_merge(job['dir'])
      else:
        raise ValueError('unknown action %r' % job['action'])
      results[job['name']] = {'ok': True, 'entries': entries}
    except Exception as e:  # noqa: BLE001 -- reported per job to the Rust test
      results[job['name']] = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
  with open(sys.argv[2], 'w') as f:
    json.dump(results, f)


if __name__ == '__main__':
  main()
