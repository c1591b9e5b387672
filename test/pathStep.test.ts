// ocp.path.step on hand-made directory trees and on the manager fixtures written by Orbax 0.12.8.
// The expected values of the hand-made tree were checked against Python Orbax 0.12.8.
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { type JsonObject, loadExpected, orbaxFixturesDir } from './helpers/fixtures.js';
import { step } from './helpers/stepModules.js';
import { storage } from './helpers/storageModule.js';

const COMMIT_FILE = { atomicityOptions: { mode: 'commit_file' as const } };
const COMMIT_FILE_LEGACY = { atomicityOptions: { mode: 'commit_file' as const, allowLegacyAtomicRename: true } };

async function tempRoot(t: ExecutionContext, label: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), `orbax-ts-${label}-`));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** The tree the Python cross-check used: step-like, tmp, prefixed, commit-file and junk entries. */
async function handMadeTree(t: ExecutionContext): Promise<string> {
  const root = await tempRoot(t, 'steps');
  const dirs = ['0', '12', '0012', '12345', '00012', '7.orbax-checkpoint-tmp', '3.orbax-checkpoint-tmp-1703334121930256', 'abc', 'ckpt_3', 'ckpt_0005', 'ckpt_05', 'foo_5', '_SNAPSHOTS', '_7', 'cf_1', 'cf_2'];
  for (const dir of dirs) await mkdir(join(root, dir));
  await writeFile(join(root, '5'), 'a regular file named like a step');
  await writeFile(join(root, 'cf_1', 'commit_success.txt'), 'Checkpoint commit was successful to cf_1');
  await symlink('12', join(root, 'link_to_12'));
  await symlink('7.orbax-checkpoint-tmp', join(root, '8.orbax-checkpoint-tmp'));
  return root;
}

function stepsAndNames(metadatas: InstanceType<typeof step.Metadata>[]): Array<[number, string]> {
  return metadatas.map((m) => [m.step, basename(m.path)]);
}

test('constants are Orbax 0.12.8 values', (t) => {
  t.is(step.TMP_DIR_SUFFIX, '.orbax-checkpoint-tmp');
  t.is(step.ALLOWED_STEP_NAME_PATTERN, '(.+)_(\\d+)');
  t.is(step.TMP_DIR_STEP_PATTERN, '.*?_*?(\\d+)\\.orbax-checkpoint-tmp');
  t.is(step.COMMIT_SUCCESS_FILE, 'commit_success.txt');
});

test('stepFromCheckpointName parses digits, <prefix>_<digits> and tmp names', (t) => {
  t.is(step.stepFromCheckpointName('007'), 7);
  t.is(step.stepFromCheckpointName('12'), 12);
  t.is(step.stepFromCheckpointName('a_b_7'), 7);
  t.is(step.stepFromCheckpointName('ckpt_0042'), 42);
  t.is(step.stepFromCheckpointName('ckpt_3.orbax-checkpoint-tmp'), 3);
  t.is(step.stepFromCheckpointName('3.orbax-checkpoint-tmp-1703334121930256'), 3);
  t.is(step.stepFromCheckpointName('13.orbax-checkpoint-tmp'), 13);
});

for (const name of ['', 'ckpt', 'x7', '-1', 'ckpt_-1', '_7']) {
  test(`stepFromCheckpointName(${JSON.stringify(name)}) is a ValueError`, (t) => {
    const error = t.throws(() => step.stepFromCheckpointName(name), { instanceOf: ocp.InvalidArgumentError });
    t.is(error.message, `Unrecognized name format: ${name}.`);
    t.is(error.pythonType, 'ValueError');
  });
}

