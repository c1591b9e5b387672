/**
 * Flattening a PyTree for saving, in JAX order, into what Orbax records per leaf: the key path
 * (with key types), the value type, and the value.
 */
import { InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { type DType } from './dtypes.js';
import { array, isNdArray, type NdArray } from './ndarray.js';
import { ShardedArray } from './shardedArray.js';
import { compareCodePoints, isPlainObject, type PathKey, pathRepr, PLACEHOLDER } from './pytree.js';

/** What a flattened leaf holds. */
export type FlatValue =
  | { kind: 'array'; array: NdArray; valueType: 'np.ndarray' }
  | { kind: 'array'; array: NdArray; valueType: 'jax.Array'; sharded: ShardedArray }
  | { kind: 'scalar'; array: NdArray; valueType: 'scalar' }
  | { kind: 'string'; value: string; valueType: 'string' }
  | { kind: 'empty'; valueType: 'None' | 'Dict' | 'List' | 'placeholder' };

/** One leaf (or empty node) of a flattened tree. */
export interface FlatLeaf {
  readonly path: readonly PathKey[];
  /** Per path component: 1 = sequence index, 2 = dict key (Orbax `key_type`). */
  readonly keyTypes: readonly (1 | 2)[];
  /** Path components joined by `.` (the zarr array's key prefix). */
  readonly param: string;
  readonly value: FlatValue;
}

/** A scalar leaf with an explicit dtype (e.g. `ocp.scalar(7, 'int64')` for a Python int). */
export interface TypedScalar {
  readonly __orbaxScalar: true;
  readonly value: number | bigint | boolean;
  readonly dtype: DType;
}

/** Marks a scalar leaf's dtype: JS numbers are float64 by default, bigints int64, booleans bool. */
export function scalar(value: number | bigint | boolean, dtype: DType): TypedScalar {
  return Object.freeze({ __orbaxScalar: true as const, value, dtype });
}

function isTypedScalar(value: unknown): value is TypedScalar {
  return typeof value === 'object' && value !== null && (value as { __orbaxScalar?: unknown }).__orbaxScalar === true;
}

function scalarArray(value: number | bigint | boolean, dtype: DType, path: readonly PathKey[]): NdArray {
  switch (dtype) {
    case 'float64':
      return array(new Float64Array([Number(value)]), [], 'float64');
    case 'float32':
      return array(new Float32Array([Number(value)]), [], 'float32');
    case 'int64':
      return array(new BigInt64Array([BigInt(typeof value === 'number' ? Math.trunc(value) : value)]), [], 'int64');
    case 'uint64':
      return array(new BigUint64Array([BigInt(typeof value === 'number' ? Math.trunc(value) : value)]), [], 'uint64');
    case 'int32':
      return array(new Int32Array([Number(value)]), [], 'int32');
    case 'uint32':
      return array(new Uint32Array([Number(value)]), [], 'uint32');
    case 'int16':
      return array(new Int16Array([Number(value)]), [], 'int16');
    case 'uint16':
      return array(new Uint16Array([Number(value)]), [], 'uint16');
    case 'int8':
      return array(new Int8Array([Number(value)]), [], 'int8');
    case 'uint8':
      return array(new Uint8Array([Number(value)]), [], 'uint8');
    case 'bool':
      return array(new Uint8Array([value ? 1 : 0]), [], 'bool');
    default:
      throw new UnsupportedTypeError(`Unsupported scalar dtype ${dtype} for key: ${pathRepr(path)}.`);
  }
}

function leafValue(node: unknown, path: readonly PathKey[]): FlatValue {
  if (isNdArray(node)) return { kind: 'array', array: node, valueType: 'np.ndarray' };
  if (node instanceof ShardedArray) return { kind: 'array', array: node.local, valueType: 'jax.Array', sharded: node };
  if (isTypedScalar(node)) return { kind: 'scalar', array: scalarArray(node.value, node.dtype, path), valueType: 'scalar' };
  switch (typeof node) {
    case 'number':
      return { kind: 'scalar', array: scalarArray(node, 'float64', path), valueType: 'scalar' };
    case 'bigint':
      if (node > 0x7fffffffffffffffn || node < -0x8000000000000000n) {
        throw new InvalidArgumentError(`Scalar ${node} at ${pathRepr(path)} does not fit an int64.`);
      }
      return { kind: 'scalar', array: scalarArray(node, 'int64', path), valueType: 'scalar' };
    case 'boolean':
      return { kind: 'scalar', array: scalarArray(node, 'bool', path), valueType: 'scalar' };
    case 'string':
      return { kind: 'string', value: node, valueType: 'string' };
    default:
      break;
  }
  if (node === null || node === undefined) return { kind: 'empty', valueType: 'None' };
  if (node === PLACEHOLDER) return { kind: 'empty', valueType: 'placeholder' };
  if (Array.isArray(node)) return { kind: 'empty', valueType: 'List' };
  if (isPlainObject(node)) return { kind: 'empty', valueType: 'Dict' };
  const type = typeof node === 'object' ? (node as object).constructor?.name ?? 'object' : typeof node;
  throw new UnsupportedTypeError(`Unsupported type: ${type} for key: ${pathRepr(path)}.`);
}

/**
 * Flattens `tree` in JAX order (dict keys sorted by code point, lists in order). Rejects trees
 * whose param names collide (`{'a.b': x, a: {b: y}}`): Orbax would silently alias them.
 */
export function flattenForSave(tree: unknown): FlatLeaf[] {
  const out: FlatLeaf[] = [];
  const visit = (node: unknown, path: PathKey[], keyTypes: (1 | 2)[]): void => {
    if (Array.isArray(node) && node.length > 0) {
      node.forEach((child, i) => visit(child, [...path, i], [...keyTypes, 1]));
      return;
    }
    if (isPlainObject(node) && !isNdArray(node) && !isTypedScalar(node) && Object.keys(node).length > 0) {
      for (const key of Object.keys(node).sort(compareCodePoints)) visit(node[key], [...path, key], [...keyTypes, 2]);
      return;
    }
    out.push({ path, keyTypes, param: path.map(String).join('.'), value: leafValue(node, path) });
  };
  visit(tree, [], []);
  if (out.length === 1 && out[0]!.path.length === 0 && out[0]!.value.kind !== 'empty') {
    throw new InvalidArgumentError('The tree to save must be a dict or a list, not a bare leaf.');
  }
  const seen = new Map<string, readonly PathKey[]>();
  for (const leaf of out) {
    const other = seen.get(leaf.param);
    if (other) {
      throw new InvalidArgumentError(
        `Paths ${pathRepr(other)} and ${pathRepr(leaf.path)} both map to the param name ${JSON.stringify(leaf.param)}; Orbax would store only one of them.`,
      );
    }
    seen.set(leaf.param, leaf.path);
  }
  return out;
}
