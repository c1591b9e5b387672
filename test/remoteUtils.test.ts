// checkpointUtils (waitForNewCheckpoint, checkpointsIterator, snapshots, unlockExistingCheckpoints),
// ProtoCheckpointHandler and `orbax-ts inspect` on object stores: memory:// URLs in process, and a
// moto S3 server (skipped outside CI when the reference venv is missing).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import test, { type ExecutionContext } from 'ava';
import * as ocp from 'orbax-ts';

import { loadExpected, orbaxFixturesDir } from './helpers/fixtures.js';
import { type MotoServer, startMoto } from './helpers/moto.js';
import { checkpointUtils, snapshots } from './helpers/stepModules.js';
import { memoryRoot, storage } from './helpers/storageModule.js';

type Storage = ReturnType<typeof storage.storageFor>;
type StorageOptions = Record<string, string>;

const FAST = { secondsToSleep: 0.02 };
const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8'));

/** Every object under `root` as relative path → text, sorted by path. */
async function treeOf(s: Storage, root: string): Promise<Array<[string, string | undefined]>> {
  const found: Array<[string, string | undefined]> = [];
  const walk = async (relative: string): Promise<void> => {
    const at = relative === '' ? root : s.join(root, relative);
    for (const entry of await s.list(at)) {
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory) await walk(rel);
      else found.push([rel, text(await s.read(s.join(root, rel)))]);
    }
  };
  await walk('');
  return found.sort(([a], [b]) => (a < b ? -1 : 1));
}

function withStorage(storageOptions: StorageOptions | undefined): { storageOptions?: StorageOptions } {
  return storageOptions === undefined ? {} : { storageOptions };
}

/** A manager over `root` saving `{ meta: { step } }` synchronously. */
async function jsonManager(root: string, storageOptions: StorageOptions | undefined): Promise<InstanceType<typeof ocp.CheckpointManager>> {
  return ocp.CheckpointManager.open(root, { options: { enableAsyncCheckpointing: false }, ...withStorage(storageOptions) });
}

async function saveJsonStep(manager: InstanceType<typeof ocp.CheckpointManager>, step: number): Promise<void> {
  if (!(await manager.save(step, new ocp.args.Composite({ meta: new ocp.args.JsonSave({ step }) })))) throw new Error(`step ${step} was not saved`);
}

/** A step directory that looks saved but lacks `commit_success.txt` (an unfinished save). */
async function writeUncommittedStep(s: Storage, root: string, step: number): Promise<void> {
  await s.write(s.join(root, String(step), '_CHECKPOINT_METADATA'), '{}');
  await s.write(s.join(root, String(step), 'meta', 'metadata'), `{"step": ${step}}`);
}

async function waitScenario(t: ExecutionContext, root: string, storageOptions?: StorageOptions): Promise<void> {
  const s = storage.storageFor(root, storageOptions);
  const opts = { ...FAST, ...withStorage(storageOptions) };
  const manager = await jsonManager(root, storageOptions);
  t.teardown(() => manager.close());
  t.is((await checkpointUtils.waitForNewCheckpoint(root, { ...opts, timeoutSecs: 0 })).step, -1, 'nothing there yet');
  await saveJsonStep(manager, 1);
  await saveJsonStep(manager, 2);
  await writeUncommittedStep(s, root, 5);

  const lease = await checkpointUtils.waitForNewCheckpoint(root, opts);
  t.is(lease.step, 2, 'step 5 has no commit_success.txt');
  t.is(lease.snapshotPath, `${root}/_SNAPSHOTS/2`);
  t.is(checkpointUtils.getSnapshotDirFromStepDir(`${root}/2`), `${root}/_SNAPSHOTS/2`);
  const snapshotTree = await treeOf(s, lease.snapshotPath!);
  t.deepEqual(snapshotTree, await treeOf(s, `${root}/2`), 'the snapshot is an exact copy of the step');
  t.deepEqual(
    snapshotTree.filter(([path]) => path.startsWith('meta/')),
    [
      ['meta/commit_success.txt', `Checkpoint commit was successful to ${root}/2/meta`],
      ['meta/metadata', '{"step": 2}'],
    ],
  );
  // The writer deleting the step leaves the snapshot whole.
  await manager.delete(2);
  t.false(await s.exists(`${root}/2`));
  t.deepEqual(await treeOf(s, lease.snapshotPath!), snapshotTree);
  await lease.release();
  t.false(await s.exists(lease.snapshotPath!), 'released');
  await lease.release();

  t.is((await checkpointUtils.waitForNewCheckpoint(root, { ...opts, untilStep: 3, timeoutSecs: 0.1 })).step, -1, 'step 5 is not committed');
  await s.write(`${root}/5/commit_success.txt`, 'done');
  await using five = await checkpointUtils.waitForNewCheckpoint(root, { ...opts, untilStep: 3 });
  t.is(five.step, 5);
  t.deepEqual(await treeOf(s, five.snapshotPath!), await treeOf(s, `${root}/5`));
}

