// `npm run bench`: orbax-ts side by side with real Python Orbax (when its venv is present) and
// with the disk's own figures, on identical trees, in one run, alternating. See benches/README.md.
//
//   node benches/bench.mjs [--quick] [--reps N] [--only tree[,tree]] [--no-orbax] [--json out.json]
//                          [--dir DIR]
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import * as ocp from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const args = { quick: false, reps: undefined, only: undefined, orbax: true, json: undefined, dir: undefined, child: undefined, result: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--no-orbax') args.orbax = false;
    else if (a === '--reps') args.reps = Number(value());
    else if (a === '--only') args.only = value().split(',');
    else if (a === '--json') args.json = value();
    else if (a === '--dir') args.dir = value();
    // Internal: one tree in a fresh process (see `main`).
    else if (a === '--child') args.child = value();
    else if (a === '--result') args.result = value();
    else if (a === '--help' || a === '-h') {
      console.log('node benches/bench.mjs [--quick] [--reps N] [--only tree[,tree]] [--no-orbax] [--json out.json] [--dir DIR]');
      console.log(`trees: ${TREE_NAMES.join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (args.reps !== undefined && !(Number.isInteger(args.reps) && args.reps > 0)) throw new Error('--reps needs a positive integer');
  return args;
}

// ------------------------------------------------------------------------------------------------
// Deterministic data, identical to orbax_bench.py (`hash32`, `values_f32`, `to_bfloat16`)

function hash32(x) {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Weights-like float32 values; every step is exact in float64, so numpy computes the same. */
function valuesF32(seed, n) {
  const base = hash32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = (2 * i + base) >>> 0;
    out[i] = (hash32(t) + hash32((t + 1) >>> 0) - 4294967296) * 2 ** -37;
  }
  return out;
}

function toBfloat16(f32) {
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Trees: a list of leaves { path, shape, dtype, seed, chunkByteSize? }

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Transformer-like layers of 1024x1024 and 1024x4096 matrices plus small vectors (issue 7). */
function modelLeaves(totalBytes, dtype) {
  const d = 1024;
  const item = dtype === 'bfloat16' ? 2 : 4;
  const perLayer = (4 * d * d + 2 * 4 * d * d + 6 * d) * item;
  const layers = Math.max(1, Math.round(totalBytes / perLayer));
  const leaves = [];
  for (let l = 0; l < layers; l++) {
    const layer = `layer_${String(l).padStart(3, '0')}`;
    for (const k of ['q', 'k', 'v', 'o']) leaves.push({ path: [layer, 'attn', k], shape: [d, d] });
    leaves.push({ path: [layer, 'mlp', 'w_in'], shape: [d, 4 * d] });
    leaves.push({ path: [layer, 'mlp', 'w_out'], shape: [4 * d, d] });
    for (const k of ['scale1', 'bias1', 'scale2', 'bias2', 'b_in', 'b_out']) leaves.push({ path: [layer, 'norm', k], shape: [d] });
  }
  return leaves.map((leaf, i) => ({ ...leaf, dtype, seed: i }));
}

/** Optimizer-state-like: `count` float32 vectors of 1 KiB to 16 KiB. */
function manySmallLeaves(count) {
  const leaves = [];
  for (let i = 0; i < count; i++) {
    const bytes = 1024 * (1 + (hash32(i + 7919) % 16));
    leaves.push({ path: [`group_${String(Math.floor(i / 100)).padStart(3, '0')}`, `p_${String(i % 100).padStart(2, '0')}`], shape: [bytes / 4], dtype: 'float32', seed: 100000 + i });
  }
  return leaves;
}

/** One float32 square array of `bytes`, chunked by `chunkByteSize`. */
function oneBigLeaves(bytes, chunkByteSize) {
  const side = Math.round(Math.sqrt(bytes / 4));
  return [{ path: ['weights'], shape: [side, side], dtype: 'float32', seed: 424242, chunkByteSize }];
}

function treeSpecs(quick) {
  const modelBytes = quick ? 64 * MiB : GiB;
  const bigBytes = quick ? 64 * MiB : GiB;
  const bigChunk = quick ? 4 * MiB : 16 * MiB;
  const sliceBytes = quick ? 256 * 1024 : 4 * MiB;
  const bigSide = Math.round(Math.sqrt(bigBytes / 4));
  const sliceRows = sliceBytes / (bigSide * 4);
  return {
    'model-1g': { leaves: modelLeaves(modelBytes, 'float32'), uncompressed: true },
    'model-1g-bf16': { leaves: modelLeaves(modelBytes, 'bfloat16') },
    'many-small': { leaves: manySmallLeaves(quick ? 500 : 5000) },
    'one-big': {
      leaves: oneBigLeaves(bigBytes, bigChunk),
      // Rows from the middle of the array, within one chunk: a browsing tool's read.
      slice: { param: 'weights', region: [[bigSide / 2, bigSide / 2 + sliceRows], [0, bigSide]] },
    },
    // The model tree (a quarter of it: moto keeps objects in memory) against a real S3 server on
    // loopback (moto, from the reference venv), next to one PUT / GET of the same bytes.
    's3-loopback': { leaves: modelLeaves(quick ? 32 * MiB : 256 * MiB, 'float32'), s3: true },
    // Optimizer-state-like small leaves on the same server: one ranged GET each, or coalesced.
    's3-many-small': { leaves: manySmallLeaves(quick ? 500 : 5000), s3: true },
  };
}

const TREE_NAMES = ['model-1g', 'model-1g-bf16', 'many-small', 'one-big', 's3-loopback', 's3-many-small'];

function buildTree(leaves) {
  const tree = {};
  const digest = createHash('sha256');
  let bytes = 0;
  const buffers = [];
  for (const leaf of leaves) {
    const n = leaf.shape.reduce((a, b) => a * b, 1);
    const f32 = valuesF32(leaf.seed, n);
    const data = leaf.dtype === 'bfloat16' ? toBfloat16(f32) : f32;
    const u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    digest.update(u8);
    buffers.push(u8);
    bytes += u8.byteLength;
    let node = tree;
    for (const key of leaf.path.slice(0, -1)) node = node[key] ??= {};
    node[leaf.path.at(-1)] = ocp.array(data, leaf.shape, leaf.dtype);
  }
  return { tree, bytes, buffers, sha256: digest.digest('hex') };
}

function saveArgsOf(leaves) {
  if (!leaves.some((l) => l.chunkByteSize)) return undefined;
  const args = {};
  for (const leaf of leaves) {
    let node = args;
    for (const key of leaf.path.slice(0, -1)) node = node[key] ??= {};
    node[leaf.path.at(-1)] = leaf.chunkByteSize ? { chunkByteSize: leaf.chunkByteSize } : {};
  }
  return args;
}

// ------------------------------------------------------------------------------------------------
// Memory and timing

const gc = globalThis.gc ?? (v8.setFlagsFromString('--expose-gc'), vm.runInNewContext('gc'));

function statusBytes(field) {
  try {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Resets the kernel's peak-RSS counter (Linux ≥ 4.0), so VmHWM is the peak of what follows. */
function clearPeak() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux: the peak then covers the whole run.
  }
}

/**
 * Collects garbage, including the native memory of collected buffers, whose finalizers run
 * after the collection: without this, a measurement's starting RSS would include the previous
 * measurement's garbage, released while this one runs.
 */
async function settle() {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

async function measure(fn) {
  await settle();
  clearPeak();
  const rssBefore = statusBytes('VmRSS');
  const start = performance.now();
  const extra = (await fn(start)) ?? {};
  const seconds = (performance.now() - start) / 1000;
  return { seconds, rssBefore, peakRss: statusBytes('VmHWM'), ...extra };
}

function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// ------------------------------------------------------------------------------------------------
// The disk's (and the machine's) own figures on the same bytes

function fsyncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The bytes written sequentially into one new file, then fdatasync (+ the directory). */
function rawWrite(buffers, file) {
  const start = performance.now();
  const fd = fs.openSync(file, 'w');
  try {
    for (const b of buffers) {
      let off = 0;
      while (off < b.byteLength) off += fs.writeSync(fd, b, off, b.byteLength - off);
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncDir(dirname(file));
  return (performance.now() - start) / 1000;
}

/** `fs.readFile` of that file into fresh memory (from the page cache, as the restores read). */
async function rawRead(file) {
  await settle();
  const start = performance.now();
  const data = fs.readFileSync(file);
  const seconds = (performance.now() - start) / 1000;
  if (data.byteLength === 0) throw new Error('empty read');
  return seconds;
}

/** One copy of the bytes into fresh memory: what a save that must not keep the caller's arrays costs. */
async function copyOnce(buffers) {
  await settle();
  const start = performance.now();
  const copies = buffers.map((b) => Buffer.from(b));
  const seconds = (performance.now() - start) / 1000;
  if (copies.length !== buffers.length) throw new Error('copy');
  return seconds;
}

const zstdCli = spawnSync('zstd', ['--version'], { encoding: 'utf8' }).status === 0;

/**
 * The save limit of issue 7: zstd level 1 (Orbax's zarr v2 level) on all cores, then a durable
 * write of the result. The zstd CLI compresses the raw file (page cache) with -T<cores>.
 */
function zstdLimit(rawFile) {
  if (!zstdCli) return null;
  const out = `${rawFile}.zst`;
  const start = performance.now();
  const r = spawnSync('zstd', ['-1', `-T${os.availableParallelism()}`, '-q', '-f', rawFile, '-o', out]);
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  const fd = fs.openSync(out, 'r+');
  try {
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncDir(dirname(out));
  const seconds = (performance.now() - start) / 1000;
  const compressed = fs.statSync(out).size;
  fs.rmSync(out);
  return { seconds, compressed };
}

// ------------------------------------------------------------------------------------------------
// Python Orbax worker

function findPython() {
  const candidates = [process.env.ORBAX_TS_REF_PYTHON, join(process.cwd(), '.venv-ref', 'bin', 'python'), join(here, '..', '.venv-ref', 'bin', 'python')];
  return candidates.find((p) => p && fs.existsSync(p));
}

class OrbaxWorker {
  constructor(python) {
    this.child = spawn(python, [join(here, 'orbax_bench.py')], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, JAX_PLATFORMS: 'cpu' } });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
    this.stderr = '';
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d.toString()).slice(-20000);
    });
  }

  async call(cmd) {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`the Orbax worker exited:\n${this.stderr}`);
    const reply = JSON.parse(value);
    if (!reply.ok) throw new Error(`Orbax ${cmd.cmd} failed: ${reply.error}\n${this.stderr.slice(-4000)}`);
    return reply;
  }

  async close() {
    this.child.stdin.write('{"cmd":"exit"}\n');
    this.child.stdin.end();
    await new Promise((r) => this.child.once('exit', r));
  }
}

// ------------------------------------------------------------------------------------------------
// One tree

async function tsSave(dir, tree, saveArgs, lendArrays = false) {
  const ck = new ocp.StandardCheckpointer();
  let returned = 0;
  const m = await measure(async (start) => {
    await ck.save(dir, tree, { ...(saveArgs ? { saveArgs } : {}), ...(lendArrays ? { lendArrays } : {}) });
    returned = (performance.now() - start) / 1000;
    await ck.waitUntilFinished();
  });
  return { returnS: returned, commitS: m.seconds, rssBefore: m.rssBefore, peakRss: m.peakRss };
}

async function tsSaveLending(dir, tree, saveArgs, useCompression = true) {
  const ck = new ocp.PyTreeCheckpointer({ useCompression });
  return measure(() => ck.save(dir, tree, saveArgs ? { saveArgs } : {}));
}

function leafBytes(restored, leaves) {
  let bytes = 0;
  for (const leaf of leaves) {
    let node = restored;
    for (const key of leaf.path) node = node[key];
    bytes += node.data.byteLength;
  }
  return bytes;
}

function checkRestored(restored, leaves, expectedSha) {
  const digest = createHash('sha256');
  for (const leaf of leaves) {
    let node = restored;
    for (const key of leaf.path) node = node[key];
    digest.update(new Uint8Array(node.data.buffer, node.data.byteOffset, node.data.byteLength));
  }
  const got = digest.digest('hex');
  if (got !== expectedSha) throw new Error(`orbax-ts restored different bytes (sha256 ${got}, expected ${expectedSha})`);
}

async function tsRestore(dir, leaves, concurrentGb, expectedSha) {
  const ck = new ocp.StandardCheckpointer(concurrentGb ? { restoreConcurrentGb: concurrentGb } : {});
  let restored;
  const m = await measure(async () => {
    restored = await ck.restore(dir);
  });
  const bytes = leafBytes(restored, leaves);
  if (expectedSha) checkRestored(restored, leaves, expectedSha);
  restored = undefined;
  return { ...m, bytes };
}

async function tsSlice(dir, slice) {
  let bytes = 0;
  const m = await measure(async () => {
    const reader = await ocp.openCheckpoint(dir);
    const a = await reader.readArray(slice.param, { slice: slice.region });
    bytes = a.data.byteLength;
  });
  return { ...m, bytes };
}

/** moto on 127.0.0.1 (crates/objstore/tests/moto_server.py), or null without the reference venv. */
async function startMoto(bucket) {
  const python = findPython();
  if (!python) return null;
  const probe = spawnSync(python, ['-c', 'import moto.server, boto3']);
  if (probe.status !== 0) spawnSync(python, ['-m', 'pip', 'install', '--quiet', 'moto[server]'], { stdio: 'inherit' });
  const child = spawn(python, [join(here, '..', 'crates', 'objstore', 'tests', 'moto_server.py'), bucket], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise((resolvePort, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolvePort(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`moto exited (${code})`)));
  });
  const storageOptions = {
    aws_endpoint: `http://127.0.0.1:${port}`,
    aws_allow_http: 'true',
    aws_access_key_id: 'bench',
    aws_secret_access_key: 'bench',
    aws_region: 'us-east-1',
  };
  return { storageOptions, stop: () => (child.stdin.end(), child.kill()) };
}

/** The same bytes read back as a restore reads them: ranged GETs of 4 MiB pieces, 16 in flight. */
async function rangedGets(storage, location, length) {
  const piece = 4 * MiB;
  let next = 0;
  const worker = async () => {
    while (next < length) {
      const start = next;
      next += piece;
      await storage.read(location, { start, end: Math.min(start + piece, length) });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function benchS3(name, spec, built, ctx) {
  const { reps } = ctx;
  const moto = await startMoto('bench');
  void name;
  if (!moto) {
    console.log('  no reference venv (moto): skipped');
    return [];
  }
  const samples = [];
  const record = (rep, side, op, values) => {
    samples.push({ rep, side, op, ...values });
    console.log(`  rep ${rep} ${side.padEnd(8)} ${op.padEnd(22)} ${values.seconds.toFixed(3)} s ${(built.bytes / values.seconds / 1e9).toFixed(3)} GB/s`);
  };
  const saveArgs = saveArgsOf(spec.leaves);
  const storage = ocp.storageFor('s3://bench', moto.storageOptions);
  const whole = Buffer.concat(built.buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
  try {
    for (let rep = 0; rep < reps; rep++) {
      const url = `s3://bench/rep-${rep}`;
      const sides = rep % 2 === 0 ? ['disk', 'ts'] : ['ts', 'disk'];
      for (const side of sides) {
        if (side === 'disk') {
          record(rep, 'disk', 'S3 PUT of the bytes', await measure(async () => void (await storage.write(`${url}/raw.bin`, whole))));
          record(rep, 'disk', 'S3 GET of the bytes', await measure(async () => void (await storage.read(`${url}/raw.bin`))));
          record(rep, 'disk', 'S3 ranged GETs, 4 MiB', await measure(() => rangedGets(storage, `${url}/raw.bin`, whole.length)));
          await storage.remove(`${url}/raw.bin`);
        } else {
          const ck = new ocp.PyTreeCheckpointer({ storageOptions: moto.storageOptions });
          record(rep, 'ts', 'S3 save committed', await measure(async () => void (await ck.save(`${url}/ckpt`, built.tree, saveArgs ? { saveArgs } : {}))));
          let restored;
          const m = await measure(async () => {
            restored = await new ocp.StandardCheckpointer({ storageOptions: moto.storageOptions }).restore(`${url}/ckpt`);
          });
          if (rep === 0) checkRestored(restored, spec.leaves, built.sha256);
          restored = undefined;
          record(rep, 'ts', 'S3 restore', m);
          await storage.remove(`${url}/ckpt`);
        }
      }
    }
  } finally {
    moto.stop();
  }
  return samples;
}

async function benchTree(name, spec, ctx) {
  const { reps, workdir, orbax } = ctx;
  process.stdout.write(`\n== ${name}: building ${spec.leaves.length} leaves... `);
  const built = buildTree(spec.leaves);
  console.log(`${(built.bytes / 1e9).toFixed(3)} GB, sha256 ${built.sha256.slice(0, 12)}`);
  if (spec.s3) {
    const samples = await benchS3(name, spec, built, ctx);
    return { name, bytes: built.bytes, leaves: spec.leaves.length, sha256: built.sha256, samples, slice: null };
  }
  const saveArgs = saveArgsOf(spec.leaves);
  if (orbax) {
    const leaves = spec.leaves.map((l) => ({ path: l.path, shape: l.shape, dtype: l.dtype, seed: l.seed, chunk_byte_size: l.chunkByteSize ?? null }));
    const r = await orbax.call({ cmd: 'build', leaves });
    if (r.sha256 !== built.sha256 || r.bytes !== built.bytes) {
      throw new Error(`Python built different data for ${name}: ${r.sha256} (${r.bytes} bytes) vs ${built.sha256} (${built.bytes} bytes)`);
    }
  }
  const samples = [];
  const record = (rep, side, op, values) => {
    samples.push({ rep, side, op, ...values });
    const gbps = values.seconds ? ` ${(built.bytes / values.seconds / 1e9).toFixed(3)} GB/s` : '';
    console.log(`  rep ${rep} ${side.padEnd(8)} ${op.padEnd(22)} ${(values.seconds ?? 0).toFixed(3)} s${gbps}`);
  };
  for (let rep = 0; rep < reps; rep++) {
    const dir = join(workdir, `${name}-${rep}`);
    fs.mkdirSync(dir, { recursive: true });
    const tsDir = join(dir, 'ts');
    const pyDir = join(dir, 'orbax');
    const raw = join(dir, 'raw.bin');
    // Alternate who goes first, so that neither side always meets the other's dirty pages.
    const sides = rep % 2 === 0 ? ['disk', 'ts', 'orbax'] : ['orbax', 'ts', 'disk'];
    for (const side of sides) {
      if (side === 'disk') {
        record(rep, 'disk', 'write+fdatasync', { seconds: rawWrite(built.buffers, raw) });
        record(rep, 'disk', 'readFile', { seconds: await rawRead(raw) });
        record(rep, 'disk', 'copy to new memory', { seconds: await copyOnce(built.buffers) });
        const z = zstdLimit(raw);
        if (z) record(rep, 'disk', 'zstd -1 -T + write', { seconds: z.seconds, compressed: z.compressed });
        fs.rmSync(raw);
      } else if (side === 'ts') {
        const s = await tsSave(tsDir, built.tree, saveArgs);
        record(rep, 'ts', 'save returned', { seconds: s.returnS });
        record(rep, 'ts', 'save committed', { seconds: s.commitS, rssBefore: s.rssBefore, peakRss: s.peakRss });
        record(rep, 'ts', 'restore', await tsRestore(tsDir, spec.leaves, undefined, rep === 0 ? built.sha256 : undefined));
        record(rep, 'ts', 'restore 0.25 GiB', await tsRestore(tsDir, spec.leaves, 0.25));
        if (spec.slice) record(rep, 'ts', 'slice read', await tsSlice(tsDir, spec.slice));
        fs.rmSync(tsDir, { recursive: true, force: true });
        // The two lending saves take turns going first: each meets the other's freed blocks.
        for (const lending of rep % 2 === 0 ? ['sync', 'async'] : ['async', 'sync']) {
          if (lending === 'sync') {
            record(rep, 'ts', 'save lending (sync)', await tsSaveLending(tsDir, built.tree, saveArgs));
          } else {
            const lent = await tsSave(tsDir, built.tree, saveArgs, true);
            record(rep, 'ts', 'async lending returned', { seconds: lent.returnS });
            record(rep, 'ts', 'async lending committed', { seconds: lent.commitS, rssBefore: lent.rssBefore, peakRss: lent.peakRss });
          }
          fs.rmSync(tsDir, { recursive: true, force: true });
        }
        if (spec.uncompressed) {
          record(rep, 'ts', 'save uncompressed', await tsSaveLending(tsDir, built.tree, saveArgs, false));
          record(rep, 'ts', 'restore uncompressed', await tsRestore(tsDir, spec.leaves, undefined));
          fs.rmSync(tsDir, { recursive: true, force: true });
        }
      } else if (orbax) {
        const s = await orbax.call({ cmd: 'save', dir: pyDir });
        record(rep, 'orbax', 'save returned', { seconds: s.return_s });
        record(rep, 'orbax', 'save committed', { seconds: s.commit_s, rssBefore: s.rss_before, peakRss: s.peak_rss });
        const r = await orbax.call({ cmd: 'restore', dir: pyDir, concurrent_gb: null });
        record(rep, 'orbax', 'restore', { seconds: r.seconds, rssBefore: r.rss_before, peakRss: r.peak_rss });
        const r2 = await orbax.call({ cmd: 'restore', dir: pyDir, concurrent_gb: 0.25 });
        record(rep, 'orbax', 'restore 0.25 GiB', { seconds: r2.seconds, rssBefore: r2.rss_before, peakRss: r2.peak_rss });
        if (spec.slice) {
          const s2 = await orbax.call({ cmd: 'slice', dir: pyDir, param: spec.slice.param, region: spec.slice.region });
          record(rep, 'orbax', 'slice read', { seconds: s2.seconds, bytes: s2.bytes });
        }
        fs.rmSync(pyDir, { recursive: true, force: true });
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { name, bytes: built.bytes, leaves: spec.leaves.length, sha256: built.sha256, samples, slice: spec.slice ?? null };
}

// ------------------------------------------------------------------------------------------------
// Summary

/** Rows of the table: an orbax-ts measurement, its Orbax counterpart and the disk's reference. */
const ROWS = [
  { label: 'save, until committed', ts: 'save committed', orbax: 'save committed', disk: 'zstd -1 -T + write' },
  { label: 'save, until save() returns', ts: 'save returned', orbax: 'save returned', disk: 'copy to new memory' },
  { label: 'save, lending (sync)', ts: 'save lending (sync)', orbax: 'save committed', disk: 'zstd -1 -T + write' },
  { label: 'async save lending, until save() returns', ts: 'async lending returned', orbax: 'save returned', disk: 'copy to new memory' },
  { label: 'async save lending, until committed', ts: 'async lending committed', orbax: 'save committed', disk: 'zstd -1 -T + write' },
  { label: 'restore', ts: 'restore', orbax: 'restore', disk: 'readFile' },
  { label: 'restore, concurrentGb 0.25', ts: 'restore 0.25 GiB', orbax: 'restore 0.25 GiB', disk: 'readFile' },
  { label: 'save, no compression', ts: 'save uncompressed', orbax: null, disk: 'write+fdatasync' },
  { label: 'restore, no compression', ts: 'restore uncompressed', orbax: null, disk: 'readFile' },
  { label: 'slice read', ts: 'slice read', orbax: 'slice read', disk: null, slice: true },
  { label: 'S3 save, until committed', ts: 'S3 save committed', orbax: null, disk: 'S3 PUT of the bytes' },
  { label: 'S3 restore', ts: 'S3 restore', orbax: null, disk: 'S3 ranged GETs, 4 MiB' },
];

function summarize(result) {
  const pick = (side, op, field = 'seconds') => median(result.samples.filter((s) => s.side === side && s.op === op).map((s) => s[field]));
  const rows = [];
  for (const row of ROWS) {
    const ts = pick('ts', row.ts);
    if (ts === null) continue;
    const bytes = row.slice ? pick('ts', row.ts, 'bytes') : result.bytes;
    const gbps = (s) => (s === null || s === undefined ? null : bytes / s / 1e9);
    const orbax = row.orbax ? pick('orbax', row.orbax) : null;
    const disk = row.disk ? pick('disk', row.disk) : null;
    rows.push({
      tree: result.name,
      op: row.label,
      bytes,
      tsSeconds: ts,
      tsGBps: gbps(ts),
      orbaxSeconds: orbax,
      orbaxGBps: gbps(orbax),
      ratioVsOrbax: orbax ? orbax / ts : null,
      disk: row.disk,
      diskGBps: gbps(disk),
      ratioVsDisk: disk ? disk / ts : null,
      tsPeakRss: pick('ts', row.ts, 'peakRss'),
      tsRssBefore: pick('ts', row.ts, 'rssBefore'),
      orbaxPeakRss: row.orbax ? pick('orbax', row.orbax, 'peakRss') : null,
      orbaxRssBefore: row.orbax ? pick('orbax', row.orbax, 'rssBefore') : null,
    });
  }
  const z = result.samples.find((s) => s.op === 'zstd -1 -T + write');
  return { rows, zstdRatio: z ? result.bytes / z.compressed : null };
}

function fmt(v, digits = 3) {
  return v === null || v === undefined ? '–' : v.toFixed(digits);
}

function mb(v) {
  return v === null || v === undefined ? '–' : String(Math.round(v / 1e6));
}

function printTable(summaries) {
  const header = ['tree', 'measurement', 'orbax-ts GB/s', 'Orbax GB/s', 'ts/Orbax', 'disk GB/s', 'ts/disk', 'ts peak RSS MB (+ over start)', 'Orbax peak RSS MB (+ over start)'];
  const rss = (peak, before) => (peak === null || peak === undefined ? '–' : `${mb(peak)} (+${mb(peak - (before ?? 0))})`);
  const lines = [header];
  for (const s of summaries) {
    for (const r of s.rows) {
      lines.push([
        r.tree,
        r.op + (r.op === 'slice read' ? ` (${(r.bytes / MiB).toFixed(2)} MiB, ms: ${fmt(r.tsSeconds * 1000, 1)} vs ${r.orbaxSeconds ? fmt(r.orbaxSeconds * 1000, 1) : '–'})` : ''),
        fmt(r.tsGBps),
        fmt(r.orbaxGBps),
        r.ratioVsOrbax ? `${fmt(r.ratioVsOrbax, 2)}×` : '–',
        r.diskGBps ? `${fmt(r.diskGBps)} (${r.disk})` : '–',
        r.ratioVsDisk ? fmt(r.ratioVsDisk, 2) : '–',
        rss(r.tsPeakRss, r.tsRssBefore),
        rss(r.orbaxPeakRss, r.orbaxRssBefore),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const render = (l) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(render(lines[0]));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines.slice(1)) console.log(render(l));
}

// ------------------------------------------------------------------------------------------------
// Main

const CHILD_ENV = { JAX_PLATFORMS: 'cpu' };

/** Runs one tree in this (child) process, Orbax worker included, and writes its result. */
async function runChild(args, reps) {
  const specs = treeSpecs(args.quick);
  const python = args.orbax ? findPython() : undefined;
  const orbax = python ? new OrbaxWorker(python) : undefined;
  try {
    const result = await benchTree(args.child, specs[args.child], { reps, workdir: args.dir, orbax });
    result.python = orbax ? await orbax.call({ cmd: 'info' }) : null;
    result.pythonPath = python ?? null;
    fs.writeFileSync(args.result, JSON.stringify(result));
  } finally {
    if (orbax) await orbax.close();
  }
}

/** Each tree runs in a fresh Node process (and a fresh Python worker), so that neither side's
 * memory figures carry the previous tree. */
function spawnChild(name, args, reps, workdir, resultFile) {
  const childArgs = [fileURLToPath(import.meta.url), '--child', name, '--result', resultFile, '--dir', workdir, '--reps', String(reps)];
  if (args.quick) childArgs.push('--quick');
  if (!args.orbax) childArgs.push('--no-orbax');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', ...childArgs], { stdio: 'inherit', env: { ...CHILD_ENV, ...process.env } });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolvePromise() : reject(new Error(`the ${name} benchmark failed (${signal ?? code})`))));
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const reps = args.reps ?? (args.quick ? 1 : 3);
  if (args.child) {
    await runChild(args, reps);
    return;
  }
  const specs = treeSpecs(args.quick);
  const names = args.only ?? TREE_NAMES;
  for (const n of names) if (!specs[n]) throw new Error(`unknown tree ${n} (trees: ${TREE_NAMES.join(', ')})`);
  const workdir = args.dir ? resolve(args.dir) : fs.mkdtempSync(join(os.tmpdir(), 'orbax-ts-bench-'));
  fs.mkdirSync(workdir, { recursive: true });
  const python = args.orbax ? findPython() : undefined;
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryGB: os.totalmem() / 1e9,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    orbaxTs: ocp.nativeVersion(),
    zstdCli: zstdCli ? spawnSync('zstd', ['--version'], { encoding: 'utf8' }).stdout.trim() : null,
    python: null,
  };
  console.log(`orbax-ts bench: ${reps} repetition(s), ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGB.toFixed(1)} GB RAM, node ${machine.node}`);
  console.log(python ? `Python Orbax: ${python}` : args.orbax ? 'Python Orbax: no venv found (ORBAX_TS_REF_PYTHON or ./.venv-ref/bin/python); orbax-ts and disk only' : 'Python Orbax: skipped (--no-orbax)');
  console.log(`work directory ${workdir}`);

  const results = [];
  try {
    for (const name of names) {
      const resultFile = join(workdir, `${name}.result.json`);
      await spawnChild(name, args, reps, workdir, resultFile);
      const result = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
      machine.python ??= result.python;
      results.push(result);
    }
  } finally {
    if (!args.dir) fs.rmSync(workdir, { recursive: true, force: true });
  }
  if (machine.python) console.log(`\nPython: orbax-checkpoint ${machine.python.orbax}, jax ${machine.python.jax}, tensorstore ${machine.python.tensorstore}, numpy ${machine.python.numpy}`);
  const summaries = results.map((r) => ({ name: r.name, ...summarize(r) }));
  console.log(`\nMedians of ${reps} repetition(s); GB/s = tree bytes / seconds (1 GB = 1e9 bytes); ratios > 1 favour orbax-ts.`);
  printTable(summaries);
  for (const s of summaries) if (s.zstdRatio) console.log(`${s.name}: zstd -1 ratio ${s.zstdRatio.toFixed(3)}`);
  if (args.json) {
    fs.writeFileSync(args.json, `${JSON.stringify({ date: new Date().toISOString(), quick: args.quick, reps, machine, results, summaries }, null, 2)}\n`);
    console.log(`results written to ${args.json}`);
  }
}

await main();
