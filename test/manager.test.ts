// CheckpointManager (issue 6): the seed walkthrough, Python-written manager roots listed and
// restored to their expected.json, a TS-written root restored by Python's CheckpointManager,
// retention, errors, and a training process killed mid-save.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { assertTree, type Json, type JsonObject, loadExpected, orbaxFixturesDir } from './helpers/fixtures.js';
import { describeTree, verifyWithOrbax } from './helpers/interop.js';

const { args } = ocp;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-manager-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function state(step: number): Record<string, unknown> {
  return { w: ocp.array(Float32Array.from({ length: 6 }, (_, i) => step * 10 + i), [2, 3]), step: BigInt(step) };
}

test('the seed walkthrough: maxToKeep 3, saveIntervalSteps 2, steps 0..10 with state and extra_params', async (t) => {
  const root = await tempDir(t);
  const manager = await ocp.CheckpointManager.open(root, { options: { maxToKeep: 3, saveIntervalSteps: 2 } });
  for (let step = 0; step <= 10; step++) {
    const saved = await manager.save(step, new args.Composite({ state: new args.StandardSave(state(step)), extra_params: new args.JsonSave({ step, lr: 0.1 }) }));
    t.is(saved, step % 2 === 0, `step ${step}`);
  }
  await manager.waitUntilFinished();
  t.deepEqual(manager.allSteps(), [6, 8, 10]);
  t.is(manager.latestStep(), 10);
  t.false(manager.shouldSave(11));
  t.deepEqual((await readdir(root)).sort(), ['10', '6', '8']);
  const restored = (await manager.restore(10)) as ocp.args.Composite;
  t.deepEqual(restored.keys(), ['extra_params', 'state']);
  t.deepEqual(describeTree(restored.get('state')), describeTree(state(10)));
  t.deepEqual(restored.get('extra_params'), { step: 10, lr: 0.1 });
  const only = (await manager.restore(8, { args: new args.Composite({ state: new args.StandardRestore() }) })) as ocp.args.Composite;
  t.deepEqual(only.keys(), ['state']);
  await manager.close();
});

for (const name of ['manager', 'manager_prefixed']) {
  test(`a manager root written by Python (${name}) is listed and restored to its expected.json`, async (t) => {
    const expected = loadExpected(name);
    const m = expected.manager as JsonObject;
    const opts = m.options as JsonObject;
    const bestMetric = opts.best_metric as string | null;
    const manager = await ocp.CheckpointManager.open(join(orbaxFixturesDir, name), {
      options: {
        readOnly: true,
        ...(opts.step_prefix ? { stepPrefix: opts.step_prefix as string } : {}),
        ...(opts.step_format_fixed_length ? { stepFormatFixedLength: opts.step_format_fixed_length as number } : {}),
        ...(bestMetric ? { bestFn: (metrics: Record<string, unknown>) => metrics[bestMetric] as number, bestMode: opts.best_mode as 'min' | 'max' } : {}),
      },
    });
    t.deepEqual(manager.allSteps(), m.all_steps as number[]);
    t.is(manager.latestStep(), m.latest_step as number);
    if (bestMetric) t.is(manager.bestStep(), m.best_step as number);
    t.deepEqual((await manager.metadata()).customMetadata, (m.root_metadata as JsonObject).custom_metadata as unknown);
    const defaultItem = (expected.restore as JsonObject).default_item === true;
    for (const step of expected.steps as JsonObject[]) {
      const where = `${name}/${step.dir as string}`;
      t.deepEqual(await manager.metrics(step.step as number), step.metrics as unknown, `${where} metrics`);
      const restored = await manager.restore(step.step as number);
      const items = step.items as JsonObject;
      const compare = (value: unknown, item: JsonObject, label: string): void => {
        if (item.handler === 'JsonCheckpointHandler') t.deepEqual(value, item.value as unknown, label);
        else assertTree(t, value, item.tree as Json, label);
      };
      if (defaultItem) {
        compare(restored, items.default as JsonObject, where);
      } else {
        const composite = restored as ocp.args.Composite;
        t.deepEqual(composite.keys().sort(), Object.keys(items).sort(), `${where} items`);
        for (const [item, want] of Object.entries(items)) compare(composite.get(item), want as JsonObject, `${where}/${item}`);
      }
      const meta = await manager.metadata(step.step as number);
      t.deepEqual(meta.customMetadata, (step.checkpoint_metadata as JsonObject).custom_metadata as unknown);
    }
    t.false(await manager.save(100, new args.StandardSave(state(1))), 'a read-only manager never saves');
    await manager.close();
  });
}