test('waitForNewCheckpoint on a memory:// root: committed steps only, snapshot copied and released', async (t) => {
  await waitScenario(t, memoryRoot('wait'));
});

async function iteratorScenario(t: ExecutionContext, root: string, storageOptions?: StorageOptions): Promise<void> {
  const s = storage.storageFor(root, storageOptions);
  await s.write(`${root}/_SNAPSHOTS/99/leftover`, 'x');
  const manager = await jsonManager(root, storageOptions);
  t.teardown(() => manager.close());
  const firstSave = (async () => {
    await sleep(100);
    await saveJsonStep(manager, 1);
  })();
  const seen: Array<[number, string[]]> = [];
  for await (const step of checkpointUtils.checkpointsIterator(root, { ...FAST, timeoutSecs: 20, ...withStorage(storageOptions) })) {
    seen.push([step, (await s.list(`${root}/_SNAPSHOTS`)).map((e) => e.name)]);
    t.is(text(await s.read(`${root}/_SNAPSHOTS/${step}/meta/metadata`)), `{"step": ${step}}`);
    if (step === 1) {
      await saveJsonStep(manager, 2);
    } else if (step === 2) {
      await writeUncommittedStep(s, root, 4);
      await saveJsonStep(manager, 3);
    } else {
      break;
    }
  }
  await firstSave;
  t.deepEqual(seen, [
    [1, ['1']],
    [2, ['2']],
    [3, ['3']],
  ]);
  t.deepEqual(await s.list(`${root}/_SNAPSHOTS`), [], 'leftovers removed at the start, the last snapshot on break');
}

test('checkpointsIterator on a memory:// root yields steps as they commit', async (t) => {
  await iteratorScenario(t, memoryRoot('iterate'));
});

test('a reader holding steps of a memory:// root never sees them partial while a manager deletes them', async (t) => {
  const root = memoryRoot('evaluator');
  const s = storage.storageFor(root);
  const count = 10;
  const items = ['a', 'b', 'c', 'd'];
  const writerManager = await ocp.CheckpointManager.open(root, { options: { enableAsyncCheckpointing: false, maxToKeep: 2 } });
  t.teardown(() => writerManager.close());
  let writerDone = false;
  const writer = (async () => {
    try {
      for (let step = 0; step < count; step++) {
        const payload = Array.from({ length: 2000 }, (_, i) => step * 10_000 + i);
        await writerManager.save(step, new ocp.args.Composite(Object.fromEntries(items.map((name) => [name, new ocp.args.JsonSave({ step, payload })]))));
        // Step 0 is deleted while the reader holds it.
        while (step === 0 && !(await s.exists(`${root}/_SNAPSHOTS/0/commit_success.txt`))) await sleep(5);
        await sleep(5);
      }
    } finally {
      writerDone = true;
    }
  })();

  const seen: number[] = [];
  let heldWhileDeleted = 0;
  for await (const step of checkpointUtils.checkpointsIterator(root, { secondsToSleep: 0.01, timeoutSecs: 0.3, timeoutFn: () => writerDone })) {
    seen.push(step);
    while (!writerDone && (await s.exists(`${root}/${step}/commit_success.txt`))) await sleep(5);
    if (!(await s.exists(`${root}/${step}`))) heldWhileDeleted += 1;
    const tree = await treeOf(s, `${root}/_SNAPSHOTS/${step}`);
    t.deepEqual(
      tree.map(([path]) => path),
      ['_CHECKPOINT_METADATA', 'commit_success.txt', ...items.flatMap((name) => [`${name}/commit_success.txt`, `${name}/metadata`])].sort(),
      `step ${step}: every file is there`,
    );
    for (const [path, content] of tree) {
      if (path.endsWith('/metadata')) t.deepEqual(JSON.parse(content ?? '') as unknown, { step, payload: Array.from({ length: 2000 }, (_, i) => step * 10_000 + i) });
    }
  }
  await writer;
  t.log(`held steps ${seen.join(', ')}; ${heldWhileDeleted} deleted by the writer while held`);
  t.is(seen[0], 0);
  t.true(seen.every((step, i) => i === 0 || step > seen[i - 1]!), `steps increase: ${seen.join(',')}`);
  t.is(seen.at(-1), count - 1, 'the last step is seen');
  t.true(heldWhileDeleted > 0, 'at least one step was deleted by the writer while it was held');
  // No `_SNAPSHOTS` left: an object-store "directory" exists only while something is in it.
  t.deepEqual((await s.list(root)).map((e) => e.name), [String(count - 2), String(count - 1)]);
});

