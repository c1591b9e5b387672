// ocp.checkpointUtils: waitForNewCheckpoint, checkpointsIterator (hard-link snapshots, timeouts,
// abort) and unlockExistingCheckpoints, on hand-made trees and against a real writer process.
import { spawn } from 'node:child_process';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { checkpointUtils, distDir, iteratorInternals, waitInternals } from './helpers/stepModules.js';

const FAST = { secondsToSleep: 0.02 };

async function tempRoot(t: ExecutionContext, label: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), `orbax-ts-${label}-`));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** A committed-looking step directory with a file and a nested file, both naming the step. */
async function makeStep(root: string, name: string): Promise<void> {
  await mkdir(join(root, name, 'item'), { recursive: true });
  await writeFile(join(root, name, '_CHECKPOINT_METADATA'), `{"step": "${name}"}`);
  await writeFile(join(root, name, 'item', 'data'), `data of ${name}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function captureWarnings<T>(run: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  try {
    return { result: await run(), warnings };
  } finally {
    console.warn = warn;
  }
}

test('waitForNewCheckpoint returns the latest step at once, hard-linked into _SNAPSHOTS', async (t) => {
  const root = await tempRoot(t, 'wait');
  for (const name of ['1', '3', '2', '9.orbax-checkpoint-tmp']) await makeStep(root, name);
  const lease = await checkpointUtils.waitForNewCheckpoint(root, FAST);
  t.is(lease.step, 3);
  const snapshot = join(root, '_SNAPSHOTS', '3');
  t.is(lease.snapshotPath, snapshot);
  t.is(checkpointUtils.getSnapshotDirFromStepDir(join(root, '3')), snapshot);
  t.is(await readFile(join(snapshot, 'item', 'data'), 'utf8'), 'data of 3');
  // Same inode: a hard link, not a copy.
  t.is((await stat(join(snapshot, 'item', 'data'))).ino, (await stat(join(root, '3', 'item', 'data'))).ino);
  // The writer deleting the step does not touch the held bytes.
  await rm(join(root, '3'), { recursive: true });
  t.is(await readFile(join(snapshot, 'item', 'data'), 'utf8'), 'data of 3');
  t.is(await readFile(join(snapshot, '_CHECKPOINT_METADATA'), 'utf8'), '{"step": "3"}');
  await lease.release();
  t.false(await exists(snapshot));
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), [], 'the snapshot directory stays, empty');
  await lease.release(); // idempotent
});

test('waitForNewCheckpoint with `await using` releases at the end of the block', async (t) => {
  const root = await tempRoot(t, 'using');
  await makeStep(root, '4');
  {
    await using lease = await checkpointUtils.waitForNewCheckpoint(root, FAST);
    t.is(lease.step, 4);
    t.true(await exists(join(root, '_SNAPSHOTS', '4')));
  }
  t.false(await exists(join(root, '_SNAPSHOTS', '4')));
});

test('waitForNewCheckpoint waits for untilStep', async (t) => {
  const root = await tempRoot(t, 'until');
  await makeStep(root, '1');
  const later = sleep(100).then(async () => {
    await makeStep(root, '2.orbax-checkpoint-tmp'); // uncommitted: not seen
    await sleep(50);
    await makeStep(root, '5');
  });
  const lease = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, untilStep: 2 });
  await later;
  t.is(lease.step, 5);
  await lease.release();
});

test('waitForNewCheckpoint gives -1 on timeout', async (t) => {
  const root = await tempRoot(t, 'timeout');
  const immediate = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, timeoutSecs: 0 });
  t.is(immediate.step, -1);
  t.is(immediate.snapshotPath, null);
  await immediate.release();
  await makeStep(root, '1');
  const short = await checkpointUtils.waitForNewCheckpoint(root, { secondsToSleep: 0.05, timeoutSecs: 0.2, untilStep: 2 });
  t.is(short.step, -1);
  // A missing directory is waited for like a missing step.
  t.is((await checkpointUtils.waitForNewCheckpoint(join(root, 'missing'), { ...FAST, timeoutSecs: 0.1 })).step, -1);
  // A step present wins even with timeout 0.
  const present = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, timeoutSecs: 0 });
  t.is(present.step, 1);
  await present.release();
  t.false(await exists(join(root, 'missing')), 'waiting never creates the directory');
});

test('waitForNewCheckpoint asks timeoutFn at every poll once the deadline is near', async (t) => {
  const root = await tempRoot(t, 'timeoutfn');
  let calls = 0;
  const lease = await checkpointUtils.waitForNewCheckpoint(root, {
    ...FAST,
    timeoutSecs: 0,
    timeoutFn: async () => {
      calls += 1;
      return calls === 3;
    },
  });
  t.is(lease.step, -1);
  t.is(calls, 3);
  // timeoutFn saying "not done" keeps the wait alive until a step comes.
  let asked = 0;
  const found = await checkpointUtils.waitForNewCheckpoint(root, {
    ...FAST,
    timeoutSecs: 0,
    timeoutFn: () => {
      asked += 1;
      if (asked === 2) void makeStep(root, '8');
      return false;
    },
  });
  t.is(found.step, 8);
  t.true(asked >= 2);
  await found.release();
});

test('waitForNewCheckpoint: a legacy step the name format cannot see is a ValueError', async (t) => {
  const root = await tempRoot(t, 'valueerror');
  await makeStep(root, 'ckpt_9');
  const error = await t.throwsAsync(checkpointUtils.waitForNewCheckpoint(root, FAST), { instanceOf: ocp.InvalidArgumentError });
  t.is(error.message, `No step path found with name=9, NameFormat=StandardNameFormat("1234") for step=9 under ${root}.`);
  const lease = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, stepPrefix: 'ckpt' });
  t.is(lease.step, 9);
  t.is(lease.snapshotPath, join(root, '_SNAPSHOTS', 'ckpt_9'));
  await lease.release();
});

test('waitForNewCheckpoint: snapshotDir, reuse of an existing snapshot, option validation', async (t) => {
  const root = await tempRoot(t, 'snapdir');
  await makeStep(root, '0006');
  const snapshots = join(root, 'elsewhere', 'snaps');
  const lease = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, stepFormatFixedLength: 4, snapshotDir: snapshots });
  t.is(lease.step, 6);
  t.is(lease.snapshotPath, join(snapshots, '0006'));
  t.false(await exists(join(root, '_SNAPSHOTS')));
  await lease.release();

  // An existing snapshot is reused as is (Orbax semantics).
  await mkdir(join(root, '_SNAPSHOTS', '0006'), { recursive: true });
  await writeFile(join(root, '_SNAPSHOTS', '0006', 'marker'), '');
  const reused = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, stepFormatFixedLength: 4 });
  t.deepEqual(await readdir(reused.snapshotPath!), ['marker']);
  await reused.release();

  await t.throwsAsync(checkpointUtils.waitForNewCheckpoint(root, { secondsToSleep: -1 }), { instanceOf: ocp.InvalidArgumentError });
  await t.throwsAsync(checkpointUtils.waitForNewCheckpoint(root, { timeout: 1 } as never), { instanceOf: ocp.InvalidArgumentError });
  await t.throwsAsync(checkpointUtils.waitForNewCheckpoint(root, { signal: 'x' } as never), { instanceOf: ocp.InvalidArgumentError });
});

test('waitForNewCheckpoint: releasing a snapshot that is gone warns, or throws when errors are not ignored', async (t) => {
  const root = await tempRoot(t, 'ignore');
  await makeStep(root, '2');
  const lease = await checkpointUtils.waitForNewCheckpoint(root, FAST);
  await rm(lease.snapshotPath!, { recursive: true });
  const { warnings } = await captureWarnings(() => lease.release());
  t.deepEqual(warnings, [`Ignoring error when releasing snapshot for step: 2: Snapshot does not exist: ${join(root, '_SNAPSHOTS', '2')}`]);

  const strict = await checkpointUtils.waitForNewCheckpoint(root, { ...FAST, ignoreSnapshotErrors: false });
  await rm(strict.snapshotPath!, { recursive: true });
  const error = await t.throwsAsync(strict.release(), { instanceOf: ocp.NotFoundError });
  t.is(error.message, `Snapshot does not exist: ${join(root, '_SNAPSHOTS', '2')}`);
});

test('waitForNewCheckpoint: abort rejects with AbortError', async (t) => {
  const root = await tempRoot(t, 'abort');
  const aborted = AbortSignal.abort();
  await t.throwsAsync(checkpointUtils.waitForNewCheckpoint(root, { ...FAST, signal: aborted }), { instanceOf: ocp.AbortError });
  const controller = new AbortController();
  const waiting = checkpointUtils.waitForNewCheckpoint(root, { secondsToSleep: 10, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('stop')), 50);
  const error = await t.throwsAsync(waiting, { instanceOf: ocp.AbortError });
  t.is((error.cause as Error).message, 'stop');
});

test('waitForNewCheckpoint: abort while snapshotting releases the snapshot', async (t) => {
  const root = await tempRoot(t, 'abort-snap');
  await makeStep(root, '3');
  const controller = new AbortController();
  const linkAndAbort = async (from: string, to: string): Promise<void> => {
    controller.abort();
    await link(from, to);
  };
  await t.throwsAsync(waitInternals.waitForCheckpointWith(root, { ...FAST, signal: controller.signal }, { linkFile: linkAndAbort }), { instanceOf: ocp.AbortError });
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
  t.true(await exists(join(root, '3', 'item', 'data')), 'the step itself is untouched');
});

for (const code of ['EXDEV', 'EPERM']) {
  test(`snapshots copy a file when hard-linking fails with ${code}`, async (t) => {
    const root = await tempRoot(t, 'copy');
    await makeStep(root, '5');
    const failLink = async (): Promise<void> => {
      throw Object.assign(new Error(`${code}: cannot link`), { code });
    };
    const lease = await waitInternals.waitForCheckpointWith(root, FAST, { linkFile: failLink });
    const copied = join(lease.snapshotPath!, 'item', 'data');
    t.is(await readFile(copied, 'utf8'), 'data of 5');
    t.not((await stat(copied)).ino, (await stat(join(root, '5', 'item', 'data'))).ino);
    await lease.release();
  });
}

test('a step deleted while it is being snapshotted is never returned; the next latest is', async (t) => {
  const root = await tempRoot(t, 'vanish');
  await makeStep(root, '1');
  await makeStep(root, '2');
  let deletions = 0;
  const deleteFirst = async (from: string, to: string): Promise<void> => {
    if (from.startsWith(join(root, '2')) && deletions++ === 0) await rm(join(root, '2'), { recursive: true });
    await link(from, to);
  };
  const lease = await waitInternals.waitForCheckpointWith(root, FAST, { linkFile: deleteFirst });
  t.is(lease.step, 1);
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), ['1'], 'no partial snapshot is left behind');
  await lease.release();
});

test('a step replaced while it is being snapshotted is snapshotted again', async (t) => {
  const root = await tempRoot(t, 'replace');
  await makeStep(root, '4');
  let replaced = false;
  const replaceOnce = async (from: string, to: string): Promise<void> => {
    await link(from, to);
    if (!replaced) {
      replaced = true;
      await rm(join(root, '4'), { recursive: true });
      await mkdir(join(root, '4'));
      await writeFile(join(root, '4', 'new'), 'the replacement');
    }
  };
  const lease = await waitInternals.waitForCheckpointWith(root, FAST, { linkFile: replaceOnce });
  t.is(lease.step, 4);
  t.deepEqual(await readdir(lease.snapshotPath!), ['new']);
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), ['4']);
  await lease.release();
});

test('checkpointsIterator cleans leftovers, yields the latest then newer steps, releasing as it goes', async (t) => {
  const root = await tempRoot(t, 'iter');
  for (const name of ['1', '2', '3']) await makeStep(root, name);
  await makeStep(join(root, '_SNAPSHOTS'), '2');
  await mkdir(join(root, '_SNAPSHOTS', '.half-made'));
  const seen: number[] = [];
  for await (const s of checkpointUtils.checkpointsIterator(root, { ...FAST, timeoutSecs: 0.15 })) {
    seen.push(s);
    t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), [String(s)], 'only the held step is snapshotted');
    if (s === 3) {
      // Two new steps before the consumer asks again: only the newest is yielded.
      await makeStep(root, '4');
      await makeStep(root, '5');
    }
  }
  t.deepEqual(seen, [3, 5]);
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
});

test('checkpointsIterator releases on break and on a thrown error', async (t) => {
  const root = await tempRoot(t, 'iter-break');
  await makeStep(root, '7');
  for await (const s of checkpointUtils.checkpointsIterator(root, FAST)) {
    t.is(s, 7);
    t.true(await exists(join(root, '_SNAPSHOTS', '7')));
    break;
  }
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
  await t.throwsAsync(
    async () => {
      for await (const s of checkpointUtils.checkpointsIterator(root, FAST)) throw new Error(`consumer failed at ${s}`);
    },
    { message: 'consumer failed at 7' },
  );
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
});

test('checkpointsIterator: timeoutFn decides whether a timeout ends the iteration', async (t) => {
  const root = await tempRoot(t, 'iter-timeoutfn');
  await makeStep(root, '1');
  let calls = 0;
  const seen: number[] = [];
  const iterator = checkpointUtils.checkpointsIterator(root, {
    ...FAST,
    timeoutSecs: 0.05,
    timeoutFn: async () => {
      calls += 1;
      if (calls === 1) {
        await makeStep(root, '9');
        return false;
      }
      return true;
    },
  });
  for await (const s of iterator) seen.push(s);
  t.deepEqual(seen, [1, 9]);
  t.true(calls >= 2);
});

test('checkpointsIterator waits minIntervalSecs between yields (consumer time included)', async (t) => {
  const root = await tempRoot(t, 'iter-interval');
  await makeStep(root, '1');
  const times: number[] = [];
  for await (const s of checkpointUtils.checkpointsIterator(root, { ...FAST, minIntervalSecs: 0.2, timeoutSecs: 0.1 })) {
    times.push(performance.now());
    if (s === 1) await makeStep(root, '2');
  }
  t.is(times.length, 2);
  // At least the interval (minus the few microtasks between the generator's clock and ours).
  t.true(times[1]! - times[0]! >= 180, `yields ${times[1]! - times[0]!} ms apart`);
});

test('checkpointsIterator: abort rejects with AbortError and releases the held snapshot', async (t) => {
  const root = await tempRoot(t, 'iter-abort');
  await makeStep(root, '2');
  const controller = new AbortController();
  const seen: number[] = [];
  await t.throwsAsync(
    async () => {
      for await (const s of checkpointUtils.checkpointsIterator(root, { ...FAST, signal: controller.signal })) {
        seen.push(s);
        controller.abort();
      }
    },
    { instanceOf: ocp.AbortError },
  );
  t.deepEqual(seen, [2]);
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
  // Aborting during the wait for the next step.
  const waiting = new AbortController();
  const iterator = checkpointUtils.checkpointsIterator(root, { secondsToSleep: 10, signal: waiting.signal });
  t.is((await iterator.next()).value, 2);
  setTimeout(() => waiting.abort(), 30);
  await t.throwsAsync(iterator.next(), { instanceOf: ocp.AbortError });
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
  await t.throwsAsync(async () => {
    for await (const _ of checkpointUtils.checkpointsIterator(root, { minIntervalSecs: -1 })) break;
  }, { instanceOf: ocp.InvalidArgumentError });
});

test('checkpointsIterator ends at once without steps, timeout and no timeoutFn', async (t) => {
  const root = await tempRoot(t, 'iter-empty');
  const seen: number[] = [];
  for await (const s of iteratorInternals.iterateCheckpointsWith(root, { ...FAST, timeoutSecs: 0 }, {})) seen.push(s);
  t.deepEqual(seen, []);
});

test('unlockExistingCheckpoints removes LOCKED files and directories of the steps the format finds', async (t) => {
  const root = await tempRoot(t, 'unlock');
  for (const name of ['1', '2', '3', 'ckpt_4', '5.orbax-checkpoint-tmp']) await makeStep(root, name);
  await mkdir(join(root, '1', 'LOCKED'));
  await writeFile(join(root, '2', 'LOCKED'), '');
  await mkdir(join(root, 'ckpt_4', 'LOCKED'));
  await mkdir(join(root, '5.orbax-checkpoint-tmp', 'LOCKED'));
  t.deepEqual(await checkpointUtils.unlockExistingCheckpoints(root), [1, 2]);
  t.false(await exists(join(root, '1', 'LOCKED')));
  t.false(await exists(join(root, '2', 'LOCKED')));
  t.true(await exists(join(root, 'ckpt_4', 'LOCKED')), 'the default format does not see ckpt_4');
  t.true(await exists(join(root, '5.orbax-checkpoint-tmp', 'LOCKED')), 'uncommitted steps are left alone');
  t.deepEqual(await checkpointUtils.unlockExistingCheckpoints(root, { stepPrefix: 'ckpt' }), [4]);
  t.deepEqual(await checkpointUtils.unlockExistingCheckpoints(root), []);
  t.deepEqual(await checkpointUtils.unlockExistingCheckpoints(join(root, 'missing')), []);
  t.true(await exists(join(root, '1', 'item', 'data')));
});

test('a reader holding steps from checkpointsIterator never sees them unfinished or gone while the writer deletes them', async (t) => {
  const root = await tempRoot(t, 'evaluator');
  const count = 12;
  const writer = spawn(process.execPath, [join(process.cwd(), 'test', 'fixtures', 'saveKeepLastTwo.mjs'), root, String(count), join(distDir, 'index.js')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let writerDone = false;
  const exited = new Promise<number | null>((resolve) =>
    writer.once('exit', (code) => {
      writerDone = true;
      resolve(code);
    }),
  );
  t.teardown(() => {
    if (!writerDone) writer.kill('SIGKILL');
  });

  const seen: number[] = [];
  let heldWhileDeleted = 0;
  const iterator = checkpointUtils.checkpointsIterator(root, { secondsToSleep: 0.01, timeoutSecs: 0.3, timeoutFn: () => writerDone });
  for await (const s of iterator) {
    seen.push(s);
    const snapshot = join(root, '_SNAPSHOTS', String(s));
    // Hold the step until the writer has deleted it (two newer saves) or has finished.
    while (!writerDone && (await exists(join(root, String(s))))) await sleep(5);
    if (!(await exists(join(root, String(s))))) heldWhileDeleted += 1;
    const tree = (await new ocp.PyTreeCheckpointer().restore(snapshot)) as { w: ocp.NdArray<'float32'>; layers: Array<ocp.NdArray<'int32'>>; step: bigint };
    t.is(tree.step, BigInt(s));
    t.deepEqual(tree.w.shape, [256, 256]);
    t.true(tree.w.data.every((v) => v === s), `step ${s}: w is complete`);
    t.is(tree.layers.length, 8);
    t.true(
      tree.layers.every((layer, i) => layer.data.length === 500 && layer.data.every((v) => v === s * 100 + i)),
      `step ${s}: layers are complete`,
    );
  }
  t.is(await exited, 0);
  t.log(`held steps ${seen.join(', ')}; ${heldWhileDeleted} deleted by the writer while held`);
  t.is(seen[0], 0, 'the writer waits until the reader holds step 0');
  t.true(seen.every((s, i) => i === 0 || s > seen[i - 1]!), `steps increase: ${seen.join(',')}`);
  t.is(seen.at(-1), count - 1, 'the last step is seen');
  t.true(heldWhileDeleted > 0, 'at least one step was deleted by the writer while it was held');
  t.deepEqual((await readdir(root)).sort(), [String(count - 1), String(count - 2), '_SNAPSHOTS'].sort());
  t.deepEqual(await readdir(join(root, '_SNAPSHOTS')), []);
});
