/** `orbax-ts inspect`: what a checkpoint (or a CheckpointManager directory) holds. */
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import type { StepMetadata } from '../metadata/types.js';
import { isPathFinalized } from '../path/atomicity.js';
import { CheckpointReader, type LeafInfo } from '../restore/checkpointReader.js';
import { type Storage, storageFor, type StorageLocationOptions, storageLocationOptionsSchema } from '../storage/index.js';
import { itemSize } from '../tree/dtypes.js';
import { sizeOf } from '../tree/ndarray.js';
import { parseOptions } from '../validation.js';

/** Options of {@link inspect}: the object-store configuration of URL paths. */
export type InspectOptions = StorageLocationOptions;

/** One leaf as `inspect` reports it. */
export interface InspectedLeaf {
  path: string;
  kind: string;
  dtype: string | null;
  shape: number[] | null;
  bytes: number | null;
  chunks: number[] | null;
  compression: string | null;
}

/** One item directory. */
export interface InspectedItem {
  name: string;
  directory: string;
  useOcdbt: boolean;
  zarrFormat: 2 | 3;
  leaves: InspectedLeaf[];
  totalBytes: number;
}

/** A checkpoint directory (one item, or several). */
export interface InspectedCheckpoint {
  kind: 'checkpoint';
  directory: string;
  itemHandlers: StepMetadata['itemHandlers'];
  customMetadata: Readonly<Record<string, unknown>>;
  commitTimestampNsecs: string | null;
  items: InspectedItem[];
}

/** A CheckpointManager root. */
export interface InspectedManager {
  kind: 'manager';
  directory: string;
  steps: Array<{ step: number; name: string; checkpoint: InspectedCheckpoint }>;
  uncommitted: string[];
}

function describeLeaf(leaf: LeafInfo): InspectedLeaf {
  const meta = leaf.metadata;
  const path = leaf.path.map(String).join('/') || '(root)';
  if (!meta) return { path, kind: leaf.valueType, dtype: null, shape: null, bytes: null, chunks: null, compression: null };
  if (meta.kind === 'string') return { path, kind: 'string', dtype: null, shape: null, bytes: null, chunks: null, compression: null };
  return {
    path,
    kind: meta.kind === 'scalar' ? 'scalar' : meta.valueType,
    dtype: meta.dtype,
    shape: [...meta.shape],
    bytes: sizeOf(meta.shape) * itemSize(meta.dtype),
    chunks: [...meta.storage.chunkShape],
    compression: meta.storage.zarrMetadata.compression,
  };
}

async function inspectItem(name: string, directory: string, storage: Storage): Promise<InspectedItem> {
  const reader = await CheckpointReader.open(directory, storage.options !== undefined ? { storageOptions: storage.options } : {});
  const leaves = reader.leaves().map(describeLeaf);
  return {
    name,
    directory,
    useOcdbt: reader.useOcdbt,
    zarrFormat: reader.useZarr3 ? 3 : 2,
    leaves,
    totalBytes: leaves.reduce((sum, l) => sum + (l.bytes ?? 0), 0),
  };
}

async function inspectCheckpoint(directory: string, storage: Storage): Promise<InspectedCheckpoint> {
  const step = await readStepMetadata(directory, null, storage.options);
  const items: InspectedItem[] = [];
  if (await storage.exists(storage.join(directory, '_METADATA'))) {
    items.push(await inspectItem('.', directory, storage));
  } else {
    const entries = (await storage.list(directory)).filter((e) => e.isDirectory).map((e) => e.name);
    for (const name of entries) {
      if (await storage.exists(storage.join(directory, name, '_METADATA'))) items.push(await inspectItem(name, storage.join(directory, name), storage));
    }
  }
  return {
    kind: 'checkpoint',
    directory,
    itemHandlers: step.itemHandlers,
    customMetadata: step.customMetadata,
    commitTimestampNsecs: step.commitTimestampNsecs === null ? null : step.commitTimestampNsecs.toString(),
    items,
  };
}

const STEP_NAME = /^(?:.*_)?(\d+)$/;

/**
 * Inspects a checkpoint directory, or a CheckpointManager root (every committed step). `path`
 * may be a URL (`s3://bucket/run`, with `storageOptions`); there a step without
 * `commit_success.txt` is listed as uncommitted.
 */
