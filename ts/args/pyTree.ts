/** `args.PyTreeSave` / `args.PyTreeRestore`: PyTrees of arrays, scalars and strings. */
import { z } from 'zod';

import { UnsupportedTypeError } from '../errors.js';
import { type TransferOptions, transferOf, transferOptionsShape } from '../transfer.js';
import { CheckpointArgs, parseArgsOptions } from './checkpointArgs.js';

/** Options of {@link PyTreeSave}. */
export interface PyTreeSaveOptions {
  /** A tree of `SaveArgs` mirroring the item. */
  saveArgs?: unknown;
  /** OCDBT target data file size in bytes (0 = unlimited); also caps chunk sizes. */
  ocdbtTargetDataFileSize?: number;
  /** `custom_metadata` of the item's `_METADATA` (any JSON). */
  customMetadata?: unknown;
}

const saveSchema = z
  .object({
    saveArgs: z.unknown().optional(),
    ocdbtTargetDataFileSize: z.number().int().nonnegative().optional(),
    customMetadata: z.unknown().optional(),
  })
  .strict();

/** Saves a PyTree (arrays, scalars, strings, empty nodes). */
export class PyTreeSave extends CheckpointArgs {
  readonly item: unknown;
  readonly saveArgs: unknown;
  readonly ocdbtTargetDataFileSize: number | undefined;
  readonly customMetadata: unknown;

  constructor(item: unknown, opts?: PyTreeSaveOptions) {
    super();
    const parsed = parseArgsOptions(saveSchema, opts, 'PyTreeSave options');
    this.item = item;
    this.saveArgs = parsed.saveArgs;
    this.ocdbtTargetDataFileSize = parsed.ocdbtTargetDataFileSize;
    this.customMetadata = parsed.customMetadata;
    Object.freeze(this);
  }
}

/** Options of {@link PyTreeRestore}. */
export interface PyTreeRestoreOptions {
  /** Target tree: its structure and leaves (NdArray / ShapeDtypeStruct / scalars / metadata) shape the result. */
  item?: unknown;
  /** A tree of `RestoreArgs` / `ArrayRestoreArgs` mirroring the item (or the checkpoint). */
  restoreArgs?: unknown;
  /** Restore only the paths of `item`. */
  partialRestore?: boolean;
  /** Not supported in orbax-ts (Python's deprecated transformations). */
  transforms?: unknown;
  /** orbax-ts: integer scalars as `bigint` (default, exact) or `number` (throws beyond 2^53). */
  intScalars?: 'bigint' | 'number';
  /** orbax-ts: cancellation and progress of the reads. */
  signal?: AbortSignal;
  onProgress?: TransferOptions['onProgress'];
}

const restoreSchema = z
  .object({
    item: z.unknown().optional(),
    restoreArgs: z.unknown().optional(),
    partialRestore: z.boolean().optional(),
    transforms: z.unknown().optional(),
    transformsDefaultToOriginal: z.boolean().optional(),
    intScalars: z.enum(['bigint', 'number']).optional(),
    ...transferOptionsShape,
  })
  .strict();

/** Restores a PyTree; without `item` the structure comes from `_METADATA`. */
export class PyTreeRestore extends CheckpointArgs {
  readonly item: unknown;
  readonly restoreArgs: unknown;
  readonly partialRestore: boolean;
  readonly intScalars: 'bigint' | 'number' | undefined;
  readonly transfer: TransferOptions;

  constructor(opts?: PyTreeRestoreOptions) {
    super();
    const parsed = parseArgsOptions(restoreSchema, opts, 'PyTreeRestore options');
    if (parsed.transforms !== undefined) {
      throw new UnsupportedTypeError('PyTreeRestore: `transforms` are not supported by orbax-ts; restore the tree and transform it in JS.');
    }
    this.item = parsed.item;
    this.restoreArgs = parsed.restoreArgs;
    this.partialRestore = parsed.partialRestore ?? false;
    this.intScalars = parsed.intScalars;
    this.transfer = transferOf(parsed);
    Object.freeze(this);
  }
}
