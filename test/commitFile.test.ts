// Commit-file atomicity (Orbax's protocol for stores without an atomic rename, orbax-layout §9.3):
// everything is written under its final name and `commit_success.txt`, written last, commits it.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { describeTree, verifyWithOrbax } from './helpers/interop.js';

const { args } = ocp;
const commitFile = { atomicityOptions: { mode: 'commit_file' as const } };

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-commit-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const tree = { w: ocp.array(Float32Array.from([1, 2, 3, 4]), [2, 2]), step: 3n };

test('a commit-file save writes final names only, with a marker in every directory, and Orbax restores it', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  const checkpointer = new ocp.Checkpointer(new ocp.CompositeCheckpointHandler(), commitFile);
  await checkpointer.save(dir, new args.Composite({ state: new args.StandardSave(tree), meta: new args.JsonSave({ a: 1 }) }));
  t.deepEqual(await readdir(root), ['ckpt']);
  t.is(await readFile(join(dir, 'commit_success.txt'), 'utf8'), `Checkpoint commit was successful to ${dir}`);
  t.is(await readFile(join(dir, 'state', 'commit_success.txt'), 'utf8'), `Checkpoint commit was successful to ${join(dir, 'state')}`);
  t.is(await readFile(join(dir, 'meta', 'commit_success.txt'), 'utf8'), `Checkpoint commit was successful to ${join(dir, 'meta')}`);
  const back = await checkpointer.restore(dir);
  t.deepEqual(describeTree(back.get('state')), describeTree(tree));
  await verifyWithOrbax(t, dir, {
    kind: 'composite',
    restore: { layout: 'composite', items: { state: 'StandardCheckpointHandler', meta: 'JsonCheckpointHandler' } },
    items: {
      state: { handler: 'StandardCheckpointHandler', dir: 'state', tree: describeTree(tree) },
      meta: { handler: 'JsonCheckpointHandler', dir: 'meta', value: { a: 1 } },
    },
  });

  await rm(join(dir, 'commit_success.txt'));
  await t.throwsAsync(checkpointer.restore(dir), { instanceOf: ocp.InvalidArgumentError, message: `Found incomplete checkpoint at ${dir}.` });
  t.deepEqual(describeTree((await new ocp.Checkpointer(new ocp.CompositeCheckpointHandler()).restore(dir)).get('state')), describeTree(tree), 'rename mode does not consult the marker');
});

test('a forced commit-file save replaces the checkpoint, and refused input leaves the old one intact', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  const checkpointer = new ocp.Checkpointer(new ocp.StandardCheckpointHandler(), commitFile);
  await checkpointer.save(dir, new args.StandardSave(tree));
  await t.throwsAsync(checkpointer.save(dir, new args.StandardSave(tree)), { instanceOf: ocp.InvalidArgumentError, message: `Destination ${dir} already exists.` });
  await t.throwsAsync(checkpointer.save(dir, new args.StandardSave({ s: 'strings are refused' }), { force: true }), { instanceOf: ocp.InvalidArgumentError });
  t.deepEqual(describeTree(await checkpointer.restore(dir)), describeTree(tree), 'the refused forced save did not empty the destination');
  const next = { w: ocp.array(Float32Array.from([9]), [1]) };
  const async = new ocp.AsyncCheckpointer(new ocp.StandardCheckpointHandler(), commitFile);
  await async.save(dir, new args.StandardSave(next), { force: true });
  await async.waitUntilFinished();
  t.deepEqual(describeTree(await async.restore(dir)), describeTree(next));
});

test('a commit-file manager ignores step directories without a marker and cleans them up, keeping metadata/', async (t) => {
  const root = await tempDir(t);
  const options = { atomicityOptions: { mode: 'commit_file' as const }, maxToKeep: 2 };
  const manager = await ocp.CheckpointManager.open(root, { options, metadata: { run: 1 } });
  for (let step = 0; step < 3; step++) await manager.save(step, new args.StandardSave(tree));
  await manager.close();
  await mkdir(join(root, '7', 'default'), { recursive: true });
  const reopened = await ocp.CheckpointManager.open(root, { options });
  t.deepEqual(reopened.allSteps(), [1, 2], 'a step directory without commit_success.txt is unfinished');
  t.deepEqual(describeTree(await reopened.restore(2)), describeTree(tree));
  const cleaned = await ocp.CheckpointManager.open(root, { options: { ...options, cleanupTmpDirectories: true } });
  t.deepEqual((await readdir(root)).sort(), ['1', '2', 'metadata']);
  t.deepEqual((await cleaned.metadata()).customMetadata, { run: 1 });
});
