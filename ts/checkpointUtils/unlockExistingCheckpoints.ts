/** `unlockExistingCheckpoints`: removes the `LOCKED` markers of older Orbax readers. */
import { z } from 'zod';

import { parseOptions } from '../validation.js';
import { checkpointSteps } from '../path/legacySteps.js';
import { type NameFormat, nameFormatSchema } from '../path/nameFormat.js';
import { maybeFindStepMetadata } from '../path/stepLookup.js';
import { storageFor, type StorageOptions, storageOptionsSchema } from '../storage/index.js';
import { initStepNameFormat } from './waitForNewCheckpoint.js';

/** The marker older Orbax (before 0.12) put in a step directory while a reader held it. */
export const LOCKED_MARKER = 'LOCKED';

/** Options of {@link unlockExistingCheckpoints}. */
export interface UnlockExistingCheckpointsOptions {
  stepPrefix?: string;
  stepFormatFixedLength?: number;
  stepNameFormat?: NameFormat;
  /** Object-store configuration (credentials, endpoint...), for URL directories. */
  storageOptions?: StorageOptions;
}

const unlockOptionsSchema = z
  .object({
    stepPrefix: z.string().optional(),
    stepFormatFixedLength: z.number().int().nonnegative().optional(),
    stepNameFormat: nameFormatSchema.optional(),
    storageOptions: storageOptionsSchema.optional(),
  })
  .strict();

/**
 * Compatibility helper (older Orbax `unlock_existing_checkpoints`; gone in 0.12.8): for every step
 * of the legacy scan that the name format finds, removes `<step dir>/LOCKED` (older readers made
 * it a directory; a leftover one breaks arg-less restore in 0.12.8, which takes it for an item).
 * Steps the name format does not resolve are skipped. Resolves to the unlocked steps, ascending.
 * orbax-ts itself never creates `LOCKED`. URL directories need their `storageOptions`.
 */
export async function unlockExistingCheckpoints(checkpointDir: string, opts?: UnlockExistingCheckpointsOptions): Promise<number[]> {
  const options = parseOptions(unlockOptionsSchema, opts, 'unlockExistingCheckpoints options');
  const { storageOptions } = options;
  const storage = storageFor(checkpointDir, storageOptions);
  const dir = storage.resolve(checkpointDir);
  const nameFormat = initStepNameFormat(options);
  const unlocked: number[] = [];
  for (const step of new Set(await checkpointSteps(dir, { storageOptions }))) {
    const metadata = await maybeFindStepMetadata(dir, nameFormat, { step, ...(storageOptions !== undefined ? { storageOptions } : {}) });
    if (metadata === null) continue;
    const marker = storage.join(metadata.path, LOCKED_MARKER);
    // Older readers made it a directory; on object stores it may be an object or a prefix.
    if (!(await storage.exists(marker))) continue;
    await storage.remove(marker);
    unlocked.push(step);
  }
  return unlocked;
}
