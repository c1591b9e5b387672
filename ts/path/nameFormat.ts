/**
 * `NameFormat`: how step numbers map to directory names, and how steps are found under a root
 * (Python `path.step.NameFormat`, `standard_name_format`, `composite_name_format`).
 */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';
import { parseOptions } from '../validation.js';
import { type AtomicityOptions, atomicityOptionsSchema, isPathFinalized } from './atomicity.js';
import { Metadata } from './stepPathMetadata.js';
import { storageFor, type StorageOptions } from '../storage/index.js';

/** Where a step lookup reads: object-store configuration for URL roots. */
export interface StepLookupOptions {
  storageOptions?: StorageOptions | undefined;
}

function basename(location: string): string {
  return storageFor(location).basename(location);
}

/** Python `NameFormat` protocol. Every lookup ignores uncommitted (temporary) step directories. */
export interface NameFormat {
  /** The directory name of `step` (used to write it). */
  buildName(step: number): string;
  /** Every committed step under `basePath` (sorted by step, then name; `[]` if the root is missing). */
  findAll(basePath: string, options?: StepLookupOptions): Promise<Metadata[]>;
  /** The committed step `step` under `basePath`, or an `InvalidArgumentError` (Python `ValueError`). */
  findStep(basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata>;
  /** E.g. `StandardNameFormat("ckpt_1234")`; used in error messages. */
  toString(): string;
  /** Seed 002 parity (gone in 0.12.x): the metadata of `stepPath` if it is a committed step of this format, else null. */
  buildMetadata?(stepPath: string, options?: StepLookupOptions): Promise<Metadata | null>;
  /** Seed 002 parity (gone in 0.12.x): `findStep` returning null instead of throwing. */
  findMetadata?(basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata | null>;
}

/** Options of {@link standardNameFormat} (keyword-only in 0.12.8). */
export interface StandardNameFormatOptions {
  /** Names become `<stepPrefix>_<step>`. */
  stepPrefix?: string;
  /** Zero-pad steps to at least this many digits (`f'{step:0{n}d}'`). */
  stepFormatFixedLength?: number;
  /** Which directories count as committed (default: rename mode for local paths). */
  atomicityOptions?: AtomicityOptions;
}

const standardOptionsSchema = z
  .object({
    stepPrefix: z.string().optional(),
    stepFormatFixedLength: z.number().int().nonnegative().optional(),
    atomicityOptions: atomicityOptionsSchema.optional(),
  })
  .strict();

/** Python `step_prefix_with_underscore`: `''` without a prefix, else `prefix + '_'`. */
export function stepPrefixWithUnderscore(stepPrefix?: string | null): string {
  return stepPrefix === undefined || stepPrefix === null ? '' : `${stepPrefix}_`;
}

/** Python `build_step_path`: `<basePath>/<nameFormat.buildName(step)>`, without I/O. */
export function buildStepPath(basePath: string, nameFormat: NameFormat, step: number): string {
  const storage = storageFor(basePath);
  return storage.join(storage.resolve(basePath), nameFormat.buildName(step));
}

/**
 * Python `build_step_metadatas`: runs `build` over every path concurrently and keeps the non-null
 * results. The order is unspecified (Python yields in completion order); callers sort.
 */
export async function buildStepMetadatas<M>(stepPaths: Iterable<string>, build: (stepPath: string) => Promise<M | null>): Promise<M[]> {
  const results: Array<M | null> = await Promise.all(Array.from(stepPaths, (stepPath) => build(stepPath)));
  return results.filter((m): m is M => m !== null);
}

/** Sorts step metadata by step, then directory name, for deterministic listings. */
export function sortByStep<M extends Metadata>(metadatas: M[]): M[] {
  return metadatas.sort((a, b) => a.step - b.step || (basename(a.path) < basename(b.path) ? -1 : basename(a.path) > basename(b.path) ? 1 : 0));
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step)) {
    throw new InvalidArgumentError(`A step is an integer, got ${String(step)}.`);
  }
}

