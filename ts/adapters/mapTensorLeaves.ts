/** Maps the tensor leaves of a PyTree, keeping its structure (used by the tensor adapters). */
import { isPlainObject, type PyTree } from '../tree/pytree.js';

/**
 * A copy of `tree` in which every value `isTarget` accepts is replaced by `convert(value)`.
 * Targets are checked before descending, so an object-shaped leaf (an NdArray, a tensor) is never
 * entered; plain objects and arrays are copied, every other value is kept as is.
 */
export function mapTensorLeaves(tree: unknown, isTarget: (value: unknown) => boolean, convert: (value: unknown) => unknown): PyTree {
  if (isTarget(tree)) return convert(tree) as PyTree;
  if (Array.isArray(tree)) return tree.map((child) => mapTensorLeaves(child, isTarget, convert));
  if (isPlainObject(tree)) {
    return Object.fromEntries(Object.entries(tree).map(([key, child]) => [key, mapTensorLeaves(child, isTarget, convert)]));
  }
  return tree as PyTree;
}

/** {@link mapTensorLeaves} with an asynchronous `convert` (all leaves converted concurrently). */
export async function mapTensorLeavesAsync(
  tree: unknown,
  isTarget: (value: unknown) => boolean,
  convert: (value: unknown) => Promise<unknown>,
): Promise<PyTree> {
  const pending: Promise<void>[] = [];
  const results = new Map<unknown, unknown>();
  // First pass: start every conversion (a leaf object appearing twice is converted once).
  mapTensorLeaves(tree, isTarget, (leaf) => {
    if (!results.has(leaf)) {
      results.set(leaf, undefined);
      pending.push(convert(leaf).then((value) => void results.set(leaf, value)));
    }
    return leaf;
  });
  await Promise.all(pending);
  return mapTensorLeaves(tree, isTarget, (leaf) => results.get(leaf));
}
