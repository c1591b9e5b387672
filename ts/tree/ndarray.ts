/** Array leaves: `{ dtype, shape, data }`, C order, like numpy arrays on the host. */
import { InvalidArgumentError } from '../errors.js';
import { type AnyTypedArray, type DType, isDType, lanes, typedArrayConstructor, type TypedArrayOf } from './dtypes.js';

/** An n-dimensional array: a dtype, a shape and a C-ordered typed array of the elements. */
export interface NdArray<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf[D];
}

/** An abstract array, used as a restore target: what to restore, not the data. */
export class ShapeDtypeStruct<D extends DType = DType> {
  readonly shape: readonly number[];
  readonly dtype: D;
  /** Informational only: orbax-ts restores host arrays. */
  readonly sharding: unknown;

  constructor(shape: readonly number[], dtype: D, opts: { sharding?: unknown } = {}) {
    checkShape(shape);
    if (!isDType(dtype)) {
      throw new InvalidArgumentError(`Unknown dtype: ${String(dtype)}`);
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.sharding = opts.sharding ?? null;
  }
}

/** Number of elements of an array of `shape` (1 for a 0-d array). */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidArgumentError(`A shape is a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

function inferDType(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  throw new InvalidArgumentError('array data must be a typed array');
}

/**
 * Makes an {@link NdArray}. Without `dtype` it is inferred from the typed array (Float32Array →
 * float32, BigInt64Array → int64, Uint16Array → uint16...); pass it for dtypes stored as raw bits
 * (`'bfloat16'` in a Uint16Array, `'float8_e4m3fn'` in a Uint8Array) or as bytes (`'bool'`).
 * `shape` defaults to 1-D.
 */
export function array<D extends DType>(data: TypedArrayOf[D], shape?: readonly number[], dtype?: D): NdArray<D> {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new InvalidArgumentError('array data must be a typed array');
  }
  const resolved = (dtype ?? inferDType(data as AnyTypedArray)) as D;
  if (!isDType(resolved)) {
    throw new InvalidArgumentError(`Unknown dtype: ${String(resolved)}`);
  }
  const ctor = typedArrayConstructor(resolved);
  if (!(data instanceof ctor)) {
    throw new InvalidArgumentError(`dtype ${resolved} is held in a ${ctor.name}, got a ${data.constructor.name}`);
  }
  const finalShape = shape ?? [data.length / lanes(resolved)];
  checkShape(finalShape);
  const expected = sizeOf(finalShape) * lanes(resolved);
  if (data.length !== expected) {
    throw new InvalidArgumentError(
      `data has ${data.length} elements but shape ${JSON.stringify(finalShape)} of ${resolved} needs ${expected}`,
    );
  }
  return Object.freeze({ dtype: resolved, shape: Object.freeze([...finalShape]), data });
}

/** Whether `value` looks like an {@link NdArray}. */
export function isNdArray(value: unknown): value is NdArray {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { dtype?: unknown; shape?: unknown; data?: unknown };
  return isDType(v.dtype) && Array.isArray(v.shape) && ArrayBuffer.isView(v.data);
}

/**
 * Python `ocp.utils.to_shape_dtype_struct`: an array becomes the {@link ShapeDtypeStruct} of its
 * shape and dtype (a restore target that holds no data); anything else is returned unchanged.
 */
export function toShapeDtypeStruct<T>(value: T): T extends NdArray<infer D> ? ShapeDtypeStruct<D> : T;
export function toShapeDtypeStruct(value: unknown): unknown {
  return isNdArray(value) ? new ShapeDtypeStruct(value.shape, value.dtype) : value;
}
