/**
 * The demo: trains a tiny linear model (y = 3x − 2 plus noise) with SGD in plain TypeScript,
 * checkpoints it every 10 steps (keeping the last 3), then restores the latest checkpoint and
 * checks it. Run with `npm run demo [-- DIR]`; Python Orbax can restore what it writes.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import * as ocp from '../index.js';

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

async function main(): Promise<void> {
  const root = process.argv[2] ? resolve(process.argv[2]) : await mkdtemp(join(tmpdir(), 'orbax-ts-demo-'));
  const random = lcg(42);
  const xs = Float32Array.from({ length: 256 }, () => random() * 4 - 2);
  const ys = xs.map((x) => 3 * x - 2 + (random() - 0.5) * 0.1);
  const params = { w: new Float32Array([0]), b: new Float32Array([0]) };
  const checkpointer = new ocp.PyTreeCheckpointer();
  const keep = 3;

  for (let step = 1; step <= 50; step++) {
    let gw = 0;
    let gb = 0;
    let loss = 0;
    for (let i = 0; i < xs.length; i++) {
      const err = (params.w[0] as number) * (xs[i] as number) + (params.b[0] as number) - (ys[i] as number);
      gw += err * (xs[i] as number);
      gb += err;
      loss += err * err;
    }
    params.w[0] = (params.w[0] as number) - (0.1 * gw) / xs.length;
    params.b[0] = (params.b[0] as number) - (0.1 * gb) / xs.length;
    if (step % 10 === 0) {
      const state = {
        params: { w: ocp.array(params.w.slice(), [1]), b: ocp.array(params.b.slice(), [1]) },
        step: BigInt(step),
        loss: loss / xs.length,
      };
      await checkpointer.save(join(root, String(step)), state, { customMetadata: { model: 'linear' } });
      const steps = (await readdir(root)).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
      for (const old of steps.slice(0, -keep)) await rm(join(root, String(old)), { recursive: true });
      console.log(`step ${step}: loss ${(loss / xs.length).toFixed(5)}, w ${params.w[0]?.toFixed(4)}, b ${params.b[0]?.toFixed(4)} → saved ${join(root, String(step))}`);
    }
  }

  const steps = (await readdir(root)).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  const latest = steps.at(-1) as number;
  const restored = (await checkpointer.restore(join(root, String(latest)))) as {
    params: { w: ocp.NdArray<'float32'>; b: ocp.NdArray<'float32'> };
    step: bigint;
  };
  if (restored.step !== BigInt(latest) || restored.params.w.data[0] !== params.w[0] || restored.params.b.data[0] !== params.b[0]) {
    throw new Error('the restored checkpoint differs from the trained parameters');
  }
  console.log(`kept steps ${steps.join(', ')}; restored step ${restored.step}: w ${restored.params.w.data[0]?.toFixed(4)}, b ${restored.params.b.data[0]?.toFixed(4)} (exact)`);
  console.log(`inspect it: npx orbax-ts inspect ${join(root, String(latest))}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
