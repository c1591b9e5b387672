// Injected server faults on S3 (moto behind a fault-injecting proxy, loopback only): transient
// errors are retried and the save commits; persistent ones surface as typed errors naming the
// object, commit nothing, and leave earlier steps untouched.
import test from 'ava';

import * as ocp from 'orbax-ts';

import { type FaultProxy, startFaultProxy } from './helpers/faultProxy.js';
import { type MotoServer, startMoto } from './helpers/moto.js';

let moto: MotoServer | null = null;
let proxy: FaultProxy | null = null;
test.before(async () => {
  moto = await startMoto(['faults']);
  if (moto) proxy = await startFaultProxy(moto.endpoint);
});
test.after.always(async () => {
  await proxy?.close();
  moto?.stop();
});

function options(): Record<string, string> {
  return {
    ...moto!.storageOptions,
    aws_endpoint: proxy!.endpoint,
    retry_max_retries: '3',
    retry_initial_backoff_ms: '5',
    retry_max_backoff_ms: '20',
    retry_timeout_ms: '5000',
  };
}

const state = (v: number) => ({ w: ocp.array(Float32Array.from({ length: 64 }, (_, i) => i + v), [8, 8]), step: BigInt(v) });

test.serial('writes failing twice with 503 each are retried, and the step commits and restores', async (t) => {
  if (!moto || !proxy) return t.pass('no Python reference venv');
  const root = 's3://faults/transient';
  const manager = await ocp.CheckpointManager.open(root, { storageOptions: options() });
  proxy.setPlan((req, attempt) => (req.method === 'PUT' && attempt <= 2 ? 503 : 'forward'));
  await manager.save(1, new ocp.args.StandardSave(state(1)));
  await manager.waitUntilFinished();
  proxy.setPlan(() => 'forward');
  const tries = new Map<string, number>();
  for (const put of proxy.seen.filter((s) => s.startsWith('PUT '))) tries.set(put, (tries.get(put) ?? 0) + 1);
  t.true(tries.size >= 5, `distinct PUTs: ${tries.size}`);
  t.true([...tries.values()].every((n) => n >= 3), 'every PUT failed twice before it went through');
  t.true([...tries.keys()].some((k) => k.endsWith('/transient/1/commit_success.txt')));
  const restored = (await manager.restore(1)) as ReturnType<typeof state>;
  t.deepEqual([...restored.w.data], [...state(1).w.data]);
  await manager.close();
});

test.serial('persistent server errors fail the save with a typed error naming the object; nothing is committed; earlier steps stay', async (t) => {
  if (!moto || !proxy) return t.pass('no Python reference venv');
  const root = 's3://faults/persistent';
  proxy.setPlan(() => 'forward');
  const manager = await ocp.CheckpointManager.open(root, { storageOptions: options() });
  await manager.save(1, new ocp.args.StandardSave(state(1)));
  await manager.waitUntilFinished();
  proxy.setPlan((req) => (req.method === 'PUT' && req.url?.includes('/persistent/2/') ? 503 : 'forward'));
  await manager.save(2, new ocp.args.StandardSave(state(2)));
  const error = await t.throwsAsync<ocp.OrbaxError>(manager.waitUntilFinished());
  t.is(error?.code, 'ERR_STORE_TRANSIENT');
  t.regex(error?.message ?? '', /s3:\/\/faults\/persistent\/2\//);
  proxy.setPlan(() => 'forward');
  const reopened = await ocp.CheckpointManager.open(root, { storageOptions: options() });
  t.deepEqual(reopened.allSteps(), [1]);
  t.false(await ocp.storageFor(root, options()).exists(`${root}/2/commit_success.txt`));
  const restored = (await reopened.restore(1)) as ReturnType<typeof state>;
  t.deepEqual([...restored.w.data], [...state(1).w.data]);
  await manager.close().catch(() => undefined);
  await reopened.close();
});

test.serial('a permission error is not retried and surfaces as ERR_STORE_PERMISSION_DENIED', async (t) => {
  if (!moto || !proxy) return t.pass('no Python reference venv');
  const root = 's3://faults/denied';
  proxy.setPlan((req) => (req.method === 'PUT' ? 403 : 'forward'));
  const checkpointer = new ocp.StandardCheckpointer({ storageOptions: options() });
  const seenBefore = proxy.seen.length;
  await checkpointer.save(`${root}/ckpt`, state(3));
  const error = await t.throwsAsync<ocp.OrbaxError>(checkpointer.waitUntilFinished());
  t.is(error?.code, 'ERR_STORE_PERMISSION_DENIED');
  const puts = proxy.seen.slice(seenBefore).filter((s) => s.startsWith('PUT '));
  t.is(puts.length, new Set(puts).size, 'no PUT was retried');
  proxy.setPlan(() => 'forward');
  await checkpointer.close();
});

test.serial('restoring many small arrays from S3 reads their data file a window at a time, not a GET per array', async (t) => {
  if (!moto || !proxy) return t.pass('no Python reference venv');
  proxy.setPlan(() => 'forward');
  const tree: Record<string, ocp.NdArray<'float32'>> = {};
  for (let i = 0; i < 300; i++) tree[`p${i}`] = ocp.array(Float32Array.from({ length: 1024 }, (_, j) => i * 1000 + j), [1024]);
  const location = 's3://faults/small/ckpt';
  await new ocp.PyTreeCheckpointer({ storageOptions: options() }).save(location, tree);
  const before = proxy.seen.length;
  const restored = (await new ocp.PyTreeCheckpointer({ storageOptions: options() }).restore(location)) as typeof tree;
  t.deepEqual([...restored.p299!.data.slice(0, 3)], [299000, 299001, 299002]);
  const dataGets = proxy.seen.slice(before).filter((s) => s.startsWith('GET ') && s.includes('/ocdbt.process_0/d/'));
  // 300 × 4 KiB values in one data file: one 4 MiB window.
  t.true(dataGets.length >= 1 && dataGets.length <= 2, `${dataGets.length} GETs of the data file`);
});