async function unlockScenario(t: ExecutionContext, root: string, storageOptions?: StorageOptions): Promise<void> {
  const s = storage.storageFor(root, storageOptions);
  const manager = await jsonManager(root, storageOptions);
  t.teardown(() => manager.close());
  await saveJsonStep(manager, 2);
  await saveJsonStep(manager, 3);
  await saveJsonStep(manager, 6);
  await s.write(`${root}/2/LOCKED/reader`, ''); // older readers made a directory
  await s.write(`${root}/3/LOCKED`, ''); // or a bare object
  await writeUncommittedStep(s, root, 4);
  await s.write(`${root}/4/LOCKED`, '');
  t.deepEqual(await checkpointUtils.unlockExistingCheckpoints(root, withStorage(storageOptions)), [2, 3]);
  t.false(await s.exists(`${root}/2/LOCKED`));
  t.false(await s.exists(`${root}/3/LOCKED`));
  t.true(await s.exists(`${root}/4/LOCKED`), 'an uncommitted step is no step');
  t.true(await s.isFile(`${root}/2/commit_success.txt`));
  t.true(await s.isFile(`${root}/3/meta/metadata`));
  t.deepEqual(await checkpointUtils.unlockExistingCheckpoints(root, withStorage(storageOptions)), []);
}

test('unlockExistingCheckpoints on a memory:// root removes <step>/LOCKED', async (t) => {
  await unlockScenario(t, memoryRoot('unlock'));
});

test('object-store snapshots: finished ones reused, unfinished ones replaced, a step losing its marker is refused', async (t) => {
  const root = memoryRoot('snapshots');
  const s = storage.storageFor(root);
  await s.write(`${root}/7/a/b.bin`, 'bytes');
  await s.write(`${root}/7/c.txt`, 'c');
  await s.write(`${root}/7/commit_success.txt`, 'ok');
  const snapshotRoot = `${root}/snaps`;

  await s.write(`${snapshotRoot}/7/stale.txt`, 'from a reader that died mid-copy');
  t.is(await snapshots.createSnapshot(`${root}/7`, snapshotRoot), `${snapshotRoot}/7`);
  const expected = [
    ['a/b.bin', 'bytes'],
    ['c.txt', 'c'],
    ['commit_success.txt', 'ok'],
  ];
  t.deepEqual(await treeOf(s, `${snapshotRoot}/7`), expected);

  await s.write(`${snapshotRoot}/7/extra.txt`, 'kept');
  await snapshots.createSnapshot(`${root}/7`, snapshotRoot);
  t.true(await s.isFile(`${snapshotRoot}/7/extra.txt`), 'a finished snapshot is reused as is');

  await s.remove(`${root}/7/commit_success.txt`); // a writer starting to delete the step
  await s.remove(`${snapshotRoot}/7`);
  const error = await t.throwsAsync(snapshots.createSnapshot(`${root}/7`, snapshotRoot));
  t.true(snapshots.isVanishedError(error));
  t.false(await s.exists(`${snapshotRoot}/7`));

  await t.throwsAsync(snapshots.createSnapshot(`${root}/7`, '/tmp/local-snapshots'), {
    instanceOf: ocp.InvalidArgumentError,
    message: `Snapshot directory /tmp/local-snapshots must be on the same storage as the step ${root}/7.`,
  });
  t.is(checkpointUtils.getSnapshotDirFromStepDir(`${root}/7`, 's3://b/snaps'), 's3://b/snaps/7');
});

async function protoScenario(t: ExecutionContext, dir: string, storageOptions?: StorageOptions): Promise<void> {
  const s = storage.storageFor(dir, storageOptions);
  const message = 'name: "caf\u00e9 \u2713"\nvalues: 1\nvalues: 2\n';
  const checkpointer = new ocp.Checkpointer(new ocp.ProtoCheckpointHandler(), withStorage(storageOptions));
  await checkpointer.save(dir, new ocp.args.ProtoSave({ toTextFormat: () => message }));
  t.deepEqual(Buffer.from((await s.read(`${dir}/proto.pbtxt`)) ?? []), Buffer.from(message, 'utf8'));
  t.is(text(await s.read(`${dir}/commit_success.txt`)), `Checkpoint commit was successful to ${dir}`);
  t.is(await checkpointer.restore(dir), message);
  t.is(await checkpointer.restore(dir, new ocp.args.ProtoRestore((x) => x.split('\n').length)), 4);
  const handler = new ocp.ProtoCheckpointHandler();
  await t.throwsAsync(handler.restore(`${dir}/nothing`, undefined, withStorage(storageOptions)), {
    instanceOf: ocp.NotFoundError,
    message: `File ${dir}/nothing/proto.pbtxt not found.`,
  });
}

