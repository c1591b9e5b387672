/** `PyTreeCheckpointHandler`: PyTrees of arrays, scalars, strings and empty nodes. */
import { z } from 'zod';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { PyTreeRestore, PyTreeSave } from '../args/pyTree.js';
import type { TreeMetadata } from '../metadata/types.js';
import { CheckpointReader } from '../restore/checkpointReader.js';
import { type IntScalars, metadataTree, restoreTree } from '../restore/restoreTree.js';
import type { PyTree } from '../tree/pytree.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext, FinalizeContext, SaveProcessContext, StorageContext } from './checkpointHandler.js';
import { finalizeItem, type ItemWrite, prepareItemSave } from './pyTreeSave.js';
import { TYPESTRS } from './typestrs.js';

/** Options of {@link PyTreeCheckpointHandler}. */
export interface PyTreeCheckpointHandlerOptions {
  /** Arrays in an OCDBT database (default) or as plain zarr directories. */
  useOcdbt?: boolean;
  /** zarr v3 (sharded, zstd level 3) instead of zarr v2 (zstd level 1). */
  useZarr3?: boolean;
  /** zstd-compress chunks (default true). */
  useCompression?: boolean;
  /** GiB of chunks encoded and written at once while saving. */
  saveConcurrentGb?: number;
  /** GiB of chunks decoded at once while restoring. */
  restoreConcurrentGb?: number;
  /** Integer scalars restore as `bigint` (default, exact) or `number` (throws beyond 2^53). */
  intScalars?: IntScalars;
}

export const pyTreeHandlerOptionsSchema = z
  .object({
    useOcdbt: z.boolean().optional(),
    useZarr3: z.boolean().optional(),
    useCompression: z.boolean().optional(),
    saveConcurrentGb: z.number().positive().optional(),
    restoreConcurrentGb: z.number().positive().optional(),
    intScalars: z.enum(['bigint', 'number']).optional(),
  })
  .strict();

/** The metadata tree of a PyTree item directory (no array data is read). */
export async function readTreeMetadata(directory: string, context?: StorageContext): Promise<TreeMetadata> {
  const reader = await CheckpointReader.open(directory, context?.storageOptions ? { storageOptions: context.storageOptions } : {});
  return Object.freeze({
    tree: metadataTree(reader),
    customMetadata: reader.customMetadata,
    useZarr3: reader.useZarr3,
    useOcdbt: reader.useOcdbt,
  });
}

/** Mirrors Python's `PyTreeCheckpointHandler`. */
export class PyTreeCheckpointHandler implements AsyncCheckpointHandler<PyTreeSave, PyTreeRestore, PyTree, TreeMetadata> {
  static typestr(): string {
    return TYPESTRS.pyTree;
  }

  readonly #options: Required<Pick<PyTreeCheckpointHandlerOptions, 'useOcdbt' | 'useZarr3' | 'useCompression'>> &
    Omit<PyTreeCheckpointHandlerOptions, 'useOcdbt' | 'useZarr3' | 'useCompression'>;

  constructor(opts?: PyTreeCheckpointHandlerOptions) {
    const parsed = parseArgsOptions(pyTreeHandlerOptionsSchema, opts, 'PyTreeCheckpointHandler options');
    this.#options = { ...parsed, useOcdbt: parsed.useOcdbt ?? true, useZarr3: parsed.useZarr3 ?? false, useCompression: parsed.useCompression ?? true };
  }

  typestr(): string {
    return PyTreeCheckpointHandler.typestr();
  }

  #prepare(args: PyTreeSave, copyArrays: boolean, multiprocessing?: SaveProcessContext): ItemWrite {
    const save = expectArgs('PyTreeCheckpointHandler', args, [PyTreeSave]);
    const o = this.#options;
    return prepareItemSave(save.item, {
      allowStrings: true,
      useOcdbt: o.useOcdbt,
      useZarr3: o.useZarr3,
      useCompression: o.useCompression,
      copyArrays,
      ...(multiprocessing !== undefined ? { multiprocessing } : {}),
      ...(o.saveConcurrentGb !== undefined ? { saveConcurrentGb: o.saveConcurrentGb } : {}),
      ...(save.saveArgs !== undefined ? { saveArgs: save.saveArgs } : {}),
      ...(save.ocdbtTargetDataFileSize !== undefined ? { ocdbtTargetDataFileSize: save.ocdbtTargetDataFileSize } : {}),
      ...(save.customMetadata !== undefined ? { itemCustomMetadata: save.customMetadata } : {}),
    });
  }

  /** Writes the tree; the arrays' memory is read until the promise settles. */
  async save(directory: string, args: PyTreeSave, context?: StorageContext): Promise<void> {
    await this.#prepare(args, false)(directory, context);
  }

  /** Copies the arrays (the caller may then change them) and starts the write. */
  /** Validates and (unless told otherwise) copies the arrays now; writes once the directory exists. */
  async asyncSave(directory: string, args: PyTreeSave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const write = this.#prepare(args, context?.copyInputs ?? true, context?.multiprocessing);
    return [(context?.directoryReady ?? Promise.resolve()).then(() => write(directory, context))];
  }

  async restore(directory: string, args?: PyTreeRestore, context?: StorageContext): Promise<PyTree> {
    const restore = args === undefined ? new PyTreeRestore() : expectArgs('PyTreeCheckpointHandler', args, [PyTreeRestore]);
    const reader = await CheckpointReader.open(directory, context?.storageOptions ? { storageOptions: context.storageOptions } : {});
    const o = this.#options;
    return restoreTree(reader, {
      ...(restore.item !== undefined ? { target: restore.item } : {}),
      ...(restore.restoreArgs !== undefined ? { restoreArgs: restore.restoreArgs } : {}),
      partial: restore.partialRestore,
      ...(restore.intScalars ?? o.intScalars ? { intScalars: (restore.intScalars ?? o.intScalars) as IntScalars } : {}),
      ...(o.restoreConcurrentGb !== undefined ? { concurrentGb: o.restoreConcurrentGb } : {}),
      transfer: restore.transfer,
    });
  }

  async metadata(directory: string, context?: StorageContext): Promise<TreeMetadata> {
    return readTreeMetadata(directory, context);
  }

  /** A single process merges its database as it writes; a multi-process save merges here. */
  async finalize(directory: string, context?: FinalizeContext): Promise<void> {
    await finalizeItem(directory, { useOcdbt: this.#options.useOcdbt }, context);
  }

  async close(): Promise<void> {}
}
