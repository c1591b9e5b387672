// Access to the shared reference fixtures and comparison of restored trees with expected.json.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

export const sharedDir = resolve(process.env.ORBAX_TS_SHARED ?? join(process.cwd(), '..', 'shared'));
export const orbaxFixturesDir = join(sharedDir, 'fixtures', 'orbax-0.12.8');

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function fixtureCases(): string[] {
  if (!existsSync(orbaxFixturesDir)) {
    throw new Error(`fixtures not found at ${orbaxFixturesDir}; set ORBAX_TS_SHARED`);
  }
  return readdirSync(orbaxFixturesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export function loadExpected(caseName: string): JsonObject {
  return JSON.parse(readFileSync(join(orbaxFixturesDir, caseName, 'expected.json'), 'utf8')) as JsonObject;
}

export interface ExpectedItem {
  /** Case / step / item, for messages. */
  label: string;
  /** Absolute item directory (holding `_METADATA`). */
  dir: string;
  /** Directory of the checkpoint (holds `_CHECKPOINT_METADATA`). */
  checkpointDir: string;
  handler: string;
  item: JsonObject;
  checkpointMetadata: JsonObject | null;
}

/** Every PyTree/Standard item of every fixture (single, composite and manager layouts). */
export function pytreeItems(): ExpectedItem[] {
  const out: ExpectedItem[] = [];
  for (const caseName of fixtureCases()) {
    const expected = loadExpected(caseName);
    const caseDir = join(orbaxFixturesDir, caseName);
    const collect = (items: JsonObject, baseDir: string, label: string, ckptMeta: Json | undefined): void => {
      for (const [name, raw] of Object.entries(items)) {
        const item = raw as JsonObject;
        const handler = item.handler as string;
        if (handler !== 'StandardCheckpointHandler' && handler !== 'PyTreeCheckpointHandler') continue;
        out.push({
          label: `${label}/${name}`,
          dir: join(baseDir, item.dir as string),
          checkpointDir: baseDir,
          handler,
          item,
          checkpointMetadata: (ckptMeta ?? null) as JsonObject | null,
        });
      }
    };
    if (expected.items) collect(expected.items as JsonObject, caseDir, caseName, expected.checkpoint_metadata);
    for (const step of (expected.steps as JsonObject[] | undefined) ?? []) {
      collect(step.items as JsonObject, join(caseDir, step.dir as string), `${caseName}/${step.dir as string}`, step.checkpoint_metadata);
    }
  }
  return out;
}

/** Whether a tree from expected.json contains a leaf of this type anywhere. */
export function containsLeafType(node: Json, type: string): boolean {
  if (Array.isArray(node)) return node.some((c) => containsLeafType(c, type));
  if (node !== null && typeof node === 'object') {
    if (typeof node.type === 'string') return node.type === type;
    return Object.values(node).some((c) => containsLeafType(c, type));
  }
  return false;
}

/** The bytes expected.json hashes: storage bytes (int4/int2 masked to their low bits). */
export function storageBytes(arr: ocp.NdArray): Uint8Array {
  const bytes = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  if (arr.dtype === 'int4' || arr.dtype === 'int2') {
    const mask = arr.dtype === 'int4' ? 0x0f : 0x03;
    return bytes.map((b) => b & mask);
  }
  return bytes;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function expectedNumber(value: Json): number {
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  return value as number;
}

/** Asserts that `actual` (a restored tree) equals the expected.json node, reporting the path. */
export function assertTree(t: ExecutionContext, actual: unknown, expected: Json, where: string): void {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return void t.fail(`${where}: expected a list, got ${typeof actual}`);
    t.is(actual.length, expected.length, `${where}: list length`);
    expected.forEach((child, i) => assertTree(t, actual[i], child, `${where}/${i}`));
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    return void t.fail(`${where}: unexpected expected node ${JSON.stringify(expected)}`);
  }
  if (typeof expected.type !== 'string') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      return void t.fail(`${where}: expected a dict, got ${JSON.stringify(actual)}`);
    }
    t.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where}: dict keys`);
    for (const [key, child] of Object.entries(expected)) assertTree(t, (actual as Record<string, unknown>)[key], child, `${where}/${key}`);
    return;
  }
  switch (expected.type) {
    case 'array': {
      if (!ocp.isNdArray(actual)) return void t.fail(`${where}: expected an array, got ${String(actual)}`);
      t.is<string, string>(actual.dtype, expected.dtype as string, `${where}: dtype`);
      t.deepEqual([...actual.shape], expected.shape as number[], `${where}: shape`);
      t.is(sha256(storageBytes(actual)), expected.sha256 as string, `${where}: sha256 of the bytes`);
      return;
    }
    case 'scalar': {
      const pytype = expected.pytype as string;
      if (pytype === 'int') {
        t.is(typeof actual, 'bigint', `${where}: int scalar type`);
        t.is(actual, BigInt(expected.value as number | string), `${where}: int value`);
      } else if (pytype === 'float') {
        t.is(typeof actual, 'number', `${where}: float scalar type`);
        const want = expectedNumber(expected.value as Json);
        t.true(Object.is(actual, want), `${where}: float value ${String(actual)} vs ${String(want)}`);
      } else if (pytype === 'bool') {
        t.is(actual, expected.value as boolean, `${where}: bool value`);
      } else {
        t.fail(`${where}: unknown pytype ${pytype}`);
      }
      return;
    }
    case 'string':
      t.is(actual, expected.value as string, `${where}: string`);
      return;
    case 'none':
      t.is(actual, null, `${where}: None`);
      return;
    default:
      t.fail(`${where}: unsupported expected leaf type ${expected.type}`);
  }
}
