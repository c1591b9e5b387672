/**
 * `CompositeCheckpointHandler`: several items, one subdirectory each, each written by its own
 * handler into `<dir>/<item>.orbax-checkpoint-tmp` and committed (marker + rename) at finalize,
 * while the parent is still temporary, exactly as Orbax does (orbax-layout §2.4).
 */
import { readdir } from 'node:fs/promises';

import { z } from 'zod';

import { type CheckpointArgs, parseArgsOptions } from '../args/checkpointArgs.js';
import { Composite, isComposite } from '../args/composite.js';
import { TMP_DIR_SUFFIX } from '../checkpointers/checkpointPath.js';
import { callNative, InvalidArgumentError, KeyNotFoundError } from '../errors.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import type { StepMetadata } from '../metadata/types.js';
import { native } from '../native.js';
import {
  type AsyncCheckpointHandler,
  type AsyncSaveContext,
  type CheckpointHandler,
  type FinalizeContext,
  type SaveProcessContext,
  type HandlerClass,
  isAsyncHandler,
  type StorageContext,
  isHandler,
  quiet,
} from './checkpointHandler.js';
import { CheckpointHandlerRegistry } from './handlerRegistry.js';
import { findRegisteredHandlerClass, getHandlerType, getRegisteredArgsClasses, instantiateHandler } from './registration.js';
import { TYPESTRS } from './typestrs.js';
import { storageFor } from '../storage/index.js';

function join(directory: string, name: string): string {
  return storageFor(directory).join(directory, name);
}

/** Options of {@link CompositeCheckpointHandler}. */
export interface CompositeCheckpointHandlerOptions {
  /** Item names this handler accepts (deprecated in Orbax; exclusive with `handlerRegistry`). */
  itemNames?: string[];
  /** Handlers per (item, args class). */
  handlerRegistry?: CheckpointHandlerRegistry;
  /** Item name → handler (Python's `**items_and_handlers`; exclusive with `handlerRegistry`). */
  items?: Record<string, CheckpointHandler>;
}

const optionsSchema = z
  .object({
    itemNames: z.array(z.string().min(1)).optional(),
    handlerRegistry: z.instanceof(CheckpointHandlerRegistry).optional(),
    items: z.record(z.string(), z.custom<CheckpointHandler>(isHandler, { message: 'expected a CheckpointHandler' })).optional(),
  })
  .strict();

interface PendingItem {
  name: string;
  handler: CheckpointHandler;
  tmpDir: string;
  finalDir: string;
  storageOptions: StorageContext['storageOptions'];
}

function argsRepr(args: unknown): string {
  return typeof args === 'object' && args !== null ? `${(args as object).constructor?.name ?? 'object'}(...)` : String(args);
}

/** An item's view of a multi-process save: the same processes, barriers named after the item. */
function itemProcess(mp: SaveProcessContext, name: string): SaveProcessContext {
  return { ...mp, barrier: (phase: string) => mp.barrier(`${name}.${phase}`) };
}

/** Mirrors Python's `CompositeCheckpointHandler`; save and restore take `args.Composite`. */
export class CompositeCheckpointHandler implements AsyncCheckpointHandler<Composite, Composite, Composite, StepMetadata<Composite>> {
  static typestr(): string {
    return TYPESTRS.composite;
  }

  readonly #registry: CheckpointHandlerRegistry | undefined;
  readonly #itemNames: ReadonlySet<string> | undefined;
  /** Handlers fixed by configuration or by first use, per item. */
  readonly #known = new Map<string, CheckpointHandler>();
  readonly #pending = new Map<string, PendingItem[]>();
  #lastSavedTypestrs: Record<string, string | null> = {};

  constructor(opts?: CompositeCheckpointHandlerOptions) {
    const parsed = parseArgsOptions(optionsSchema, opts, 'CompositeCheckpointHandler options');
    if (parsed.handlerRegistry && (parsed.itemNames || parsed.items)) {
      throw new InvalidArgumentError('CompositeCheckpointHandler: handlerRegistry is exclusive with itemNames and items.');
    }
    this.#registry = parsed.handlerRegistry;
    const names = new Set([...(parsed.itemNames ?? []), ...Object.keys(parsed.items ?? {})]);
    this.#itemNames = parsed.itemNames ? names : undefined;
    for (const [name, handler] of Object.entries(parsed.items ?? {})) this.#known.set(name, handler);
  }

  typestr(): string {
    return CompositeCheckpointHandler.typestr();
  }

