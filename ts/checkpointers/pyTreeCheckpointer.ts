/** `PyTreeCheckpointer`: a synchronous Checkpointer of a PyTreeCheckpointHandler. */
import { z } from 'zod';

import { type StorageOptions, storageOptionsSchema } from '../storage/index.js';
import type { MultiprocessingOptions } from '../checkpointManagers/optionTypes.js';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { PyTreeRestore, type PyTreeRestoreOptions, PyTreeSave } from '../args/pyTree.js';
import { PyTreeCheckpointHandler, type PyTreeCheckpointHandlerOptions } from '../handlers/pyTreeCheckpointHandler.js';
import type { StepMetadata, TreeMetadata } from '../metadata/types.js';
import type { PyTree } from '../tree/pytree.js';
import { Checkpointer } from './checkpointer.js';
import { type TransferOptions, transferOf, transferOptionsShape } from '../transfer.js';


/** Storage options of the PyTree handler (Python `PyTreeCheckpointHandler(...)`). */
export type PyTreeCheckpointerOptions = Omit<PyTreeCheckpointHandlerOptions, 'intScalars'> & {
  /** Object-store configuration (credentials, region, endpoint...) for URL directories. */
  storageOptions?: StorageOptions;
  /** Several processes saving one checkpoint together (see `ocp.shardedArray`). */
  multiprocessingOptions?: MultiprocessingOptions;
};

/** Options of {@link PyTreeCheckpointer.save}. */
export interface PyTreeSaveOptions extends TransferOptions {
  /** A tree of `SaveArgs` (`{ dtype?, chunkByteSize?, shardAxes? }`) mirroring the item. */
  saveArgs?: unknown;
  /** Replace an existing checkpoint at `directory`. */
  force?: boolean;
  /** `custom_metadata` of `_CHECKPOINT_METADATA` (JSON object). */
  customMetadata?: Record<string, unknown>;
  /** OCDBT target data file size in bytes (0 = unlimited), which also caps chunk sizes. */
  ocdbtTargetDataFileSize?: number;
}

const saveSchema = z
  .object({
    saveArgs: z.unknown().optional(),
    force: z.boolean().optional(),
    customMetadata: z.record(z.string(), z.unknown()).optional(),
    ocdbtTargetDataFileSize: z.number().int().nonnegative().optional(),
    ...transferOptionsShape,
  })
  .strict();

/** Mirrors `ocp.PyTreeCheckpointer`: a synchronous checkpointer of PyTrees. */
export class PyTreeCheckpointer {
  readonly #checkpointer: Checkpointer<PyTreeCheckpointHandler>;

  constructor(opts: PyTreeCheckpointerOptions = {}) {
    const { storageOptions, multiprocessingOptions, ...handlerOptions } = parseArgsOptions(z.object({
      useOcdbt: z.boolean().optional(),
      useZarr3: z.boolean().optional(),
      useCompression: z.boolean().optional(),
      saveConcurrentGb: z.number().positive().optional(),
      restoreConcurrentGb: z.number().positive().optional(),
      storageOptions: storageOptionsSchema.optional(),
      multiprocessingOptions: z.unknown().optional(),
    }).strict(), opts, 'PyTreeCheckpointer options');
    this.#checkpointer = new Checkpointer(new PyTreeCheckpointHandler(handlerOptions), {
      ...(storageOptions !== undefined ? { storageOptions } : {}),
      ...(multiprocessingOptions !== undefined ? { multiprocessingOptions: multiprocessingOptions as MultiprocessingOptions } : {}),
    });
  }

  /**
   * Saves `item` (a tree of arrays, scalars, strings and empty nodes, or a `PyTreeSave`) as the
   * checkpoint `directory`, atomically; resolves once committed. The arrays' memory must not
   * change until then.
   */
  async save(directory: string, item: unknown, opts?: PyTreeSaveOptions): Promise<void> {
    const options = parseArgsOptions(saveSchema, opts, 'PyTreeCheckpointer.save options');
    const args =
      item instanceof PyTreeSave
        ? item
        : new PyTreeSave(item, {
            ...(options.saveArgs !== undefined ? { saveArgs: options.saveArgs } : {}),
            ...(options.ocdbtTargetDataFileSize !== undefined ? { ocdbtTargetDataFileSize: options.ocdbtTargetDataFileSize } : {}),
          });
    await this.#checkpointer.save(directory, args, {
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.customMetadata !== undefined ? { customMetadata: options.customMetadata } : {}),
      ...transferOf(options),
    });
  }

  /**
   * Restores the tree at `directory` (`args`: a `PyTreeRestore` or its options). Without `item`
   * the structure comes from `_METADATA` (tuples come back as arrays, Python scalars as
   * `number`/`bigint`/`boolean`).
   */
  async restore(directory: string, args?: PyTreeRestore | PyTreeRestoreOptions): Promise<PyTree> {
    return this.#checkpointer.restore(directory, args instanceof PyTreeRestore ? args : new PyTreeRestore(args));
  }

  /** The step metadata of `directory`; `itemMetadata` is the tree of leaf metadata. Reads no array data. */
  async metadata(directory: string): Promise<StepMetadata<TreeMetadata>> {
    return this.#checkpointer.metadata(directory);
  }

  async close(): Promise<void> {
    await this.#checkpointer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
