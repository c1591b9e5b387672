// Multi-process sharded saves (issue 8 part 2): worker processes each save their blocks of global
// arrays; the primary merges and commits. Against a local directory and a real S3 server (moto on
// loopback); restored whole in TS and by real Python Orbax; a killed worker commits nothing.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { singleItemExpected, verifyWithOrbax } from './helpers/interop.js';
import { type MotoServer, startMoto } from './helpers/moto.js';
import { globalTree, type WorkerConfig } from './helpers/shardedTree.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'shardedWorker.js');
const COUNT = 4;

interface WorkerResult {
  ok?: boolean;
  error?: { name: string; code: string; message: string; missingProcesses: number[] | null };
  signal: NodeJS.Signals | null;
}

function runWorker(config: WorkerConfig): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (_code, signal) => {
      const line = out.trim().split('\n').filter(Boolean).at(-1);
      resolve({ ...(line ? (JSON.parse(line) as object) : {}), signal });
    });
  });
}

function runWorkers(base: Omit<WorkerConfig, 'processIndex' | 'processCount' | 'runId'>): Promise<WorkerResult[]> {
  const runId = `t${randomBytes(6).toString('hex')}`;
  return Promise.all(Array.from({ length: COUNT }, (_, processIndex) => runWorker({ ...base, processIndex, processCount: COUNT, runId })));
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-mp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Layout facts Orbax records for the sharded leaves (checked by verify_with_orbax.py). */
function expectedFor(step: number) {
  const tree = globalTree(step);
  const expected = singleItemExpected('StandardCheckpointHandler', tree);
  const item = (expected.items as Record<string, { tree: Record<string, Record<string, unknown>> }>).item!;
  Object.assign(item.tree.w!, { value_type: 'jax.Array', write_shape: [2, 6], chunk_shape: [2, 6] });
  Object.assign(item.tree.grid!, { value_type: 'jax.Array', write_shape: [2, 2], chunk_shape: [2, 2] });
  Object.assign(item.tree.bias!, { value_type: 'np.ndarray', chunk_shape: [6] });
  return expected;
}

function assertWhole(t: ExecutionContext, restored: unknown, step: number): void {
  const expected = globalTree(step);
  const got = restored as typeof expected;
  for (const key of ['w', 'grid', 'bias'] as const) {
    t.deepEqual([...got[key].shape], [...expected[key].shape], key);
    t.deepEqual(Buffer.from(got[key].data.buffer, got[key].data.byteOffset, got[key].data.byteLength), Buffer.from(expected[key].data.buffer), key);
  }
  t.is(got.step, expected.step);
}

test('four processes save one checkpoint of sharded arrays into a directory; it restores whole in TS and in Python Orbax', async (t) => {
  const root = await tempDir(t);
  const directory = join(root, 'ckpt');
  const results = await runWorkers({ directory, step: 3, barrierTimeoutSecs: 60, readBack: true });
  t.deepEqual(results.map((r) => r.error ?? r.ok), [true, true, true, true]);
  assertWhole(t, await new ocp.StandardCheckpointer().restore(directory), 3);
  const names = (await readdir(directory)).sort();
  t.deepEqual(
    names.filter((n) => n.startsWith('ocdbt.process_') || n === 'array_metadatas' || n === '_sharding'),
    ['_sharding', 'array_metadatas', 'ocdbt.process_0', 'ocdbt.process_1', 'ocdbt.process_2', 'ocdbt.process_3'],
  );
  t.deepEqual((await readdir(join(directory, 'array_metadatas'))).sort(), ['process_0', 'process_1', 'process_2', 'process_3']);
  // Each process may read only its own rows.
  const reader = await ocp.openCheckpoint(directory);
  const rows = await reader.readArray('w', { slice: [[4, 6], [0, 6]] });
  t.deepEqual([...rows.data], [...globalTree(3).w.data.slice(24, 36)]);
  await verifyWithOrbax(t, directory, expectedFor(3), { devices: 4 });
});

test('a worker killed before writing leaves nothing committed, the primary names it, earlier checkpoints stay', async (t) => {
  const root = await tempDir(t);
  const before = join(root, 'before');
  t.deepEqual((await runWorkers({ directory: before, step: 1, barrierTimeoutSecs: 60 })).map((r) => r.ok), [true, true, true, true]);
  const directory = join(root, 'ckpt');
  const results = await runWorkers({ directory, step: 2, barrierTimeoutSecs: 3, dieBeforeSave: 2 });
  t.is(results[2]!.signal, 'SIGKILL');
  t.is(results[0]!.error?.code, 'ERR_BARRIER_TIMEOUT');
  t.deepEqual(results[0]!.error?.missingProcesses, [2]);
  t.regex(results[0]!.error?.message ?? '', /^Process 2 of 4 did not reach barrier/);
  for (const i of [1, 3]) t.is(results[i]!.error?.code, 'ERR_BARRIER_TIMEOUT');
  await t.throwsAsync(new ocp.StandardCheckpointer().restore(directory));
  t.false((await readdir(root)).includes('ckpt'));
  assertWhole(t, await new ocp.StandardCheckpointer().restore(before), 1);
});

let moto: MotoServer | null = null;
test.before(async () => {
  moto = await startMoto(['multiproc']);
});
test.after.always(() => moto?.stop());

/** Copies `s3://bucket/prefix` down to `dir`, for Python Orbax (its S3 path cannot reach moto). */
async function download(url: string, dir: string, storageOptions: Record<string, string>): Promise<void> {
  const storage = ocp.storageFor(url, storageOptions);
  for (const entry of await storage.list(url)) {
    const source = storage.join(url, entry.name);
    if (entry.isDirectory) {
      await mkdir(join(dir, entry.name), { recursive: true });
      await download(source, join(dir, entry.name), storageOptions);
    } else {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, entry.name), (await storage.read(source))!);
    }
  }
}

test('four processes save through a CheckpointManager to S3; the steps restore whole in TS and in Python Orbax; a killed worker commits nothing', async (t) => {
  if (moto === null) return t.pass('no Python reference venv');
  const root = `s3://multiproc/run-${randomBytes(4).toString('hex')}`;
  const base = { directory: root, storageOptions: moto.storageOptions, useManager: true, barrierTimeoutSecs: 60 };
  t.deepEqual((await runWorkers({ ...base, step: 1 })).map((r) => r.error ?? r.ok), [true, true, true, true]);
  t.deepEqual((await runWorkers({ ...base, step: 2 })).map((r) => r.error ?? r.ok), [true, true, true, true]);
  // Killed while its save runs in the background.
  const killed = await runWorkers({ ...base, step: 3, barrierTimeoutSecs: 3, dieDuringSave: 1 });
  t.is(killed[1]!.signal, 'SIGKILL');
  t.is(killed[0]!.error?.code, 'ERR_BARRIER_TIMEOUT');
  t.deepEqual(killed[0]!.error?.missingProcesses, [1]);
  const manager = await ocp.CheckpointManager.open(root, { storageOptions: moto.storageOptions });
  t.deepEqual(manager.allSteps(), [1, 2]);
  t.false(await ocp.storageFor(root, moto.storageOptions).exists(`${root}/3/commit_success.txt`));
  // A single-item (`default/`) root restores to the item itself.
  assertWhole(t, await manager.restore(2), 2);
  await manager.close();
  const local = await tempDir(t);
  await download(`${root}/2/default`, join(local, 'step2'), moto.storageOptions);
  await verifyWithOrbax(t, join(local, 'step2'), expectedFor(2), { devices: 4 });
});
