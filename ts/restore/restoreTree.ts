/** Rebuilding a PyTree from an item: without a target (structure from `_METADATA`) or shaped like a target. */
import { InvalidArgumentError, UnsupportedTypeError } from '../errors.js';
import { isValueMetadata, type ValueMetadata } from '../metadata/types.js';
import { type DType, dtypeKind } from '../tree/dtypes.js';
import { isNdArray, type NdArray, ShapeDtypeStruct } from '../tree/ndarray.js';
import { isPlainObject, type PathKey, pathRepr, PLACEHOLDER, type PyTree } from '../tree/pytree.js';
import type { CheckpointReader, LeafInfo, SliceSpec } from './checkpointReader.js';
import { ArrayRestoreArgs, RestoreArgs } from './restoreArgs.js';
import { padArray } from '../tree/resize.js';
import { type TransferOptions, transferOf } from '../transfer.js';

/** How restored integer scalars are returned. */
export type IntScalars = 'bigint' | 'number';

/** Options of a tree restore. */
export interface RestoreTreeOptions {
  /** A tree whose leaves say what to restore (NdArray, ShapeDtypeStruct, metadata, scalars...). */
  target?: unknown;
  /** With a target: restore only the target's paths (PyTree `partial_restore`). */
  partial?: boolean;
  /** Whether the checkpoint may hold leaves the target lacks (StandardRestore behaviour). */
  allowExtraLeaves?: boolean;
  /** Integer scalars as `bigint` (default, exact) or `number` (throws beyond 2^53). */
  intScalars?: IntScalars;
  /** GiB decoded at once. */
  concurrentGb?: number;
  /** Cancellation and progress of the reads. */
  transfer?: TransferOptions;
  /** A tree of `RestoreArgs` / `ArrayRestoreArgs`; one at an inner node applies to its whole subtree. */
  restoreArgs?: unknown;
  /**
   * Targets whose shape differs from the stored one: `true` (default) keeps the stored shape for
   * host targets and refuses a mismatch for sharded targets; `false` pads / truncates.
   */
  strict?: boolean;
}

type Want = 'array' | 'number' | 'bigint' | 'boolean' | 'string' | 'auto';

interface Plan {
  leaf: LeafInfo;
  want: Want;
  dtype?: DType;
  /** Restore at this shape: the stored array truncated and/or zero-padded. */
  shape?: readonly number[];
  /** Load only this region of the stored array. */
  slice?: SliceSpec;
}

