// Browsing checkpoints in S3-compatible object storage (a real moto server on 127.0.0.1): the
// same leaves and bytes as locally; an object-store checkpoint counts only once committed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import * as ocp from 'orbax-ts';

import { orbaxFixturesDir } from './helpers/fixtures.js';
import { startMoto } from './helpers/moto.js';

test('checkpoints in S3 open and read like local ones; uncommitted or missing ones are refused', async (t) => {
  const moto = await startMoto(['ckpts']);
  if (moto === null) {
    t.log('Python reference missing (.venv-ref); skipped the S3 test');
    t.pass();
    return;
  }
  t.teardown(() => moto.stop());
  const root = await mkdtemp(join(tmpdir(), 'orbax-ts-s3-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const local = join(root, 'run');
  const tree = { w: ocp.array(Float32Array.from({ length: 4096 }, (_, i) => i), [64, 64]), name: 'remote', step: 5n };
  await new ocp.PyTreeCheckpointer().save(local, tree, { saveArgs: { w: { chunkByteSize: 4096 } } });
  await moto.upload(local, 'ckpts', 'runs/a');
  await moto.upload(join(orbaxFixturesDir, 'zarr3'), 'ckpts', 'fixtures/zarr3');
  await moto.upload(local, 'ckpts', 'runs/unfinished', ['commit_success.txt']);

  const opts = { storageOptions: moto.storageOptions };
  const remote = await ocp.openCheckpoint('s3://ckpts/runs/a', opts);
  const near = await ocp.openCheckpoint(local);
  t.deepEqual(remote.leaves().map((l) => l.param), near.leaves().map((l) => l.param));
  const slice = await remote.readArray('w', { slice: [[10, 12], [0, 64]] });
  t.deepEqual([...slice.data.slice(0, 3)], [640, 641, 642]);
  t.deepEqual(await remote.readArray('w'), await near.readArray('w'));

  const fixture = await ocp.openCheckpoint('s3://ckpts/fixtures/zarr3', opts);
  const fixtureLocal = await ocp.openCheckpoint(join(orbaxFixturesDir, 'zarr3'));
  const params = fixtureLocal.leaves().filter((l) => l.metadata && l.metadata.kind !== 'string').map((l) => l.param);
  t.deepEqual(await fixture.readArrays(params.map((path) => ({ path }))), await fixtureLocal.readArrays(params.map((path) => ({ path }))));

  await t.throwsAsync(ocp.openCheckpoint('s3://ckpts/runs/unfinished', opts), {
    instanceOf: ocp.InvalidArgumentError,
    message: 'Found incomplete checkpoint at s3://ckpts/runs/unfinished.',
  });
  await t.throwsAsync(ocp.openCheckpoint('s3://ckpts/runs/nope', opts), { instanceOf: ocp.NotFoundError, message: 'Checkpoint at s3://ckpts/runs/nope not found.' });
  const badOption = await t.throwsAsync(ocp.openCheckpoint('s3://ckpts/runs/a', { storageOptions: { aws_acess_key: 'x' } }), { instanceOf: ocp.OrbaxError });
  t.is(badOption.code, 'ERR_STORE_INVALID_OPTION');
});

test('a CheckpointManager root written by Python Orbax, uploaded to S3, lists and restores as it does locally', async (t) => {
  const moto = await startMoto(['pyroots']);
  if (moto === null) return t.pass('no Python reference venv');
  t.teardown(() => moto.stop());
  const fixture = join(orbaxFixturesDir, 'manager');
  await moto.upload(fixture, 'pyroots', 'manager', ['expected.json']);
  const options = { options: { bestFn: (m: Record<string, unknown>) => m.loss as number, bestMode: 'min' as const } };
  const remote = await ocp.CheckpointManager.open('s3://pyroots/manager', { ...options, storageOptions: moto.storageOptions });
  const local = await ocp.CheckpointManager.open(fixture, options);
  // The unfinished 10.orbax-checkpoint-tmp is not a step there either.
  t.deepEqual(remote.allSteps(), [2, 6, 8]);
  t.deepEqual(remote.allSteps(), local.allSteps());
  t.is(remote.bestStep(), 2);
  t.deepEqual(await remote.restore(8), await local.restore(8));
  t.deepEqual(await remote.metadata(8).then((m) => m.metrics), await local.metadata(8).then((m) => m.metrics));
  await remote.close();
  await local.close();
});
