/**
 * Global registrations, as Orbax keeps them: which handler class takes which args class
 * (`registerWithHandler`, so a composite can pick a handler from the args alone), and typestr →
 * handler class (`registerHandlerType`, so a checkpoint can be restored from the typestrs its
 * `_CHECKPOINT_METADATA.item_handlers` records).
 */
import { type ArgsClass, CheckpointArgs } from '../args/checkpointArgs.js';
import { InvalidArgumentError, KeyNotFoundError, UnsupportedTypeError } from '../errors.js';
import type { CheckpointHandler, HandlerClass } from './checkpointHandler.js';

const handlerByArgs = new Map<ArgsClass, { handler: HandlerClass; forSave: boolean; forRestore: boolean }>();
const handlerTypes = new Map<string, HandlerClass>();

/** Registers `handlerClass` as the handler taking `argsClass` for saving and/or restoring. */
export function registerWithHandler(
  argsClass: ArgsClass,
  handlerClass: HandlerClass,
  opts: { forSave?: boolean; forRestore?: boolean },
): void {
  const forSave = opts.forSave ?? false;
  const forRestore = opts.forRestore ?? false;
  if (!forSave && !forRestore) {
    throw new InvalidArgumentError(`Must specify either forSave or forRestore for ${argsClass.name}.`);
  }
  if (typeof argsClass !== 'function' || !(argsClass.prototype instanceof CheckpointArgs)) {
    throw new UnsupportedTypeError(`${String((argsClass as { name?: string })?.name ?? argsClass)} must be a subclass of CheckpointArgs.`);
  }
  handlerByArgs.set(argsClass, { handler: handlerClass, forSave, forRestore });
  registerHandlerType(handlerClass.typestr(), handlerClass);
}

function argsClassOf(args: CheckpointArgs | ArgsClass): ArgsClass {
  return typeof args === 'function' ? (args as ArgsClass) : (args.constructor as ArgsClass);
}

/** The handler class registered for `args` (an instance or a class), or undefined. */
export function findRegisteredHandlerClass(args: CheckpointArgs | ArgsClass): HandlerClass | undefined {
  let cls: unknown = argsClassOf(args);
  while (typeof cls === 'function' && cls !== CheckpointArgs) {
    const entry = handlerByArgs.get(cls as ArgsClass);
    if (entry) return entry.handler;
    cls = Object.getPrototypeOf(cls);
  }
  return undefined;
}

/** The handler class registered for `args`; none is an InvalidArgumentError. */
export function getRegisteredHandlerClass(args: CheckpointArgs | ArgsClass): HandlerClass {
  const found = findRegisteredHandlerClass(args);
  if (!found) {
    throw new InvalidArgumentError(`Unknown CheckpointArgs type: ${argsClassOf(args).name}. Register it with registerWithHandler().`);
  }
  return found;
}

/** The args classes registered with `handlerClass`: `[saveArgsClass, restoreArgsClass]`. */
export function getRegisteredArgsClasses(handlerClass: HandlerClass): [ArgsClass | undefined, ArgsClass | undefined] {
  let save: ArgsClass | undefined;
  let restore: ArgsClass | undefined;
  for (const [args, entry] of handlerByArgs) {
    if (entry.handler !== handlerClass) continue;
    if (entry.forSave) save = args;
    if (entry.forRestore) restore = args;
  }
  return [save, restore];
}

/** Whether any handler is registered for `args`. */
export function hasRegisteredArgs(args: CheckpointArgs | ArgsClass): boolean {
  return findRegisteredHandlerClass(args) !== undefined;
}

const V0_PREFIX = 'orbax.checkpoint.v0._src.';
const SRC_PREFIX = 'orbax.checkpoint._src.';

/** Maps `typestr` to `handlerClass` (and the built-ins' other Python spelling, `…v0._src…`). */
export function registerHandlerType(typestr: string, handlerClass: HandlerClass): void {
  const existing = handlerTypes.get(typestr);
  if (existing && existing !== handlerClass) {
    throw new InvalidArgumentError(`Handler type string "${typestr}" is already registered to ${existing.name}, not ${handlerClass.name}.`);
  }
  handlerTypes.set(typestr, handlerClass);
}

/** The handler class of a typestr, accepting both `orbax.checkpoint._src.` and `orbax.checkpoint.v0._src.`. */
export function getHandlerType(typestr: string): HandlerClass {
  const direct = handlerTypes.get(typestr);
  if (direct) return direct;
  const alternative = typestr.startsWith(V0_PREFIX)
    ? SRC_PREFIX + typestr.slice(V0_PREFIX.length)
    : typestr.startsWith(SRC_PREFIX)
      ? V0_PREFIX + typestr.slice(SRC_PREFIX.length)
      : undefined;
  const found = alternative ? handlerTypes.get(alternative) : undefined;
  if (!found) throw new KeyNotFoundError(`Unknown handler type string: "${typestr}". Register it with registerHandlerType().`);
  return found;
}

/** A fresh instance of a handler class; one that needs constructor arguments is an error. */
export function instantiateHandler(handlerClass: HandlerClass): CheckpointHandler {
  try {
    return new handlerClass();
  } catch (error) {
    throw new InvalidArgumentError(`Could not construct ${handlerClass.name} without arguments; pass a handler instance instead.`, { cause: error });
  }
}