test('standardNameFormat builds names like Python f-strings', (t) => {
  t.is(step.standardNameFormat().buildName(23), '23');
  t.is(step.standardNameFormat({ stepFormatFixedLength: 4 }).buildName(23), '0023');
  t.is(step.standardNameFormat({ stepPrefix: 'step' }).buildName(23), 'step_23');
  t.is(step.standardNameFormat({ stepPrefix: 'step', stepFormatFixedLength: 4 }).buildName(23), 'step_0023');
  t.is(step.standardNameFormat({ stepFormatFixedLength: 4 }).buildName(12345), '12345');
  t.is(step.standardNameFormat({ stepFormatFixedLength: 4 }).buildName(-3), '-003');
  t.is(step.standardNameFormat().buildName(-3), '-3');
  t.is(step.standardNameFormat({ stepFormatFixedLength: 0 }).buildName(7), '7');
  t.is(String(step.standardNameFormat()), 'StandardNameFormat("1234")');
  t.is(String(step.standardNameFormat({ stepPrefix: 'ckpt', stepFormatFixedLength: 5 })), 'StandardNameFormat("ckpt_01234")');
  t.throws(() => step.standardNameFormat().buildName(1.5), { instanceOf: ocp.InvalidArgumentError, message: 'A step is an integer, got 1.5.' });
});

test('standardNameFormat options are keyword-only and validated', (t) => {
  t.throws(() => step.standardNameFormat('ckpt' as never), { instanceOf: ocp.InvalidArgumentError, message: /takes an options object/ });
  t.throws(() => step.standardNameFormat({ stepFormatFixedLength: -1 }), { instanceOf: ocp.InvalidArgumentError, message: /Invalid standardNameFormat options/ });
  t.throws(() => step.standardNameFormat({ prefix: 'x' } as never), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => step.standardNameFormat({ atomicityOptions: { mode: 'rename' as never } }), { instanceOf: ocp.InvalidArgumentError });
});

test('standardNameFormat.findAll keeps finalized dirs whose whole name matches', async (t) => {
  const root = await handMadeTree(t);
  t.deepEqual(stepsAndNames(await step.standardNameFormat().findAll(root)), [
    [0, '0'],
    [12, '12'],
    [12345, '12345'],
  ]);
  t.deepEqual(stepsAndNames(await step.standardNameFormat({ stepFormatFixedLength: 4 }).findAll(root)), [
    [12, '0012'],
    [12345, '12345'],
  ]);
  t.deepEqual(stepsAndNames(await step.standardNameFormat({ stepPrefix: 'ckpt' }).findAll(root)), [[3, 'ckpt_3']]);
  t.deepEqual(stepsAndNames(await step.standardNameFormat({ stepPrefix: 'ckpt', stepFormatFixedLength: 4 }).findAll(root)), [[5, 'ckpt_0005']]);
  const found = await step.standardNameFormat().findAll(root);
  t.is(found[0]?.path, join(root, '0'));
  t.true(found[0] instanceof step.Metadata);
  t.deepEqual(await step.standardNameFormat().findAll(join(root, 'missing')), []);
  t.deepEqual(await step.standardNameFormat().findAll(join(root, '5')), [], 'a regular file is no base path');
});

test('standardNameFormat.findAll in commit-file mode needs commit_success.txt (or a legacy rename final)', async (t) => {
  const root = await handMadeTree(t);
  t.deepEqual(stepsAndNames(await step.standardNameFormat({ stepPrefix: 'cf', ...COMMIT_FILE }).findAll(root)), [[1, 'cf_1']]);
  t.deepEqual(stepsAndNames(await step.standardNameFormat({ stepPrefix: 'cf', ...COMMIT_FILE_LEGACY }).findAll(root)), [
    [1, 'cf_1'],
    [2, 'cf_2'],
  ]);
  t.deepEqual(stepsAndNames(await step.standardNameFormat({ stepPrefix: 'cf', atomicityOptions: { mode: 'atomic_rename' } }).findAll(root)), [
    [1, 'cf_1'],
    [2, 'cf_2'],
  ]);
});

