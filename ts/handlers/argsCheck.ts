/** The one check every handler makes on the args it is given. */
import type { CheckpointArgs } from '../args/checkpointArgs.js';
import { InvalidArgumentError } from '../errors.js';

/** Throws unless `args` is an instance of one of `accepted`, naming what the handler takes. */
export function expectArgs<A extends CheckpointArgs>(
  handler: string,
  args: unknown,
  accepted: ReadonlyArray<abstract new (...a: never[]) => A>,
): A {
  if (accepted.some((cls) => args instanceof cls)) return args as A;
  const got = typeof args === 'object' && args !== null ? `${(args as object).constructor?.name ?? 'object'}` : String(args);
  throw new InvalidArgumentError(
    `${handler} takes ${accepted.map((c) => c.name).join(' or ')} args, got ${got}. ` +
      'Pass the args class registered with this handler, or use a handler that takes these args.',
  );
}
