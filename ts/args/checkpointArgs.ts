/**
 * `CheckpointArgs`: the base of every save/restore argument object (Python `ocp.args.*`). A
 * handler is chosen by the class of its args, so each args class is registered with the handler
 * that takes it (see `registerWithHandler`).
 */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';

/** Base class of save/restore arguments. Subclass it for arguments of your own handlers. */
export abstract class CheckpointArgs {
  /** Python-like repr used in error messages, e.g. `JsonSave(...)`. */
  toString(): string {
    return `${this.constructor.name}(...)`;
  }
}

/** A concrete or abstract args class. */
export type ArgsClass<A extends CheckpointArgs = CheckpointArgs> = abstract new (...args: never[]) => A;

/** Validates an options object with zod, throwing an {@link InvalidArgumentError}. */
export function parseArgsOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new InvalidArgumentError(`Invalid ${what}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/** A JSON object with string keys (custom metadata). */
export const jsonObjectSchema = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v),
  { message: 'expected a plain object' },
);
