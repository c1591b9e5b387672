/**
 * Random-key args: `args.JaxRandomKeySave/Restore` (a JAX PRNG key as its uint32 key data plus
 * whether it was a typed key) and `args.NumpyRandomKeySave/Restore` (a numpy generator state).
 */
import { z } from 'zod';

import { UnsupportedTypeError } from '../errors.js';
import { isNdArray, type NdArray } from '../tree/ndarray.js';
import { CheckpointArgs, parseArgsOptions } from './checkpointArgs.js';

/** A JAX PRNG key: its key data (uint32) and whether it is a typed key (`jax.random.key`). */
export interface JaxRandomKey {
  readonly data: NdArray<'uint32'>;
  /** `true` for `jax.random.key(...)`, `false` for a raw `jax.random.PRNGKey(...)` array. */
  readonly typed: boolean;
  /** The PRNG implementation, when known (e.g. `'threefry2x32'`); informational. */
  readonly impl?: string;
}

function asJaxKey(item: unknown): JaxRandomKey {
  if (isNdArray(item)) {
    if (item.dtype !== 'uint32') throw new UnsupportedTypeError(`JaxRandomKeySave: raw keys are uint32 arrays, got ${item.dtype}.`);
    return { data: item as NdArray<'uint32'>, typed: false };
  }
  if (typeof item === 'object' && item !== null && isNdArray((item as JaxRandomKey).data)) {
    const key = item as JaxRandomKey;
    if (key.data.dtype !== 'uint32') throw new UnsupportedTypeError(`JaxRandomKeySave: key data is uint32, got ${key.data.dtype}.`);
    return { data: key.data, typed: key.typed === true, ...(key.impl !== undefined ? { impl: key.impl } : {}) };
  }
  throw new UnsupportedTypeError('JaxRandomKeySave takes a uint32 key-data NdArray or { data, typed, impl? }.');
}

/** Saves a JAX PRNG key. */
export class JaxRandomKeySave extends CheckpointArgs {
  readonly item: JaxRandomKey;
  readonly saveArgs: unknown;

  constructor(item: JaxRandomKey | NdArray, opts?: { saveArgs?: unknown }) {
    super();
    const parsed = parseArgsOptions(z.object({ saveArgs: z.unknown().optional() }).strict(), opts, 'JaxRandomKeySave options');
    this.item = asJaxKey(item);
    this.saveArgs = parsed.saveArgs;
    Object.freeze(this);
  }
}

/** Restores a JAX PRNG key as `{ data, typed }`. */
export class JaxRandomKeyRestore extends CheckpointArgs {
  readonly restoreArgs: unknown;

  constructor(opts?: { restoreArgs?: unknown }) {
    super();
    const parsed = parseArgsOptions(z.object({ restoreArgs: z.unknown().optional() }).strict(), opts, 'JaxRandomKeyRestore options');
    this.restoreArgs = parsed.restoreArgs;
    Object.freeze(this);
  }
}

/**
 * numpy's legacy `RandomState.get_state()` tuple: `['MT19937', uint32[624] key, pos (int),
 * has_gauss (int), cached_gaussian (float)]`. Ints are `bigint` (Python ints, int64 on disk).
 */
export type NumpyLegacyState = readonly [string, NdArray<'uint32'>, bigint, bigint, number];

/** A numpy random state: the legacy tuple or a `bit_generator.state` dict. */
export type NumpyRandomState = NumpyLegacyState | Readonly<Record<string, unknown>>;

/** Saves a numpy random state. */
export class NumpyRandomKeySave extends CheckpointArgs {
  readonly item: NumpyRandomState;
  /** Whether `item` is the legacy tuple (an array) rather than a dict. */
  readonly legacy: boolean;

  constructor(item: NumpyRandomState) {
    super();
    const legacy = Array.isArray(item);
    if (!legacy && (typeof item !== 'object' || item === null || isNdArray(item))) {
      throw new UnsupportedTypeError(`NumpyRandomKeySave takes the legacy state tuple (an array) or a state dict, got ${typeof item}.`);
    }
    this.item = item;
    this.legacy = legacy;
    Object.freeze(this);
  }
}

/** Restores a numpy random state (the tuple as an array, or the dict). */
export class NumpyRandomKeyRestore extends CheckpointArgs {
  constructor() {
    super();
    Object.freeze(this);
  }
}
