/** `args.StandardSave` / `args.StandardRestore`: PyTrees of arrays and scalars. */
import { z } from 'zod';

import { type TransferOptions, transferOf, transferOptionsShape } from '../transfer.js';
import { CheckpointArgs, parseArgsOptions } from './checkpointArgs.js';

/** Options of {@link StandardSave}. */
export interface StandardSaveOptions {
  /** A tree of `SaveArgs` (`{ dtype?, chunkByteSize?, shardAxes? }`) mirroring the item. */
  saveArgs?: unknown;
  /** `custom_metadata` of the item's `_METADATA` (any JSON). */
  customMetadata?: unknown;
}

const saveSchema = z.object({ saveArgs: z.unknown().optional(), customMetadata: z.unknown().optional() }).strict();

/** Saves a PyTree of arrays and scalars (strings are refused, as in Orbax). */
export class StandardSave extends CheckpointArgs {
  readonly item: unknown;
  readonly saveArgs: unknown;
  readonly customMetadata: unknown;

  constructor(item: unknown, opts?: StandardSaveOptions) {
    super();
    const parsed = parseArgsOptions(saveSchema, opts, 'StandardSave options');
    this.item = item;
    this.saveArgs = parsed.saveArgs;
    this.customMetadata = parsed.customMetadata;
    Object.freeze(this);
  }
}

/** Options of {@link StandardRestore}. */
export interface StandardRestoreOptions {
  /**
   * With a target whose shape differs from the stored one: `true` (default) restores the stored
   * shape for host targets (Python's behaviour) and refuses a mismatch for targets carrying a
   * sharding; `false` pads with zeros / truncates to the target's shape.
   */
  strict?: boolean;
  /** Accepted for parity; orbax-ts restores host arrays. */
  fallbackSharding?: unknown;
  /** Accepted for parity. */
  supportLayout?: boolean;
  /** orbax-ts: integer scalars as `bigint` (default, exact) or `number` (throws beyond 2^53). */
  intScalars?: 'bigint' | 'number';
  /** orbax-ts: cancellation and progress of the reads. */
  signal?: AbortSignal;
  onProgress?: TransferOptions['onProgress'];
}

const restoreSchema = z
  .object({
    strict: z.boolean().optional(),
    fallbackSharding: z.unknown().optional(),
    supportLayout: z.boolean().optional(),
    intScalars: z.enum(['bigint', 'number']).optional(),
    ...transferOptionsShape,
  })
  .strict();

/** Restores a PyTree, optionally shaped and typed by a target `item`. */
export class StandardRestore extends CheckpointArgs {
  readonly item: unknown;
  readonly strict: boolean;
  readonly intScalars: 'bigint' | 'number' | undefined;
  readonly transfer: TransferOptions;

  constructor(item?: unknown, opts?: StandardRestoreOptions) {
    super();
    const parsed = parseArgsOptions(restoreSchema, opts, 'StandardRestore options');
    this.item = item;
    this.strict = parsed.strict ?? true;
    this.intScalars = parsed.intScalars;
    this.transfer = transferOf(parsed);
    Object.freeze(this);
  }
}

