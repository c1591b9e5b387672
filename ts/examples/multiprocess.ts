/**
 * Multi-process example: N worker processes train one model together, model-parallel (each owns a
 * block of rows of the weight matrix and of the bias), and save it every few steps as ONE
 * checkpoint through a CheckpointManager: each process writes only its blocks
 * (`ocp.shardedArray`) into its own `ocdbt.process_<i>/` database; the primary merges them and
 * commits once every process has written. The parent process then restores the latest step whole
 * and checks it bit for bit against the same training run in a single process.
 *
 *   npm run demo:multiprocess [-- --processes 4] [-- DIR | s3://bucket/prefix --storage-option aws_region=...]
 *
 * Python Orbax restores the steps it writes (the sharded leaves as `jax.Array`s).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ocp from '../index.js';

const OUTPUTS = 16;
const INPUTS = 8;
const SAMPLES = 64;
const STEPS = 40;
const SAVE_EVERY = 10;

interface Args {
  processes: number;
  root: string | undefined;
  storageOptions: Record<string, string>;
  worker: number | undefined;
  runId: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { processes: 4, root: undefined, storageOptions: {}, worker: undefined, runId: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--processes') args.processes = Number(value());
    else if (a === '--worker') args.worker = Number(value());
    else if (a === '--run-id') args.runId = value();
    else if (a === '--storage-option') {
      const [key, ...rest] = value().split('=');
      args.storageOptions[key!] = rest.join('=');
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else args.root = a;
  }
  if (!Number.isInteger(args.processes) || args.processes < 1 || OUTPUTS % args.processes !== 0) {
    throw new Error(`--processes must divide ${OUTPUTS}`);
  }
  return args;
}

/** The same synthetic regression problem in every process: Y = X·W*ᵀ + b*. */
function dataset(): { xs: Float32Array; ys: Float32Array } {
  let state = 7;
  const random = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const trueW = Float32Array.from({ length: OUTPUTS * INPUTS }, () => random() * 4);
  const trueB = Float32Array.from({ length: OUTPUTS }, () => random());
  const xs = Float32Array.from({ length: SAMPLES * INPUTS }, () => random() * 2);
  const ys = new Float32Array(SAMPLES * OUTPUTS);
  for (let s = 0; s < SAMPLES; s++) {
    for (let o = 0; o < OUTPUTS; o++) {
      let y = trueB[o]!;
      for (let k = 0; k < INPUTS; k++) y += trueW[o * INPUTS + k]! * xs[s * INPUTS + k]!;
      ys[s * OUTPUTS + o] = y;
    }
  }
  return { xs, ys };
}

/** One SGD step on output rows [first, first + w.length / INPUTS): rows are independent. */
function sgdRows(w: Float32Array, b: Float32Array, first: number, data: { xs: Float32Array; ys: Float32Array }): void {
  const rows = b.length;
  for (let r = 0; r < rows; r++) {
    let gb = 0;
    const gw = new Float32Array(INPUTS);
    for (let s = 0; s < SAMPLES; s++) {
      let pred = b[r]!;
      for (let k = 0; k < INPUTS; k++) pred += w[r * INPUTS + k]! * data.xs[s * INPUTS + k]!;
      const err = pred - data.ys[s * OUTPUTS + first + r]!;
      gb += err;
      for (let k = 0; k < INPUTS; k++) gw[k]! += err * data.xs[s * INPUTS + k]!;
    }
    b[r] = b[r]! - (0.1 * gb) / SAMPLES;
    for (let k = 0; k < INPUTS; k++) w[r * INPUTS + k] = w[r * INPUTS + k]! - (0.1 * gw[k]!) / SAMPLES;
  }
}

function storageInit(args: Args): { storageOptions?: Record<string, string> } {
  return Object.keys(args.storageOptions).length > 0 ? { storageOptions: args.storageOptions } : {};
}

/** One worker: trains its rows and saves its blocks with the others. */
async function worker(args: Args, root: string, index: number): Promise<void> {
  const rows = OUTPUTS / args.processes;
  const first = index * rows;
  const w = new Float32Array(rows * INPUTS);
  const b = new Float32Array(rows);
  const data = dataset();
  const manager = await ocp.CheckpointManager.open(root, {
    options: {
      saveIntervalSteps: SAVE_EVERY,
      maxToKeep: 2,
      multiprocessingOptions: { processIndex: index, processCount: args.processes, barrierSyncKeyPrefix: args.runId!, barrierTimeoutSecs: 120 },
    },
    ...storageInit(args),
  });
  for (let step = 1; step <= STEPS; step++) {
    sgdRows(w, b, first, data);
    const state = {
      params: {
        w: ocp.shardedArray(ocp.array(w, [rows, INPUTS]), { globalShape: [OUTPUTS, INPUTS], offset: [first, 0] }),
        b: ocp.shardedArray(ocp.array(b, [rows]), { globalShape: [OUTPUTS], offset: [first] }),
      },
      step: BigInt(step),
    };
    if (await manager.save(step, new ocp.args.StandardSave(state)) && index === 0) {
      console.log(`step ${step}: ${args.processes} processes saved one checkpoint`);
    }
  }
  await manager.close();
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.worker !== undefined) return worker(args, args.root!, args.worker);

  const root = args.root ?? join(await mkdtemp(join(tmpdir(), 'orbax-ts-multiprocess-')), 'ckpts');
  const runId = `run-${randomBytes(4).toString('hex')}`;
  const self = fileURLToPath(import.meta.url);
  const extra = Object.entries(args.storageOptions).flatMap(([k, v]) => ['--storage-option', `${k}=${v}`]);
  console.log(`${args.processes} workers train a ${OUTPUTS}×${INPUTS} model, rows split among them, checkpointing to ${root}`);
  const codes = await Promise.all(
    Array.from({ length: args.processes }, (_, i) => {
      const child = spawn(process.execPath, [self, root, '--worker', String(i), '--processes', String(args.processes), '--run-id', runId, ...extra], { stdio: 'inherit' });
      return new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    }),
  );
  if (codes.some((c) => c !== 0)) throw new Error(`workers exited with ${codes.join(', ')}`);

  const manager = await ocp.CheckpointManager.open(root, storageInit(args));
  const latest = manager.latestStep();
  const restored = (await manager.restore(latest)) as { params: { w: ocp.NdArray<'float32'>; b: ocp.NdArray<'float32'> }; step: bigint };
  const reference = { w: new Float32Array(OUTPUTS * INPUTS), b: new Float32Array(OUTPUTS) };
  const data = dataset();
  for (let step = 1; step <= Number(restored.step); step++) sgdRows(reference.w, reference.b, 0, data);
  const same = Buffer.from(restored.params.w.data.buffer).equals(Buffer.from(reference.w.buffer)) && Buffer.from(restored.params.b.data.buffer).equals(Buffer.from(reference.b.buffer));
  if (!same) throw new Error('the checkpoint differs from a single-process run');
  console.log(
    `done: steps kept ${manager.allSteps().join(', ')}; step ${latest} restored whole in one process (w ${restored.params.w.shape.join('×')}, b ${restored.params.b.shape.join('')}) ` +
      'is bit-identical to the same training in a single process',
  );
  await manager.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