test('standardNameFormat.findStep looks up exactly buildName(step), with Python messages', async (t) => {
  const root = await handMadeTree(t);
  const found = await step.standardNameFormat({ stepFormatFixedLength: 4 }).findStep(root, 12);
  t.true(found.equals(new step.Metadata(12, join(root, '0012'))));
  const missing = await t.throwsAsync(step.standardNameFormat().findStep(root, 5), { instanceOf: ocp.InvalidArgumentError });
  t.is(missing.message, `No step path found with name=5, NameFormat=StandardNameFormat("1234") for step=5 under ${root}.`);
  const tmpOnly = await t.throwsAsync(step.standardNameFormat().findStep(root, 7), { instanceOf: ocp.InvalidArgumentError });
  t.is(tmpOnly.message, `No step path found with name=7, NameFormat=StandardNameFormat("1234") for step=7 under ${root}.`);
  const badBase = await t.throwsAsync(step.standardNameFormat().findStep(join(root, 'nope'), 5), { instanceOf: ocp.InvalidArgumentError });
  t.is(badBase.message, `Invalid base_path: ${join(root, 'nope')} does not exist or is not a directory.`);
  const cf = await t.throwsAsync(step.standardNameFormat({ stepPrefix: 'cf', ...COMMIT_FILE }).findStep(root, 2), { instanceOf: ocp.InvalidArgumentError });
  t.is(cf.message, `No step path found with name=cf_2, NameFormat=StandardNameFormat("cf_1234") for step=2 under ${root}.`);
});

test('seed parity: buildMetadata / findMetadata return null when absent', async (t) => {
  const root = await handMadeTree(t);
  const format = step.standardNameFormat();
  t.true((await format.buildMetadata?.(join(root, '12')))?.equals(new step.Metadata(12, join(root, '12'))));
  t.is(await format.buildMetadata?.(join(root, '0012')), null);
  t.is(await format.buildMetadata?.(join(root, '7.orbax-checkpoint-tmp')), null);
  t.is((await format.findMetadata?.(root, 0))?.path, join(root, '0'));
  t.is(await format.findMetadata?.(root, 5), null);
  t.is(await format.findMetadata?.(join(root, 'nope'), 5), null);
});

test('compositeNameFormat requires the write format among the read formats', (t) => {
  const error = t.throws(() => step.compositeNameFormat(step.standardNameFormat({ stepPrefix: 'a' }), [step.standardNameFormat()]), {
    instanceOf: ocp.InvalidArgumentError,
  });
  t.is(error.message, 'write_name_format: StandardNameFormat("a_1234") must be present in read_name_formats: [StandardNameFormat("1234")].');
  // Equal configurations are equal formats (Python compares frozen dataclasses).
  t.notThrows(() => step.compositeNameFormat(step.standardNameFormat({ stepPrefix: 'a' }), [step.standardNameFormat({ stepPrefix: 'a' })]));
  t.throws(
    () => step.compositeNameFormat(step.standardNameFormat({ stepPrefix: 'a' }), [step.standardNameFormat({ stepPrefix: 'a', stepFormatFixedLength: 2 })]),
    { instanceOf: ocp.InvalidArgumentError },
  );
  t.throws(() => step.compositeNameFormat({} as never, []), { instanceOf: ocp.InvalidArgumentError });
});