  /** Item name → handler typestr of the last save (what `_CHECKPOINT_METADATA.item_handlers` records). */
  itemHandlerTypestrs(): Record<string, string | null> {
    return { ...this.#lastSavedTypestrs };
  }

  #checkName(name: string): void {
    if (this.#itemNames && !this.#itemNames.has(name)) {
      throw new InvalidArgumentError(`Unknown key "${name}". Known items: [${[...this.#itemNames].map((n) => `'${n}'`).join(', ')}].`);
    }
    if (name.length === 0 || name.includes('/') || name.includes(TMP_DIR_SUFFIX) || name === '.' || name === '..') {
      throw new InvalidArgumentError(`Item name ${JSON.stringify(name)} cannot be a directory name.`);
    }
  }

  #accepts(handler: CheckpointHandler, args: CheckpointArgs): boolean {
    const [save, restore] = getRegisteredArgsClasses(handler.constructor as HandlerClass);
    if (!save && !restore) return true; // a user handler without registered args takes any
    return (save !== undefined && args instanceof save) || (restore !== undefined && args instanceof restore);
  }

  /** The handler of item `name` for `args`, fixed after first use. */
  #handlerFor(name: string, args: CheckpointArgs): CheckpointHandler {
    const mismatch = (): InvalidArgumentError =>
      new InvalidArgumentError(
        `Item "${name}" and args "${argsRepr(args)}" does not match with any registered handler! ` +
          'Register a handler for this item and args type in the handler registry, or use the args class of the item\'s handler.',
      );
    const known = this.#known.get(name);
    if (known) {
      if (!this.#accepts(known, args)) throw mismatch();
      return known;
    }
    let handler: CheckpointHandler | undefined;
    if (this.#registry) {
      if (!this.#registry.has(name, args)) throw mismatch();
      handler = this.#registry.get(name, args);
    } else {
      const cls = findRegisteredHandlerClass(args);
      if (!cls) throw mismatch();
      handler = instantiateHandler(cls);
    }
    this.#known.set(name, handler);
    return handler;
  }

  /** The handler of item `name` for a restore without args: configured, registered, or from the typestr. */
  #handlerForRestore(name: string, typestrs: Readonly<Record<string, string | null>>): CheckpointHandler | undefined {
    const known = this.#known.get(name) ?? this.#registry?.handlerForItem(name);
    if (known) return known;
    const typestr = typestrs[name];
    if (!typestr) return undefined;
    try {
      const handler = instantiateHandler(getHandlerType(typestr));
      this.#known.set(name, handler);
      return handler;
    } catch {
      return undefined;
    }
  }

  async save(directory: string, args: Composite, context?: StorageContext): Promise<void> {
    const futures = await this.asyncSave(directory, args, { copyInputs: false, storageOptions: context?.storageOptions });
    await Promise.all(futures);
  }

  /**
   * Resolves every item's handler and has each capture its inputs; each item is written into
   * `<directory>/<item>.orbax-checkpoint-tmp`, created once `directory` exists.
   */
  async asyncSave(directory: string, args: Composite, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    if (!isComposite(args)) throw new InvalidArgumentError(`CompositeCheckpointHandler takes Composite args, got ${argsRepr(args)}.`);
    if (args.size === 0) throw new InvalidArgumentError('Composite args must name at least one item.');
    const plan = args.entries().map(([name, itemArgs]) => {
      this.#checkName(name);
      return { name, itemArgs: itemArgs as CheckpointArgs, handler: this.#handlerFor(name, itemArgs as CheckpointArgs) };
    });
    const storageOptions = context?.storageOptions;
    const inPlace = context?.inPlace ?? false;
    const mp = context?.multiprocessing;
    const dirsOf = (name: string): { finalDir: string; tmpDir: string } => {
      const finalDir = join(directory, name);
      return { finalDir, tmpDir: inPlace ? finalDir : finalDir + TMP_DIR_SUFFIX };
    };
    const parentReady = context?.directoryReady ?? Promise.resolve();
    // In a multi-process save the primary creates every item directory once the parent exists,
    // and all processes cross a barrier before writing into them.
    const allItemsCreated = mp
      ? quiet(
          parentReady.then(async () => {
            if (mp.isPrimary) {
              for (const { name } of plan) {
                const { finalDir } = dirsOf(name);
                await callNative(() => native.createTmpDirectory(finalDir, false, false, inPlace, storageOptions ?? null));
              }
            }
            await mp.barrier('items');
          }),
        )
      : undefined;
    const pending: PendingItem[] = [];
    const futures: Array<Promise<void>> = allItemsCreated ? [allItemsCreated] : [];
    for (const { name, itemArgs, handler } of plan) {
      const { finalDir, tmpDir } = dirsOf(name);
      const itemReady =
        allItemsCreated ??
        quiet(
          parentReady.then(async () => {
            await callNative(() => native.createTmpDirectory(finalDir, false, false, inPlace, storageOptions ?? null));
          }),
        );
      pending.push({ name, handler, tmpDir, finalDir, storageOptions });
      if (isAsyncHandler(handler)) {
        const itemContext = {
          directoryReady: itemReady,
          inPlace,
          storageOptions,
          ...(mp ? { multiprocessing: itemProcess(mp, name) } : {}),
          ...(context?.copyInputs !== undefined ? { copyInputs: context.copyInputs } : {}),
          ...(context?.transfer !== undefined ? { transfer: context.transfer } : {}),
        };
        futures.push(...(await handler.asyncSave(tmpDir, itemArgs, itemContext)).map(quiet));
      } else {
        futures.push(quiet(itemReady.then(() => handler.save(tmpDir, itemArgs, { storageOptions }))));
      }
      if (!allItemsCreated) futures.push(itemReady);
    }
    this.#pending.set(directory, pending);
    this.#lastSavedTypestrs = Object.fromEntries(pending.map((p) => [p.name, p.handler.typestr()]));
    return futures;
  }

  /** Finalizes and commits every item written into `directory`. */
  async finalize(directory: string, context?: FinalizeContext): Promise<void> {
    const pending = this.#pending.get(directory) ?? [];
    this.#pending.delete(directory);
    for (const item of pending) {
      const mp = context?.multiprocessing;
      await item.handler.finalize(item.tmpDir, {
        storageOptions: item.storageOptions,
        ...(mp ? { multiprocessing: itemProcess(mp, item.name) } : {}),
      });
      await callNative(() => native.commitDirectory(item.tmpDir, item.finalDir, item.storageOptions ?? null));
    }
  }

  async #itemNamesOnDisk(directory: string, context: StorageContext | undefined): Promise<string[]> {
    const storage = storageFor(directory, context?.storageOptions);
    if (storage.kind === 'local') {
      // Locally a missing directory rejects with readdir's own error, as before.
      const entries = await readdir(directory, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && !e.name.includes(TMP_DIR_SUFFIX))
        .map((e) => e.name)
        .sort();
    }
    return (await storage.list(directory)).filter((e) => e.isDirectory && !e.name.includes(TMP_DIR_SUFFIX)).map((e) => e.name);
  }

  async #typestrsOf(directory: string, context: StorageContext | undefined): Promise<Record<string, string | null>> {
    const meta = await readStepMetadata(directory, null, context?.storageOptions);
    return meta.itemHandlers !== null && typeof meta.itemHandlers === 'object' ? { ...meta.itemHandlers } : {};
  }

  /**
   * Restores the items named in `args` (each with its own args), or, without args, every item
   * directory, each with its configured handler or the one its typestr names.
   */
  async restore(directory: string, args?: Composite, context?: StorageContext): Promise<Composite> {
    if (args !== undefined && !isComposite(args)) throw new InvalidArgumentError(`CompositeCheckpointHandler takes Composite args, got ${argsRepr(args)}.`);
    const onDisk = await this.#itemNamesOnDisk(directory, context);
    const itemContext = { storageOptions: context?.storageOptions };
    const results: Record<string, unknown> = {};
    if (args === undefined || args.size === 0) {
      const typestrs = await this.#typestrsOf(directory, context);
      for (const name of onDisk) {
        const handler = this.#handlerForRestore(name, typestrs);
        if (!handler) {
          throw new InvalidArgumentError(
            `Item "${name}" was found in the checkpoint, but could not be restored. Please provide a CheckpointHandlerRegistry, ` +
              'or call restore with an appropriate CheckpointArgs subclass.',
          );
        }
        results[name] = await handler.restore(join(directory, name), undefined, itemContext);
      }
      return new Composite(results);
    }
    for (const [name, itemArgs] of args.entries()) {
      if (!onDisk.includes(name)) {
        throw new KeyNotFoundError(
          `Item "${name}" was not found in the checkpoint. Available items: [${onDisk.map((n) => `'${n}'`).join(', ')}]`,
        );
      }
      const handler = this.#handlerFor(name, itemArgs as CheckpointArgs);
      results[name] = await handler.restore(join(directory, name), itemArgs as CheckpointArgs, itemContext);
    }
    return new Composite(results);
  }

  /** Step metadata with per-item metadata (null for items without a resolvable handler). */
  async metadata(directory: string, context?: StorageContext): Promise<StepMetadata<Composite>> {
    const typestrs = await this.#typestrsOf(directory, context);
    const items: Record<string, unknown> = {};
    for (const name of await this.#itemNamesOnDisk(directory, context)) {
      const handler = this.#handlerForRestore(name, typestrs);
      try {
        items[name] = handler ? await handler.metadata(join(directory, name), { storageOptions: context?.storageOptions }) : null;
      } catch {
        items[name] = null;
      }
    }
    return readStepMetadata(directory, new Composite(items), context?.storageOptions);
  }

  async close(): Promise<void> {
    for (const handler of new Set(this.#known.values())) await handler.close();
  }
}