test('a TS manager root (prefix, fixed length, best metric, root metadata) is restored by Python\'s CheckpointManager', async (t) => {
  const root = join(await tempDir(t), 'run');
  const losses = [0.9, 0.2, 0.5, 0.4, 0.7];
  const manager = await ocp.CheckpointManager.open(root, {
    options: { maxToKeep: 2, bestFn: (m) => m.loss as number, bestMode: 'min', stepPrefix: 'ckpt', stepFormatFixedLength: 3, keepCheckpointsWithoutMetrics: false },
    metadata: { model: 'mlp', v: 2 },
  });
  for (const [step, loss] of losses.entries()) {
    t.true(await manager.save(step, new args.StandardSave(state(step)), { metrics: { loss }, customMetadata: { note: `step ${step}` } }));
  }
  await manager.waitUntilFinished();
  t.deepEqual(manager.allSteps(), [1, 3]);
  t.is(manager.bestStep(), 1);
  t.deepEqual((await readdir(root)).sort(), ['ckpt_001', 'ckpt_003', 'metadata']);
  t.is(await readFile(join(root, 'metadata', '_ROOT_METADATA'), 'utf8'), '{"internal_metadata": {}, "custom_metadata": {"model": "mlp", "v": 2}}');
  t.is(await readFile(join(root, 'ckpt_003', 'metrics', 'metrics'), 'utf8'), '{"loss": 0.4}');
  const handlers = { default: ocp.handlers.TYPESTRS.standard, metrics: ocp.handlers.TYPESTRS.json };
  await verifyWithOrbax(t, root, {
    kind: 'manager',
    restore: { layout: 'manager', items: { default: 'StandardCheckpointHandler' }, default_item: true },
    manager: {
      options: { step_prefix: 'ckpt', step_format_fixed_length: 3, best_metric: 'loss', best_mode: 'min' },
      all_steps: [1, 3],
      latest_step: 3,
      best_step: 1,
      tmp_dirs: [],
      root_metadata: { custom_metadata: { model: 'mlp', v: 2 } },
    },
    steps: [1, 3].map((step) => ({
      step,
      dir: `ckpt_00${step}`,
      metrics: { loss: losses[step] as number },
      checkpoint_metadata: { item_handlers: handlers, custom_metadata: { note: `step ${step}` }, metrics: {}, has_init_timestamp: true, has_commit_timestamp: true },
      items: { default: { handler: 'StandardCheckpointHandler', dir: 'default', tree: describeTree(state(step)) } },
    })),
  });
  await manager.close();
});

test('save decisions, known steps, mode mismatches, deletion and restore errors follow Orbax', async (t) => {
  const root = await tempDir(t);
  const manager = await ocp.CheckpointManager.open(root, { options: { saveIntervalSteps: 3, enableAsyncCheckpointing: false, todeleteSubdir: 'trash' } });
  for (let step = 0; step < 8; step++) await manager.save(step, new args.StandardSave(state(step)));
  t.deepEqual(manager.allSteps(), [0, 3, 6]);
  t.false(await manager.save(6, new args.StandardSave(state(6))));
  const exists = await t.throwsAsync(manager.save(6, new args.StandardSave(state(6)), { force: true }), { instanceOf: ocp.StepAlreadyExistsError });
  t.is(exists.message, 'Checkpoint for step 6 already exists.');
  t.true(await manager.save(5, new args.StandardSave(state(5)), { force: true }));
  t.deepEqual(manager.allSteps(), [0, 3, 6, 5], 'a forced old step is appended, as in Orbax');
  t.is(manager.latestStep(), 5);
  await manager.reload();
  t.deepEqual(manager.allSteps(), [0, 3, 5, 6]);
  await t.throwsAsync(manager.save(9, new args.Composite({ a: new args.StandardSave(state(9)) })), {
    instanceOf: ocp.InvalidArgumentError,
    message: 'Cannot provide args of type Composite when dealing with a single, unnamed (default) checkpointable object.',
  });
  await manager.delete(3);
  t.deepEqual(await readdir(join(root, 'trash')), ['3']);
  await t.throwsAsync(manager.delete(10), { instanceOf: ocp.NotFoundError, message: 'Requested deleting a non-existent step: 10.' });
  await t.throwsAsync(manager.restore(4), { instanceOf: ocp.NotFoundError, message: `Checkpoint at ${join(root, '4')} not found.` });
  t.deepEqual(describeTree(await manager.restore()), describeTree(state(6)));
  const empty = await ocp.CheckpointManager.open(join(root, 'empty'));
  await t.throwsAsync(empty.restore(), { instanceOf: ocp.NotFoundError, message: `No steps found in ${join(root, 'empty')}.` });
  t.throws(() => new ocp.CheckpointManager(root, { options: { saveIntervalSteps: 0 } }), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => new ocp.CheckpointManager(root).allSteps(), { instanceOf: ocp.InvalidArgumentError });
  await manager.close();
});