test('compositeNameFormat writes with one format and reads with all, in order', async (t) => {
  const root = await handMadeTree(t);
  const write = step.standardNameFormat();
  const composite = step.compositeNameFormat(write, [step.standardNameFormat({ stepPrefix: 'ckpt' }), write]);
  t.is(String(composite), 'Composite([StandardNameFormat("ckpt_1234"),StandardNameFormat("1234")])');
  t.is(composite.buildName(9), '9');
  t.deepEqual(stepsAndNames(await composite.findAll(root)), [
    [3, 'ckpt_3'],
    [0, '0'],
    [12, '12'],
    [12345, '12345'],
  ]);
  t.is((await composite.findStep(root, 3)).path, join(root, 'ckpt_3'));
  t.is((await composite.findStep(root, 12)).path, join(root, '12'));
  const error = await t.throwsAsync(composite.findStep(root, 99), { instanceOf: ocp.InvalidArgumentError });
  t.is(
    error.message,
    `No step path found with name=ckpt_99, NameFormat=StandardNameFormat("ckpt_1234") for step=99 under ${root}.\n` +
      `No step path found with name=99, NameFormat=StandardNameFormat("1234") for step=99 under ${root}.`,
  );
  // De-duplication by path: the same format twice lists each step once.
  const twice = step.compositeNameFormat(write, [write, step.standardNameFormat()]);
  t.deepEqual(stepsAndNames(await twice.findAll(root)), [
    [0, '0'],
    [12, '12'],
    [12345, '12345'],
  ]);
  t.is(await composite.findMetadata?.(root, 99), null);
  t.is((await composite.buildMetadata?.(join(root, 'ckpt_3')))?.step, 3);
});

test('buildStepPath, stepPrefixWithUnderscore and buildStepMetadatas', async (t) => {
  t.is(step.buildStepPath('/base', step.standardNameFormat({ stepPrefix: 'ckpt', stepFormatFixedLength: 3 }), 7), '/base/ckpt_007');
  t.is(step.stepPrefixWithUnderscore(), '');
  t.is(step.stepPrefixWithUnderscore('ckpt'), 'ckpt_');
  t.is(step.stepPrefixWithUnderscore(''), '_');
  const built = await step.buildStepMetadatas(['/r/1', '/r/x', '/r/3'], async (p) => (/\d$/.test(p) ? new step.Metadata(Number(p.at(-1)), p) : null));
  t.deepEqual(built.map((m) => m.step).sort(), [1, 3]);
});

test('latestStepMetadata takes the max step, the greatest name on ties', async (t) => {
  const root = await tempRoot(t, 'latest');
  t.is(await step.latestStepMetadata(root, step.standardNameFormat()), null);
  t.is(await step.latestStepMetadata(join(root, 'missing'), step.standardNameFormat()), null);
  for (const dir of ['2', '5', 'ckpt_5', '4', '9.orbax-checkpoint-tmp']) await mkdir(join(root, dir));
  t.is((await step.latestStepMetadata(root, step.standardNameFormat()))?.path, join(root, '5'));
  const composite = step.compositeNameFormat(step.standardNameFormat(), [step.standardNameFormat(), step.standardNameFormat({ stepPrefix: 'ckpt' })]);
  const latest = await step.latestStepMetadata(root, composite);
  t.is(latest?.step, 5);
  t.is(latest?.path, join(root, 'ckpt_5'));
});

test('stepMetadataOfCheckpointPath resolves committed steps and rejects others', async (t) => {
  const root = await handMadeTree(t);
  const found = await step.stepMetadataOfCheckpointPath(join(root, 'ckpt_3'), step.standardNameFormat({ stepPrefix: 'ckpt' }));
  t.true(found.equals(new step.Metadata(3, join(root, 'ckpt_3'))));
  const error = await t.throwsAsync(step.stepMetadataOfCheckpointPath(join(root, '7.orbax-checkpoint-tmp'), step.standardNameFormat({ stepPrefix: 'ckpt' })), {
    instanceOf: ocp.InvalidArgumentError,
  });
  t.is(
    error.message,
    `Failed to resolve step metadata of checkpoint path with NameFormat=StandardNameFormat("ckpt_1234"), checkpoint path=${join(root, '7.orbax-checkpoint-tmp')}, ` +
      "path name(7.orbax-checkpoint-tmp) did not match with available step names: ['ckpt_3']. Please check if the given path is really a checkpoint path.",
  );
});

