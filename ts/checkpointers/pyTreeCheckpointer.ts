/** `PyTreeCheckpointer`: a synchronous checkpointer of PyTrees with arrays, scalars and strings. */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';
import type { StepMetadata, TreeMetadata } from '../metadata/types.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import { CheckpointReader } from '../restore/checkpointReader.js';
import { type IntScalars, metadataTree, restoreTree } from '../restore/restoreTree.js';
import type { PyTree } from '../tree/pytree.js';
import { finalizedCheckpointPath } from './checkpointPath.js';
import { saveTree } from './saveTree.js';

/** Storage options of the PyTree handler (Python `PyTreeCheckpointHandler(...)`). */
export interface PyTreeCheckpointerOptions {
  /** Arrays in an OCDBT database (default) or as plain zarr directories. */
  useOcdbt?: boolean;
  /** zarr v3 (sharded, zstd level 3) instead of zarr v2 (zstd level 1). */
  useZarr3?: boolean;
  /** zstd-compress chunks (default true). */
  useCompression?: boolean;
  /** GiB of chunks encoded and written at once while saving. */
  saveConcurrentGb?: number;
  /** GiB of chunks decoded at once while restoring (a `restore()` option overrides it). */
  restoreConcurrentGb?: number;
}

/** Options of {@link PyTreeCheckpointer.save}. */
export interface PyTreeSaveOptions {
  /** A tree of `SaveArgs` (`{ dtype?, chunkByteSize?, shardAxes? }`) mirroring the item. */
  saveArgs?: unknown;
  /** Replace an existing checkpoint at `directory`. */
  force?: boolean;
  /** `custom_metadata` of `_CHECKPOINT_METADATA` (JSON object). */
  customMetadata?: Record<string, unknown>;
  /** OCDBT target data file size in bytes (0 = unlimited), which also caps chunk sizes. */
  ocdbtTargetDataFileSize?: number;
}

const constructorSchema = z
  .object({
    useOcdbt: z.boolean().optional(),
    useZarr3: z.boolean().optional(),
    useCompression: z.boolean().optional(),
    saveConcurrentGb: z.number().positive().optional(),
    restoreConcurrentGb: z.number().positive().optional(),
  })
  .strict();

const saveOptionsSchema = z
  .object({
    saveArgs: z.unknown().optional(),
    force: z.boolean().optional(),
    customMetadata: z.record(z.string(), z.unknown()).optional(),
    ocdbtTargetDataFileSize: z.number().int().nonnegative().optional(),
  })
  .strict();

/** Restore arguments of the PyTree handler (Python `args.PyTreeRestore`). */
export interface PyTreeRestoreOptions {
  /** Target tree: its structure and leaves (NdArray / ShapeDtypeStruct / scalars) shape the result. */
  item?: unknown;
  /** Restore only the paths of `item`. */
  partialRestore?: boolean;
  /** Integer scalars as `bigint` (default) or `number`. */
  intScalars?: IntScalars;
  /** GiB decoded at once (Orbax `restore_concurrent_gb`). */
  restoreConcurrentGb?: number;
}

const restoreOptionsSchema = z
  .object({
    item: z.unknown().optional(),
    partialRestore: z.boolean().optional(),
    intScalars: z.enum(['bigint', 'number']).optional(),
    restoreConcurrentGb: z.number().positive().optional(),
  })
  .loose();

/** Validates an options object with zod, throwing an {@link InvalidArgumentError}. */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new InvalidArgumentError(`Invalid ${what}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/** Reads the item metadata tree of a PyTree item directory. */
export async function readTreeMetadata(directory: string): Promise<TreeMetadata> {
  const reader = await CheckpointReader.open(directory);
  return Object.freeze({
    tree: metadataTree(reader),
    customMetadata: reader.customMetadata,
    useZarr3: reader.useZarr3,
    useOcdbt: reader.useOcdbt,
  });
}

/** Mirrors `ocp.PyTreeCheckpointer`: a synchronous checkpointer of PyTrees. */
export class PyTreeCheckpointer {
  readonly #storage: { useOcdbt: boolean; useZarr3: boolean; useCompression: boolean };
  readonly #saveConcurrentGb: number | undefined;
  readonly #restoreConcurrentGb: number | undefined;

  constructor(opts: PyTreeCheckpointerOptions = {}) {
    const parsed = parseOptions(constructorSchema, opts, 'PyTreeCheckpointer options');
    this.#storage = { useOcdbt: parsed.useOcdbt ?? true, useZarr3: parsed.useZarr3 ?? false, useCompression: parsed.useCompression ?? true };
    this.#saveConcurrentGb = parsed.saveConcurrentGb;
    this.#restoreConcurrentGb = parsed.restoreConcurrentGb;
  }

  /**
   * Saves `item` (arrays, scalars, strings, empty nodes) as the checkpoint `directory`,
   * atomically; resolves once committed. The arrays' memory must not change until then.
   */
  async save(directory: string, item: unknown, opts?: PyTreeSaveOptions): Promise<void> {
    const options = parseOptions(saveOptionsSchema, opts, 'PyTreeCheckpointer.save options');
    await saveTree(directory, item, {
      handler: 'pytree',
      ...this.#storage,
      ...(this.#saveConcurrentGb !== undefined ? { saveConcurrentGb: this.#saveConcurrentGb } : {}),
      ...(options.saveArgs !== undefined ? { saveArgs: options.saveArgs } : {}),
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.customMetadata !== undefined ? { customMetadata: options.customMetadata } : {}),
      ...(options.ocdbtTargetDataFileSize !== undefined ? { ocdbtTargetDataFileSize: options.ocdbtTargetDataFileSize } : {}),
    });
  }

  /**
   * Restores the tree at `directory`. Without `item` the structure comes from `_METADATA`
   * (tuples come back as arrays, Python scalars as `number`/`bigint`/`boolean`).
   */
  async restore(directory: string, args?: PyTreeRestoreOptions): Promise<PyTree> {
    const opts = parseOptions(restoreOptionsSchema, args, 'PyTree restore arguments');
    const path = await finalizedCheckpointPath(directory);
    const reader = await CheckpointReader.open(path);
    return restoreTree(reader, {
      ...(opts.item !== undefined ? { target: opts.item } : {}),
      ...(opts.partialRestore !== undefined ? { partial: opts.partialRestore } : {}),
      ...(opts.intScalars !== undefined ? { intScalars: opts.intScalars } : {}),
      ...((opts.restoreConcurrentGb ?? this.#restoreConcurrentGb) !== undefined
        ? { concurrentGb: (opts.restoreConcurrentGb ?? this.#restoreConcurrentGb) as number }
        : {}),
    });
  }

  /** The step metadata of `directory`; `itemMetadata` is the tree of leaf metadata. Reads no array data. */
  async metadata(directory: string): Promise<StepMetadata<TreeMetadata>> {
    const path = await finalizedCheckpointPath(directory);
    return readStepMetadata(path, await readTreeMetadata(path));
  }

  /** Nothing to release; present for parity with Orbax. */
  async close(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
