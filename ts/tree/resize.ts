/** Zero-padding an array to a larger shape (Orbax's `strict=False` restore of a bigger global shape). */
import { allocate, lanes } from './dtypes.js';
import { array, type NdArray, sizeOf } from './ndarray.js';

/**
 * A new array of `shape` holding `arr` in its leading corner and zeros elsewhere. Every
 * dimension of `shape` must be at least `arr`'s (truncation happens when reading, as a slice).
 */
export function padArray(arr: NdArray, shape: readonly number[]): NdArray {
  const width = lanes(arr.dtype);
  const out = allocate(arr.dtype, sizeOf(shape));
  const rank = shape.length;
  const src = arr.data as unknown as { subarray(a: number, b: number): ArrayLike<number> & ArrayLike<bigint> };
  const dst = out as unknown as { set(values: ArrayLike<number> | ArrayLike<bigint>, offset: number): void };
  if (rank === 0 || sizeOf(arr.shape) === 0) return array(out as never, shape, arr.dtype);
  const row = (arr.shape[rank - 1] as number) * width;
  const outer = arr.shape.slice(0, -1);
  const index = new Array<number>(outer.length).fill(0);
  const rows = sizeOf(outer);
  for (let r = 0; r < rows; r++) {
    let srcOffset = 0;
    let dstOffset = 0;
    for (let axis = 0; axis < outer.length; axis++) {
      srcOffset = srcOffset * (arr.shape[axis] as number) + (index[axis] as number);
      dstOffset = dstOffset * (shape[axis] as number) + (index[axis] as number);
    }
    srcOffset *= row;
    dstOffset *= (shape[rank - 1] as number) * width;
    dst.set(src.subarray(srcOffset, srcOffset + row), dstOffset);
    for (let axis = outer.length - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      if ((index[axis] as number) < (outer[axis] as number)) break;
      index[axis] = 0;
    }
  }
  return array(out as never, shape, arr.dtype);
}
