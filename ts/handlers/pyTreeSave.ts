/** Saving a PyTree item: flatten and validate here, encode and write in the core. */
import { z } from 'zod';

import { callNative, InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { native } from '../native.js';
import type { SaveArray, SaveString } from '../../native/index.cjs';
import { astype } from '../tree/convert.js';
import { type DType, isDType } from '../tree/dtypes.js';
import { type FlatLeaf, flattenForSave } from '../tree/flatten.js';
import { isPlainObject, pathRepr } from '../tree/pytree.js';
import { toTaggedJson } from '../tree/pyValue.js';
import { defaultSharding, type ShardedArray } from '../tree/shardedArray.js';
import type { StorageOptions } from '../storage/storage.js';
import type { FinalizeContext, SaveProcessContext } from './checkpointHandler.js';

/** Per-leaf save options (Python `SaveArgs`). */
export interface SaveArgs {
  /** Cast before writing (the stored dtype becomes this). */
  dtype?: DType;
  /** Upper bound of a chunk's bytes (Orbax's chunk-shape algorithm). */
  chunkByteSize?: number;
  /** Axes chunked down to 1. */
  shardAxes?: number[];
}

const saveArgsSchema = z
  .object({
    dtype: z.string().refine(isDType, { message: 'unknown dtype' }).optional(),
    chunkByteSize: z.number().int().positive().optional(),
    shardAxes: z.array(z.number().int().nonnegative()).optional(),
    aggregate: z.boolean().optional(),
  })
  .strict();

/** Options of an item save. */
export interface ItemSaveOptions {
  /** StandardCheckpointHandler refuses string leaves, as Orbax's does. */
  allowStrings: boolean;
  useOcdbt: boolean;
  useZarr3: boolean;
  useCompression: boolean;
  ocdbtTargetDataFileSize?: number;
  saveArgs?: unknown;
  /** `custom_metadata` of `_METADATA` (any JSON). */
  itemCustomMetadata?: unknown;
  /**
   * Copy the arrays' bytes while preparing, so that the caller may modify its arrays as soon
   * as the save is prepared (async saves); otherwise the native write reads the caller's
   * memory until the write settles.
   */
  copyArrays?: boolean;
  /** GiB of chunks encoded and written at once (Orbax's `save_concurrent_gb`). */
  saveConcurrentGb?: number;
  /**
   * A multi-process save: this process writes its blocks of sharded arrays (`ocp.shardedArray`)
   * into its own database; replicated arrays and strings are the primary's to write.
   */
  multiprocessing?: SaveProcessContext | undefined;
}

/** Where and how a prepared item is written. */
export interface ItemWriteContext {
  readonly transfer?: number | undefined;
  readonly storageOptions?: StorageOptions | undefined;
}

/** Writes a prepared item into an existing directory (a path or an object-store URL). */
export type ItemWrite = (directory: string, context?: ItemWriteContext) => Promise<void>;

/** The `_sharding` entry of a sharded leaf: Python `json.dumps` of its sharding description. */
function shardingJson(sharded: ShardedArray, blockShape: readonly number[]): string {
  const sharding = sharded.sharding ?? defaultSharding(sharded.globalShape, blockShape);
  return native.renderPythonJson(toTaggedJson(sharding, 'sharding'));
}

function saveArgsFor(saveArgs: unknown, leaf: FlatLeaf): SaveArgs | undefined {
  let node = saveArgs;
  for (const key of leaf.path) {
    if (node === undefined || node === null) return undefined;
    if (Array.isArray(node) || isPlainObject(node)) {
      node = (node as Record<string | number, unknown>)[key];
    } else {
      break;
    }
  }
  if (node === undefined || node === null) return undefined;
  const parsed = saveArgsSchema.safeParse(node);
  if (!parsed.success) {
    throw new InvalidArgumentError(`Invalid SaveArgs for ${pathRepr(leaf.path)}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data as SaveArgs;
}

/**
 * Validates and flattens `tree` now (throwing synchronously on bad input, copying the arrays if
 * asked) and returns the write, which writes the item into an existing directory when called.
 */
export function prepareItemSave(tree: unknown, opts: ItemSaveOptions): ItemWrite {
  const leaves = flattenForSave(tree);
  const arrays: SaveArray[] = [];
  const strings: SaveString[] = [];
  const mp = opts.multiprocessing;
  const isPrimary = mp?.isPrimary ?? true;
  for (const leaf of leaves) {
    const value = leaf.value;
    if (value.kind === 'string') {
      if (!opts.allowStrings) {
        throw new InvalidArgumentError(`Unsupported type: <class 'str'> for key: ${pathRepr(leaf.path)}.`);
      }
      if (isPrimary) strings.push({ param: leaf.param, value: value.value });
    } else if ((value.kind === 'array' || value.kind === 'scalar') && !isPrimary && value.valueType !== 'jax.Array') {
      // Replicated data: the primary writes it (replica 0, as JAX saves).
      continue;
    } else if (value.kind === 'array' || value.kind === 'scalar') {
      const args = saveArgsFor(opts.saveArgs, leaf);
      const arr = args?.dtype ? astype(value.array, args.dtype) : value.array;
      if (arr.shape.some((d) => d === 0)) {
        throw new InvalidArgumentError(`Cannot save arrays with zero size (${pathRepr(leaf.path)}).`);
      }
      const bytes = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
      arrays.push({
        param: leaf.param,
        dtype: arr.dtype,
        shape: [...arr.shape],
        data: opts.copyArrays && arr === value.array ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        ...(args?.chunkByteSize !== undefined ? { chunkByteSize: args.chunkByteSize } : {}),
        ...(args?.shardAxes !== undefined ? { shardAxes: args.shardAxes } : {}),
        ...(value.valueType === 'jax.Array'
          ? { globalShape: [...value.sharded.globalShape], offset: [...value.sharded.offset], sharding: shardingJson(value.sharded, arr.shape) }
          : {}),
      });
    } else if (value.kind !== 'empty') {
      throw new UnsupportedTypeError(`Unsupported leaf at ${pathRepr(leaf.path)}.`);
    }
  }
  const plan = {
    entries: leaves.map((l) => ({
      keys: l.path.map(String),
      keyTypes: [...l.keyTypes],
      valueType: l.value.valueType,
      skipDeserialize: l.value.kind === 'empty',
      ...(l.value.valueType === 'jax.Array' ? { writeShape: [...l.value.array.shape] } : {}),
    })),
    arrays,
    strings,
    itemCustomMetadata: toTaggedJson(opts.itemCustomMetadata ?? null, 'custom metadata'),
    useOcdbt: opts.useOcdbt,
    useZarr3: opts.useZarr3,
    useCompression: opts.useCompression,
    ...(opts.ocdbtTargetDataFileSize !== undefined ? { ocdbtTargetDataFileSize: opts.ocdbtTargetDataFileSize } : {}),
    ...(opts.saveConcurrentGb !== undefined ? { concurrentBytes: opts.saveConcurrentGb * 2 ** 30 } : {}),
    ...(mp && mp.processCount > 1 ? { process: { index: mp.processIndex, count: mp.processCount, primary: mp.primaryHost } } : {}),
  };
  return (directory, context) =>
    callNative(() => native.saveItemPlan(directory, context?.transfer === undefined ? plan : { ...plan, transfer: context.transfer }, context?.storageOptions ?? null));
}

/**
 * The primary's finalize of a multi-process item: checks that every process wrote its database
 * and merges them into the item's root (a single-process save merges as it writes).
 */
export async function finalizeItem(
  directory: string,
  opts: { useOcdbt: boolean; ocdbtTargetDataFileSize?: number | undefined },
  context: FinalizeContext | undefined,
): Promise<void> {
  const mp = context?.multiprocessing;
  if (mp === undefined || mp.processCount <= 1 || !mp.isPrimary) return;
  await callNative(() =>
    native.finalizeItem(
      directory,
      { processCount: mp.processCount, useOcdbt: opts.useOcdbt, ...(opts.ocdbtTargetDataFileSize !== undefined ? { ocdbtTargetDataFileSize: opts.ocdbtTargetDataFileSize } : {}) },
      context?.storageOptions ?? null,
    ),
  );
}
