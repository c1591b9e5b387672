/**
 * The demo: trains a tiny linear model (y = 3x − 2 plus noise) with SGD in plain TypeScript for
 * 300 steps under a CheckpointManager (a save every 25 steps, the best 3 by loss kept, metrics and
 * root metadata recorded). The first run is a child process that is killed with SIGKILL at step
 * 180, mid-training; the demo then resumes from the latest committed step and checks that the
 * final parameters equal, bit for bit, those of an uninterrupted run.
 *
 *   npm run demo [-- DIR]            the whole story (kill, resume, check)
 *   node dist/examples/train.js --train DIR [--crash-at N]   one training run (resumes if DIR has steps)
 *
 * Python Orbax's CheckpointManager can restore DIR.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ocp from '../index.js';

const TOTAL_STEPS = 300;
const SAVE_EVERY = 25;

function dataset(): { xs: Float32Array; ys: Float32Array } {
  let state = 42;
  const random = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const xs = Float32Array.from({ length: 256 }, () => random() * 4 - 2);
  const ys = xs.map((x) => 3 * x - 2 + (random() - 0.5) * 0.1);
  return { xs, ys };
}

/** One full-batch SGD step; returns the loss before the update. */
function sgdStep(params: { w: Float32Array; b: Float32Array }, xs: Float32Array, ys: Float32Array): number {
  let gw = 0;
  let gb = 0;
  let loss = 0;
  for (let i = 0; i < xs.length; i++) {
    const err = (params.w[0] as number) * (xs[i] as number) + (params.b[0] as number) - (ys[i] as number);
    gw += err * (xs[i] as number);
    gb += err;
    loss += err * err;
  }
  params.w[0] = (params.w[0] as number) - (0.05 * gw) / xs.length;
  params.b[0] = (params.b[0] as number) - (0.05 * gb) / xs.length;
  return loss / xs.length;
}

function managerOptions(): ocp.CheckpointManagerOptions {
  return { saveIntervalSteps: SAVE_EVERY, maxToKeep: 3, bestFn: (m) => m.loss as number, bestMode: 'min', keepPeriod: 100 };
}

/** Trains up to TOTAL_STEPS, resuming from the latest step in `root`; SIGKILLs itself at `crashAt`. */
async function train(root: string, crashAt: number | null): Promise<{ w: Float32Array; b: Float32Array }> {
  const { xs, ys } = dataset();
  const manager = await ocp.CheckpointManager.open(root, { options: managerOptions(), metadata: { model: 'linear', task: 'y = 3x - 2' } });
  const params = { w: new Float32Array([0]), b: new Float32Array([0]) };
  let start = 0;
  const latest = manager.latestStep();
  if (latest !== null) {
    const restored = (await manager.restore(latest)) as { params: { w: ocp.NdArray<'float32'>; b: ocp.NdArray<'float32'> }; step: bigint };
    params.w.set(restored.params.w.data);
    params.b.set(restored.params.b.data);
    start = Number(restored.step);
    console.log(`resumed from step ${start} (w ${params.w[0]?.toFixed(4)}, b ${params.b[0]?.toFixed(4)})`);
  }
  for (let step = start + 1; step <= TOTAL_STEPS; step++) {
    if (step === crashAt) {
      console.log(`step ${step}: killed (SIGKILL) mid-training`);
      process.kill(process.pid, 'SIGKILL');
    }
    const loss = sgdStep(params, xs, ys);
    const state = { params: { w: ocp.array(params.w, [1]), b: ocp.array(params.b, [1]) }, step: BigInt(step) };
    // Async save: resolves once the arrays are copied, so training may go on modifying params.
    if (await manager.save(step, new ocp.args.StandardSave(state), { metrics: { loss } })) {
      console.log(`step ${step}: loss ${loss.toFixed(6)} → checkpoint saved (kept: ${manager.allSteps().join(', ')})`);
    }
  }
  await manager.close();
  return params;
}

async function main(): Promise<void> {
  const trainAt = process.argv.indexOf('--train');
  if (trainAt >= 0) {
    const crashAt = process.argv.indexOf('--crash-at');
    await train(resolve(process.argv[trainAt + 1] as string), crashAt >= 0 ? Number(process.argv[crashAt + 1]) : null);
    return;
  }
  const root = process.argv[2] ? resolve(process.argv[2]) : await mkdtemp(join(tmpdir(), 'orbax-ts-demo-'));
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [self, '--train', root, '--crash-at', '180'], { stdio: 'inherit' });
  const signal = await new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, sig) => done(sig)));
  console.log(`first run ended by ${signal ?? 'exit'}; on disk: ${(await readdir(root)).sort().join(' ')}`);

  const params = await train(root, null);
  const reference = { w: new Float32Array([0]), b: new Float32Array([0]) };
  const { xs, ys } = dataset();
  for (let step = 1; step <= TOTAL_STEPS; step++) sgdStep(reference, xs, ys);
  if (params.w[0] !== reference.w[0] || params.b[0] !== reference.b[0]) {
    throw new Error('the resumed run differs from an uninterrupted one');
  }
  const manager = await ocp.CheckpointManager.open(root, { options: { ...managerOptions(), readOnly: true } });
  console.log(
    `done: w ${params.w[0]?.toFixed(4)}, b ${params.b[0]?.toFixed(4)} — identical to an uninterrupted run; ` +
      `steps kept ${manager.allSteps().join(', ')}, best ${manager.bestStep()}, latest ${manager.latestStep()}`,
  );
  console.log(`inspect it: npx orbax-ts inspect ${root}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