function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Applies a requested shape to a plan (Orbax's `strict` rule for `global_shape`). */
function withShape(plan: Plan, requested: readonly number[], strict: boolean): Plan {
  const meta = plan.leaf.metadata;
  if (!meta || meta.kind === 'string' || sameShape(meta.shape, requested)) return plan;
  if (strict) {
    throw new InvalidArgumentError(
      `Requested shape: ${shapeRepr(requested)} is not compatible with the stored shape: ${shapeRepr(meta.shape)} of ${pathRepr(plan.leaf.path)}. ` +
        'Truncating/padding is disabled by strict=true; pass strict: false to pad with zeros or truncate.',
    );
  }
  if (requested.length !== meta.shape.length) {
    throw new InvalidArgumentError(
      `Requested shape: ${shapeRepr(requested)} has a different rank than the stored shape: ${shapeRepr(meta.shape)} of ${pathRepr(plan.leaf.path)}.`,
    );
  }
  return { ...plan, shape: Object.freeze([...requested]) };
}

function restoreArgsAt(tree: unknown, path: readonly PathKey[]): RestoreArgs | undefined {
  let node = tree;
  for (const key of path) {
    if (node instanceof RestoreArgs) return node;
    if (node === null || node === undefined || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node instanceof RestoreArgs ? node : undefined;
}

function applyRestoreArgs(plan: Plan, args: RestoreArgs | undefined): Plan {
  // Empty nodes and skipped placeholders have nothing to restore.
  if (!args || !plan.leaf.metadata) return plan;
  let out: Plan = { ...plan };
  switch (args.restoreType) {
    case 'ndarray':
      out.want = 'array';
      break;
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'string':
      out.want = args.restoreType;
      break;
    default:
      break;
  }
  if (args.dtype) out.dtype = args.dtype;
  if (args instanceof ArrayRestoreArgs && args.globalShape) out = withShape(out, args.globalShape, args.strict);
  if (args instanceof ArrayRestoreArgs && args.slice) out.slice = args.slice;
  return out;
}

function emptyNode(valueType: string): unknown {
  switch (valueType) {
    case 'Dict':
    case 'NamedTuple':
      return {};
    case 'List':
    case 'Tuple':
      return [];
    case 'placeholder':
      return PLACEHOLDER;
    default:
      return null;
  }
}

function isTargetLeaf(value: unknown): boolean {
  return (
    value === null ||
    value === undefined ||
    value === PLACEHOLDER ||
    typeof value !== 'object' ||
    isNdArray(value) ||
    value instanceof ShapeDtypeStruct ||
    isValueMetadata(value) ||
    (Array.isArray(value) && value.length === 0) ||
    (isPlainObject(value) && Object.keys(value).length === 0) ||
    (!Array.isArray(value) && !isPlainObject(value))
  );
}

function toScalar(arr: NdArray, want: Want, intScalars: IntScalars, param: string): unknown {
  const kind = dtypeKind(arr.dtype);
  const raw = arr.data[0];
  if (want === 'boolean' || (want === 'auto' && kind === 'bool')) return raw !== 0 && raw !== 0n;
  if (kind === 'complex') return arr;
  if (want === 'number' || (want === 'auto' && kind === 'float')) {
    return typeof raw === 'bigint' ? Number(raw) : Number(raw);
  }
  const big = typeof raw === 'bigint' ? raw : BigInt(Math.trunc(Number(raw)));
  if (want === 'bigint' || intScalars === 'bigint') return big;
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new InvalidArgumentError(`Scalar ${param} = ${big} does not fit a JS number exactly; restore it as a bigint.`);
  }
  return Number(big);
}

async function readPlans(reader: CheckpointReader, plans: Plan[], opts: RestoreTreeOptions): Promise<unknown[]> {
  const reads: Array<{ index: number; path: string; dtype?: DType; slice?: SliceSpec }> = [];
  const values: unknown[] = new Array(plans.length);
  plans.forEach((plan, index) => {
    const meta = plan.leaf.metadata;
    if (!meta) {
      values[index] = emptyNode(plan.leaf.valueType);
    } else if (meta.kind === 'string') {
      const entry = reader.entryOf(plan.leaf.param);
      values[index] = entry?.stringValue ?? '';
    } else {
      let dtype = plan.dtype;
      if (!dtype && (plan.want === 'number' || (plan.want === 'auto' && meta.kind === 'scalar' && dtypeKind(meta.dtype) === 'float'))) {
        dtype = 'float64';
      }
      const requested = plan.shape;
      const slice =
        plan.slice ??
        (requested && requested.some((d, axis) => d < (meta.shape[axis] ?? 0))
          ? requested.map((d, axis) => [0, Math.min(d, meta.shape[axis] ?? 0)] as const)
          : undefined);
      reads.push({ index, path: plan.leaf.param, ...(dtype && dtype !== meta.dtype ? { dtype } : {}), ...(slice ? { slice } : {}) });
    }
  });
  const arrays = await reader.readArrays(
    reads.map((r) => ({ path: r.path, ...(r.dtype ? { dtype: r.dtype } : {}), ...(r.slice ? { slice: r.slice } : {}) })),
    { ...(opts.concurrentGb === undefined ? {} : { concurrentGb: opts.concurrentGb }), ...transferOf(opts.transfer) },
  );
  reads.forEach((r, i) => {
    const plan = plans[r.index] as Plan;
    const read = arrays[i] as NdArray;
    const arr = plan.shape && !sameShape(read.shape, plan.shape) ? padArray(read, plan.shape) : read;
    const asScalar = plan.want === 'number' || plan.want === 'bigint' || plan.want === 'boolean' || (plan.want === 'auto' && plan.leaf.metadata?.kind === 'scalar');
    values[r.index] = asScalar ? toScalar(arr, plan.want, opts.intScalars ?? 'bigint', plan.leaf.param) : arr;
  });
  return values;
}

/** Builds a nested tree from `(path, keyTypes, value)` triples in `_METADATA` order. */
function assemble(reader: CheckpointReader, values: unknown[]): PyTree {
  const leaves = reader.leaves();
  if (leaves.length === 0) return {};
  if (leaves.length === 1 && (leaves[0] as LeafInfo).path.length === 0) return values[0] as PyTree;
  const newContainer = (key: PathKey): Record<string, unknown> | unknown[] => (typeof key === 'number' ? [] : {});
  const root = newContainer((leaves[0] as LeafInfo).path[0] as PathKey);
  leaves.forEach((leaf, i) => {
    let node: Record<string, unknown> | unknown[] = root;
    leaf.path.forEach((key, depth) => {
      const last = depth === leaf.path.length - 1;
      const slot = node as Record<string | number, unknown>;
      if (last) {
        slot[key] = values[i];
        return;
      }
      if (slot[key] === undefined) slot[key] = newContainer(leaf.path[depth + 1] as PathKey);
      node = slot[key] as Record<string, unknown> | unknown[];
    });
  });
  return root as PyTree;
}

function planFor(targetLeaf: unknown, leaf: LeafInfo, strict: boolean): Plan {
  const meta = leaf.metadata;
  if (targetLeaf === PLACEHOLDER) return { leaf: { ...leaf, metadata: null, valueType: 'placeholder' }, want: 'auto' };
  if (isNdArray(targetLeaf) || targetLeaf instanceof ShapeDtypeStruct) {
    const plan: Plan = { leaf, want: 'array', dtype: targetLeaf.dtype };
    // Python checks the shape only for jax targets (a sharding); host targets take the stored
    // shape unless strict is off, which pads / truncates (an orbax-ts extension).
    const sharded = targetLeaf instanceof ShapeDtypeStruct && targetLeaf.sharding !== null;
    return sharded || !strict ? withShape(plan, targetLeaf.shape, strict) : plan;
  }
  if (isValueMetadata(targetLeaf)) {
    const vm = targetLeaf as ValueMetadata;
    if (vm.kind === 'string') return { leaf, want: 'string' };
    return { leaf, want: vm.kind === 'scalar' ? 'auto' : 'array', dtype: vm.dtype };
  }
  switch (typeof targetLeaf) {
    case 'number':
      return { leaf, want: 'number' };
    case 'bigint':
      return { leaf, want: 'bigint' };
    case 'boolean':
      return { leaf, want: 'boolean' };
    case 'string':
      return { leaf, want: 'string' };
    default:
      break;
  }
  if (targetLeaf === null || targetLeaf === undefined || Array.isArray(targetLeaf) || isPlainObject(targetLeaf)) {
    // An empty node in the target: restore whatever the checkpoint holds there.
    return { leaf, want: meta?.kind === 'array' ? 'array' : 'auto' };
  }
  throw new UnsupportedTypeError(`Unsupported type: ${Object.prototype.toString.call(targetLeaf)} for key: ${pathRepr(leaf.path)}.`);
}

function mapTarget(node: unknown, path: PathKey[], fn: (path: PathKey[], leaf: unknown) => unknown): unknown {
  if (isTargetLeaf(node)) return fn(path, node);
  if (Array.isArray(node)) return node.map((child, i) => mapTarget(child, [...path, i], fn));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node as Record<string, unknown>)) out[key] = mapTarget(child, [...path, key], fn);
  return out;
}

