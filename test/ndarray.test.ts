import test from 'ava';

import * as ocp from 'orbax-ts';

// Calls array() the way plain JavaScript can, bypassing the static types under test.
const untypedArray = ocp.array as unknown as (data: unknown, shape?: number[], dtype?: string) => ocp.NdArray;

test('array() infers the dtype from the typed array and defaults to 1-D', (t) => {
  const a = ocp.array(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  t.is(a.dtype, 'float32');
  t.deepEqual(a.shape, [2, 3]);
  t.is(ocp.array(new BigInt64Array(3)).dtype, 'int64');
  t.deepEqual(ocp.array(new BigUint64Array(3)).shape, [3]);
  t.is(ocp.array(new Uint16Array(2), [2], 'bfloat16').dtype, 'bfloat16');
  t.is(ocp.array(new Float64Array(4), [2], 'complex128').data.length, 4);
  t.deepEqual(ocp.array(new Int8Array([5]), []).shape, []);
});

test('array() rejects mismatched sizes, containers and dtypes with clear errors', (t) => {
  const size = t.throws(() => ocp.array(new Float32Array(5), [2, 3]), { instanceOf: ocp.InvalidArgumentError });
  t.is(size.message, 'data has 5 elements but shape [2,3] of float32 needs 6');
  const holder = t.throws(() => untypedArray(new Float32Array(2), [2], 'bfloat16'), { instanceOf: ocp.InvalidArgumentError });
  t.is(holder.message, 'dtype bfloat16 is held in a Uint16Array, got a Float32Array');
  t.throws(() => untypedArray([1, 2]), { instanceOf: ocp.InvalidArgumentError, message: 'array data must be a typed array' });
  t.throws(() => ocp.array(new Float32Array(2), [-2]), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => untypedArray(new Uint8Array(2), [2], 'uint3'), { instanceOf: ocp.InvalidArgumentError, message: 'Unknown dtype: uint3' });
});

test('ShapeDtypeStruct validates and freezes its shape', (t) => {
  const s = new ocp.ShapeDtypeStruct([4, 5], 'bfloat16');
  t.deepEqual(s.shape, [4, 5]);
  t.true(Object.isFrozen(s.shape));
  t.throws(() => new ocp.ShapeDtypeStruct([1.5], 'float32'), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => new ocp.ShapeDtypeStruct([1], 'f32' as never), { instanceOf: ocp.InvalidArgumentError });
});

test('itemSize and DTYPES cover every fixture dtype', (t) => {
  t.is(ocp.DTYPES.length, 25);
  t.is(ocp.itemSize('complex128'), 16);
  t.is(ocp.itemSize('bfloat16'), 2);
  t.is(ocp.itemSize('int4'), 1);
  t.is(ocp.itemSize('float4_e2m1fn'), 1);
});

test('float16 and bfloat16 conversions are exact on representable values and round to nearest even', (t) => {
  const values = new Float32Array([0, -0, 1, -2.5, 65504, Infinity, -Infinity, 1 / 3]);
  const bf = ocp.float32ToBfloat16(values);
  t.deepEqual([...bf], [0x0000, 0x8000, 0x3f80, 0xc020, 0x4780 /* 65504 rounds up to 65536 */, 0x7f80, 0xff80, 0x3eab]);
  t.deepEqual([...ocp.bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc020, 0x7f80]))], [1, -2.5, Infinity]);
  const h = ocp.float32ToFloat16(values);
  t.deepEqual([...h], [0x0000, 0x8000, 0x3c00, 0xc100, 0x7bff, 0x7c00, 0xfc00, 0x3555]);
  t.deepEqual([...ocp.float16ToFloat32(new Uint16Array([0x3c00, 0x7bff, 0x0001]))], [1, 65504, 2 ** -24]);
  t.true(Number.isNaN(ocp.bfloat16ToFloat32(new Uint16Array([0x7fc0]))[0]));
});

test('astype casts with numpy semantics', (t) => {
  const f = ocp.array(new Float64Array([1.9, -1.9, 300.5]), [3]);
  const i = ocp.astype(f, 'int32');
  t.deepEqual([...i.data], [1, -1, 300]);
  t.is<unknown, unknown>(ocp.astype(f, 'float64'), f);
  const b = ocp.astype(ocp.array(new Float32Array([0, 2, -0])), 'bool');
  t.deepEqual([...b.data], [0, 1, 0]);
  const i4 = ocp.astype(ocp.array(new Int32Array([-8, 7, -1])), 'int4');
  t.deepEqual([...i4.data], [-8, 7, -1]);
});

test('toShapeDtypeStruct maps arrays to abstract targets and leaves other values alone', (t) => {
  const abstract = ocp.toShapeDtypeStruct(ocp.array(Float32Array.from([1, 2, 3, 4]), [2, 2]));
  t.true(abstract instanceof ocp.ShapeDtypeStruct);
  t.deepEqual([...abstract.shape], [2, 2]);
  t.is(abstract.dtype, 'float32');
  t.is(ocp.toShapeDtypeStruct(3), 3);
  t.is(ocp.toShapeDtypeStruct('x'), 'x');
});
