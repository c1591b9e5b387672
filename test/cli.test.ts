import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { loadExpected, orbaxFixturesDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist', 'cli', 'main.js');

test('inspect prints every leaf with dtype, shape, size and chunking', async (t) => {
  const { stdout } = await run(process.execPath, [cli, 'inspect', join(orbaxFixturesDir, 'standard_basic')]);
  t.regex(stdout, /^checkpoint .*standard_basic$/m);
  t.regex(stdout, /handlers: orbax\.checkpoint\._src\.handlers\.standard_checkpoint_handler\.StandardCheckpointHandler/);
  t.regex(stdout, /^\s+mat\s+np\.ndarray\s+float32\s+\[5, 6\]\s+120 B\s+chunks \[5, 6\]\s+zstd:1$/m);
  t.regex(stdout, /^\s+lr\s+scalar\s+float64\s+\[\]\s+8 B/m);
});

test('inspect --json of a manager directory lists its committed steps', async (t) => {
  const { stdout } = await run(process.execPath, [cli, 'inspect', '--json', join(orbaxFixturesDir, 'manager')]);
  const result = JSON.parse(stdout) as { kind: string; steps: Array<{ step: number; checkpoint: { items: Array<{ name: string }> } }>; uncommitted: string[] };
  const expected = loadExpected('manager') as { manager: { all_steps: number[]; tmp_dirs: string[] } };
  t.is(result.kind, 'manager');
  t.deepEqual(result.steps.map((s) => s.step), expected.manager.all_steps);
  t.deepEqual(result.uncommitted, expected.manager.tmp_dirs);
  t.deepEqual(result.steps[0]?.checkpoint.items.map((i) => i.name), ['default']);
});

test('inspect works on every fixture', async (t) => {
  const { readdirSync } = await import('node:fs');
  for (const name of readdirSync(orbaxFixturesDir)) {
    const { stdout } = await run(process.execPath, [cli, 'inspect', '--json', join(orbaxFixturesDir, name)]);
    t.notThrows(() => JSON.parse(stdout), name);
  }
});

test('inspect of a missing path exits 1 with a typed error', async (t) => {
  const error = await t.throwsAsync(run(process.execPath, [cli, 'inspect', '/no/such/dir']));
  t.regex((error as Error & { stderr: string }).stderr, /NotFoundError \[ENOENT\]: Checkpoint at \/no\/such\/dir not found\./);
});

test('the demo trains under a CheckpointManager, is killed mid-training, resumes and matches an uninterrupted run', async (t) => {
  const { mkdtemp, readdir, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-demo-test-'));
  try {
    const { stdout } = await run(process.execPath, [join(process.cwd(), 'dist', 'examples', 'train.js'), dir]);
    t.regex(stdout, /step 180: killed \(SIGKILL\) mid-training/);
    t.regex(stdout, /first run ended by SIGKILL/);
    t.regex(stdout, /resumed from step 1[57][05] /);
    t.regex(stdout, /done: w 3\.00\d\d, b -2\.00\d\d — identical to an uninterrupted run; steps kept [\d, ]+, best \d+, latest 300/);
    const entries = (await readdir(dir)).sort();
    t.true(entries.includes('300') && entries.includes('metadata'));
    t.false(entries.some((name) => name.includes('orbax-checkpoint-tmp')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the multi-process example: 4 workers save one sharded checkpoint per step; it restores whole, bit-identical to a single-process run', async (t) => {
  const { mkdtemp, readdir, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-mp-example-'));
  try {
    const root = join(dir, 'ckpts');
    const { stdout } = await run(process.execPath, [join(process.cwd(), 'dist', 'examples', 'multiprocess.js'), root, '--processes', '4']);
    t.regex(stdout, /step 40: 4 processes saved one checkpoint/);
    t.regex(stdout, /done: steps kept 30, 40; step 40 restored whole in one process \(w 16×8, b 16\) is bit-identical/);
    t.deepEqual((await readdir(join(root, '40', 'default'))).filter((n) => n.startsWith('ocdbt.process_')).sort(), [
      'ocdbt.process_0',
      'ocdbt.process_1',
      'ocdbt.process_2',
      'ocdbt.process_3',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
