/**
 * Adapter between `@tensorflow/tfjs` tensors and {@link NdArray}s. tfjs is not a dependency: the
 * caller passes its own `tf` module where one is needed, and tensors are recognised by shape.
 *
 * dtypes: tfjs float32, int32, bool and complex64 map to the NdArray dtypes of the same name;
 * tfjs `string` and every other NdArray dtype are refused with an {@link UnsupportedTypeError}
 * (cast NdArrays first, e.g. `astype(arr, 'float32')`, rather than losing precision silently).
 * Data is always copied: tfjs keeps a reference to the typed array it is given.
 */
import { UnsupportedTypeError } from '../errors.js';
import { array, isNdArray, type NdArray } from '../tree/ndarray.js';
import type { PyTree } from '../tree/pytree.js';
import { mapTensorLeaves, mapTensorLeavesAsync } from './mapTensorLeaves.js';

/** The parts of a tfjs `Tensor` the adapter uses. */
export interface TfjsTensorLike {
  readonly dtype: string;
  readonly shape: readonly number[];
  data(): Promise<unknown>;
  dispose(): void;
}

/** The tfjs dtypes with an NdArray equivalent. */
export type TfjsDType = 'float32' | 'int32' | 'bool' | 'complex64';

/** The parts of the tfjs module the adapter uses: pass `import * as tf from '@tensorflow/tfjs'`. */
export interface TfjsModuleLike<T extends TfjsTensorLike = TfjsTensorLike> {
  tensor(values: Float32Array | Int32Array | Uint8Array, shape: number[], dtype: 'float32' | 'int32' | 'bool'): T;
  // NoInfer: the tensor type is inferred from `tensor` alone (tfjs' `complex` is generic itself).
  complex(real: NoInfer<T>, imag: NoInfer<T>): NoInfer<T>;
}

/** Whether `value` is a tfjs tensor (by shape: tfjs classes are not imported). */
export function isTfjsTensor(value: unknown): value is TfjsTensorLike {
  if (typeof value !== 'object' || value === null || isNdArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.dtype === 'string' &&
    Array.isArray(v.shape) &&
    typeof v.data === 'function' &&
    typeof v.dataSync === 'function' &&
    typeof v.dispose === 'function'
  );
}

/** A copy of a tfjs tensor's values as an NdArray (float32, int32, bool or complex64). */
export async function fromTfjs(tensor: TfjsTensorLike): Promise<NdArray> {
  const shape = [...tensor.shape];
  switch (tensor.dtype) {
    case 'float32':
      return array(Float32Array.from(await numericData(tensor)), shape, 'float32');
    case 'int32':
      return array(Int32Array.from(await numericData(tensor)), shape, 'int32');
    case 'bool':
      return array(Uint8Array.from(await numericData(tensor), (v) => (v ? 1 : 0)), shape, 'bool');
    case 'complex64':
      // tfjs returns complex values interleaved (re, im, re, im...), as NdArray stores them.
      return array(Float32Array.from(await numericData(tensor)), shape, 'complex64');
    default:
      throw new UnsupportedTypeError(
        `tfjs dtype ${tensor.dtype} has no NdArray equivalent (supported: float32, int32, bool, complex64).`,
      );
  }
}

/** A new tfjs tensor holding a copy of `arr` (float32, int32, bool or complex64). */
export function toTfjs<T extends TfjsTensorLike>(arr: NdArray, tf: TfjsModuleLike<T>): T {
  const shape = [...arr.shape];
  switch (arr.dtype) {
    case 'float32':
      return tf.tensor(Float32Array.from(arr.data as Float32Array), shape, 'float32');
    case 'int32':
      return tf.tensor(Int32Array.from(arr.data as Int32Array), shape, 'int32');
    case 'bool':
      return tf.tensor(Uint8Array.from(arr.data as Uint8Array, (v) => (v ? 1 : 0)), shape, 'bool');
    case 'complex64': {
      const interleaved = arr.data as Float32Array;
      const real = new Float32Array(interleaved.length / 2);
      const imag = new Float32Array(interleaved.length / 2);
      for (let i = 0; i < real.length; i++) {
        real[i] = interleaved[2 * i] as number;
        imag[i] = interleaved[2 * i + 1] as number;
      }
      const realTensor = tf.tensor(real, shape, 'float32');
      const imagTensor = tf.tensor(imag, shape, 'float32');
      try {
        return tf.complex(realTensor, imagTensor);
      } finally {
        // The complex tensor keeps its own references to the parts' values.
        realTensor.dispose();
        imagTensor.dispose();
      }
    }
    default:
      throw new UnsupportedTypeError(
        `tfjs has no ${arr.dtype} dtype (it has float32, int32, bool and complex64); cast the array first, e.g. astype(arr, 'float32').`,
      );
  }
}

/** `tree` with every tfjs tensor replaced by an NdArray copy (other leaves kept). */
export function fromTfjsTree(tree: unknown): Promise<PyTree> {
  return mapTensorLeavesAsync(tree, isTfjsTensor, (leaf) => fromTfjs(leaf as TfjsTensorLike));
}

/** `tree` with every NdArray replaced by a new tfjs tensor (other leaves kept). */
export function toTfjsTree<T extends TfjsTensorLike>(tree: unknown, tf: TfjsModuleLike<T>): PyTree {
  return mapTensorLeaves(tree, isNdArray, (leaf) => toTfjs(leaf as NdArray, tf));
}

async function numericData(tensor: TfjsTensorLike): Promise<ArrayLike<number>> {
  const data = await tensor.data();
  if (!ArrayBuffer.isView(data) || data instanceof DataView || data instanceof BigInt64Array || data instanceof BigUint64Array) {
    throw new UnsupportedTypeError(`tfjs returned ${describe(data)} for a ${tensor.dtype} tensor; expected a typed array.`);
  }
  return data as unknown as ArrayLike<number>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}