test('findStepPath prefers an uncommitted directory only when asked', async (t) => {
  const root = await handMadeTree(t);
  const format = step.standardNameFormat();
  t.is(await step.findStepPath(root, format, { step: 3, includeUncommitted: true }), join(root, '3.orbax-checkpoint-tmp-1703334121930256'));
  t.is(await step.findStepPath(root, format, { step: 7, includeUncommitted: true }), join(root, '7.orbax-checkpoint-tmp'));
  t.is(await step.findStepPath(root, format, { step: 12, includeUncommitted: true }), join(root, '12'));
  t.is(await step.findStepPath(root, format, { step: 12 }), join(root, '12'));
  const error = await t.throwsAsync(step.findStepPath(root, format, { step: 7 }), { instanceOf: ocp.InvalidArgumentError });
  t.is(error.message, `No step path found with name=7, NameFormat=StandardNameFormat("1234") for step=7 under ${root}.`);
  await t.throwsAsync(step.findStepPath(root, format, { step: 99, includeUncommitted: true }), { instanceOf: ocp.InvalidArgumentError });
  // Both committed and temporary: the temporary wins.
  await mkdir(join(root, '7'));
  t.is(await step.findStepPath(root, format, { step: 7, includeUncommitted: true }), join(root, '7.orbax-checkpoint-tmp'));
  await t.throwsAsync(step.findStepPath(root, format, {} as never), { instanceOf: ocp.InvalidArgumentError });
});

test('maybeFindStepMetadata returns null instead of a ValueError', async (t) => {
  const root = await handMadeTree(t);
  t.is((await step.maybeFindStepMetadata(root, step.standardNameFormat(), { step: 0 }))?.path, join(root, '0'));
  t.is(await step.maybeFindStepMetadata(root, step.standardNameFormat(), { step: 5 }), null);
  t.is(await step.maybeFindStepMetadata(join(root, 'nope'), step.standardNameFormat(), { step: 0 }), null);
});

test('getSaveDirectory composes directory, step name and item name', (t) => {
  t.is(step.getSaveDirectory(5, '/root', { name: 'state', stepPrefix: 'ckpt', stepFormatFixedLength: 3 }), '/root/ckpt_005/state');
  t.is(step.getSaveDirectory(5, '/root'), '/root/5');
  t.is(step.getSaveDirectory(5, '/root', { overrideDirectory: '/elsewhere', name: 'x', stepPrefix: 'ignored' }), '/elsewhere/x');
  t.is(step.getSaveDirectory(5, '/root', { stepNameFormat: step.standardNameFormat({ stepPrefix: 'p' }), stepPrefix: 'ignored' }), '/root/p_5');
  t.throws(() => step.getSaveDirectory(5, null as never), { instanceOf: ocp.InvalidArgumentError, message: 'Directory cannot be None.' });
  t.throws(() => step.getSaveDirectory(5, '/root', { stepNameFormat: {} as never }), { instanceOf: ocp.InvalidArgumentError });
});

test('the legacy scan finds digit and _digit directories whatever the format', async (t) => {
  const root = await handMadeTree(t);
  t.deepEqual(
    (await step.checkpointStepsPaths(root)).map((p) => basename(p)),
    ['0', '00012', '0012', '12', '12345', '_7', 'cf_1', 'cf_2', 'ckpt_0005', 'ckpt_05', 'ckpt_3', 'foo_5', 'link_to_12'],
  );
  // `_7` passes the scan but has no step: Python raises the same ValueError.
  await t.throwsAsync(step.checkpointSteps(root), { instanceOf: ocp.InvalidArgumentError, message: 'Unrecognized name format: _7.' });
  await rm(join(root, '_7'), { recursive: true });
  t.deepEqual(await step.checkpointSteps(root), [0, 1, 2, 3, 5, 5, 5, 12, 12, 12, 12, 12345]);
  t.deepEqual(await step.checkpointSteps(join(root, 'missing')), []);
  t.deepEqual(await step.checkpointStepsPaths(join(root, 'missing')), []);
});

