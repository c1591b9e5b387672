/**
 * orbax-ts: Orbax-compatible checkpointing for Node.js.
 *
 * ```ts
 * import * as ocp from 'orbax-ts';
 * const tree = await new ocp.PyTreeCheckpointer().restore('/path/to/checkpoint');
 * ```
 */
import { native } from './native.js';

/** Version of the native core that was loaded. */
export function nativeVersion(): string {
  return native.nativeVersion();
}
