// Tensor adapters for @tensorflow/tfjs and onnxruntime-node: dtype mapping, copies, trees, and
// round trips through a PyTreeCheckpointer. The real packages are optional: they are looked up
// from this package and from $ORBAX_TS_ADAPTER_DEPS (a directory with their node_modules); tests
// that need them are skipped with a log line when absent, and fail under CI.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import TfjsAdapter = ocp.adapters;
import OnnxAdapter = ocp.adapters;

const tfa = ocp.adapters;
const onnxa = ocp.adapters;

// ---------------------------------------------------------------- optional packages

interface TfjsTensor extends TfjsAdapter.TfjsTensorLike {
  dataSync(): ArrayLike<number>;
  readonly isDisposed: boolean;
}
interface Tfjs extends TfjsAdapter.TfjsModuleLike<TfjsTensor> {
  tensor(values: unknown, shape?: number[], dtype?: string): TfjsTensor;
  complex(real: TfjsTensor, imag: TfjsTensor): TfjsTensor;
  scalar(value: number, dtype?: string): TfjsTensor;
  env(): { set(flag: string, value: boolean): void };
}
interface OrtTensor extends OnnxAdapter.OnnxTensorLike {
  readonly data: ArrayBufferView | string[];
}
interface Ort {
  Tensor: new (type: string, data: unknown, dims?: readonly number[]) => OrtTensor;
}

function loadOptional<T>(name: string): T | null {
  const bases = [import.meta.url, ...(process.env.ORBAX_TS_ADAPTER_DEPS ? [join(process.env.ORBAX_TS_ADAPTER_DEPS, 'package.json')] : [])];
  for (const base of bases) {
    try {
      const require = createRequire(base);
      return require(name) as T;
    } catch {
      // try the next location
    }
  }
  if (process.env.CI) throw new Error(`${name} is required under CI (install it as a devDependency)`);
  return null;
}

const tf = loadOptional<Tfjs>('@tensorflow/tfjs');
// Production mode silences tfjs' "install tfjs-node" greeting on first use.
tf?.env().set('PROD', true);
const ort = loadOptional<Ort>('onnxruntime-node');

function needTf(t: ExecutionContext): Tfjs | null {
  if (tf === null) t.log('SKIPPED: @tensorflow/tfjs not installed (set ORBAX_TS_ADAPTER_DEPS)');
  return tf;
}

