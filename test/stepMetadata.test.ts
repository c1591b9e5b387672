// Step metadata (_CHECKPOINT_METADATA) and damaged array metadata, against the fixtures.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import * as ocp from 'orbax-ts';

import { type JsonObject, loadExpected, orbaxFixturesDir } from './helpers/fixtures.js';

for (const name of ['standard_basic', 'custom_metadata', 'pytree_strings', 'dtypes', 'zarr3']) {
  test(`metadata() of ${name} has Orbax's step metadata`, async (t) => {
    const expected = loadExpected(name).checkpoint_metadata as JsonObject;
    const meta = await new ocp.PyTreeCheckpointer().metadata(join(orbaxFixturesDir, name));
    t.deepEqual(meta.itemHandlers, expected.item_handlers as unknown);
    t.deepEqual(meta.customMetadata, expected.custom_metadata as unknown);
    t.deepEqual(meta.metrics, expected.metrics as unknown);
    t.is(typeof meta.initTimestampNsecs, expected.has_init_timestamp ? 'bigint' : 'object');
    t.is(typeof meta.commitTimestampNsecs, expected.has_commit_timestamp ? 'bigint' : 'object');
    t.true((meta.commitTimestampNsecs as bigint) >= (meta.initTimestampNsecs as bigint));
  });
}

test('the custom_metadata fixture exposes both custom metadata levels exactly', async (t) => {
  const dir = join(orbaxFixturesDir, 'custom_metadata');
  const meta = await new ocp.StandardCheckpointer().metadata(dir);
  const raw = JSON.parse(await readFile(join(dir, '_CHECKPOINT_METADATA'), 'utf8')) as { custom_metadata: unknown; init_timestamp_nsecs: number };
  t.deepEqual(meta.customMetadata, raw.custom_metadata);
  const text = await readFile(join(dir, '_CHECKPOINT_METADATA'), 'utf8');
  const initDigits = /"init_timestamp_nsecs": (\d+)/.exec(text)?.[1];
  t.is(meta.initTimestampNsecs, BigInt(initDigits as string), 'nanosecond timestamps keep every digit');
  const expected = loadExpected('custom_metadata').items as JsonObject;
  t.deepEqual(meta.itemMetadata?.customMetadata, (expected.item as JsonObject).custom_metadata as unknown);
});

test('an unknown dtype in .zarray is an UnsupportedFormatError naming the file', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'orbax-ts-dtype-'));
  try {
    const dir = join(root, 'ckpt');
    await cp(join(orbaxFixturesDir, 'no_ocdbt'), dir, { recursive: true });
    const reader = await ocp.openCheckpoint(dir);
    const leaf = reader.leaves().find((l) => l.metadata?.kind === 'array');
    const zarray = join(dir, ...leaf!.param.split('/'), '.zarray');
    const text = await readFile(zarray, 'utf8');
    await writeFile(zarray, text.replace(/"dtype":"[^"]+"/, '"dtype":"<u3"'));
    const error = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(dir), { instanceOf: ocp.UnsupportedFormatError });
    t.is(error.code, 'ERR_ZARR_UNSUPPORTED_DTYPE');
    t.true(error.message.includes(zarray), error.message);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a missing chunk is a CorruptCheckpointError, not zeros', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'orbax-ts-chunk-'));
  try {
    const dir = join(root, 'ckpt');
    await cp(join(orbaxFixturesDir, 'no_ocdbt'), dir, { recursive: true });
    const reader = await ocp.openCheckpoint(dir);
    const leaf = reader.leaves().find((l) => l.metadata?.kind === 'array' && l.metadata.shape.length === 1);
    await rm(join(dir, ...leaf!.param.split('/'), '0'));
    const error = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(dir), { instanceOf: ocp.CorruptCheckpointError });
    t.is(error.code, 'ERR_ZARR_MISSING_CHUNK');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
