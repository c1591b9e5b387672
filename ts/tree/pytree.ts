/**
 * PyTrees in TypeScript: nested plain objects (Python dicts) and arrays (lists; tuples restore as
 * lists) whose leaves are arrays, scalars, strings, `null` (None) or {@link PLACEHOLDER}; `{}` and
 * `[]` are empty nodes.
 */
import type { NdArray } from './ndarray.js';

/** A leaf to skip on restore (Python's `ocp.PLACEHOLDER`, `...`). */
export const PLACEHOLDER: unique symbol = Symbol.for('orbax-ts.PLACEHOLDER');

/** Scalars: float64 `number`, int64 `bigint`, `boolean`. */
export type Scalar = number | bigint | boolean;

/** Anything that may be a leaf of a tree. */
export type Leaf = NdArray | Scalar | string | null | typeof PLACEHOLDER | object;

/** A tree of `L` leaves. */
export type PyTree<L = Leaf> = L | PyTree<L>[] | { [key: string]: PyTree<L> };

/** One component of a path: a dict key or a sequence index. */
export type PathKey = string | number;

/** Python's `repr()` of the tuple of path strings, as Orbax names paths in messages. */
export function pathRepr(path: readonly PathKey[]): string {
  const parts = path.map((k) => pyStrRepr(String(k)));
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
}

function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = '';
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if ((ch.codePointAt(0) ?? 0) < 0x20 || ch === '\x7f') out += `\\x${(ch.codePointAt(0) ?? 0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return quote + out + quote;
}

/** Whether `value` is a plain object node (a Python dict), not a leaf object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Flattens a tree into `[path, leaf]` pairs in JAX order (dict keys sorted by code point, lists
 * in order). `isLeaf` decides which objects are leaves; empty objects/arrays and `null` are
 * reported as leaves (empty nodes).
 */
export function flattenWithPaths(tree: unknown, isLeaf: (value: unknown) => boolean): Array<[PathKey[], unknown]> {
  const out: Array<[PathKey[], unknown]> = [];
  const visit = (node: unknown, path: PathKey[]): void => {
    if (!isLeaf(node)) {
      if (Array.isArray(node) && node.length > 0) {
        node.forEach((child, i) => visit(child, [...path, i]));
        return;
      }
      if (isPlainObject(node) && Object.keys(node).length > 0) {
        for (const key of Object.keys(node).sort(compareCodePoints)) visit(node[key], [...path, key]);
        return;
      }
    }
    out.push([path, node]);
  };
  visit(tree, []);
  return out;
}

/** Compares strings by Unicode code point (Python's `str` order), not UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx - cy;
  }
}
