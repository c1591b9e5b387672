// A save killed with SIGKILL at any point leaves no finished-looking checkpoint, and the
// checkpoints committed before it are untouched.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import * as ocp from 'orbax-ts';

const child = join(process.cwd(), 'test', 'fixtures', 'saveForever.mjs');

/** Starts a saving child, waits for its first committed save, then kills it `delayMs` later. */
async function killAfter(root: string, mode: string, start: number, delayMs: number): Promise<void> {
  const proc = spawn(process.execPath, [child, root, mode, String(start)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('saved')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`the saving child exited early (${code})`)));
  });
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  proc.kill('SIGKILL');
  await exited;
}

async function checkCommitted(t: import('ava').ExecutionContext, root: string, known: Set<number>): Promise<number[]> {
  const names = await readdir(root);
  const committed = names.filter((n) => /^\d+$/.test(n)).map(Number);
  for (const name of names) t.regex(name, /^\d+(\.orbax-checkpoint-tmp)?$/, `unexpected entry ${name}`);
  for (const step of committed.filter((s) => !known.has(s))) {
    known.add(step);
    const tree = (await new ocp.PyTreeCheckpointer().restore(join(root, String(step)))) as {
      big: ocp.NdArray<'float32'>;
      many: Array<ocp.NdArray<'int32'>>;
      step: bigint;
    };
    t.is(tree.step, BigInt(step));
    t.true(tree.big.data.every((v) => v === step), `step ${step}: big is complete`);
    t.is(tree.many.length, 50);
    t.true(tree.many.every((a, i) => a.data.every((v) => v === step * 100 + i)), `step ${step}: many are complete`);
  }
  return committed.sort((a, b) => a - b);
}

for (const mode of ['ocdbt', 'dirs']) {
test(`SIGKILL at several points never yields a finished-looking partial checkpoint (${mode})`, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'orbax-ts-crash-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  let before: number[] = [];
  let sawPartial = false;
  const verified = new Set<number>();
  for (const delay of [0, 20, 60, 120, 250]) {
    // Each run continues after the last committed step; its first save replaces the temporary
    // directory the previous kill left behind, as Orbax does.
    await killAfter(root, mode, (before.at(-1) ?? 0) + 1, delay);
    sawPartial ||= (await readdir(root)).some((n) => n.endsWith('.orbax-checkpoint-tmp'));
    const after = await checkCommitted(t, root, verified);
    for (const step of before) t.true(after.includes(step), `committed step ${step} survived later crashes`);
    before = after;
  }
  t.true(before.length > 0, 'some saves committed between kills');
  // Every checkpoint committed before any of the kills still restores exactly.
  await checkCommitted(t, root, new Set());
  t.log(`committed ${before.length} checkpoints; a kill caught a save in flight: ${sawPartial}`);
});
}