test('checkpointSteps of the api.md example: 0 1 2 ckpt_9 foo_5', async (t) => {
  const root = await tempRoot(t, 'legacy');
  for (const dir of ['0', '1', '2', 'ckpt_9', 'foo_5', '4.orbax-checkpoint-tmp', '_SNAPSHOTS']) await mkdir(join(root, dir));
  await writeFile(join(root, '3'), '');
  t.deepEqual(await step.checkpointSteps(root), [0, 1, 2, 5, 9]);
});

test('anyCheckpointStep returns a hit, null, or throws for a missing directory', async (t) => {
  const root = await tempRoot(t, 'any');
  t.is(await step.anyCheckpointStep(root), null);
  await mkdir(join(root, '3.orbax-checkpoint-tmp'));
  await mkdir(join(root, 'foo'));
  t.is(await step.anyCheckpointStep(root), null);
  await mkdir(join(root, 'ckpt_8'));
  t.is(await step.anyCheckpointStep(root), 8);
  await mkdir(join(root, '2'));
  t.true([2, 8].includes((await step.anyCheckpointStep(root)) as number));
  await t.throwsAsync(step.anyCheckpointStep(join(root, 'missing')), { instanceOf: ocp.NotFoundError, message: `No such file or directory: ${join(root, 'missing')}` });
});

test('isCheckpointFinalized / isTmpCheckpoint follow Orbax in both atomicity modes', async (t) => {
  const root = await handMadeTree(t);
  // [name, rename final, rename tmp, commit-file final, commit-file tmp, commit-file+legacy tmp]
  const table: Array<[string, boolean, boolean, boolean, boolean, boolean]> = [
    ['link_to_12', true, false, false, false, false],
    ['8.orbax-checkpoint-tmp', false, false, false, false, false],
    ['5', false, false, false, false, false],
    ['nope', false, false, false, false, false],
    ['7.orbax-checkpoint-tmp', false, true, false, true, true],
    ['cf_1', true, false, true, false, false],
    ['cf_2', true, false, false, true, false],
  ];
  for (const [name, final, tmp, cfFinal, cfTmp, cfLegacyTmp] of table) {
    const path = join(root, name);
    t.is(await step.isCheckpointFinalized(path), final, `${name} finalized`);
    t.is(await step.isTmpCheckpoint(path), tmp, `${name} tmp`);
    t.is(await step.isCheckpointFinalized(path, COMMIT_FILE), cfFinal, `${name} commit-file finalized`);
    t.is(await step.isTmpCheckpoint(path, COMMIT_FILE), cfTmp, `${name} commit-file tmp`);
    t.is(await step.isTmpCheckpoint(path, COMMIT_FILE_LEGACY), cfLegacyTmp, `${name} commit-file+legacy tmp`);
  }
  t.true(await step.isCheckpointFinalized(join(root, 'cf_2'), COMMIT_FILE_LEGACY));
  t.false(await step.isCheckpointFinalized(join(root, '7.orbax-checkpoint-tmp'), COMMIT_FILE_LEGACY));
  await t.throwsAsync(step.isCheckpointFinalized(root, { atomicityOptions: { mode: 'x' as never } }), { instanceOf: ocp.InvalidArgumentError });
});

test('isGcsPath picks commit-file mode in auto', async (t) => {
  t.true(step.isGcsPath('gs://bucket/dir'));
  t.false(step.isGcsPath('/gs://x'));
  t.false(step.isGcsPath('s3://bucket'));
  // Auto mode on an object-store URL means commit-file rules: no marker, not finalized. (A gs://
  // URL now reaches Google Cloud Storage itself, so an in-memory store stands in for it.)
  const url = `memory://isGcsPath-${process.pid}/dir/1`;
  await storage.storageFor(url).write(`${url}/_CHECKPOINT_METADATA`, '{}');
  t.false(await step.isCheckpointFinalized(url));
  await storage.storageFor(url).write(`${url}/commit_success.txt`, 'x');
  t.true(await step.isCheckpointFinalized(url));
});

