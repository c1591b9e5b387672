// Saving: round trips through orbax-ts, real Orbax restoring what orbax-ts wrote, sidecar bytes
// equal to Orbax's, atomic commit.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import * as ocp from 'orbax-ts';

import { orbaxFixturesDir } from './helpers/fixtures.js';
import { describeTree, singleItemExpected, verifyWithOrbax } from './helpers/interop.js';

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-save-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function ramp(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (i - n / 3) * scale);
}

/** Arrays of every fixture dtype, scalars, 0-d to 4-D, nesting, a multi-chunk array. */
function matrixTree(withStrings: boolean): Record<string, unknown> {
  const tree: Record<string, unknown> = {
    params: { w: ocp.array(ramp(6, 0.5), [2, 3]), b: ocp.array(ocp.float32ToBfloat16(ramp(3)), [3], 'bfloat16') },
    ints: [
      ocp.array(Int8Array.from([-128, 0, 127])),
      ocp.array(Int16Array.from([-32768, 1, 32767])),
      ocp.array(Int32Array.from([-(2 ** 31), 2, 2 ** 31 - 1])),
      ocp.array(BigInt64Array.from([-(2n ** 63n), 3n, 2n ** 63n - 1n])),
      ocp.array(Uint8Array.from([0, 255]), [2], 'uint8'),
      ocp.array(Uint16Array.from([0, 65535])),
      ocp.array(Uint32Array.from([0, 2 ** 32 - 1])),
      ocp.array(BigUint64Array.from([0n, 2n ** 64n - 1n])),
    ],
    floats: {
      f16: ocp.array(ocp.float32ToFloat16(Float32Array.from([0, -0, 1.5, 65504, Infinity, NaN])), [6], 'float16'),
      f64: ocp.array(Float64Array.from({ length: 16 }, (_, i) => i / 7), [2, 2, 2, 2]),
      zero_d: ocp.array(Float32Array.from([3.25]), []),
      c64: ocp.array(Float32Array.from([1, -1, 0.5, 2]), [2], 'complex64'),
      c128: ocp.array(Float64Array.from([1e-300, -1e300]), [1], 'complex128'),
      e4m3: ocp.array(Uint8Array.from([0x00, 0x7e, 0x7f, 0x80, 0x01]), [5], 'float8_e4m3fn'),
      e5m2: ocp.array(Uint8Array.from([0x7b, 0x7c, 0x01]), [3], 'float8_e5m2'),
      e8m0: ocp.array(Uint8Array.from([0x7f, 0x00, 0xff]), [3], 'float8_e8m0fnu'),
      e4m3fnuz: ocp.array(Uint8Array.from([0x7f, 0x80, 0x01]), [3], 'float8_e4m3fnuz'),
      e5m2fnuz: ocp.array(Uint8Array.from([0x7f, 0x80, 0x81]), [3], 'float8_e5m2fnuz'),
      e4m3b11: ocp.array(Uint8Array.from([0x7f, 0x80, 0x08]), [3], 'float8_e4m3b11fnuz'),
      e3m4: ocp.array(Uint8Array.from([0x6f, 0x7f, 0x10]), [3], 'float8_e3m4'),
      f4: ocp.array(Uint8Array.from([0x7, 0xf, 0x0]), [3], 'float4_e2m1fn'),
    },
    bool: ocp.array(Uint8Array.from([1, 0, 1]), [3], 'bool'),
    int4: ocp.array(Int8Array.from([-8, -1, 0, 7]), [2, 2], 'int4'),
    int2: ocp.array(Int8Array.from([-2, -1, 0, 1]), [4], 'int2'),
    big: ocp.array(ramp(64 * 48, 0.01), [64, 48]),
    step: 7n,
    lr: 0.001,
    flag: true,
    empty: {},
    nothing: null,
    none_list: [],
  };
  if (withStrings) {
    tree.name = 'run-1 ✓';
    tree.notes = ['a', 'b "quoted"\n'];
  }
  return tree;
}

const saveArgs = { big: { chunkByteSize: 1024 } };