test('killing a training process mid-save leaves every committed step restorable and the manager reopens cleanly', async (t) => {
  const root = join(await tempDir(t), 'run');
  const script = join(process.cwd(), 'test', 'fixtures', 'managerTrain.mjs');
  for (const delay of [0, 40, 120]) {
    const reopened = await ocp.CheckpointManager.open(root);
    const start = (reopened.latestStep() ?? -1) + 1;
    const proc = spawn(process.execPath, [script, root, String(start)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    let saved = 0;
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (chunk: Buffer) => {
        saved += (chunk.toString().match(/saved/g) ?? []).length;
        if (saved >= 2) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`the training child exited early (${code})`)));
    });
    await new Promise((resolve) => setTimeout(resolve, delay));
    proc.kill('SIGKILL');
    await exited;
    const manager = await ocp.CheckpointManager.open(root, { options: { cleanupTmpDirectories: true } });
    const steps = manager.allSteps();
    t.true(steps.length >= 1, `delay ${delay}: committed steps ${steps.join(',')}`);
    for (const step of steps) {
      const restored = (await manager.restore(step)) as { w: ocp.NdArray<'float32'>; step: bigint };
      t.is(restored.step, BigInt(step));
      t.true(restored.w.data.every((v) => v === step), `step ${step} is complete`);
    }
    t.false((await readdir(root)).some((n) => n.includes('.orbax-checkpoint-tmp')), 'cleanupTmpDirectories removed the unfinished save');
    await manager.close();
  }
});

/** An async handler whose background write fails: the error must surface later, not in save(). */
class FailingSave extends args.CheckpointArgs {}
class FailingHandler implements ocp.AsyncCheckpointHandler<FailingSave, FailingSave, null, null> {
  static typestr(): string {
    return 'tests.FailingHandler';
  }
  typestr(): string {
    return FailingHandler.typestr();
  }
  async save(): Promise<void> {
    throw new ocp.OrbaxError('disk on fire');
  }
  async asyncSave(): Promise<Array<Promise<void>>> {
    return [new Promise<void>((_, reject) => setTimeout(() => reject(new ocp.OrbaxError('disk on fire')), 20))];
  }
  async restore(): Promise<null> {
    return null;
  }
  async metadata(): Promise<null> {
    return null;
  }
  async finalize(): Promise<void> {}
  async close(): Promise<void> {}
}

test('a failed background save surfaces in waitUntilFinished and the next save, and the step is forgotten', async (t) => {
  const root = await tempDir(t);
  const manager = await ocp.CheckpointManager.open(root, { itemHandlers: new FailingHandler() });
  t.true(await manager.save(0, new FailingSave()), 'save() returns after the blocking phase');
  t.deepEqual(manager.allSteps(), [0]);
  await t.throwsAsync(manager.waitUntilFinished(), { instanceOf: ocp.OrbaxError, message: 'disk on fire' });
  t.deepEqual(manager.allSteps(), [], 'the failed step is dropped');
  t.false((await readdir(root)).includes('0'), 'no committed step on disk');
  await manager.save(1, new FailingSave());
  await new Promise((resolve) => setTimeout(resolve, 100));
  await t.throwsAsync(manager.save(2, new FailingSave()), { message: 'disk on fire' });
  t.notThrows(() => manager.checkForErrors(), 'an error is reported once');
  await manager.close().catch(() => undefined);
});

test('a script that ends with an async save in flight still commits it before Node exits', async (t) => {
  const root = await tempDir(t);
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { stdout } = await promisify(execFile)(process.execPath, [join(process.cwd(), 'test', 'fixtures', 'managerSaveAndExit.mjs'), root]);
  t.regex(stdout, /^returned (while saving|after commit)\n$/);
  const manager = await ocp.CheckpointManager.open(root);
  t.deepEqual(manager.allSteps(), [0]);
  const restored = (await manager.restore(0)) as { w: ocp.NdArray<'float32'> };
  t.true(restored.w.data.every((v) => v === 7));
});
