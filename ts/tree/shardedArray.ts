/**
 * A process's block of a global array: what a `jax.Array` sharded across processes is to one of
 * them. In a multi-process save every process passes, for each sharded leaf, the block it owns;
 * the leaf is stored as Orbax stores a `jax.Array` (value type `jax.Array`, `write_shape` = the
 * block's shape, chunks no larger than a block, `_sharding` and `array_metadatas/`), and the
 * checkpoint restores whole (or by slices) anywhere, Python Orbax included.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ShardingMetadata } from '../metadata/types.js';
import type { DType } from './dtypes.js';
import { isNdArray, type NdArray } from './ndarray.js';

/** Where a block sits in its global array. */
export interface ShardedArrayOptions {
  /** Shape of the whole array across all processes. */
  globalShape: readonly number[];
  /** Index of the block's first element in the global array (per axis). */
  offset: readonly number[];
  /**
   * The `_sharding` entry recorded for the leaf (a JAX sharding description, e.g. from a
   * checkpoint's metadata). By default a `NamedSharding` over one mesh axis per sharded
   * dimension, one device per block, is recorded.
   */
  sharding?: ShardingMetadata;
}

/** This process's block of a global array (see {@link shardedArray}). */
export class ShardedArray<D extends DType = DType> {
  readonly local: NdArray<D>;
  readonly globalShape: readonly number[];
  readonly offset: readonly number[];
  readonly sharding: ShardingMetadata | null;

  constructor(local: NdArray<D>, opts: ShardedArrayOptions) {
    if (!isNdArray(local)) {
      throw new InvalidArgumentError('shardedArray: the local block must be an array (ocp.array(...))');
    }
    const { globalShape, offset } = opts;
    const rank = local.shape.length;
    const isIndexList = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!isIndexList(globalShape) || !isIndexList(offset)) {
      throw new InvalidArgumentError('shardedArray: globalShape and offset are lists of non-negative integers');
    }
    if (rank === 0 || globalShape.length !== rank || offset.length !== rank) {
      throw new InvalidArgumentError(
        `shardedArray: a block of shape ${JSON.stringify(local.shape)} needs globalShape and offset of rank ${rank}, got ${JSON.stringify(globalShape)} and ${JSON.stringify(offset)}`,
      );
    }
    for (let axis = 0; axis < rank; axis += 1) {
      if (offset[axis]! + local.shape[axis]! > globalShape[axis]!) {
        throw new InvalidArgumentError(
          `shardedArray: the block [${offset.join(', ')}] + ${JSON.stringify(local.shape)} lies outside the global shape ${JSON.stringify(globalShape)} (axis ${axis})`,
        );
      }
    }
    this.local = local;
    this.globalShape = Object.freeze([...globalShape]);
    this.offset = Object.freeze([...offset]);
    this.sharding = opts.sharding ?? null;
  }

  get dtype(): D {
    return this.local.dtype;
  }
}

/**
 * Marks `local` as this process's block of a global array, for multi-process saves
 * (`multiprocessingOptions`). Blocks must tile the array regularly, as a JAX sharding does:
 * every process's block of a leaf has the same shape, dividing the global shape, at an offset
 * that is a multiple of it.
 */
export function shardedArray<D extends DType>(local: NdArray<D>, opts: ShardedArrayOptions): ShardedArray<D> {
  return new ShardedArray(local, opts);
}

/**
 * The `_sharding` recorded when none is given: a `NamedSharding` with one mesh axis per sharded
 * dimension (`shard_<axis>`), its size the number of blocks along it, device ids numbering the
 * blocks in C order — what `jax.make_mesh` + `PartitionSpec` would record for this tiling.
 */
export function defaultSharding(globalShape: readonly number[], blockShape: readonly number[]): ShardingMetadata {
  const axes = globalShape.map((g, axis) => ({ axis, blocks: Math.max(1, Math.floor(g / blockShape[axis]!)) })).filter((a) => a.blocks > 1);
  const meshShape = axes.length > 0 ? axes.map((a) => a.blocks) : [1];
  const axisNames = axes.length > 0 ? axes.map((a) => `shard_${a.axis}`) : ['shard'];
  const partitionSpec = globalShape.map((_, axis) => (axes.some((a) => a.axis === axis) ? `shard_${axis}` : null));
  let next = 0;
  const build = (dims: number[]): unknown => (dims.length === 0 ? { id: next++ } : Array.from({ length: dims[0]! }, () => build(dims.slice(1))));
  return {
    sharding_type: 'NamedSharding',
    shape: meshShape,
    axis_names: axisNames,
    axis_types: axisNames.map(() => 'AxisType.Auto'),
    partition_spec: axes.length > 0 ? partitionSpec : [],
    device_mesh: { mesh: build(meshShape) },
  };
}
