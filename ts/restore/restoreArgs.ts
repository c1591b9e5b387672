/**
 * Per-leaf restore options (Python `RestoreArgs` / `ArrayRestoreArgs`) and
 * `checkpointUtils.constructRestoreArgs`, which derives them from a target tree.
 */
import { z } from 'zod';

import { InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { isValueMetadata, type ValueMetadata } from '../metadata/types.js';
import { type DType, dtypeKind, isDType } from '../tree/dtypes.js';
import { isNdArray, ShapeDtypeStruct } from '../tree/ndarray.js';
import { isPlainObject, type PathKey, PLACEHOLDER } from '../tree/pytree.js';

/** What a leaf restores as: an `NdArray`, a JS scalar, or a string. */
export type RestoreType = 'ndarray' | 'number' | 'bigint' | 'boolean' | 'string';

const restoreTypeSchema = z.enum(['ndarray', 'number', 'bigint', 'boolean', 'string']);
const dtypeSchema = z.string().refine(isDType, { message: 'unknown dtype' });

/** Options of {@link RestoreArgs}. */
export interface RestoreArgsOptions {
  /** The result type; by default the stored value type decides (arrays → NdArray, scalars → JS scalars). */
  restoreType?: RestoreType;
  /** Cast on read (numpy `astype` semantics). */
  dtype?: DType;
}

/** How one leaf is restored (Python `RestoreArgs`). */
export class RestoreArgs {
  readonly restoreType: RestoreType | undefined;
  readonly dtype: DType | undefined;

  constructor(opts: RestoreArgsOptions = {}) {
    const parsed = z.object({ restoreType: restoreTypeSchema.optional(), dtype: dtypeSchema.optional() }).loose().safeParse(opts);
    if (!parsed.success) throw new InvalidArgumentError(`Invalid RestoreArgs: ${z.prettifyError(parsed.error)}`);
    this.restoreType = parsed.data.restoreType;
    this.dtype = parsed.data.dtype as DType | undefined;
  }
}

/** Options of {@link ArrayRestoreArgs}. */
export interface ArrayRestoreArgsOptions extends RestoreArgsOptions {
  /** The shape to restore. With `strict` a different stored shape is an error; without, zeros pad and extra elements are cut. */
  globalShape?: readonly number[];
  /** Alias of `globalShape` (Python `shape`). */
  shape?: readonly number[];
  /** Default true. */
  strict?: boolean;
  /** Informational only: orbax-ts restores host arrays. */
  sharding?: unknown;
}

/** How one array leaf is restored, with a requested global shape (Python `ArrayRestoreArgs`). */
export class ArrayRestoreArgs extends RestoreArgs {
  readonly globalShape: readonly number[] | undefined;
  readonly strict: boolean;
  readonly sharding: unknown;

  constructor(opts: ArrayRestoreArgsOptions = {}) {
    super({ restoreType: opts.restoreType ?? 'ndarray', ...(opts.dtype !== undefined ? { dtype: opts.dtype } : {}) });
    const shape = z.array(z.number().int().nonnegative()).optional();
    const parsed = z
      .object({ globalShape: shape, shape, strict: z.boolean().optional(), sharding: z.unknown().optional() })
      .loose()
      .safeParse(opts);
    if (!parsed.success) throw new InvalidArgumentError(`Invalid ArrayRestoreArgs: ${z.prettifyError(parsed.error)}`);
    const requested = parsed.data.globalShape ?? parsed.data.shape;
    this.globalShape = requested ? Object.freeze([...requested]) : undefined;
    this.strict = parsed.data.strict ?? true;
    this.sharding = parsed.data.sharding ?? null;
  }
}

/** Options of {@link constructRestoreArgs}. */
export interface ConstructRestoreArgsOptions {
  /** A tree of shardings overriding the target's (informational in orbax-ts). */
  shardingTree?: unknown;
  /** Record each sharded leaf's shape as `globalShape` (default true). */
  setGlobalShape?: boolean;
  /** `strict` of the produced `ArrayRestoreArgs` (default true). */
  strict?: boolean;
}

function scalarRestoreType(dtype: DType): RestoreType {
  const kind = dtypeKind(dtype);
  return kind === 'bool' ? 'boolean' : kind === 'float' || kind === 'complex' ? 'number' : 'bigint';
}

function describeType(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'object';
}

function subtree(tree: unknown, key: PathKey): unknown {
  if (Array.isArray(tree) || isPlainObject(tree)) return (tree as Record<string | number, unknown>)[key];
  return undefined;
}

/**
 * Maps each leaf of `target` (a tree of NdArray / ShapeDtypeStruct / scalars / strings / leaf
 * metadata, or a `TreeMetadata`) to the restore args that reproduce it: arrays → `RestoreArgs`
 * (`ArrayRestoreArgs` with `globalShape` when the leaf carries a sharding), scalars and strings →
 * their restore type, `null` and empty nodes unchanged, `PLACEHOLDER` kept (skipped on restore).
 * Anything else is an `UnsupportedTypeError`.
 */
export function constructRestoreArgs(target: unknown, opts: ConstructRestoreArgsOptions = {}): unknown {
  const parsed = z
    .object({ shardingTree: z.unknown().optional(), setGlobalShape: z.boolean().optional(), strict: z.boolean().optional() })
    .strict()
    .safeParse(opts);
  if (!parsed.success) throw new InvalidArgumentError(`Invalid constructRestoreArgs options: ${z.prettifyError(parsed.error)}`);
  const setGlobalShape = parsed.data.setGlobalShape ?? true;
  const strict = parsed.data.strict ?? true;
  const isTreeMetadata = isPlainObject(target) === false && typeof target === 'object' && target !== null && 'tree' in target && 'useZarr3' in target;
  const root = isTreeMetadata ? (target as { tree: unknown }).tree : target;

  const forArray = (shape: readonly number[], dtype: DType, sharding: unknown): RestoreArgs => {
    if (sharding === null || sharding === undefined) return new RestoreArgs({ restoreType: 'ndarray', dtype });
    return new ArrayRestoreArgs({ restoreType: 'ndarray', dtype, strict, sharding, ...(setGlobalShape ? { globalShape: shape } : {}) });
  };
  const visit = (node: unknown, shardings: unknown): unknown => {
    if (node === null || node === undefined) return null;
    if (node === PLACEHOLDER) return PLACEHOLDER;
    if (isNdArray(node)) return forArray(node.shape, node.dtype, shardings ?? null);
    if (node instanceof ShapeDtypeStruct) return forArray(node.shape, node.dtype, shardings ?? node.sharding);
    if (isValueMetadata(node)) {
      const meta = node as ValueMetadata;
      if (meta.kind === 'string') return new RestoreArgs({ restoreType: 'string' });
      if (meta.kind === 'scalar') return new RestoreArgs({ restoreType: scalarRestoreType(meta.dtype) });
      return forArray(meta.shape, meta.dtype, shardings ?? meta.sharding);
    }
    switch (typeof node) {
      case 'number':
        return new RestoreArgs({ restoreType: 'number' });
      case 'bigint':
        return new RestoreArgs({ restoreType: 'bigint' });
      case 'boolean':
        return new RestoreArgs({ restoreType: 'boolean' });
      case 'string':
        return new RestoreArgs({ restoreType: 'string' });
      default:
        break;
    }
    if (typeof node === 'object' && (node as { __orbaxScalar?: unknown }).__orbaxScalar === true) {
      return new RestoreArgs({ restoreType: scalarRestoreType((node as { dtype: DType }).dtype) });
    }
    if (Array.isArray(node)) return node.map((child, i) => visit(child, subtree(shardings, i)));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = visit(child, subtree(shardings, key));
      return out;
    }
    throw new UnsupportedTypeError(`Unsupported type: ${describeType(node)}`);
  };
  return visit(root, parsed.data.shardingTree);
}
