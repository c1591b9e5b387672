/**
 * `CheckpointHandlerRegistry` / `DefaultCheckpointHandlerRegistry`: (item name, args class) →
 * handler instance, as a CheckpointManager or a CompositeCheckpointHandler is configured. An
 * entry with item `null` serves every item that has no entry of its own.
 */
import { type ArgsClass, CheckpointArgs } from '../args/checkpointArgs.js';
import { AlreadyExistsError, InvalidArgumentError, NoEntryError } from '../errors.js';
import { type CheckpointHandler, type HandlerClass, isHandler } from './checkpointHandler.js';
import { findRegisteredHandlerClass, getRegisteredArgsClasses, instantiateHandler } from './registration.js';

/** One registry entry. */
export interface HandlerRegistryEntry {
  readonly item: string | null;
  readonly argsClass: ArgsClass;
  readonly handler: CheckpointHandler;
}

function argsClassOf(args: CheckpointArgs | ArgsClass): ArgsClass {
  if (typeof args === 'function') {
    if (!(args.prototype instanceof CheckpointArgs)) throw new InvalidArgumentError(`${args.name} is not a CheckpointArgs class.`);
    return args as ArgsClass;
  }
  if (!(args instanceof CheckpointArgs)) throw new InvalidArgumentError(`${String(args)} is not a CheckpointArgs instance or class.`);
  return args.constructor as ArgsClass;
}

/** Mirrors Python's `CheckpointHandlerRegistry`. */
export class CheckpointHandlerRegistry {
  readonly #entries: HandlerRegistryEntry[] = [];

  /** Copies the entries of `other`, if given. */
  constructor(other?: CheckpointHandlerRegistry) {
    if (other) this.#entries.push(...other.entries());
  }

  /**
   * Registers `handler` (an instance, a class to instantiate, or by default the handler
   * globally registered for the args class) for `item` (or every item, with `null`) and
   * `args`. The handler's paired save/restore args class is registered too, so that a
   * registry set up for saving also restores.
   */
  add(item: string | null, args: CheckpointArgs | ArgsClass, handler?: CheckpointHandler | HandlerClass): void {
    const argsClass = argsClassOf(args);
    if (this.#find(item, argsClass)) {
      throw new AlreadyExistsError(`Entry for item=${item === null ? 'None' : JSON.stringify(item)} and args_type=${argsClass.name} already exists in the registry.`);
    }
    let instance: CheckpointHandler;
    if (handler === undefined) {
      const cls = findRegisteredHandlerClass(argsClass);
      if (!cls) throw new InvalidArgumentError(`No handler is registered for ${argsClass.name}; pass a handler to add().`);
      instance = instantiateHandler(cls);
    } else if (typeof handler === 'function') {
      instance = instantiateHandler(handler);
    } else if (isHandler(handler)) {
      instance = handler;
    } else {
      throw new InvalidArgumentError(`add(): ${String(handler)} is not a CheckpointHandler.`);
    }
    this.#entries.push({ item, argsClass, handler: instance });
    for (const paired of getRegisteredArgsClasses(instance.constructor as HandlerClass)) {
      if (paired && paired !== argsClass && !this.#find(item, paired)) this.#entries.push({ item, argsClass: paired, handler: instance });
    }
  }

  #find(item: string | null, argsClass: ArgsClass): HandlerRegistryEntry | undefined {
    return this.#entries.find((e) => e.item === item && (e.argsClass === argsClass || argsClass.prototype instanceof e.argsClass));
  }

  /** The handler for `item` and `args` (falling back to a `null`-item entry); none → NoEntryError. */
  get(item: string | null, args: CheckpointArgs | ArgsClass): CheckpointHandler {
    const argsClass = argsClassOf(args);
    const entry = this.#find(item, argsClass) ?? (item !== null ? this.#find(null, argsClass) : undefined);
    if (!entry) {
      throw new NoEntryError(`No entry for item=${item === null ? 'None' : JSON.stringify(item)} and args_type=${argsClass.name} in the registry.`);
    }
    return entry.handler;
  }

  has(item: string | null, args: CheckpointArgs | ArgsClass): boolean {
    const argsClass = argsClassOf(args);
    return (this.#find(item, argsClass) ?? (item !== null ? this.#find(null, argsClass) : undefined)) !== undefined;
  }

  /** The handler registered for `item` under any args class (used to restore without args). */
  handlerForItem(item: string): CheckpointHandler | undefined {
    return this.#entries.find((e) => e.item === item)?.handler;
  }

  /** Every entry, in insertion order. */
  entries(): HandlerRegistryEntry[] {
    return [...this.#entries];
  }
}

/** Mirrors Python's `DefaultCheckpointHandlerRegistry`. */
export class DefaultCheckpointHandlerRegistry extends CheckpointHandlerRegistry {}
