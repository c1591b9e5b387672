/**
 * Adapter between `onnxruntime-node` (or `onnxruntime-web`/`-common`) tensors and
 * {@link NdArray}s. onnxruntime is not a dependency: the caller passes its own `ort` module where
 * one is needed, and tensors are recognised by shape.
 *
 * dtypes: ONNX float32, float64, float16, int8/16/32/64, uint8/16/32/64 and bool map to the
 * NdArray dtypes of the same name (int64/uint64 as BigInt64Array/BigUint64Array, float16 as raw
 * bits in a Uint16Array, bool as 0/1 bytes). ONNX `string`, the packed 4-bit `int4`/`uint4`, and
 * the NdArray dtypes onnxruntime-node has no tensor type for (bfloat16, complex, float8, float4,
 * int4, int2) are refused with an {@link UnsupportedTypeError}. Data is always copied.
 */
import { UnsupportedTypeError } from '../errors.js';
import { type AnyTypedArray, type DType, typedArrayConstructor } from '../tree/dtypes.js';
import { array, isNdArray, type NdArray } from '../tree/ndarray.js';
import type { PyTree } from '../tree/pytree.js';
import { mapTensorLeaves, mapTensorLeavesAsync } from './mapTensorLeaves.js';

/** The ONNX tensor types with an NdArray equivalent (they keep their names). */
export const ONNX_DTYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
] as const;

/** An ONNX tensor type with an NdArray equivalent. */
export type OnnxDType = (typeof ONNX_DTYPES)[number];

/** The parts of an onnxruntime `Tensor` the adapter uses. */
export interface OnnxTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  /** Where the data lives (`'cpu'`, `'cpu-pinned'`, `'gpu-buffer'`...). */
  readonly location?: string;
  /** The data of a CPU tensor. */
  readonly data: unknown;
  /** The data wherever it lives (downloads GPU data). */
  getData(): Promise<unknown>;
}

/** The parts of the onnxruntime module the adapter uses: pass `import * as ort from 'onnxruntime-node'`. */
export interface OnnxRuntimeLike<T extends OnnxTensorLike = OnnxTensorLike> {
  readonly Tensor: new (type: OnnxDType, data: AnyTypedArray, dims: readonly number[]) => T;
}

const SUPPORTED = new Set<string>(ONNX_DTYPES);

/** Whether `value` is an onnxruntime tensor (by shape: onnxruntime classes are not imported). */
export function isOnnxTensor(value: unknown): value is OnnxTensorLike {
  if (typeof value !== 'object' || value === null || isNdArray(value)) return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === 'string' && Array.isArray(v.dims) && typeof v.getData === 'function';
}

/** A copy of an onnxruntime tensor's data as an NdArray (GPU data is downloaded first). */
export async function fromOnnx(tensor: OnnxTensorLike): Promise<NdArray> {
  if (!SUPPORTED.has(tensor.type)) {
    const packed = tensor.type === 'int4' || tensor.type === 'uint4' ? ' (packed 4-bit data is not supported)' : '';
    throw new UnsupportedTypeError(
      `onnxruntime tensor type ${tensor.type} has no NdArray equivalent${packed}; supported: ${ONNX_DTYPES.join(', ')}.`,
    );
  }
  const dtype = tensor.type as OnnxDType;
  const onCpu = tensor.location === undefined || tensor.location === 'cpu' || tensor.location === 'cpu-pinned';
  const data: unknown = onCpu ? tensor.data : await tensor.getData();
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new UnsupportedTypeError(`onnxruntime returned non-typed-array data for a ${dtype} tensor.`);
  }
  return array(copyAs(dtype, data), [...tensor.dims], dtype);
}

/** A new onnxruntime tensor holding a copy of `arr`. */
export function toOnnx<T extends OnnxTensorLike>(arr: NdArray, ort: OnnxRuntimeLike<T>): T {
  if (!SUPPORTED.has(arr.dtype)) {
    throw new UnsupportedTypeError(
      `onnxruntime has no ${arr.dtype} tensor type (supported: ${ONNX_DTYPES.join(', ')}); cast the array first, e.g. astype(arr, 'float32').`,
    );
  }
  const dtype = arr.dtype as OnnxDType;
  // float16 goes in as raw bits: onnxruntime accepts a Uint16Array for it with or without Float16Array.
  return new ort.Tensor(dtype, copyAs(dtype, arr.data), [...arr.shape]);
}

/** `tree` with every onnxruntime tensor replaced by an NdArray copy (other leaves kept). */
export function fromOnnxTree(tree: unknown): Promise<PyTree> {
  return mapTensorLeavesAsync(tree, isOnnxTensor, (leaf) => fromOnnx(leaf as OnnxTensorLike));
}

/** `tree` with every NdArray replaced by a new onnxruntime tensor (other leaves kept). */
export function toOnnxTree<T extends OnnxTensorLike>(tree: unknown, ort: OnnxRuntimeLike<T>): PyTree {
  return mapTensorLeaves(tree, isNdArray, (leaf) => toOnnx(leaf as NdArray, ort));
}

/**
 * A copy of `data` in the typed array NdArray uses for `dtype`. A float16 tensor may hold a
 * Float16Array (where the runtime has one): its bits are taken, not its values.
 */
function copyAs(dtype: DType, data: ArrayBufferView): AnyTypedArray {
  const ctor = typedArrayConstructor(dtype);
  if (data instanceof ctor) return (data as unknown as { slice(): AnyTypedArray }).slice();
  if (data.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new UnsupportedTypeError(`onnxruntime data of ${data.byteLength} bytes is not a whole number of ${dtype} elements.`);
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return new ctor(bytes.buffer, 0, bytes.byteLength / ctor.BYTES_PER_ELEMENT);
}