const variants: Array<{ name: string; opts: ocp.PyTreeCheckpointerOptions; targetSize?: number }> = [
  { name: 'OCDBT zarr2 (the default)', opts: {} },
  { name: 'OCDBT zarr3', opts: { useZarr3: true } },
  { name: 'OCDBT uncompressed', opts: { useCompression: false } },
  { name: 'OCDBT, many small data files', opts: {}, targetSize: 4096 },
  { name: 'zarr2 directories', opts: { useOcdbt: false } },
  { name: 'zarr3 directories', opts: { useOcdbt: false, useZarr3: true } },
  { name: 'uncompressed directories', opts: { useOcdbt: false, useCompression: false } },
];

for (const variant of variants) {
  test(`PyTree save → restore → real Orbax restore: ${variant.name}`, async (t) => {
    const root = await tempDir(t);
    const dir = join(root, 'ckpt');
    const tree = matrixTree(true);
    const checkpointer = new ocp.PyTreeCheckpointer(variant.opts);
    await checkpointer.save(dir, tree, {
      saveArgs,
      customMetadata: { run: 'r1', n: 1, lr: ocp.jsonFloat(1) },
      ...(variant.targetSize ? { ocdbtTargetDataFileSize: variant.targetSize } : {}),
    });
    const restored = await checkpointer.restore(dir);
    t.deepEqual(describeTree(restored), describeTree(tree));
    const meta = await checkpointer.metadata(dir);
    t.deepEqual(meta.customMetadata, { run: 'r1', n: 1, lr: 1 });
    t.is(meta.itemHandlers, 'orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler');
    const big = (meta.itemMetadata?.tree as Record<string, ocp.ArrayMetadata>).big;
    t.deepEqual(big?.storage.chunkShape, [16, 16], "Orbax's chunk shape for a 1 KiB budget");
    t.is(meta.itemMetadata?.useOcdbt, variant.opts.useOcdbt ?? true);
    await verifyWithOrbax(
      t,
      dir,
      singleItemExpected('PyTreeCheckpointHandler', tree, {
        storage: { use_ocdbt: variant.opts.useOcdbt ?? true, use_zarr3: variant.opts.useZarr3 ?? false },
      }),
    );
  });
}

test('StandardCheckpointer refuses strings like Orbax and saves numeric trees', async (t) => {
  const root = await tempDir(t);
  const checkpointer = new ocp.StandardCheckpointer({ useOcdbt: false });
  const error = await t.throwsAsync(checkpointer.save(join(root, 'bad'), { a: 'text' }), { instanceOf: ocp.InvalidArgumentError });
  t.is(error.message, "Unsupported type: <class 'str'> for key: ('a',).");
  t.deepEqual(await readdir(root), [], 'a refused save writes nothing');
  const tree = matrixTree(false);
  await checkpointer.save(join(root, 'ok'), tree, { saveArgs });
  t.deepEqual(describeTree(await checkpointer.restore(join(root, 'ok'))), describeTree(tree));
  await verifyWithOrbax(t, join(root, 'ok'), singleItemExpected('StandardCheckpointHandler', tree));
});

test('an existing destination needs force; a save never leaves a finished-looking partial checkpoint', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  const checkpointer = new ocp.PyTreeCheckpointer({ useOcdbt: false });
  await checkpointer.save(dir, { a: ocp.array(Float32Array.from([1])) });
  const error = await t.throwsAsync(checkpointer.save(dir, { a: ocp.array(Float32Array.from([2])) }), { instanceOf: ocp.InvalidArgumentError });
  t.is(error.message, `Destination ${dir} already exists.`);
  t.deepEqual([...((await checkpointer.restore(dir)) as { a: ocp.NdArray }).a.data], [1]);
  await checkpointer.save(dir, { a: ocp.array(Float32Array.from([2])) }, { force: true });
  t.deepEqual([...((await checkpointer.restore(dir)) as { a: ocp.NdArray }).a.data], [2]);
  const bad = checkpointer.save(join(root, 'bad'), { a: ocp.array(Float32Array.from([1])), b: Symbol('x') });
  await t.throwsAsync(bad, { instanceOf: ocp.UnsupportedTypeError });
  t.deepEqual((await readdir(root)).sort(), ['ckpt']);
  t.is(await readFile(join(dir, 'commit_success.txt'), 'utf8'), `Checkpoint commit was successful to ${dir}`);
});

