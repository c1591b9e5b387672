/**
 * `args.Composite`: item name → args for a save or restore of several items, and the type of
 * composite restore results. Items are reachable as properties (`result.state`) and through
 * `get(name)`; iteration keeps insertion order.
 */
import { InvalidArgumentError, KeyNotFoundError } from '../errors.js';
import { CheckpointArgs } from './checkpointArgs.js';

const RESERVED = new Set(['get', 'has', 'keys', 'values', 'entries', 'size', 'toString', 'constructor', 'items']);

/** Item name → value, in insertion order. */
class CompositeImpl<T extends Record<string, unknown>> extends CheckpointArgs {
  readonly #items: Map<string, unknown>;

  constructor(items: T) {
    super();
    if (typeof items !== 'object' || items === null || Array.isArray(items)) {
      throw new InvalidArgumentError('Composite takes an object mapping item names to args (or results).');
    }
    this.#items = new Map(Object.entries(items));
    for (const [name, value] of this.#items) {
      if (RESERVED.has(name) || name.length === 0) {
        throw new InvalidArgumentError(`Composite: ${JSON.stringify(name)} cannot be an item name.`);
      }
      Object.defineProperty(this, name, { value, enumerable: true });
    }
    Object.freeze(this);
  }

  /** The item `name`; a missing item is a KeyNotFoundError listing the available ones. */
  get<K extends keyof T & string>(name: K): T[K];
  get(name: string): unknown;
  get(name: string): unknown {
    if (!this.#items.has(name)) {
      throw new KeyNotFoundError(`Unknown key: ${name}. Available keys: [${[...this.#items.keys()].map((k) => `'${k}'`).join(', ')}]`);
    }
    return this.#items.get(name);
  }

  has(name: string): boolean {
    return this.#items.has(name);
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  entries(): Array<[string, unknown]> {
    return [...this.#items.entries()];
  }

  get size(): number {
    return this.#items.size;
  }

  [Symbol.iterator](): IterableIterator<[string, unknown]> {
    return this.#items.entries();
  }

  override toString(): string {
    return `Composite(${[...this.#items.keys()].join(', ')})`;
  }
}

/** A composite of items; `T` maps item names to their args or results. */
export type Composite<T extends Record<string, unknown> = Record<string, unknown>> = CompositeImpl<T> & Readonly<T>;

/** `new Composite({ state: new StandardSave(tree), meta: new JsonSave(obj) })`. */
export const Composite = CompositeImpl as unknown as {
  new <T extends Record<string, unknown>>(items: T): Composite<T>;
  prototype: CompositeImpl<Record<string, unknown>>;
};

/** Whether `value` is a {@link Composite}. */
export function isComposite(value: unknown): value is Composite {
  return value instanceof CompositeImpl;
}
