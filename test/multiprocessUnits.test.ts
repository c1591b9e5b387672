// Multi-process building blocks (issue 8 part 2): the ShardedArray leaf, multiprocessingOptions,
// and the storage-based barrier coordinator (on an in-memory Storage).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import test from 'ava';

import * as ocp from 'orbax-ts';

import { MapStorage } from './helpers/memoryStorage.js';

const block = ocp.array(new Float32Array(12), [2, 6]);

test('shardedArray validates its placement', (t) => {
  const s = ocp.shardedArray(block, { globalShape: [8, 6], offset: [2, 0] });
  t.deepEqual([s.globalShape, s.offset, s.dtype, s.sharding], [[8, 6], [2, 0], 'float32', null]);
  t.throws(() => ocp.shardedArray(block, { globalShape: [8], offset: [0] }), {
    instanceOf: ocp.InvalidArgumentError,
    message: 'shardedArray: a block of shape [2,6] needs globalShape and offset of rank 2, got [8] and [0]',
  });
  t.throws(() => ocp.shardedArray(block, { globalShape: [8, 6], offset: [7, 0] }), {
    instanceOf: ocp.InvalidArgumentError,
    message: 'shardedArray: the block [7, 0] + [2,6] lies outside the global shape [8,6] (axis 0)',
  });
  t.throws(() => ocp.shardedArray(block, { globalShape: [8, -6], offset: [0, 0] }), { instanceOf: ocp.InvalidArgumentError });
});

function barrierOf(storage: MapStorage, processIndex: number, extra: Partial<ocp.BarrierRequest> = {}): Promise<void> {
  const coordinator = new ocp.StorageCoordinator(storage, 'mem:/root/.sync', { pollIntervalMs: 1 });
  return coordinator.barrier({ key: 'save.5.written', processIndex, processCount: 4, primaryHost: 0, timeoutMs: 2000, ...extra });
}

test('a storage barrier releases every process once all arrived, and cleans up after itself', async (t) => {
  const storage = new MapStorage();
  const coordinators = [0, 1, 2, 3].map(() => new ocp.StorageCoordinator(storage, 'mem:/root/.sync', { pollIntervalMs: 1 }));
  const order: string[] = [];
  const cross = (key: string) =>
    Promise.all(
      coordinators.map(async (c, i) => {
        // Late arrivals: nobody passes before the last one arrives.
        await new Promise((r) => setTimeout(r, i * 15));
        order.push(`arrive ${i}`);
        await c.barrier({ key, processIndex: i, processCount: 4, primaryHost: 0, timeoutMs: 5000 });
        order.push(`pass ${i}`);
      }),
    );
  await cross('a');
  t.deepEqual(order.slice(0, 4), ['arrive 0', 'arrive 1', 'arrive 2', 'arrive 3']);
  t.deepEqual([...storage.files.keys()], ['mem:/root/.sync/a/released']);
  await cross('b');
  // Releasing b removed a: one barrier directory remains at most.
  t.deepEqual([...storage.files.keys()], ['mem:/root/.sync/b/released']);
});

test('a barrier times out naming the processes that never arrived', async (t) => {
  const storage = new MapStorage();
  const waits = [0, 2].map((i) => barrierOf(storage, i, { timeoutMs: 200 }));
  const [primary, other] = await Promise.allSettled(waits);
  t.is(primary?.status, 'rejected');
  const error = (primary as PromiseRejectedResult).reason as ocp.BarrierTimeoutError;
  t.true(error instanceof ocp.BarrierTimeoutError);
  t.is(error.code, 'ERR_BARRIER_TIMEOUT');
  t.deepEqual(error.missingProcesses, [1, 3]);
  t.is(error.message, 'Processes 1, 3 of 4 did not reach barrier "save.5.written" within 0.2 s (process 0 waited).');
  t.deepEqual(((other as PromiseRejectedResult).reason as ocp.BarrierTimeoutError).missingProcesses, [1, 3]);
});

test('a release left by an earlier run does not let a process through', async (t) => {
  const storage = new MapStorage();
  await storage.write('mem:/root/.sync/save.5.written/released', JSON.stringify(['stale-token']));
  const error = await t.throwsAsync(barrierOf(storage, 1, { timeoutMs: 150 }), { instanceOf: ocp.BarrierTimeoutError });
  t.deepEqual(error?.missingProcesses, [0, 2, 3]);
});

test('a primary that arrives but never releases is named', async (t) => {
  const storage = new MapStorage();
  for (const i of [0, 2, 3]) await storage.write(`mem:/root/.sync/save.5.written/arrived.process_${i}`, 'x');
  const error = await t.throwsAsync(barrierOf(storage, 1, { timeoutMs: 150 }), { instanceOf: ocp.BarrierTimeoutError });
  t.deepEqual(error?.missingProcesses, [0]);
  t.regex(error?.message ?? '', /the primary \(process 0\) did not release it/);
});

test('an aborted wait stops with AbortError', async (t) => {
  const storage = new MapStorage();
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  await t.throwsAsync(barrierOf(storage, 1, { signal: controller.signal }), { instanceOf: ocp.AbortError });
});

test('a single process never waits', async (t) => {
  const storage = new MapStorage();
  await new ocp.StorageCoordinator(storage, 'mem:/x').barrier({ key: 'k', processIndex: 0, processCount: 1, primaryHost: 0, timeoutMs: 1 });
  t.is(storage.files.size, 0);
});

test('the default barrier prefix comes from the launcher\'s job id', async (t) => {
  const { runIdFromEnvironment } = (await import(pathToFileURL(join(process.cwd(), 'dist', 'multiprocess', 'multiprocessingOptions.js')).href)) as {
    runIdFromEnvironment: (env: Record<string, string | undefined>) => string;
  };
  t.is(runIdFromEnvironment({}), 'default');
  t.is(runIdFromEnvironment({ SLURM_JOB_ID: '81723' }), '81723');
  t.is(runIdFromEnvironment({ TORCHELASTIC_RUN_ID: 'run/7 a', SLURM_JOB_ID: '' }), 'run_7_a');
  t.is(runIdFromEnvironment({ ORBAX_TS_RUN_ID: 'mine', SLURM_JOB_ID: '1' }), 'mine');
});

test('an arrival marker caught half-written is not taken for an arrival', async (t) => {
  // A storage whose writes are visible empty for a while before their content lands.
  class TornStorage extends MapStorage {
    override async write(location: string, data: Uint8Array | string): Promise<void> {
      await super.write(location, '');
      await new Promise((r) => setTimeout(r, 20));
      await super.write(location, data);
    }
  }
  const storage = new TornStorage();
  await Promise.all([0, 1, 2, 3].map((i) => barrierOf(storage, i, { timeoutMs: 3000 })));
  t.deepEqual([...storage.files.keys()], ['mem:/root/.sync/save.5.written/released']);
});