test('sidecar files equal the bytes Orbax wrote for the same tree', async (t) => {
  const root = await tempDir(t);
  const fixture = join(orbaxFixturesDir, 'no_ocdbt');
  const tree = await new ocp.PyTreeCheckpointer().restore(fixture);
  const dir = join(root, 'copy');
  // The fixture was written with SaveArgs(chunk_byte_size=2048) for `chunked` (its expected.json says so).
  await new ocp.PyTreeCheckpointer({ useOcdbt: false }).save(dir, tree, { saveArgs: { chunked: { chunkByteSize: 2048 } } });
  // Orbax records jax.Array leaves (with their write shape) where orbax-ts saves host arrays.
  const hostOnly = (text: string) => text.replace(/"value_type": "jax\.Array", "skip_deserialize": false, "write_shape": \[[0-9, ]*\]/g, '"value_type": "np.ndarray", "skip_deserialize": false');
  t.is(await readFile(join(dir, '_METADATA'), 'utf8'), hostOnly(await readFile(join(fixture, '_METADATA'), 'utf8')));
  t.is(await readFile(join(dir, '_strings.json'), 'utf8'), await readFile(join(fixture, '_strings.json'), 'utf8'));
  const reader = await ocp.openCheckpoint(fixture);
  for (const leaf of reader.leaves()) {
    if (leaf.metadata?.kind !== 'array' && leaf.metadata?.kind !== 'scalar') continue;
    const key = join(...leaf.param.split('/'), '.zarray');
    t.is(await readFile(join(dir, key), 'utf8'), await readFile(join(fixture, key), 'utf8'), key);
  }
  const step = await readFile(join(dir, '_CHECKPOINT_METADATA'), 'utf8');
  t.regex(step, /^\{"item_handlers": "orbax\.checkpoint\._src\.handlers\.pytree_checkpoint_handler\.PyTreeCheckpointHandler", "metrics": \{\}, "performance_metrics": \{\}, "init_timestamp_nsecs": \d{19}, "commit_timestamp_nsecs": \d{19}, "custom_metadata": \{\}\}$/);
});

test('colliding param names and zero-size arrays are refused before anything is written', async (t) => {
  const root = await tempDir(t);
  const checkpointer = new ocp.PyTreeCheckpointer({ useOcdbt: false });
  const collide = await t.throwsAsync(checkpointer.save(join(root, 'c'), { 'a.b': 1, a: { b: 2 } }), { instanceOf: ocp.InvalidArgumentError });
  t.regex(collide.message, /both map to the param name "a\.b"/);
  await t.throwsAsync(checkpointer.save(join(root, 'z'), { a: ocp.array(new Float32Array(0), [0, 3]) }), { instanceOf: ocp.InvalidArgumentError });
  t.deepEqual(await readdir(root), []);
});

test('saveArgs casts before writing', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  await new ocp.PyTreeCheckpointer({ useOcdbt: false }).save(dir, { w: ocp.array(Float32Array.from([1.5, -2])) }, { saveArgs: { w: { dtype: 'bfloat16' } } });
  const restored = (await new ocp.PyTreeCheckpointer().restore(dir)) as { w: ocp.NdArray };
  t.is(restored.w.dtype, 'bfloat16');
  t.deepEqual([...ocp.bfloat16ToFloat32(restored.w.data as Uint16Array)], [1.5, -2]);
  await t.throwsAsync(new ocp.PyTreeCheckpointer({ useOcdbt: false }).save(join(root, 'x'), { w: 1 }, { saveArgs: { w: { dtype: 'f32' } } }), {
    instanceOf: ocp.InvalidArgumentError,
  });
  void writeFile;
  void cp;
});

