// Lazy browsing: leaf metadata, single leaves, slices, reads into caller memory, casts.
import { cp, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import * as ocp from 'orbax-ts';

import { orbaxFixturesDir, sha256, storageBytes } from './helpers/fixtures.js';

const multichunk = join(orbaxFixturesDir, 'multichunk');
const standardBasic = join(orbaxFixturesDir, 'standard_basic');

function sliceC(full: ocp.NdArray<'float32'>, region: Array<[number, number]>): number[] {
  const [rows, cols] = full.shape as [number, number];
  const out: number[] = [];
  const [r, c] = region as [[number, number], [number, number]];
  for (let i = r[0]; i < r[1]; i++) for (let j = c[0]; j < c[1]; j++) out.push(full.data[i * cols + j] as number);
  t_assert(rows > 0);
  return out;
}
function t_assert(ok: boolean): void {
  if (!ok) throw new Error('assertion');
}

test('leaves() lists paths, value types and metadata without reading data', async (t) => {
  const reader = await ocp.openCheckpoint(standardBasic);
  const params = reader.leaves().map((l) => l.param);
  t.deepEqual(params, [...params].sort());
  const mat = reader.leaf(['mat']);
  t.is(mat.metadata?.kind, 'array');
  if (mat.metadata?.kind === 'array') {
    t.deepEqual(mat.metadata.shape, [5, 6]);
    t.is(mat.metadata.dtype, 'float32');
    t.is(mat.metadata.storage.zarrMetadata.compression, 'zstd:1');
  }
  t.throws(() => reader.leaf('nope'), { instanceOf: ocp.KeyNotFoundError });
});

test('a slice equals the same region of the whole array, and readArrayInto fills caller memory', async (t) => {
  const reader = await ocp.openCheckpoint(multichunk);
  const leaf = reader.leaves().find((l) => l.metadata?.kind === 'array' && l.metadata.dtype === 'float32' && l.metadata.shape.length === 2 && l.metadata.storage.chunkShape[0]! < l.metadata.shape[0]!);
  t.truthy(leaf, 'multichunk has a chunked 2-D float32 array');
  const full = (await reader.readArray(leaf!.path)) as ocp.NdArray<'float32'>;
  const [rows, cols] = full.shape as [number, number];
  const region: Array<[number, number]> = [[Math.floor(rows / 3), Math.floor(rows / 3) + 7], [cols - 5, cols]];
  const part = (await reader.readArray(leaf!.path, { slice: region })) as ocp.NdArray<'float32'>;
  t.deepEqual(part.shape, [7, 5]);
  t.deepEqual([...part.data], sliceC(full, region));

  const target = new Float32Array(35);
  const view = await reader.readArrayInto(leaf!.path, target, { slice: region });
  t.is(view.data, target);
  t.deepEqual([...target], sliceC(full, region));

  const wrong = await t.throwsAsync(reader.readArrayInto(leaf!.path, new Float32Array(34), { slice: region }), { instanceOf: ocp.InvalidArgumentError });
  t.regex(wrong.message, /must be a typed array of 140 bytes/);
  await t.throwsAsync(reader.readArray(leaf!.path, { slice: [[0, rows + 1]] }), { instanceOf: ocp.InvalidArgumentError });
});

test('reading with a dtype casts in the core', async (t) => {
  const reader = await ocp.openCheckpoint(standardBasic);
  const f32 = (await reader.readArray('mat')) as ocp.NdArray<'float32'>;
  const f64 = await reader.readArray('mat', { dtype: 'float64' });
  t.is(f64.dtype, 'float64');
  t.deepEqual([...f64.data], [...f32.data]);
  const bf = await reader.readArray('mat', { dtype: 'bfloat16' });
  t.deepEqual([...bf.data], [...ocp.float32ToBfloat16(f32.data)]);
});

test('StandardCheckpointer restores into a target: casts, ShapeDtypeStruct leaves, and names missing paths', async (t) => {
  const checkpointer = new ocp.StandardCheckpointer();
  const restored = (await checkpointer.restore(standardBasic, {
    mat: new ocp.ShapeDtypeStruct([5, 6], 'float64'),
    ids: ocp.array(new BigInt64Array(10)),
  })) as Record<string, ocp.NdArray>;
  t.deepEqual(Object.keys(restored).sort(), ['ids', 'mat']);
  t.is(restored.mat?.dtype, 'float64');
  t.is(restored.ids?.dtype, 'int64');
  const plain = (await checkpointer.restore(standardBasic)) as Record<string, ocp.NdArray>;
  t.deepEqual([...(restored.ids?.data ?? [])].map(Number), [...(plain.ids?.data ?? [])].map(Number));
  const error = await t.throwsAsync(checkpointer.restore(standardBasic, { zzz: new ocp.ShapeDtypeStruct([1], 'float32') }), {
    instanceOf: ocp.InvalidArgumentError,
  });
  t.is(error.message, `Structure mismatch: Target path ('zzz',) not found in metadata_tree of the checkpoint at ${standardBasic}.`);
});

test('PyTree restore with an item requires the same structure unless partialRestore', async (t) => {
  const checkpointer = new ocp.PyTreeCheckpointer();
  const error = await t.throwsAsync(checkpointer.restore(standardBasic, { item: { mat: new ocp.ShapeDtypeStruct([5, 6], 'float32') } }), {
    instanceOf: ocp.InvalidArgumentError,
  });
  t.regex(error.message, /^User-provided restore item and on-disk value metadata tree structures do not match/);
  const partial = (await checkpointer.restore(standardBasic, { item: { mat: new ocp.ShapeDtypeStruct([5, 6], 'float32') }, partialRestore: true })) as Record<string, unknown>;
  t.deepEqual(Object.keys(partial), ['mat']);
});

test('integer scalars restore as bigint, or as number on request', async (t) => {
  const dir = join(orbaxFixturesDir, 'pytree_strings');
  const asBig = (await new ocp.PyTreeCheckpointer().restore(dir)) as Record<string, unknown>;
  t.is(asBig.big, 4611686018427387904n);
  t.is(asBig.count, 66n);
  const asNumber = new ocp.PyTreeCheckpointer().restore(dir, { intScalars: 'number' });
  const error = await t.throwsAsync(asNumber, { instanceOf: ocp.InvalidArgumentError });
  t.regex(error.message, /big = 4611686018427387904 does not fit a JS number exactly/);
});

test('paths that are not checkpoints fail with Orbax messages', async (t) => {
  const missing = join(tmpdir(), 'orbax-ts-does-not-exist');
  const notFound = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(missing), { instanceOf: ocp.NotFoundError });
  t.is(notFound.message, `Checkpoint at ${missing} not found.`);
  const tmp = await mkdtemp(join(tmpdir(), 'orbax-ts-'));
  try {
    const noMeta = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(tmp), { instanceOf: ocp.NotFoundError });
    t.is(noMeta.message, `Metadata file (named _METADATA) does not exist at ${tmp}.`);
    const incomplete = join(tmp, '3.orbax-checkpoint-tmp');
    await cp(standardBasic, incomplete, { recursive: true });
    const err = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(incomplete), { instanceOf: ocp.InvalidArgumentError });
    t.is(err.message, `Found incomplete checkpoint at ${incomplete}.`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

async function copyFixture(name: string): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'orbax-ts-corrupt-'));
  const dir = join(root, name);
  await cp(join(orbaxFixturesDir, name), dir, { recursive: true });
  return { root, dir };
}

