// `npm run bench`: restore throughput of orbax-ts on the reference fixtures (median of several
// runs). The side-by-side comparison with Python Orbax and the disk comes with the write path.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

import * as ocp from '../dist/index.js';

const shared = resolve(process.env.ORBAX_TS_SHARED ?? join(process.cwd(), '..', 'shared'));
const fixtures = join(shared, 'fixtures', 'orbax-0.12.8');
const repetitions = Number(process.env.BENCH_REPS ?? 7);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function dirBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

async function bench(name, dir) {
  const reader = await ocp.openCheckpoint(dir);
  const arrays = reader.leaves().filter((l) => l.metadata && l.metadata.kind !== 'string');
  const bytes = arrays.reduce((sum, l) => sum + l.metadata.shape.reduce((a, b) => a * b, 1) * ocp.itemSize(l.metadata.dtype), 0);
  const times = [];
  for (let i = 0; i < repetitions; i++) {
    const start = performance.now();
    await new ocp.PyTreeCheckpointer().restore(dir);
    times.push((performance.now() - start) / 1000);
  }
  const t = median(times);
  console.log(`${name.padEnd(16)} ${String(arrays.length).padStart(4)} arrays ${(bytes / 1e6).toFixed(2).padStart(7)} MB decoded  ${(dirBytes(dir) / 1e6).toFixed(2).padStart(6)} MB on disk  restore ${(t * 1000).toFixed(1).padStart(7)} ms  ${(bytes / t / 1e9).toFixed(3)} GB/s`);
}

console.log(`orbax-ts restore, median of ${repetitions}`);
for (const name of ['multichunk', 'dtypes', 'standard_basic', 'zarr3', 'no_ocdbt', 'ocdbt_multifile']) {
  await bench(name, join(fixtures, name));
}