test('StandardCheckpointer saves asynchronously: inputs are captured, errors surface later', async (t) => {
  const root = await tempDir(t);
  const checkpointer = new ocp.StandardCheckpointer({ useOcdbt: false });
  const data = Float32Array.from({ length: 1 << 16 }, (_, i) => i);
  await checkpointer.save(join(root, 'a'), { w: ocp.array(data) });
  data.fill(-1); // allowed as soon as save() resolved
  await checkpointer.waitUntilFinished();
  t.false(checkpointer.isSavingInProgress());
  const restored = (await checkpointer.restore(join(root, 'a'))) as { w: ocp.NdArray<'float32'> };
  t.is(restored.w.data[12345], 12345);

  const existing = await t.throwsAsync(checkpointer.save(join(root, 'a'), { w: ocp.array(data) }), { instanceOf: ocp.InvalidArgumentError });
  t.is(existing.message, `Destination ${join(root, 'a')} already exists.`);

  await writeFile(join(root, 'file'), 'not a directory');
  await checkpointer.save(join(root, 'file', 'ckpt'), { w: ocp.array(data) });
  const failed = await t.throwsAsync(checkpointer.waitUntilFinished(), { instanceOf: ocp.OrbaxError });
  t.regex(failed.message, /file/);
  await t.notThrowsAsync(checkpointer.waitUntilFinished(), 'an error is reported once');

  await checkpointer.save(join(root, 'file', 'again'), { w: ocp.array(data) });
  await new Promise((r) => setTimeout(r, 200));
  const next = await t.throwsAsync(checkpointer.save(join(root, 'b'), { w: ocp.array(data) }), { instanceOf: ocp.OrbaxError });
  t.regex(next.message, /file/, 'the next save reports the previous background failure');
  await checkpointer.close();
});

// Fixture trees re-saved by orbax-ts with the options Orbax used must pass the fixture's own
// expected.json, layout included (kvstore keys, zarr metadata bytes, chunk shapes, storage).
const resaves: Array<{ name: string; opts: ocp.PyTreeCheckpointerOptions; save: ocp.PyTreeSaveOptions }> = [
  { name: 'no_compression', opts: { useCompression: false }, save: { saveArgs: { chunked: { chunkByteSize: 512 } } } },
  { name: 'no_compression_zarr3', opts: { useCompression: false, useZarr3: true }, save: { saveArgs: { chunked: { chunkByteSize: 512 } } } },
  { name: 'ocdbt_multifile', opts: {}, save: { ocdbtTargetDataFileSize: 8192 } },
];
for (const resave of resaves) {
  test(`re-saving the ${resave.name} fixture passes its expected.json with the exact layout`, async (t) => {
    const root = await tempDir(t);
    const dir = join(root, resave.name);
    const tree = await new ocp.PyTreeCheckpointer().restore(join(orbaxFixturesDir, resave.name));
    await new ocp.PyTreeCheckpointer(resave.opts).save(dir, tree, resave.save);
    const expected = JSON.parse(await readFile(join(orbaxFixturesDir, resave.name, 'expected.json'), 'utf8')) as Record<string, import('./helpers/fixtures.js').Json>;
    await verifyWithOrbax(t, dir, expected);
  });
}

test('saveConcurrentGb and restoreConcurrentGb bound the bytes in flight without changing results', async (t) => {
  const root = await tempDir(t);
  const tree = matrixTree(true);
  const tight = new ocp.PyTreeCheckpointer({ saveConcurrentGb: 2 ** -20, restoreConcurrentGb: 2 ** -20 });
  await tight.save(join(root, 'a'), tree, { saveArgs });
  t.deepEqual(describeTree(await tight.restore(join(root, 'a'))), describeTree(tree));
  t.throws(() => new ocp.PyTreeCheckpointer({ saveConcurrentGb: -1 }), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => new ocp.StandardCheckpointer({ restoreConcurrentGb: 0 }), { instanceOf: ocp.InvalidArgumentError });
});
