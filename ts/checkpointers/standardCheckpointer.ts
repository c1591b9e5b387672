/** `StandardCheckpointer`: an AsyncCheckpointer of a StandardCheckpointHandler, with Orbax's convenience signatures. */
import { z } from 'zod';

import { type StorageOptions, storageOptionsSchema } from '../storage/index.js';
import type { MultiprocessingOptions } from '../checkpointManagers/optionTypes.js';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { StandardRestore, StandardSave } from '../args/standard.js';
import type { StepMetadata, TreeMetadata } from '../metadata/types.js';
import { StandardCheckpointHandler, type StandardCheckpointHandlerOptions } from '../handlers/standardCheckpointHandler.js';
import type { IntScalars } from '../restore/restoreTree.js';
import type { PyTree } from '../tree/pytree.js';
import { AsyncCheckpointer, type AsyncOptions } from './asyncCheckpointer.js';
import { type TransferOptions, transferOf, transferOptionsShape } from '../transfer.js';

/** Options of {@link StandardCheckpointer.save}. */
export interface StandardSaveOptions extends TransferOptions {
  /** A tree of `SaveArgs` (`{ dtype?, chunkByteSize?, shardAxes? }`) mirroring the state. */
  saveArgs?: unknown;
  /** Replace an existing checkpoint at `directory`. */
  force?: boolean;
  /** `custom_metadata` of `_CHECKPOINT_METADATA` (JSON object). */
  customMetadata?: Record<string, unknown>;
  /** Lend the arrays instead of copying them: do not modify them until `waitUntilFinished()`. */
  lendArrays?: boolean;
}

const saveSchema = z
  .object({
    saveArgs: z.unknown().optional(),
    force: z.boolean().optional(),
    customMetadata: z.record(z.string(), z.unknown()).optional(),
    lendArrays: z.boolean().optional(),
    ...transferOptionsShape,
  })
  .strict();

/** Options of {@link StandardCheckpointer.restore}. */
export interface StandardRestoreOptions extends TransferOptions {
  /** See `StandardRestore`: `false` pads / truncates arrays to the target's shape. */
  strict?: boolean;
  /** Integer scalars as `bigint` (default) or `number`. */
  intScalars?: IntScalars;
}

const restoreSchema = z
  .object({ strict: z.boolean().optional(), intScalars: z.enum(['bigint', 'number']).optional(), ...transferOptionsShape })
  .strict();

/** Options of the {@link StandardCheckpointer} constructor. */
export interface StandardCheckpointerOptions extends Omit<StandardCheckpointHandlerOptions, 'intScalars'> {
  asyncOptions?: AsyncOptions;
  /** Object-store configuration (credentials, region, endpoint...) for URL directories. */
  storageOptions?: StorageOptions;
  /** Several processes saving one checkpoint together (see `ocp.shardedArray`). */
  multiprocessingOptions?: MultiprocessingOptions;
}

const constructorSchema = z
  .object({
    useOcdbt: z.boolean().optional(),
    saveConcurrentGb: z.number().positive().optional(),
    restoreConcurrentGb: z.number().positive().optional(),
    asyncOptions: z.unknown().optional(),
    storageOptions: storageOptionsSchema.optional(),
    multiprocessingOptions: z.unknown().optional(),
  })
  .strict();

/**
 * Mirrors `ocp.StandardCheckpointer`: PyTrees of arrays and scalars, saved asynchronously — the
 * promise of `save()` resolves once the arrays are copied (the caller may then modify them), the
 * checkpoint commits in the background; `waitUntilFinished()` resolves at commit or rejects with
 * the background error; the next `save()` waits for the previous one.
 */
export class StandardCheckpointer {
  readonly #checkpointer: AsyncCheckpointer<StandardCheckpointHandler>;

  constructor(opts: StandardCheckpointerOptions = {}) {
    const parsed = parseArgsOptions(constructorSchema, opts, 'StandardCheckpointer options');
    const { asyncOptions, storageOptions, multiprocessingOptions, ...handlerOptions } = parsed;
    this.#checkpointer = new AsyncCheckpointer(new StandardCheckpointHandler(handlerOptions), {
      ...(asyncOptions !== undefined ? { asyncOptions: asyncOptions as AsyncOptions } : {}),
      ...(storageOptions !== undefined ? { storageOptions } : {}),
      ...(multiprocessingOptions !== undefined ? { multiprocessingOptions: multiprocessingOptions as MultiprocessingOptions } : {}),
    });
  }

  /** Saves `state` (a tree, or a `StandardSave`) as the checkpoint `directory`. */
  async save(directory: string, state: unknown, opts?: StandardSaveOptions): Promise<void> {
    const options = parseArgsOptions(saveSchema, opts, 'StandardCheckpointer.save options');
    const args = state instanceof StandardSave ? state : new StandardSave(state, options.saveArgs !== undefined ? { saveArgs: options.saveArgs } : undefined);
    await this.#checkpointer.save(directory, args, {
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.customMetadata !== undefined ? { customMetadata: options.customMetadata } : {}),
      ...(options.lendArrays !== undefined ? { lendArrays: options.lendArrays } : {}),
      ...transferOf(options),
    });
  }

  /**
   * Restores the tree at `directory`. With `target` (a tree of NdArray / ShapeDtypeStruct /
   * metadata / scalar leaves, or a `StandardRestore`) the result has the target's structure and
   * dtypes; a target path missing from the checkpoint is an `InvalidArgumentError`.
   */
  async restore(directory: string, target?: unknown, opts?: StandardRestoreOptions): Promise<PyTree> {
    const options = parseArgsOptions(restoreSchema, opts, 'StandardCheckpointer.restore options');
    const args = target instanceof StandardRestore ? target : new StandardRestore(target, options);
    return this.#checkpointer.restore(directory, args);
  }

  /** Step metadata whose `itemMetadata` is the tree of leaf metadata. Reads no array data. */
  async metadata(directory: string): Promise<StepMetadata<TreeMetadata>> {
    return this.#checkpointer.metadata(directory);
  }

  async waitUntilFinished(): Promise<void> {
    await this.#checkpointer.waitUntilFinished();
  }

  isSavingInProgress(): boolean {
    return this.#checkpointer.isSavingInProgress();
  }

  checkForErrors(): void {
    this.#checkpointer.checkForErrors();
  }

  async close(): Promise<void> {
    await this.#checkpointer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
