/** Argument validation of the policy layer (kept free of native imports, unlike `parseOptions`). */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';

/**
 * Validates `value` with zod, throwing an {@link InvalidArgumentError} in the format of
 * `parseOptions` (`Invalid <what>: ...`). Unlike `parseOptions`, `undefined`/`null` are passed
 * through to the schema, so it also validates single values.
 */
export function validated<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new InvalidArgumentError(`Invalid ${what}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}