test('tmpCheckpoints and cleanupTmpDirectories', async (t) => {
  const root = await handMadeTree(t);
  t.deepEqual(await step.tmpCheckpoints(root), ['3.orbax-checkpoint-tmp-1703334121930256', '7.orbax-checkpoint-tmp']);
  t.deepEqual(await step.tmpCheckpoints(root, COMMIT_FILE), [
    '0',
    '00012',
    '0012',
    '12',
    '12345',
    '3.orbax-checkpoint-tmp-1703334121930256',
    '7.orbax-checkpoint-tmp',
    '_7',
    '_SNAPSHOTS',
    'abc',
    'cf_2',
    'ckpt_0005',
    'ckpt_05',
    'ckpt_3',
    'foo_5',
  ]);
  t.deepEqual(await step.tmpCheckpoints(join(root, 'missing')), []);
  t.deepEqual(await step.cleanupTmpDirectories(root), ['3.orbax-checkpoint-tmp-1703334121930256', '7.orbax-checkpoint-tmp']);
  t.deepEqual(await step.tmpCheckpoints(root), []);
  const left = await readdir(root);
  t.true(left.includes('8.orbax-checkpoint-tmp'), 'a symlink is never a temporary directory');
  t.false(left.includes('7.orbax-checkpoint-tmp'));
  t.deepEqual(await step.cleanupTmpDirectories(join(root, 'missing')), []);
});

test('getTmpDirectory and createTmpDirectory (0.12.8: replace an existing one, with a warning)', async (t) => {
  const root = await tempRoot(t, 'tmpdir');
  const final = join(root, 'a', 'b', '7');
  t.is(step.getTmpDirectory(final), `${final}.orbax-checkpoint-tmp`);
  t.is(step.getTmpDirectory(`${final}/`), `${final}.orbax-checkpoint-tmp`);
  const before = BigInt(Date.now()) * 1_000_000n;
  const tmp = await step.createTmpDirectory(final);
  t.is(tmp, `${final}.orbax-checkpoint-tmp`);
  const text = await readFile(join(tmp, '_CHECKPOINT_METADATA'), 'utf8');
  const match = /^\{"item_handlers": null, "metrics": \{\}, "performance_metrics": \{\}, "init_timestamp_nsecs": (\d+), "commit_timestamp_nsecs": null, "custom_metadata": \{\}\}$/.exec(text);
  t.truthy(match, text);
  t.true(BigInt(match![1]!) >= before);
  t.is(await new step.Metadata(7, tmp).initTimestampNsecs(), BigInt(match![1]!));

  await writeFile(join(tmp, 'stale'), 'from a crashed save');
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  try {
    t.is(await step.createTmpDirectory(final), tmp);
  } finally {
    console.warn = warn;
  }
  t.deepEqual(warnings, [`Attempted to create temporary directory ${tmp} which already exists. Removing existing directory since it is not finalized.`]);
  t.deepEqual(await readdir(tmp), ['_CHECKPOINT_METADATA']);
  t.true(await step.isTmpCheckpoint(tmp));
});

test('Metadata: timestamps of a real checkpoint, cached; equality by step and path', async (t) => {
  const root = await tempRoot(t, 'meta');
  const dir = join(root, '3');
  await new ocp.PyTreeCheckpointer().save(dir, { x: ocp.array(new Float32Array([1, 2])) });
  const text = await readFile(join(dir, '_CHECKPOINT_METADATA'), 'utf8');
  const init = BigInt(/"init_timestamp_nsecs": (\d+)/.exec(text)![1]!);
  const commit = BigInt(/"commit_timestamp_nsecs": (\d+)/.exec(text)![1]!);
  const [found] = await step.standardNameFormat().findAll(root);
  t.truthy(found);
  t.is(await found!.initTimestampNsecs(), init);
  t.is(await found!.commitTimestampNsecs(), commit);
  t.is((await found!.commitTimestamp()).getTime(), Number(commit / 1_000_000n));
  // Read once: later changes to the file are not seen by the same object.
  await unlink(join(dir, '_CHECKPOINT_METADATA'));
  t.is(await found!.commitTimestampNsecs(), commit);
  t.is(await new step.Metadata(3, dir).commitTimestampNsecs(), null);
  t.true(found!.equals(new step.Metadata(3, dir)));
  t.false(found!.equals(new step.Metadata(4, dir)));
  t.false(found!.equals(new step.Metadata(3, root)));
  t.false(found!.equals({ step: 3, path: dir }));
  t.is(String(found), `Metadata(step=3, path=${dir})`);
  t.is(step.StepPathMetadata, step.Metadata);
});

