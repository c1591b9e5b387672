// The Python reference (real Orbax 0.12.8) as an oracle: describe a tree the way expected.json
// does, and have verify_with_orbax.py restore a checkpoint and compare.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { type Json, sha256, sharedDir, storageBytes } from './fixtures.js';

const run = promisify(execFile);

/** The reference python, or null when it is not installed (an error under CI). */
export function refPython(): string | null {
  const candidates = [process.env.ORBAX_TS_REF_PYTHON, join(process.cwd(), '.venv-ref', 'bin', 'python')];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  if (process.env.CI) {
    throw new Error('The Python reference (.venv-ref) is missing: run bash ../shared/interop/setup-ref.sh');
  }
  return null;
}

function numberJson(value: number): Json {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

/** The expected.json node Orbax should restore for a tree saved by orbax-ts. */
export function describeTree(node: unknown): Json {
  if (ocp.isNdArray(node)) {
    return { type: 'array', dtype: node.dtype, shape: [...node.shape], sha256: sha256(storageBytes(node)) };
  }
  if (typeof node === 'bigint') {
    const safe = node <= BigInt(Number.MAX_SAFE_INTEGER) && node >= BigInt(Number.MIN_SAFE_INTEGER);
    return { type: 'scalar', pytype: 'int', value: safe ? Number(node) : node.toString() };
  }
  if (typeof node === 'number') return { type: 'scalar', pytype: 'float', value: numberJson(node) };
  if (typeof node === 'boolean') return { type: 'scalar', pytype: 'bool', value: node };
  if (typeof node === 'string') return { type: 'string', value: node };
  if (node === null) return { type: 'none' };
  if (Array.isArray(node)) return node.map(describeTree);
  const out: Record<string, Json> = {};
  for (const [key, child] of Object.entries(node as Record<string, unknown>)) out[key] = describeTree(child);
  return out;
}

/** Writes an expected.json next to (not inside) `dir` and runs verify_with_orbax.py on it. */
export async function verifyWithOrbax(
  t: ExecutionContext,
  dir: string,
  expected: Record<string, Json>,
  opts: { ignoreLayout?: boolean; devices?: number } = {},
): Promise<void> {
  const python = refPython();
  if (python === null) {
    t.log('Python reference missing (.venv-ref); skipped the Orbax verification');
    return;
  }
  const expectedPath = `${dir}.expected.json`;
  await writeFile(expectedPath, JSON.stringify({ schema_version: 1, ...expected }, null, 1));
  const args = [join(sharedDir, 'interop', 'verify_with_orbax.py'), dir, expectedPath, '--devices', String(opts.devices ?? 1)];
  if (opts.ignoreLayout) args.push('--ignore-layout');
  try {
    const { stdout } = await run(python, args, { maxBuffer: 16 << 20, timeout: 120_000 });
    t.regex(stdout, /^OK /m, stdout);
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    t.fail(`verify_with_orbax.py failed:\n${e.stdout ?? ''}\n${(e.stderr ?? '').slice(-3000)}`);
  }
}

/** The expected.json of a single-item PyTree/Standard checkpoint written by orbax-ts. */
export function singleItemExpected(
  handler: 'PyTreeCheckpointHandler' | 'StandardCheckpointHandler',
  tree: unknown,
  extra: Record<string, Json> = {},
): Record<string, Json> {
  return {
    kind: handler === 'StandardCheckpointHandler' ? 'standard' : 'pytree',
    restore: { layout: 'single', handler },
    items: { item: { handler, dir: '.', tree: describeTree(tree), ...extra } },
  };
}