test('a flipped bit in the root manifest is a CorruptCheckpointError naming the file', async (t) => {
  const { root, dir } = await copyFixture('standard_basic');
  try {
    const manifest = join(dir, 'manifest.ocdbt');
    const bytes = await readFile(manifest);
    bytes[20] = (bytes[20] as number) ^ 0x10;
    await writeFile(manifest, bytes);
    const error = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(dir), { instanceOf: ocp.CorruptCheckpointError });
    t.is(error.code, 'ERR_OCDBT_CHECKSUM');
    t.true(error.message.includes(manifest), error.message);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a truncated data file is reported, never a crash or a wrong value', async (t) => {
  const { root, dir } = await copyFixture('multichunk');
  try {
    const dataDir = join(dir, 'ocdbt.process_0', 'd');
    for (const name of await readdir(dataDir)) await truncate(join(dataDir, name), 100);
    const error = await t.throwsAsync(new ocp.PyTreeCheckpointer().restore(dir));
    t.true(error instanceof ocp.CorruptCheckpointError, `${error?.constructor.name}: ${error?.message}`);
    t.true(['ERR_OCDBT_TRUNCATED', 'ERR_TRUNCATED', 'ERR_OCDBT_CHECKSUM', 'ERR_OCDBT_CORRUPT'].includes((error as ocp.OrbaxError).code), (error as ocp.OrbaxError).code);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the bytes of a restored leaf hash like the fixture', async (t) => {
  const reader = await ocp.openCheckpoint(standardBasic);
  const ids = await reader.readArray('ids');
  t.is(sha256(storageBytes(ids)), 'aa36624377c8ea44b2a80a7a313e0fe6bdacff42fe26762599141ad1d6d03f0c');
});
