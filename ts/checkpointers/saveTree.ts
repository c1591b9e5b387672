/** Saving a PyTree as one checkpoint: flatten and validate here, write and commit in the core. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { z } from 'zod';

import { callNative, InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { native } from '../native.js';
import type { SaveArray, SaveString } from '../../native/index.cjs';
import { astype } from '../tree/convert.js';
import { type DType, isDType } from '../tree/dtypes.js';
import { type FlatLeaf, flattenForSave } from '../tree/flatten.js';
import { isPlainObject, pathRepr } from '../tree/pytree.js';
import { toTaggedJson } from '../tree/pyValue.js';

/** Python handler classes recorded in `_CHECKPOINT_METADATA.item_handlers`. */
export const HANDLER_TYPESTRS = {
  standard: 'orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler',
  pytree: 'orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler',
} as const;

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

/** Options of a tree save. */
export interface SaveTreeOptions {
  handler: keyof typeof HANDLER_TYPESTRS;
  useOcdbt: boolean;
  useZarr3: boolean;
  useCompression: boolean;
  ocdbtTargetDataFileSize?: number;
  saveArgs?: unknown;
  force?: boolean;
  customMetadata?: unknown;
  itemCustomMetadata?: unknown;
  /**
   * Copy the arrays' bytes while preparing, so that the caller may modify its arrays as soon
   * as the save is prepared (async checkpointers); otherwise the native write reads the
   * caller's memory until the save settles.
   */
  copyArrays?: boolean;
  /** GiB of chunks encoded and written at once (Orbax's `save_concurrent_gb`). */
  saveConcurrentGb?: number;
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

/** Saves `tree` as the checkpoint `directory` (committed when the promise resolves). */
export async function saveTree(directory: string, tree: unknown, opts: SaveTreeOptions): Promise<void> {
  await prepareSave(directory, tree, opts)();
}

/**
 * Validates and flattens `tree` now (throwing synchronously on bad input) and returns the
 * write, which commits the checkpoint when awaited.
 */
export function prepareSave(directory: string, tree: unknown, opts: SaveTreeOptions): () => Promise<void> {
  const leaves = flattenForSave(tree);
  const arrays: SaveArray[] = [];
  const strings: SaveString[] = [];
  for (const leaf of leaves) {
    const value = leaf.value;
    if (value.kind === 'string') {
      if (opts.handler === 'standard') {
        throw new InvalidArgumentError(`Unsupported type: <class 'str'> for key: ${pathRepr(leaf.path)}.`);
      }
      strings.push({ param: leaf.param, value: value.value });
    } else if (value.kind === 'array' || value.kind === 'scalar') {
      const args = saveArgsFor(opts.saveArgs, leaf);
      const arr = args?.dtype ? astype(value.array, args.dtype) : value.array;
      if (arr.shape.some((d) => d === 0)) {
        throw new InvalidArgumentError(`Cannot save arrays with zero size (${pathRepr(leaf.path)}).`);
      }
      arrays.push({
        param: leaf.param,
        dtype: arr.dtype,
        shape: [...arr.shape],
        data: opts.copyArrays
          ? Buffer.from(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength))
          : Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength),
        ...(args?.chunkByteSize !== undefined ? { chunkByteSize: args.chunkByteSize } : {}),
        ...(args?.shardAxes !== undefined ? { shardAxes: args.shardAxes } : {}),
      });
    } else if (value.kind !== 'empty') {
      throw new UnsupportedTypeError(`Unsupported leaf at ${pathRepr(leaf.path)}.`);
    }
  }
  const customMetadata = opts.customMetadata ?? {};
  if (!isPlainObject(customMetadata)) {
    throw new InvalidArgumentError('customMetadata must be a plain object with string keys.');
  }
  const plan = {
      entries: leaves.map((l) => ({
        keys: l.path.map(String),
        keyTypes: [...l.keyTypes],
        valueType: l.value.valueType,
        skipDeserialize: l.value.kind === 'empty',
      })),
      arrays,
      strings,
      itemCustomMetadata: toTaggedJson(opts.itemCustomMetadata ?? null, 'custom metadata'),
      customMetadata: toTaggedJson(customMetadata, 'custom metadata'),
      useOcdbt: opts.useOcdbt,
      useZarr3: opts.useZarr3,
      useCompression: opts.useCompression,
      ...(opts.ocdbtTargetDataFileSize !== undefined ? { ocdbtTargetDataFileSize: opts.ocdbtTargetDataFileSize } : {}),
      force: opts.force ?? false,
      handlerTypestr: HANDLER_TYPESTRS[opts.handler],
      ...(opts.saveConcurrentGb !== undefined ? { concurrentBytes: opts.saveConcurrentGb * 2 ** 30 } : {}),
  };
  const target = resolve(directory);
  // Checked now, not in the background, so that an async save fails in the caller's `save()`.
  if (!opts.force && existsSync(target)) {
    throw new InvalidArgumentError(`Destination ${target} already exists.`);
  }
  return () => callNative(() => native.saveCheckpointPlan(target, plan));
}
