/** Validation of user-facing options objects with zod, in one place. */
import { z } from 'zod';

import { InvalidArgumentError } from './errors.js';

/** Parses `value` (undefined = `{}`) with `schema`, throwing an {@link InvalidArgumentError} naming `what`. */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new InvalidArgumentError(`Invalid ${what}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}
