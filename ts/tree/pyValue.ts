/**
 * JSON values as Python sees them. JS numbers that are integers are written as Python ints
 * (`1`); wrap a number with {@link jsonFloat} to write a Python float (`1.0`). bigints are ints.
 * The tagged form sent to the native core keeps that distinction; the core writes the bytes.
 */
import { InvalidArgumentError } from '../errors.js';
import { isPlainObject } from './pytree.js';

/** A number to be written as a Python float even when it is integral. */
export interface JsonFloat {
  readonly __orbaxJsonFloat: true;
  readonly value: number;
}

/** Marks `value` as a Python float (`jsonFloat(1)` is written `1.0`). */
export function jsonFloat(value: number): JsonFloat {
  return Object.freeze({ __orbaxJsonFloat: true as const, value });
}

function isJsonFloat(value: unknown): value is JsonFloat {
  return typeof value === 'object' && value !== null && (value as { __orbaxJsonFloat?: unknown }).__orbaxJsonFloat === true;
}

type Tagged = [string, ...unknown[]];

/** The tagged JSON text of a JSON-like value (see the Rust `PyValue::from_tagged`). */
export function toTaggedJson(value: unknown, what: string): string {
  const seen = new Set<object>();
  const tag = (v: unknown, where: string): Tagged => {
    if (v === null || v === undefined) return ['n'];
    if (typeof v === 'boolean') return ['b', v];
    if (typeof v === 'bigint') return ['i', v.toString()];
    if (typeof v === 'number') {
      return Number.isInteger(v) && !Object.is(v, -0) ? ['i', BigInt(v).toString()] : ['f', String(v)];
    }
    if (isJsonFloat(v)) return ['f', String(v.value)];
    if (typeof v === 'string') return ['s', v];
    if (typeof v === 'object') {
      if (seen.has(v)) throw new InvalidArgumentError(`${what}: circular structure at ${where}`);
      seen.add(v);
      try {
        if (Array.isArray(v)) return ['l', v.map((c, i) => tag(c, `${where}[${i}]`))];
        if (isPlainObject(v)) return ['d', Object.entries(v).map(([k, c]) => [k, tag(c, `${where}.${k}`)])];
      } finally {
        seen.delete(v);
      }
    }
    throw new InvalidArgumentError(`${what}: ${where} is not JSON-serializable (${typeof v})`);
  };
  return JSON.stringify(tag(value, '$'));
}

/**
 * The JS value of tagged JSON text read by the native core: Python ints become `number` when
 * they fit exactly (|v| ≤ 2^53 − 1) and `bigint` beyond; floats, including NaN and ±Infinity,
 * become `number`; dicts keep their key order.
 */
export function fromTaggedJson(text: string): unknown {
  const untag = (node: unknown): unknown => {
    if (!Array.isArray(node) || typeof node[0] !== 'string') {
      throw new InvalidArgumentError(`malformed tagged JSON: ${JSON.stringify(node)}`);
    }
    const [tag, arg] = node as [string, unknown];
    switch (tag) {
      case 'n':
        return null;
      case 'b':
        return arg as boolean;
      case 'i': {
        const big = BigInt(arg as string);
        return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : big;
      }
      case 'f':
        return Number(arg as string);
      case 's':
        return arg as string;
      case 'l':
        return (arg as unknown[]).map(untag);
      case 'd': {
        const out: Record<string, unknown> = {};
        for (const [key, value] of arg as Array<[string, unknown]>) out[key] = untag(value);
        return out;
      }
      default:
        throw new InvalidArgumentError(`malformed tagged JSON tag ${JSON.stringify(tag)}`);
    }
  };
  return untag(JSON.parse(text) as unknown);
}