function needOrt(t: ExecutionContext): Ort | null {
  if (ort === null) t.log('SKIPPED: onnxruntime-node not installed (set ORBAX_TS_ADAPTER_DEPS)');
  return ort;
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-adapters-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function plain(arr: ocp.NdArray): { dtype: string; shape: number[]; data: unknown[] } {
  return { dtype: arr.dtype, shape: [...arr.shape], data: Array.from(arr.data as ArrayLike<unknown>) };
}

// ---------------------------------------------------------------- tfjs

test('tfjs: float32, int32, bool and complex64 tensors become NdArrays of the same dtype', async (t) => {
  const tfm = needTf(t);
  if (!tfm) return t.pass();
  const cases: Array<[TfjsTensor, ReturnType<typeof plain>]> = [
    [tfm.tensor([[1.5, -2], [3, 4]], [2, 2], 'float32'), { dtype: 'float32', shape: [2, 2], data: [1.5, -2, 3, 4] }],
    [tfm.tensor([7, -8, 2147483647], [3], 'int32'), { dtype: 'int32', shape: [3], data: [7, -8, 2147483647] }],
    [tfm.tensor([true, false, true], [3], 'bool'), { dtype: 'bool', shape: [3], data: [1, 0, 1] }],
    [tfm.complex(tfm.tensor([1, 2], [2]), tfm.tensor([3, 4], [2])), { dtype: 'complex64', shape: [2], data: [1, 3, 2, 4] }],
    [tfm.scalar(2.5), { dtype: 'float32', shape: [], data: [2.5] }],
  ];
  for (const [tensor, expected] of cases) {
    t.deepEqual(plain(await tfa.fromTfjs(tensor)), expected);
  }
});

test('tfjs: NdArrays become tfjs tensors of the same dtype and values', async (t) => {
  const tfm = needTf(t);
  if (!tfm) return t.pass();
  const f32 = tfa.toTfjs(ocp.array(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), tfm);
  t.is(f32.dtype, 'float32');
  t.deepEqual([...f32.shape], [2, 3]);
  t.deepEqual(Array.from(await f32.data() as Float32Array), [1, 2, 3, 4, 5, 6]);
  const bools = tfa.toTfjs(ocp.array(Uint8Array.from([0, 1, 2]), [3], 'bool'), tfm);
  t.is(bools.dtype, 'bool');
  t.deepEqual(Array.from(await bools.data() as Uint8Array), [0, 1, 1]);
  const parts: TfjsTensor[] = [];
  const recording: TfjsAdapter.TfjsModuleLike<TfjsTensor> = {
    tensor: (values, shape, dtype) => {
      const part = tfm.tensor(values, shape, dtype);
      parts.push(part);
      return part;
    },
    complex: (real, imag) => tfm.complex(real, imag),
  };
  const complex = tfa.toTfjs(ocp.array(Float32Array.from([1, -1, 2, -2]), [2], 'complex64'), recording);
  t.is(complex.dtype, 'complex64');
  t.deepEqual(Array.from(await complex.data() as Float32Array), [1, -1, 2, -2]);
  // The real and imaginary parts were disposed; the complex tensor keeps its values.
  t.deepEqual(parts.map((p) => p.isDisposed), [true, true]);
  t.false(complex.isDisposed);
  const scalar = tfa.toTfjs(ocp.array(Int32Array.from([9]), []), tfm);
  t.deepEqual([...scalar.shape], []);
});

test('tfjs: data is copied both ways', async (t) => {
  const tfm = needTf(t);
  if (!tfm) return t.pass();
  const source = Float32Array.from([1, 2]);
  const tensor = tfa.toTfjs(ocp.array(source), tfm);
  source[0] = 99;
  t.deepEqual(Array.from(await tensor.data() as Float32Array), [1, 2]);
  const arr = await tfa.fromTfjs(tensor);
  (arr.data as Float32Array)[1] = 42;
  t.deepEqual(Array.from(await tensor.data() as Float32Array), [1, 2]);
});

test('tfjs: unsupported dtypes are a TypeError naming the dtype', async (t) => {
  const fakeTf: TfjsAdapter.TfjsModuleLike = {
    tensor: () => {
      throw new Error('not called');
    },
    complex: () => {
      throw new Error('not called');
    },
  };
  for (const arr of [ocp.array(Float64Array.from([1])), ocp.array(BigInt64Array.from([1n])), ocp.array(Uint16Array.from([0]), [1], 'bfloat16')]) {
    const error = t.throws(() => tfa.toTfjs(arr, fakeTf), { instanceOf: ocp.UnsupportedTypeError });
    t.is(
      error?.message,
      `tfjs has no ${arr.dtype} dtype (it has float32, int32, bool and complex64); cast the array first, e.g. astype(arr, 'float32').`,
    );
  }
  const stringTensor: TfjsAdapter.TfjsTensorLike = { dtype: 'string', shape: [1], data: async () => ['a'], dispose: () => {} };
  await t.throwsAsync(tfa.fromTfjs(stringTensor), {
    instanceOf: ocp.UnsupportedTypeError,
    message: 'tfjs dtype string has no NdArray equivalent (supported: float32, int32, bool, complex64).',
  });
  const tfm = tf;
  if (tfm) {
    await t.throwsAsync(tfa.fromTfjs(tfm.tensor(['a', 'b'])), { instanceOf: ocp.UnsupportedTypeError });
  }
});

test('tfjs trees: tensors are converted, other leaves and the structure kept', async (t) => {
  const tfm = needTf(t);
  if (!tfm) return t.pass();
  const w = tfm.tensor([1, 2, 3, 4], [2, 2], 'float32');
  const tree = { params: { w, b: tfm.tensor([0], [1], 'int32') }, step: 3, names: ['x', null], same: [w, w] };
  const converted = (await tfa.fromTfjsTree(tree)) as Record<string, unknown>;
  t.deepEqual(plain((converted.params as Record<string, ocp.NdArray>).w as ocp.NdArray), { dtype: 'float32', shape: [2, 2], data: [1, 2, 3, 4] });
  t.is(converted.step, 3);
  t.deepEqual(converted.names, ['x', null]);
  const same = converted.same as ocp.NdArray[];
  t.true(ocp.isNdArray(same[0]));
  t.is(same[0], same[1]);
  const back = tfa.toTfjsTree(converted, tfm) as Record<string, unknown>;
  t.true(tfa.isTfjsTensor((back.params as Record<string, unknown>).w));
  t.is(back.step, 3);
  t.false(tfa.isTfjsTensor(ocp.array(Float32Array.from([1]))));
});

test('tfjs round trip through a PyTreeCheckpointer keeps dtypes and values', async (t) => {
  const tfm = needTf(t);
  if (!tfm) return t.pass();
  const dir = join(await tempDir(t), 'ckpt');
  const tree = {
    dense: { kernel: tfm.tensor([0.5, -1.25, 3, 4, 5, 6], [2, 3], 'float32'), bias: tfm.tensor([1, 2, 3], [3], 'float32') },
    counts: tfm.tensor([-5, 0, 7], [3], 'int32'),
    mask: tfm.tensor([true, false], [2], 'bool'),
    phase: tfm.complex(tfm.tensor([1, 0], [2]), tfm.tensor([0, -1], [2])),
  };
  await new ocp.PyTreeCheckpointer().save(dir, await tfa.fromTfjsTree(tree));
  const restored = tfa.toTfjsTree(await new ocp.PyTreeCheckpointer().restore(dir), tfm) as typeof tree;
  const compare = async (a: TfjsTensor, b: TfjsTensor) => {
    t.is(b.dtype, a.dtype);
    t.deepEqual([...b.shape], [...a.shape]);
    t.deepEqual(Array.from((await b.data()) as ArrayLike<number>), Array.from((await a.data()) as ArrayLike<number>));
  };
  await compare(tree.dense.kernel, restored.dense.kernel);
  await compare(tree.dense.bias, restored.dense.bias);
  await compare(tree.counts, restored.counts);
  await compare(tree.mask, restored.mask);
  await compare(tree.phase, restored.phase);
});

// ---------------------------------------------------------------- onnxruntime

const onnxSamples: Array<[OnnxAdapter.OnnxDType, ArrayBufferView]> = [
  ['float32', Float32Array.from([1.5, -2, 3, 4])],
  ['float64', Float64Array.from([1e300, -2, 3, 4])],
  ['float16', Uint16Array.from([0x3c00, 0xc000, 0x7c00, 0x0001])],
  ['int8', Int8Array.from([-128, 0, 1, 127])],
  ['int16', Int16Array.from([-32768, 0, 1, 32767])],
  ['int32', Int32Array.from([-2147483648, 0, 1, 2147483647])],
  ['int64', BigInt64Array.from([-(2n ** 63n), 0n, 1n, 2n ** 62n + 1n])],
  ['uint8', Uint8Array.from([0, 1, 2, 255])],
  ['uint16', Uint16Array.from([0, 1, 2, 65535])],
  ['uint32', Uint32Array.from([0, 1, 2, 4294967295])],
  ['uint64', BigUint64Array.from([0n, 1n, 2n, 2n ** 64n - 1n])],
  ['bool', Uint8Array.from([1, 0, 0, 1])],
];

test('onnx: every supported tensor type becomes an NdArray of the same dtype, bits and shape', async (t) => {
  const ortm = needOrt(t);
  if (!ortm) return t.pass();
  for (const [type, data] of onnxSamples) {
    const arr = await onnxa.fromOnnx(new ortm.Tensor(type, data, [2, 2]));
    t.is(arr.dtype, type);
    t.deepEqual([...arr.shape], [2, 2]);
    t.deepEqual(Array.from(arr.data as ArrayLike<unknown>), Array.from(data as unknown as ArrayLike<unknown>), type);
  }
});

test('onnx: NdArrays become onnxruntime tensors with the same type and data (copied)', async (t) => {
  const ortm = needOrt(t);
  if (!ortm) return t.pass();
  for (const [type, data] of onnxSamples) {
    const source = (data as unknown as { slice(): ocp.AnyTypedArray }).slice();
    const tensor = onnxa.toOnnx(ocp.array(source, [4], type), ortm);
    t.is(tensor.type, type);
    t.deepEqual([...tensor.dims], [4]);
    t.not(tensor.data, source);
    const bits = type === 'float16' ? new Uint16Array((tensor.data as ArrayBufferView).buffer, (tensor.data as ArrayBufferView).byteOffset, 4) : tensor.data;
    t.deepEqual(Array.from(bits as ArrayLike<unknown>), Array.from(data as unknown as ArrayLike<unknown>), type);
  }
});

test('onnx: unsupported types are a TypeError naming the type', async (t) => {
  const supported = 'float32, float64, float16, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool';
  const fakeOrt: OnnxAdapter.OnnxRuntimeLike = {
    Tensor: class {
      constructor() {
        throw new Error('not called');
      }
    } as unknown as OnnxAdapter.OnnxRuntimeLike['Tensor'],
  };
  for (const arr of [
    ocp.array(Uint16Array.from([0]), [1], 'bfloat16'),
    ocp.array(Float32Array.from([1, 0]), [1], 'complex64'),
    ocp.array(Uint8Array.from([0]), [1], 'float8_e4m3fn'),
    ocp.array(Int8Array.from([1]), [1], 'int4'),
  ]) {
    const error = t.throws(() => onnxa.toOnnx(arr, fakeOrt), { instanceOf: ocp.UnsupportedTypeError });
    t.is(error?.message, `onnxruntime has no ${arr.dtype} tensor type (supported: ${supported}); cast the array first, e.g. astype(arr, 'float32').`);
  }
  const fake = (type: string): OnnxAdapter.OnnxTensorLike => ({ type, dims: [1], data: new Uint8Array(1), getData: async () => new Uint8Array(1) });
  await t.throwsAsync(onnxa.fromOnnx(fake('string')), {
    instanceOf: ocp.UnsupportedTypeError,
    message: `onnxruntime tensor type string has no NdArray equivalent; supported: ${supported}.`,
  });
  await t.throwsAsync(onnxa.fromOnnx(fake('int4')), {
    instanceOf: ocp.UnsupportedTypeError,
    message: `onnxruntime tensor type int4 has no NdArray equivalent (packed 4-bit data is not supported); supported: ${supported}.`,
  });
  const ortm = ort;
  if (ortm) {
    await t.throwsAsync(onnxa.fromOnnx(new ortm.Tensor('string', ['a'], [1])), { instanceOf: ocp.UnsupportedTypeError });
  }
});

test('onnx: GPU tensors are downloaded with getData; float16 held as Float16Array keeps its bits', async (t) => {
  let downloads = 0;
  const gpu: OnnxAdapter.OnnxTensorLike = {
    type: 'float32',
    dims: [2],
    location: 'gpu-buffer',
    get data(): unknown {
      throw new Error('The data is not on CPU.');
    },
    getData: async () => {
      downloads++;
      return Float32Array.from([1, 2]);
    },
  };
  t.deepEqual(plain(await onnxa.fromOnnx(gpu)), { dtype: 'float32', shape: [2], data: [1, 2] });
  t.is(downloads, 1);
  // Where the runtime has Float16Array, float16 data is one; any non-Uint16Array view of the
  // right size is taken as raw bits (simulated here with bytes).
  const bits = Uint16Array.from([0x3c00, 0xc000]);
  const f16: OnnxAdapter.OnnxTensorLike = { type: 'float16', dims: [2], location: 'cpu', data: new Uint8Array(bits.buffer), getData: async () => null };
  t.deepEqual(plain(await onnxa.fromOnnx(f16)), { dtype: 'float16', shape: [2], data: [0x3c00, 0xc000] });
});

test('onnx trees: tensors are converted, other leaves and the structure kept', async (t) => {
  const ortm = needOrt(t);
  if (!ortm) return t.pass();
  const tree = { layer: [new ortm.Tensor('float32', Float32Array.from([1, 2]), [2]), 'name'], step: 5n };
  const converted = (await onnxa.fromOnnxTree(tree)) as { layer: [ocp.NdArray, string]; step: bigint };
  t.deepEqual(plain(converted.layer[0]), { dtype: 'float32', shape: [2], data: [1, 2] });
  t.is(converted.layer[1], 'name');
  t.is(converted.step, 5n);
  const back = onnxa.toOnnxTree(converted, ortm) as { layer: [OrtTensor, string] };
  t.true(onnxa.isOnnxTensor(back.layer[0]));
  t.false(onnxa.isOnnxTensor(converted.layer[0]));
});

test('onnx round trip through a PyTreeCheckpointer keeps every supported type and value', async (t) => {
  const ortm = needOrt(t);
  if (!ortm) return t.pass();
  const dir = join(await tempDir(t), 'ckpt');
  const tree = Object.fromEntries(onnxSamples.map(([type, data]) => [type, new ortm.Tensor(type, data, [2, 2])]));
  await new ocp.PyTreeCheckpointer().save(dir, await onnxa.fromOnnxTree(tree));
  const restored = onnxa.toOnnxTree(await new ocp.PyTreeCheckpointer().restore(dir), ortm) as Record<string, OrtTensor>;
  t.deepEqual(Object.keys(restored).sort(), onnxSamples.map(([type]) => type).sort());
  for (const [type, data] of onnxSamples) {
    const tensor = restored[type] as OrtTensor;
    t.is(tensor.type, type);
    t.deepEqual([...tensor.dims], [2, 2]);
    t.deepEqual(plain(await onnxa.fromOnnx(tensor)).data, Array.from(data as unknown as ArrayLike<unknown>), type);
  }
});