export async function inspect(path: string, opts?: InspectOptions): Promise<InspectedCheckpoint | InspectedManager> {
  const { storageOptions } = parseOptions(storageLocationOptionsSchema, opts, 'inspect options');
  const storage = storageFor(path, storageOptions);
  const directory = storage.resolve(path);
  if (!(await storage.isDirectory(directory))) {
    throw new NotFoundError(`Checkpoint at ${directory} not found.`);
  }
  const looksLikeCheckpoint =
    (await storage.exists(storage.join(directory, '_CHECKPOINT_METADATA'))) || (await storage.exists(storage.join(directory, '_METADATA')));
  if (looksLikeCheckpoint) return inspectCheckpoint(directory, storage);
  const entries = (await storage.list(directory)).filter((e) => e.isDirectory);
  const steps: InspectedManager['steps'] = [];
  const uncommitted: string[] = [];
  for (const entry of entries) {
    const stepDir = storage.join(directory, entry.name);
    const match = STEP_NAME.exec(entry.name);
    // Object stores commit a step in place: its name is final, its commit_success.txt tells.
    const temporary =
      entry.name.includes('.orbax-checkpoint-tmp') || (storage.kind === 'object' && match !== null && !(await isPathFinalized(stepDir, undefined, storageOptions)));
    if (temporary) {
      uncommitted.push(entry.name);
      continue;
    }
    if (match) steps.push({ step: Number(match[1]), name: entry.name, checkpoint: await inspectCheckpoint(stepDir, storage) });
  }
  if (steps.length === 0 && uncommitted.length === 0) {
    throw new InvalidArgumentError(`${directory} is neither an Orbax checkpoint nor a CheckpointManager directory.`, { code: 'ERR_NOT_A_CHECKPOINT' });
  }
  steps.sort((a, b) => a.step - b.step);
  return { kind: 'manager', directory, steps, uncommitted: uncommitted.sort() };
}

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatItem(item: InspectedItem, indent: string): string[] {
  const storage = `${item.useOcdbt ? 'ocdbt' : 'directories'}, zarr v${item.zarrFormat}`;
  const lines = [`${indent}item ${item.name} (${storage}; ${item.leaves.length} entries, ${humanBytes(item.totalBytes)})`];
  const rows = item.leaves.map((l) => [
    l.path,
    l.kind,
    l.dtype ?? '',
    l.shape ? `[${l.shape.join(', ')}]` : '',
    l.bytes === null ? '' : humanBytes(l.bytes),
    l.chunks ? `chunks [${l.chunks.join(', ')}]` : '',
    l.compression ?? (l.bytes === null ? '' : 'raw'),
  ]);
  const widths = rows.reduce((w, r) => r.map((c, i) => Math.max(c.length, w[i] ?? 0)), [] as number[]);
  for (const row of rows) lines.push(`${indent}  ${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}`);
  return lines;
}

function formatCheckpoint(c: InspectedCheckpoint, indent = ''): string[] {
  const lines = [`${indent}checkpoint ${c.directory}`];
  if (c.itemHandlers !== null) {
    const handlers = typeof c.itemHandlers === 'string' ? c.itemHandlers : Object.entries(c.itemHandlers).map(([k, v]) => `${k}=${v ?? 'null'}`).join(', ');
    lines.push(`${indent}  handlers: ${handlers}`);
  }
  if (Object.keys(c.customMetadata).length > 0) lines.push(`${indent}  custom metadata: ${JSON.stringify(c.customMetadata)}`);
  for (const item of c.items) lines.push(...formatItem(item, `${indent}  `));
  return lines;
}

/** Human-readable text of an inspection. */
export function formatInspection(result: InspectedCheckpoint | InspectedManager): string {
  if (result.kind === 'checkpoint') return formatCheckpoint(result).join('\n');
  const lines = [`checkpoint manager ${result.directory}`, `  steps: ${result.steps.map((s) => s.step).join(', ') || '(none)'}`];
  if (result.uncommitted.length > 0) lines.push(`  uncommitted: ${result.uncommitted.join(', ')}`);
  for (const step of result.steps) {
    lines.push(`  step ${step.step} (${step.name})`);
    lines.push(...formatCheckpoint(step.checkpoint, '    ').slice(1));
  }
  return lines.join('\n');
}