test('Metadata: a missing or unparseable _CHECKPOINT_METADATA gives null and the mtime', async (t) => {
  const root = await tempRoot(t, 'meta-mtime');
  const dir = join(root, '4');
  await mkdir(dir);
  const mtime = new Date('2024-05-06T07:08:09.000Z');
  await utimes(dir, mtime, mtime);
  const bare = new step.Metadata(4, dir);
  t.is(await bare.initTimestampNsecs(), null);
  t.is(await bare.commitTimestampNsecs(), null);
  t.is((await bare.commitTimestamp()).toISOString(), mtime.toISOString());
  await writeFile(join(dir, '_CHECKPOINT_METADATA'), '{not json');
  await utimes(dir, mtime, mtime);
  const garbled = new step.Metadata(4, dir);
  t.is(await garbled.initTimestampNsecs(), null);
  t.is((await garbled.commitTimestamp()).toISOString(), mtime.toISOString());
});

for (const caseName of ['manager', 'manager_prefixed']) {
  test(`name formats find the steps of the ${caseName} fixture`, async (t) => {
    const expected = loadExpected(caseName);
    const options = (expected.manager as JsonObject).options as JsonObject;
    const root = join(orbaxFixturesDir, caseName);
    const format = step.standardNameFormat({
      ...(options.step_prefix !== null ? { stepPrefix: options.step_prefix as string } : {}),
      ...(options.step_format_fixed_length !== null ? { stepFormatFixedLength: options.step_format_fixed_length as number } : {}),
    });
    const expectedSteps = (expected.steps as JsonObject[]).map((s) => [s.step as number, s.dir as string]);
    t.deepEqual(stepsAndNames(await format.findAll(root)), expectedSteps);
    t.deepEqual(await step.checkpointSteps(root), (expected.manager as JsonObject).all_steps);
    t.deepEqual(await step.tmpCheckpoints(root), (expected.manager as JsonObject).tmp_dirs);
    const latest = await step.latestStepMetadata(root, format);
    t.is(latest?.step, (expected.manager as JsonObject).latest_step as number);
    for (const [s, dir] of expectedSteps) {
      const metadata = await format.findStep(root, s as number);
      t.is(metadata.path, join(root, dir as string));
      const raw = await readFile(join(metadata.path, '_CHECKPOINT_METADATA'), 'utf8');
      t.is(await metadata.commitTimestampNsecs(), BigInt(/"commit_timestamp_nsecs": (\d+)/.exec(raw)![1]!));
    }
    const tmpName = ((expected.manager as JsonObject).tmp_dirs as string[])[0]!;
    const tmpStep = step.stepFromCheckpointName(tmpName);
    t.is(tmpStep, 10);
    t.is(await step.findStepPath(root, format, { step: 10, includeUncommitted: true }), join(root, tmpName));
    t.false(await step.isCheckpointFinalized(join(root, tmpName)));
    // The prefixed fixture crashed after writing commit_success.txt: commit-file rules call that final.
    t.is(await step.isCheckpointFinalized(join(root, tmpName), COMMIT_FILE), caseName === 'manager_prefixed');
    // The other format sees nothing.
    const other = caseName === 'manager' ? step.standardNameFormat({ stepPrefix: 'ckpt', stepFormatFixedLength: 5 }) : step.standardNameFormat();
    t.deepEqual(await other.findAll(root), []);
  });
}
