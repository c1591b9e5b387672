// Builds what a published tarball does not ship prebuilt: the native addon (from source, through
// cargo, since napi-rs has no build-from-source fallback) and, in a git checkout, the TypeScript.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');

function run(command, args) {
  console.log(`orbax-ts: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) {
    console.error(`orbax-ts: '${command} ${args.join(' ')}' failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status ?? 1);
  }
}

const hasAddon = existsSync(nativeDir) && readdirSync(nativeDir).some((name) => name.endsWith('.node'));
if (!hasAddon || process.env.ORBAX_TS_FORCE_BUILD === '1') {
  const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore', shell: process.platform === 'win32' });
  if (cargo.status !== 0) {
    console.error('orbax-ts: no prebuilt native addon for this platform and no Rust toolchain (cargo) found. Install Rust from https://rustup.rs and reinstall.');
    process.exit(1);
  }
  run('npx', ['napi', 'build', '--platform', '--release', '--manifest-path', 'bindings/Cargo.toml', '--package-json-path', 'package.json', '--output-dir', 'native', '--js', 'index.cjs', '--dts', 'index.d.cts']);
}

// A git checkout has no dist/; a published tarball ships it (and has no TypeScript compiler).
if (!existsSync(join(root, 'dist', 'index.js')) && existsSync(join(root, 'tsconfig.json'))) {
  run('npx', ['tsc', '-p', 'tsconfig.json']);
}