/** Restores the tree of `reader`, optionally shaped and typed by `opts.target`. */
export async function restoreTree(reader: CheckpointReader, opts: RestoreTreeOptions = {}): Promise<PyTree> {
  if (opts.target === undefined) {
    const plans = reader.leaves().map((leaf) => applyRestoreArgs({ leaf, want: 'auto' as Want }, restoreArgsAt(opts.restoreArgs, leaf.path)));
    return assemble(reader, await readPlans(reader, plans, opts));
  }
  const plans: Plan[] = [];
  const slots: number[] = [];
  const targetParams = new Set<string>();
  const shaped = mapTarget(opts.target, [], (path, leaf) => {
    const param = path.map(String).join('.');
    targetParams.add(param);
    let info: LeafInfo;
    try {
      info = reader.leaf(param);
    } catch {
      throw new InvalidArgumentError(
        `Structure mismatch: Target path ${pathRepr(path)} not found in metadata_tree of the checkpoint at ${reader.directory}.`,
      );
    }
    slots.push(plans.length);
    const args = restoreArgsAt(opts.restoreArgs, path);
    plans.push(applyRestoreArgs(planFor(leaf, info, opts.strict ?? true), args));
    return slots.length - 1;
  });
  if (!opts.partial && !opts.allowExtraLeaves) {
    const extra = reader.leaves().filter((l) => !targetParams.has(l.param));
    if (extra.length > 0) {
      throw new InvalidArgumentError(
        `User-provided restore item and on-disk value metadata tree structures do not match: the checkpoint also holds ${extra
          .map((l) => pathRepr(l.path))
          .join(', ')}; pass partialRestore to restore only the target's paths.`,
      );
    }
  }
  const values = await readPlans(reader, plans, opts);
  return mapTarget(shaped, [], (_path, slot) => values[slot as number]) as PyTree;
}

/** The metadata tree of an item: leaves are {@link ValueMetadata}, empty nodes as in a restore. */
export function metadataTree(reader: CheckpointReader): PyTree<ValueMetadata | null> {
  const values = reader.leaves().map((leaf) => leaf.metadata ?? emptyNode(leaf.valueType));
  return assemble(reader, values) as PyTree<ValueMetadata | null>;
}
