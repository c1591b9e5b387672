/** Metadata classes, mirroring `orbax.checkpoint.metadata`. */
import type { DType } from '../tree/dtypes.js';
import type { PyTree } from '../tree/pytree.js';

/** Sharding recorded in `_sharding` for a jax.Array leaf (informational; never used for placement). */
export type ShardingMetadata = Readonly<Record<string, unknown>>;

/** How an array is stored. */
export interface StorageMetadata {
  readonly chunkShape: readonly number[];
  readonly writeShape: readonly number[] | null;
  readonly zarrMetadata: {
    readonly zarrFormat: 2 | 3;
    /** `zstd:<level>` or null. */
    readonly compression: string | null;
    /** The exact `.zarray` / `zarr.json` text. */
    readonly text: string;
  };
}

/** An array leaf (`np.ndarray` or `jax.Array` in Python). */
export interface ArrayMetadata {
  readonly kind: 'array';
  /** Param name (the path joined by `.`). */
  readonly name: string;
  /** The item directory. */
  readonly directory: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly sharding: ShardingMetadata | null;
  readonly storage: StorageMetadata;
  /** Orbax's value type: `'np.ndarray'` or `'jax.Array'`. */
  readonly valueType: string;
}

/** A Python scalar, stored as a 0-d array. */
export interface ScalarMetadata {
  readonly kind: 'scalar';
  readonly name: string;
  readonly directory: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly storage: StorageMetadata;
}

/** A string leaf (stored in `_strings.json`). */
export interface StringMetadata {
  readonly kind: 'string';
  readonly name: string;
  readonly directory: string;
}

/** Metadata of one leaf. */
export type ValueMetadata = ArrayMetadata | ScalarMetadata | StringMetadata;

/** Whether `value` is a leaf metadata object. */
export function isValueMetadata(value: unknown): value is ValueMetadata {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return (kind === 'array' || kind === 'scalar' || kind === 'string') && typeof (value as { name?: unknown }).name === 'string';
}

/** The metadata tree of a PyTree item (Python `TreeMetadata`). */
export interface TreeMetadata {
  readonly tree: PyTree<ValueMetadata | null>;
  readonly customMetadata: unknown;
  readonly useZarr3: boolean;
  readonly useOcdbt: boolean;
}

/** Step metadata (`_CHECKPOINT_METADATA` plus item metadata), Python `StepMetadata`. */
export interface StepMetadata<I = unknown> {
  /** A typestr, or item name → typestr for composite / manager saves, or null. */
  readonly itemHandlers: string | Readonly<Record<string, string | null>> | null;
  readonly itemMetadata: I | null;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly performanceMetrics: Readonly<Record<string, number>>;
  readonly initTimestampNsecs: bigint | null;
  readonly commitTimestampNsecs: bigint | null;
  readonly customMetadata: Readonly<Record<string, unknown>>;
}