test('a proto item round trips on a memory URL with exact bytes; a secondary process writes nothing', async (t) => {
  const root = memoryRoot('proto');
  await protoScenario(t, `${root}/item`);
  const handler = new ocp.ProtoCheckpointHandler({ filename: 'other.pbtxt' });
  const secondary = { multiprocessing: { isPrimary: false } } as unknown as Parameters<typeof handler.asyncSave>[2];
  t.deepEqual(await handler.asyncSave(`${root}/secondary`, new ocp.args.ProtoSave('a: 1'), secondary), []);
  await handler.save(`${root}/secondary`, new ocp.args.ProtoSave('a: 1'), secondary);
  t.false(await storage.storageFor(root).exists(`${root}/secondary`));
  await handler.save(`${root}/primary`, new ocp.args.ProtoSave('a: 1'), { multiprocessing: { isPrimary: true } } as unknown as Parameters<typeof handler.save>[2]);
  t.is(text(await storage.storageFor(root).read(`${root}/primary/other.pbtxt`)), 'a: 1');
});

// One moto server for every S3 test of this file (each test uses its own bucket).
let motoServer: Promise<MotoServer | null> | undefined;
const BUCKETS = ['wait', 'iterate', 'unlock', 'proto', 'cli'];

async function moto(t: ExecutionContext): Promise<MotoServer | null> {
  motoServer ??= startMoto(BUCKETS);
  const server = await motoServer;
  if (server === null) t.log('Python reference missing (.venv-ref); skipped the S3 test');
  return server;
}

test.after.always(async () => {
  (await motoServer)?.stop();
});

test('on moto S3: waitForNewCheckpoint, checkpointsIterator, unlockExistingCheckpoints and a proto item', async (t) => {
  const server = await moto(t);
  if (server === null) return t.pass();
  await waitScenario(t, 's3://wait/run', server.storageOptions);
  await iteratorScenario(t, 's3://iterate/run', server.storageOptions);
  await unlockScenario(t, 's3://unlock/run', server.storageOptions);
  await protoScenario(t, 's3://proto/item', server.storageOptions);
});

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist', 'cli', 'main.js');

test('orbax-ts inspect reads S3 URLs with --storage-option', async (t) => {
  const server = await moto(t);
  if (server === null) return t.pass();
  await server.upload(join(orbaxFixturesDir, 'standard_basic'), 'cli', 'standard_basic', ['expected.json']);
  await server.upload(join(orbaxFixturesDir, 'manager'), 'cli', 'manager', ['expected.json']);
  await server.upload(join(orbaxFixturesDir, 'manager', '8'), 'cli', 'manager/12', ['commit_success.txt']);
  const storageArgs = Object.entries(server.storageOptions).flatMap(([key, value], i) => (i % 2 === 0 ? ['--storage-option', `${key}=${value}`] : [`--storage-option=${key}=${value}`]));

  const { stdout } = await run(process.execPath, [cli, 'inspect', 's3://cli/standard_basic', ...storageArgs]);
  t.regex(stdout, /^checkpoint s3:\/\/cli\/standard_basic$/m);
  t.regex(stdout, /handlers: orbax\.checkpoint\._src\.handlers\.standard_checkpoint_handler\.StandardCheckpointHandler/);
  t.regex(stdout, /^\s+mat\s+np\.ndarray\s+float32\s+\[5, 6\]\s+120 B\s+chunks \[5, 6\]\s+zstd:1$/m);

  const json = await run(process.execPath, [cli, 'inspect', '--json', 's3://cli/manager/', ...storageArgs]);
  const result = JSON.parse(json.stdout) as { kind: string; directory: string; steps: Array<{ step: number; checkpoint: { items: Array<{ name: string }> } }>; uncommitted: string[] };
  const expected = loadExpected('manager') as { manager: { all_steps: number[]; tmp_dirs: string[] } };
  t.is(result.kind, 'manager');
  t.is(result.directory, 's3://cli/manager');
  t.deepEqual(result.steps.map((s) => s.step), expected.manager.all_steps);
  t.deepEqual(result.uncommitted, [...expected.manager.tmp_dirs, '12'].sort(), 'a step without commit_success.txt is uncommitted');
  t.deepEqual(result.steps[0]?.checkpoint.items.map((i) => i.name), ['default']);

  const missing = await t.throwsAsync(run(process.execPath, [cli, 'inspect', 's3://cli/nothing', ...storageArgs]));
  t.regex((missing as Error & { stderr: string }).stderr, /NotFoundError \[ENOENT\]: Checkpoint at s3:\/\/cli\/nothing not found\./);
  const usage = await t.throwsAsync(run(process.execPath, [cli, 'inspect', 's3://cli/manager', '--storage-option', 'no-equals-sign']));
  t.is((usage as Error & { code: number }).code, 2);
  t.regex((usage as Error & { stderr: string }).stderr, /--storage-option KEY=VALUE/);
});
