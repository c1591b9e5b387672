/** dtype conversions, done by the native core with numpy `astype` semantics. */
import { callNativeSync } from '../errors.js';
import { native } from '../native.js';
import { bytesOf, type DType, typedArrayFromBytes, type TypedArrayOf } from './dtypes.js';
import { array, type NdArray } from './ndarray.js';

function convert<D extends DType>(data: ArrayBufferView, from: DType, to: D): TypedArrayOf[D] {
  const out = callNativeSync(() => native.castDtype(bytesOf(data), from, to));
  return typedArrayFromBytes(to, out);
}

/** `arr` cast to `dtype` (a new array; the same array when the dtype already matches). */
export function astype<D extends DType>(arr: NdArray, dtype: D): NdArray<D> {
  if (arr.dtype === dtype) return arr as unknown as NdArray<D>;
  return array(convert(arr.data, arr.dtype, dtype), arr.shape, dtype);
}

/** bfloat16 bit patterns → float32 values. */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  return convert(bits, 'bfloat16', 'float32');
}

/** float32 values → bfloat16 bit patterns (round to nearest even). */
export function float32ToBfloat16(values: Float32Array): Uint16Array {
  return convert(values, 'float32', 'bfloat16');
}

/** float16 bit patterns → float32 values. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  return convert(bits, 'float16', 'float32');
}

/** float32 values → float16 bit patterns (round to nearest even). */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  return convert(values, 'float32', 'float16');
}
