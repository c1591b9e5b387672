/** Data types, named as numpy / ml_dtypes name them, and the typed arrays that hold them. */

/** Every dtype orbax-ts reads and writes. */
export const DTYPES = [
  'bool',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'float16',
  'bfloat16',
  'float32',
  'float64',
  'complex64',
  'complex128',
  'float8_e4m3fn',
  'float8_e5m2',
  'float8_e4m3fnuz',
  'float8_e5m2fnuz',
  'float8_e4m3b11fnuz',
  'float8_e3m4',
  'float8_e8m0fnu',
  'float4_e2m1fn',
  'int4',
  'int2',
] as const;

/** A dtype name (`'float32'`, `'bfloat16'`, `'int4'`...). */
export type DType = (typeof DTYPES)[number];

/** The typed array that holds each dtype (raw bits for float16/bfloat16/float8/float4). */
export interface TypedArrayOf {
  bool: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  /** Interleaved real and imaginary parts. */
  complex64: Float32Array;
  /** Interleaved real and imaginary parts. */
  complex128: Float64Array;
  float8_e4m3fn: Uint8Array;
  float8_e5m2: Uint8Array;
  float8_e4m3fnuz: Uint8Array;
  float8_e5m2fnuz: Uint8Array;
  float8_e4m3b11fnuz: Uint8Array;
  float8_e3m4: Uint8Array;
  float8_e8m0fnu: Uint8Array;
  float4_e2m1fn: Uint8Array;
  /** One sign-extended value per element. */
  int4: Int8Array;
  /** One sign-extended value per element. */
  int2: Int8Array;
}

/** Any typed array that can hold array data. */
export type AnyTypedArray = TypedArrayOf[DType];

type TypedArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

interface DTypeInfo {
  readonly ctor: TypedArrayConstructor;
  /** Typed-array elements per array element (2 for complex). */
  readonly lanes: number;
  readonly kind: 'bool' | 'int' | 'uint' | 'float' | 'complex';
}

const INFO: Record<DType, DTypeInfo> = {
  bool: { ctor: Uint8Array, lanes: 1, kind: 'bool' },
  int8: { ctor: Int8Array, lanes: 1, kind: 'int' },
  int16: { ctor: Int16Array, lanes: 1, kind: 'int' },
  int32: { ctor: Int32Array, lanes: 1, kind: 'int' },
  int64: { ctor: BigInt64Array, lanes: 1, kind: 'int' },
  uint8: { ctor: Uint8Array, lanes: 1, kind: 'uint' },
  uint16: { ctor: Uint16Array, lanes: 1, kind: 'uint' },
  uint32: { ctor: Uint32Array, lanes: 1, kind: 'uint' },
  uint64: { ctor: BigUint64Array, lanes: 1, kind: 'uint' },
  float16: { ctor: Uint16Array, lanes: 1, kind: 'float' },
  bfloat16: { ctor: Uint16Array, lanes: 1, kind: 'float' },
  float32: { ctor: Float32Array, lanes: 1, kind: 'float' },
  float64: { ctor: Float64Array, lanes: 1, kind: 'float' },
  complex64: { ctor: Float32Array, lanes: 2, kind: 'complex' },
  complex128: { ctor: Float64Array, lanes: 2, kind: 'complex' },
  float8_e4m3fn: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float8_e5m2: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float8_e4m3fnuz: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float8_e5m2fnuz: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float8_e4m3b11fnuz: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float8_e3m4: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float8_e8m0fnu: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  float4_e2m1fn: { ctor: Uint8Array, lanes: 1, kind: 'float' },
  int4: { ctor: Int8Array, lanes: 1, kind: 'int' },
  int2: { ctor: Int8Array, lanes: 1, kind: 'int' },
};

/** Whether `value` names a dtype. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(INFO, value);
}

/** Bytes per element of `dtype` in its typed array (sub-byte types take one byte). */
export function itemSize(dtype: DType): number {
  const info = INFO[dtype];
  return info.ctor.BYTES_PER_ELEMENT * info.lanes;
}

/** Typed-array elements per array element (2 for complex dtypes, else 1). */
export function lanes(dtype: DType): number {
  return INFO[dtype].lanes;
}

/** `'bool' | 'int' | 'uint' | 'float' | 'complex'`. */
export function dtypeKind(dtype: DType): DTypeInfo['kind'] {
  return INFO[dtype].kind;
}

/** The constructor of the typed array that holds `dtype`. */
export function typedArrayConstructor(dtype: DType): TypedArrayConstructor {
  return INFO[dtype].ctor;
}

/** A zero-filled typed array for `count` elements of `dtype`. */
export function allocate<D extends DType>(dtype: D, count: number): TypedArrayOf[D] {
  const info = INFO[dtype];
  return new info.ctor(count * info.lanes) as TypedArrayOf[D];
}

/**
 * A typed array of `dtype` over `bytes` (host representation). Views when the alignment allows,
 * copies otherwise.
 */
export function typedArrayFromBytes<D extends DType>(dtype: D, bytes: Uint8Array): TypedArrayOf[D] {
  const info = INFO[dtype];
  const width = info.ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % width !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  if (bytes.byteOffset % width === 0) {
    return new info.ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / width) as TypedArrayOf[D];
  }
  const copy = new Uint8Array(bytes);
  return new info.ctor(copy.buffer, 0, copy.byteLength / width) as TypedArrayOf[D];
}

/** The bytes of a typed array (a view, no copy). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
