/** `args.ArraySave` / `args.ArrayRestore`: one array or scalar. */
import { z } from 'zod';

import { UnsupportedTypeError } from '../errors.js';
import { isNdArray, type NdArray } from '../tree/ndarray.js';
import { CheckpointArgs, parseArgsOptions } from './checkpointArgs.js';

const saveSchema = z.object({ saveArgs: z.unknown().optional() }).strict();

/** Saves one array (`NdArray`) or scalar (`number`, `bigint`, `boolean`, `ocp.scalar(...)`). */
export class ArraySave extends CheckpointArgs {
  readonly item: NdArray | number | bigint | boolean | object;
  /** `SaveArgs` of the one leaf. */
  readonly saveArgs: unknown;

  constructor(item: NdArray | number | bigint | boolean | object, opts?: { saveArgs?: unknown }) {
    super();
    const parsed = parseArgsOptions(saveSchema, opts, 'ArraySave options');
    const scalarLike =
      typeof item === 'number' ||
      typeof item === 'bigint' ||
      typeof item === 'boolean' ||
      (typeof item === 'object' && item !== null && (item as { __orbaxScalar?: unknown }).__orbaxScalar === true);
    if (!isNdArray(item) && !scalarLike) {
      throw new UnsupportedTypeError(`Unsupported type: ${item === null ? 'null' : typeof item === 'object' ? item.constructor?.name ?? 'object' : typeof item}`);
    }
    this.item = item;
    this.saveArgs = parsed.saveArgs;
    Object.freeze(this);
  }
}

const restoreSchema = z.object({ item: z.unknown().optional(), restoreArgs: z.unknown().optional() }).strict();

/** Restores the bare value; `restoreArgs` (a `RestoreArgs`) may cast it or ask for a scalar. */
export class ArrayRestore extends CheckpointArgs {
  readonly item: unknown;
  readonly restoreArgs: unknown;

  constructor(opts?: { item?: unknown; restoreArgs?: unknown }) {
    super();
    const parsed = parseArgsOptions(restoreSchema, opts, 'ArrayRestore options');
    this.item = parsed.item;
    this.restoreArgs = parsed.restoreArgs;
    Object.freeze(this);
  }
}
