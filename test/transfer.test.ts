// Progress and cancellation of long transfers (issue 8): AbortSignal and onProgress on saves and
// restores; a cancelled save commits nothing and leaves no temporary directory.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-transfer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const MIB = 1 << 20;
function bigTree(mib: number): { w: ocp.NdArray<'float32'> } {
  return { w: ocp.array(Float32Array.from({ length: (mib * MIB) / 4 }, (_, i) => i % 1000), [(mib * MIB) / 4 / 256, 256], 'float32') };
}
const saveArgs = { w: { chunkByteSize: 256 << 10 } };

test('saves and restores report monotonic progress ending at the bytes of the arrays', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  const events: ocp.TransferProgress[] = [];
  await new ocp.PyTreeCheckpointer().save(dir, bigTree(16), { saveArgs, onProgress: (p) => events.push(p), progressIntervalMs: 1 });
  t.true(events.length >= 1);
  t.deepEqual(events.at(-1), { bytesDone: 16 * MIB, bytesTotal: 16 * MIB });
  for (let i = 1; i < events.length; i++) t.true(events[i]!.bytesDone >= events[i - 1]!.bytesDone && events[i]!.bytesDone <= events[i]!.bytesTotal);

  const reads: ocp.TransferProgress[] = [];
  const reader = await ocp.openCheckpoint(dir);
  const slice = await reader.readArray('w', { slice: [[0, 1024], null], onProgress: (p) => reads.push(p) });
  t.deepEqual([...slice.shape], [1024, 256]);
  t.deepEqual(reads.at(-1), { bytesDone: MIB, bytesTotal: MIB }, 'a slice plans only the chunks it touches');
  const restores: ocp.TransferProgress[] = [];
  const tree = (await new ocp.PyTreeCheckpointer().restore(dir, { onProgress: (p) => restores.push(p) })) as { w: ocp.NdArray };
  t.is(tree.w.data.length, (16 * MIB) / 4);
  t.deepEqual(restores.at(-1), { bytesDone: 16 * MIB, bytesTotal: 16 * MIB });
});

test('an aborted save rejects with AbortError, commits nothing and removes its temporary directory', async (t) => {
  const root = await tempDir(t);
  const before = new AbortController();
  before.abort();
  await t.throwsAsync(new ocp.PyTreeCheckpointer().save(join(root, 'a'), bigTree(1), { signal: before.signal }), { instanceOf: ocp.AbortError });
  t.deepEqual(await readdir(root), [], 'an already-aborted signal writes nothing');

  const controller = new AbortController();
  const saving = new ocp.PyTreeCheckpointer().save(join(root, 'b'), bigTree(64), { saveArgs, signal: controller.signal });
  controller.abort();
  await t.throwsAsync(saving, { instanceOf: ocp.AbortError });
  t.deepEqual(await readdir(root), []);

  const async = new ocp.StandardCheckpointer();
  const bg = new AbortController();
  await async.save(join(root, 'c'), bigTree(64), { saveArgs, signal: bg.signal });
  bg.abort();
  await t.throwsAsync(async.waitUntilFinished(), { instanceOf: ocp.AbortError });
  t.deepEqual(await readdir(root), [], 'the background save was cancelled and cleaned up');
  await async.save(join(root, 'd'), bigTree(1));
  await async.waitUntilFinished();
  t.deepEqual(await readdir(root), ['d'], 'the checkpointer keeps working');
});

test('an aborted restore or read rejects with AbortError', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  await new ocp.PyTreeCheckpointer().save(dir, bigTree(32), { saveArgs });
  const controller = new AbortController();
  const restoring = new ocp.StandardCheckpointer().restore(dir, undefined, { signal: controller.signal });
  controller.abort();
  await t.throwsAsync(restoring, { instanceOf: ocp.AbortError });
  const reader = await ocp.openCheckpoint(dir);
  await t.throwsAsync(reader.readArray('w', { signal: AbortSignal.abort() }), { instanceOf: ocp.AbortError });
  const target = new Float32Array((32 * MIB) / 4);
  const reading = new AbortController();
  const into = reader.readArrayInto('w', target, { signal: reading.signal });
  reading.abort();
  await t.throwsAsync(into, { instanceOf: ocp.AbortError });
  t.is((await reader.readArray('w', { slice: [[0, 1], null] })).data[5], 5, 'the reader still works');
});

test('a manager save aborted in the background is forgotten and surfaces as AbortError', async (t) => {
  const root = await tempDir(t);
  const manager = await ocp.CheckpointManager.open(root);
  const controller = new AbortController();
  t.true(await manager.save(0, new ocp.args.StandardSave(bigTree(64)), { signal: controller.signal }));
  controller.abort();
  await t.throwsAsync(manager.waitUntilFinished(), { instanceOf: ocp.AbortError });
  t.deepEqual(manager.allSteps(), []);
  t.deepEqual(await readdir(root), []);
  await manager.close();
});

test('an async save may lend its arrays instead of copying them', async (t) => {
  const root = await tempDir(t);
  const tree = bigTree(8);
  const checkpointer = new ocp.StandardCheckpointer();
  await checkpointer.save(join(root, 'lent'), tree, { saveArgs, lendArrays: true });
  await checkpointer.waitUntilFinished(); // the arrays are the caller's again only now
  tree.w.data.fill(-1);
  const back = (await checkpointer.restore(join(root, 'lent'))) as { w: ocp.NdArray<'float32'> };
  t.is(back.w.data[1234], 234);
  const manager = await ocp.CheckpointManager.open(join(root, 'run'));
  t.true(await manager.save(0, new ocp.args.StandardSave(bigTree(1)), { lendArrays: true }));
  await manager.close();
  t.deepEqual(manager.allSteps(), [0]);
  await t.throwsAsync(checkpointer.save(join(root, 'x'), tree, { lendArrays: 'yes' as never }), { instanceOf: ocp.InvalidArgumentError });
});
