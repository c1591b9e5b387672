/** `StandardCheckpointHandler`: PyTrees of arrays and scalars (strings refused, as in Orbax). */
import { z } from 'zod';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { StandardRestore, StandardSave } from '../args/standard.js';
import type { TreeMetadata } from '../metadata/types.js';
import { CheckpointReader } from '../restore/checkpointReader.js';
import { type IntScalars, restoreTree } from '../restore/restoreTree.js';
import type { PyTree } from '../tree/pytree.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext, FinalizeContext, SaveProcessContext, StorageContext } from './checkpointHandler.js';
import { readTreeMetadata } from './pyTreeCheckpointHandler.js';
import { finalizeItem, type ItemWrite, prepareItemSave } from './pyTreeSave.js';
import { TYPESTRS } from './typestrs.js';

/** Options of {@link StandardCheckpointHandler}. */
export interface StandardCheckpointHandlerOptions {
  /** GiB of chunks encoded and written at once while saving (Orbax default 96). */
  saveConcurrentGb?: number;
  /** GiB of chunks decoded at once while restoring (Orbax default 96). */
  restoreConcurrentGb?: number;
  /** Arrays in an OCDBT database (default) or as plain zarr directories. */
  useOcdbt?: boolean;
  /** Integer scalars restore as `bigint` (default) or `number`. */
  intScalars?: IntScalars;
}

export const standardHandlerOptionsSchema = z
  .object({
    saveConcurrentGb: z.number().positive().optional(),
    restoreConcurrentGb: z.number().positive().optional(),
    useOcdbt: z.boolean().optional(),
    intScalars: z.enum(['bigint', 'number']).optional(),
  })
  .strict();

/** Mirrors Python's `StandardCheckpointHandler`. */
export class StandardCheckpointHandler implements AsyncCheckpointHandler<StandardSave, StandardRestore, PyTree, TreeMetadata> {
  static typestr(): string {
    return TYPESTRS.standard;
  }

  readonly #options: StandardCheckpointHandlerOptions;

  constructor(opts?: StandardCheckpointHandlerOptions) {
    this.#options = parseArgsOptions(standardHandlerOptionsSchema, opts, 'StandardCheckpointHandler options');
  }

  typestr(): string {
    return StandardCheckpointHandler.typestr();
  }

  #prepare(args: StandardSave, copyArrays: boolean, multiprocessing?: SaveProcessContext): ItemWrite {
    const save = expectArgs('StandardCheckpointHandler', args, [StandardSave]);
    const o = this.#options;
    return prepareItemSave(save.item, {
      allowStrings: false,
      useOcdbt: o.useOcdbt ?? true,
      useZarr3: false,
      useCompression: true,
      copyArrays,
      ...(multiprocessing !== undefined ? { multiprocessing } : {}),
      ...(o.saveConcurrentGb !== undefined ? { saveConcurrentGb: o.saveConcurrentGb } : {}),
      ...(save.saveArgs !== undefined ? { saveArgs: save.saveArgs } : {}),
      ...(save.customMetadata !== undefined ? { itemCustomMetadata: save.customMetadata } : {}),
    });
  }

  async save(directory: string, args: StandardSave, context?: StorageContext): Promise<void> {
    await this.#prepare(args, false)(directory, context);
  }

  /** Validates and (unless told otherwise) copies the arrays now; writes once the directory exists. */
  async asyncSave(directory: string, args: StandardSave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const write = this.#prepare(args, context?.copyInputs ?? true, context?.multiprocessing);
    return [(context?.directoryReady ?? Promise.resolve()).then(() => write(directory, context))];
  }

  /**
   * Restores the tree. With a target (`new StandardRestore(item)`), the result has the target's
   * structure and dtypes; a target path missing from the checkpoint is an error; leaves the
   * target does not name are not read.
   */
  async restore(directory: string, args?: StandardRestore, context?: StorageContext): Promise<PyTree> {
    const restore = args === undefined ? new StandardRestore() : expectArgs('StandardCheckpointHandler', args, [StandardRestore]);
    const reader = await CheckpointReader.open(directory, context?.storageOptions ? { storageOptions: context.storageOptions } : {});
    const o = this.#options;
    const intScalars = restore.intScalars ?? o.intScalars;
    return restoreTree(reader, {
      ...(restore.item !== undefined ? { target: restore.item } : {}),
      allowExtraLeaves: true,
      strict: restore.strict,
      ...(intScalars ? { intScalars } : {}),
      ...(o.restoreConcurrentGb !== undefined ? { concurrentGb: o.restoreConcurrentGb } : {}),
      transfer: restore.transfer,
    });
  }

  async metadata(directory: string, context?: StorageContext): Promise<TreeMetadata> {
    return readTreeMetadata(directory, context);
  }

  /** A single process merges its database as it writes; a multi-process save merges here. */
  async finalize(directory: string, context?: FinalizeContext): Promise<void> {
    await finalizeItem(directory, { useOcdbt: this.#options.useOcdbt ?? true }, context);
  }

  async close(): Promise<void> {}
}