/** Python `f'{step:0{n}d}'`: the width counts the sign, so -3 with n=4 is `-003`. */
function zeroPadded(step: number, width: number): string {
  const digits = String(Math.abs(step));
  return step < 0 ? `-${digits.padStart(width - 1, '0')}` : digits.padStart(width, '0');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Configuration of every standard format, so that two formats built with the same options are
// equal (Python compares the frozen dataclasses), e.g. for composite_name_format's membership check.
const standardConfigs = new WeakMap<NameFormat, string>();

class StandardNameFormat implements NameFormat {
  readonly #prefix: string;
  readonly #fixedLength: number | undefined;
  readonly #atomicityOptions: AtomicityOptions | undefined;
  readonly #namePattern: RegExp;

  constructor(options: StandardNameFormatOptions) {
    this.#prefix = stepPrefixWithUnderscore(options.stepPrefix);
    this.#fixedLength = options.stepFormatFixedLength;
    this.#atomicityOptions = options.atomicityOptions;
    const n = this.#fixedLength ?? 0;
    // Python: (0\d{n-1}|[1-9]\d{n-1}\d*) with a fixed length n > 0, else (0|[1-9]\d*). The prefix
    // is escaped here; Python pastes it into the regex unescaped, which only matters for prefixes
    // holding regex metacharacters (Python then finds nothing or raises re.error).
    const stepGroup = n > 0 ? `(0\\d{${n - 1}}|[1-9]\\d{${n - 1}}\\d*)` : '(0|[1-9]\\d*)';
    this.#namePattern = new RegExp(`^${escapeRegExp(this.#prefix)}${stepGroup}$`);
    standardConfigs.set(this, JSON.stringify([this.#prefix, n, options.atomicityOptions?.mode ?? 'auto', options.atomicityOptions?.allowLegacyAtomicRename ?? false]));
    Object.freeze(this);
  }

  buildName(step: number): string {
    checkStep(step);
    const stepText = this.#fixedLength !== undefined ? zeroPadded(step, this.#fixedLength) : String(step);
    return `${this.#prefix}${stepText}`;
  }

  toString(): string {
    return `StandardNameFormat("${this.buildName(1234)}")`;
  }

  async buildMetadata(stepPath: string, options?: StepLookupOptions): Promise<Metadata | null> {
    const storageOptions = options?.storageOptions;
    const path = storageFor(stepPath, storageOptions).resolve(stepPath);
    if (!(await isPathFinalized(path, this.#atomicityOptions, storageOptions))) return null;
    const match = this.#namePattern.exec(basename(path));
    return match ? new Metadata(Number(match[1]), path, storageOptions) : null;
  }

  async findAll(basePath: string, options?: StepLookupOptions): Promise<Metadata[]> {
    const storage = storageFor(basePath, options?.storageOptions);
    const base = storage.resolve(basePath);
    if (!(await storage.isDirectory(base))) return [];
    const names = (await storage.list(base)).map((entry) => entry.name).filter((name) => name.startsWith(this.#prefix));
    const found = await buildStepMetadatas(
      names.map((name) => storage.join(base, name)),
      (path) => this.buildMetadata(path, options),
    );
    return sortByStep(found);
  }

  async findStep(basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata> {
    const storageOptions = options?.storageOptions;
    const storage = storageFor(basePath, storageOptions);
    const base = storage.resolve(basePath);
    if (!(await storage.isDirectory(base))) {
      throw new InvalidArgumentError(`Invalid base_path: ${base} does not exist or is not a directory.`);
    }
    // The step is known, so only the exact name counts (no regex): fixed length 4 looks for 0005.
    const path = storage.join(base, this.buildName(step));
    if (await isPathFinalized(path, this.#atomicityOptions, storageOptions)) return new Metadata(step, path, storageOptions);
    throw new InvalidArgumentError(`No step path found with name=${this.buildName(step)}, NameFormat=${this.toString()} for step=${step} under ${base}.`);
  }

  async findMetadata(basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata | null> {
    return maybeFindStep(this, basePath, step, options);
  }
}

/** `findStep`, with a "not found" `InvalidArgumentError` turned into null. */
async function maybeFindStep(nameFormat: NameFormat, basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata | null> {
  try {
    return await nameFormat.findStep(basePath, step, options);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return null;
    throw error;
  }
}

/**
 * Python `standard_name_format`: names `[<prefix>_]<step>`, the step zero-padded to at least
 * `stepFormatFixedLength` digits (12345 with 4 → `12345`, -3 with 4 → `-003`). `findAll` keeps
 * committed directories whose whole name matches `^<prefix_>(0|[1-9]\d*)$`, or with a fixed
 * length n `^<prefix_>(0\d{n-1}|[1-9]\d{n-1}\d*)$` (with n=4: `0012` and `12345`, not `12`).
 */
export function standardNameFormat(opts?: StandardNameFormatOptions): NameFormat {
  if (typeof opts === 'string') {
    // Python: standard_name_format('ckpt') → TypeError (keyword-only since 0.12).
    throw new InvalidArgumentError('standardNameFormat takes an options object, e.g. standardNameFormat({ stepPrefix: "ckpt" }).');
  }
  return new StandardNameFormat(parseOptions(standardOptionsSchema, opts, 'standardNameFormat options'));
}

function sameFormat(a: NameFormat, b: NameFormat): boolean {
  if (a === b) return true;
  const configA = standardConfigs.get(a);
  return configA !== undefined && configA === standardConfigs.get(b);
}

class CompositeNameFormat implements NameFormat {
  readonly #write: NameFormat;
  readonly #reads: readonly NameFormat[];

  constructor(writeFormat: NameFormat, readFormats: readonly NameFormat[]) {
    this.#write = writeFormat;
    this.#reads = readFormats;
    Object.freeze(this);
  }

  buildName(step: number): string {
    return this.#write.buildName(step);
  }

  toString(): string {
    return `Composite([${this.#reads.map(String).join(',')}])`;
  }

  async findAll(basePath: string, options?: StepLookupOptions): Promise<Metadata[]> {
    const seen = new Set<string>();
    const result: Metadata[] = [];
    for (const format of this.#reads) {
      for (const metadata of await format.findAll(basePath, options)) {
        if (!seen.has(metadata.path)) {
          seen.add(metadata.path);
          result.push(metadata);
        }
      }
    }
    return result;
  }

  async findStep(basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata> {
    const messages: string[] = [];
    for (const format of this.#reads) {
      try {
        return await format.findStep(basePath, step, options);
      } catch (error) {
        messages.push(error instanceof Error ? error.message : String(error));
      }
    }
    throw new InvalidArgumentError(messages.join('\n'));
  }

  async buildMetadata(stepPath: string, options?: StepLookupOptions): Promise<Metadata | null> {
    for (const format of this.#reads) {
      const metadata = (await format.buildMetadata?.(stepPath, options)) ?? null;
      if (metadata !== null) return metadata;
    }
    return null;
  }

  async findMetadata(basePath: string, step: number, options?: StepLookupOptions): Promise<Metadata | null> {
    return maybeFindStep(this, basePath, step, options);
  }
}

function isNameFormat(value: unknown): value is NameFormat {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof NameFormat, unknown>>;
  return typeof candidate.buildName === 'function' && typeof candidate.findAll === 'function' && typeof candidate.findStep === 'function';
}

/** Zod schema of a user-supplied {@link NameFormat}. */
export const nameFormatSchema = z.custom<NameFormat>(isNameFormat, { message: 'expected a NameFormat (buildName, findAll, findStep)' });

/**
 * Python `composite_name_format`: writes with `writeFormat`, reads with every `readFormats` entry
 * in order (`findAll` = their union de-duplicated by path, first format wins; `findStep` = the
 * first that finds the step, else one error joining all their messages). `writeFormat` must be
 * one of `readFormats`.
 */
export function compositeNameFormat(writeFormat: NameFormat, readFormats: readonly NameFormat[]): NameFormat {
  if (!isNameFormat(writeFormat) || !Array.isArray(readFormats) || !readFormats.every(isNameFormat)) {
    throw new InvalidArgumentError('compositeNameFormat takes a NameFormat and an array of NameFormats.');
  }
  if (!readFormats.some((format) => sameFormat(writeFormat, format))) {
    throw new InvalidArgumentError(
      `write_name_format: ${String(writeFormat)} must be present in read_name_formats: [${readFormats.map(String).join(',')}].`,
    );
  }
  return new CompositeNameFormat(writeFormat, [...readFormats]);
}
