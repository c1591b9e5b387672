/** Finding a step's directory through a {@link NameFormat} (Python `path.step` helpers). */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';
import { parseOptions } from '../validation.js';
import { finalPathOfTemporary } from './atomicity.js';
import { buildStepPath, type NameFormat, nameFormatSchema, standardNameFormat, type StepLookupOptions } from './nameFormat.js';
import type { Metadata } from './stepPathMetadata.js';
import { allTemporaryPaths } from './tmpPaths.js';
import { pyStrListRepr } from './pyRepr.js';
import { storageFor, storageLocationOptionsSchema, type StorageOptions, storageOptionsSchema } from '../storage/index.js';

function basename(location: string): string {
  return storageFor(location).basename(location);
}

const lookupOptionsSchema = storageLocationOptionsSchema;

/**
 * Python `latest_step_metadata`: the metadata with the greatest step (on equal steps, the greatest
 * directory name), or null when there is no committed step.
 */
export async function latestStepMetadata(rootPath: string, nameFormat: NameFormat, opts?: StepLookupOptions): Promise<Metadata | null> {
  const options = parseOptions(lookupOptionsSchema, opts, 'latestStepMetadata options');
  let latest: Metadata | null = null;
  for (const metadata of await nameFormat.findAll(rootPath, options)) {
    if (latest === null || metadata.step > latest.step || (metadata.step === latest.step && basename(metadata.path) > basename(latest.path))) {
      latest = metadata;
    }
  }
  return latest;
}

/**
 * Python `step_metadata_of_checkpoint_path`: the step of `checkpointPath` among the committed steps
 * of its parent; a temporary or non-matching path is an `InvalidArgumentError`.
 */
export async function stepMetadataOfCheckpointPath(checkpointPath: string, nameFormat: NameFormat, opts?: StepLookupOptions): Promise<Metadata> {
  const options = parseOptions(lookupOptionsSchema, opts, 'stepMetadataOfCheckpointPath options');
  const storage = storageFor(checkpointPath, options.storageOptions);
  const path = storage.resolve(checkpointPath);
  const name = storage.basename(path);
  const all = await nameFormat.findAll(storage.parent(path), options);
  const found = all.find((metadata) => basename(metadata.path) === name);
  if (found !== undefined) return found;
  throw new InvalidArgumentError(
    `Failed to resolve step metadata of checkpoint path with NameFormat=${String(nameFormat)}, checkpoint path=${path}, ` +
      `path name(${name}) did not match with available step names: ${pyStrListRepr(all.map((m) => basename(m.path)))}. ` +
      'Please check if the given path is really a checkpoint path.',
  );
}

/** Options of {@link findStepPath}. */
export interface FindStepPathOptions {
  step: number;
  /** Also consider a temporary (uncommitted) directory of the step, which wins. Default false. */
  includeUncommitted?: boolean;
  /** Object-store configuration, for URL paths. */
  storageOptions?: StorageOptions;
}

const findStepPathSchema = z.object({ step: z.number().int(), includeUncommitted: z.boolean().optional(), storageOptions: storageOptionsSchema.optional() }).strict();

/**
 * Python `find_step_path`: the committed directory of `step` (`InvalidArgumentError` if absent);
 * with `includeUncommitted`, a temporary directory whose final path is the step's path is
 * returned first (e.g. `<base>/7.orbax-checkpoint-tmp`). Only the write format of a composite
 * format is considered for temporaries.
 */
export async function findStepPath(basePath: string, nameFormat: NameFormat, opts: FindStepPathOptions): Promise<string> {
  const { step, includeUncommitted, storageOptions } = parseOptions(findStepPathSchema, opts, 'findStepPath options');
  const storage = storageFor(basePath, storageOptions);
  const base = storage.resolve(basePath);
  if (includeUncommitted === true) {
    const finalPath = buildStepPath(base, nameFormat, step);
    // Python looks with the default atomicity options, whatever the name format's are.
    const tmp = (await allTemporaryPaths(base, undefined, storageOptions)).find((candidate) => finalPathOfTemporary(candidate) === finalPath);
    if (tmp !== undefined && (await storage.exists(tmp))) return tmp;
  }
  return (await nameFormat.findStep(base, step, { storageOptions })).path;
}

/** Python `maybe_find_step_metadata`: `findStep`, or null when it raises `InvalidArgumentError`. */
export async function maybeFindStepMetadata(basePath: string, nameFormat: NameFormat, opts: { step: number; storageOptions?: StorageOptions }): Promise<Metadata | null> {
  const { step, storageOptions } = parseOptions(z.object({ step: z.number().int(), storageOptions: storageOptionsSchema.optional() }).strict(), opts, 'maybeFindStepMetadata options');
  try {
    return await nameFormat.findStep(basePath, step, { storageOptions });
  } catch (error) {
    if (error instanceof InvalidArgumentError) return null;
    throw error;
  }
}

/** Options of {@link getSaveDirectory}. */
export interface GetSaveDirectoryOptions {
  /** Item name appended to the step directory (`'state'`, `'params'`, ...). */
  name?: string;
  stepPrefix?: string;
  /** Used instead of `<directory>/<step name>` when given. */
  overrideDirectory?: string;
  stepFormatFixedLength?: number;
  /** Wins over `stepPrefix` / `stepFormatFixedLength`. */
  stepNameFormat?: NameFormat;
}

const getSaveDirectorySchema = z
  .object({
    name: z.string().optional(),
    stepPrefix: z.string().optional(),
    overrideDirectory: z.string().optional(),
    stepFormatFixedLength: z.number().int().nonnegative().optional(),
    stepNameFormat: nameFormatSchema.optional(),
  })
  .strict();

/**
 * Python `get_save_directory`: `overrideDirectory`, else `<directory>/<step name>`, then `/<name>`
 * if given; e.g. `(5, root, { name: 'state', stepPrefix: 'ckpt', stepFormatFixedLength: 3 })`
 * → `<root>/ckpt_005/state`. No I/O.
 */
export function getSaveDirectory(step: number, directory: string, opts?: GetSaveDirectoryOptions): string {
  if (directory === undefined || directory === null) {
    throw new InvalidArgumentError('Directory cannot be None.');
  }
  const options = parseOptions(getSaveDirectorySchema, opts, 'getSaveDirectory options');
  let result: string;
  if (options.overrideDirectory !== undefined) {
    result = storageFor(options.overrideDirectory).resolve(options.overrideDirectory);
  } else {
    const nameFormat =
      options.stepNameFormat ??
      standardNameFormat({
        ...(options.stepPrefix !== undefined ? { stepPrefix: options.stepPrefix } : {}),
        ...(options.stepFormatFixedLength !== undefined ? { stepFormatFixedLength: options.stepFormatFixedLength } : {}),
      });
    result = buildStepPath(directory, nameFormat, step);
  }
  return options.name !== undefined ? storageFor(result).join(result, options.name) : result;
}

