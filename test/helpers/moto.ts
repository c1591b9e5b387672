// A real S3-compatible server (moto) on 127.0.0.1 for tests, started from the reference venv
// (moto is installed into it when missing). Fails under CI when the venv is missing.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { refPython } from './interop.js';

const run = promisify(execFile);

export interface MotoServer {
  readonly endpoint: string;
  /** object_store options for this server. */
  readonly storageOptions: Record<string, string>;
  /** Uploads every file under `dir` to `s3://<bucket>/<prefix>/…`, optionally skipping some names. */
  upload(dir: string, bucket: string, prefix: string, skip?: string[]): Promise<void>;
  stop(): void;
}

/** Starts moto with `buckets`, or returns null (outside CI) when the reference venv is missing. */
export async function startMoto(buckets: string[]): Promise<MotoServer | null> {
  const python = refPython();
  if (python === null) return null;
  try {
    await run(python, ['-c', 'import moto.server, boto3']);
  } catch {
    await run(python, ['-m', 'pip', 'install', '--quiet', 'moto[server]'], { timeout: 300_000 });
  }
  const script = join(process.cwd(), 'crates', 'objstore', 'tests', 'moto_server.py');
  const proc: ChildProcess = spawn(python, [script, ...buckets], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    proc.once('exit', (code) => reject(new Error(`moto exited early (${code})`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const storageOptions = {
    aws_endpoint: endpoint,
    aws_allow_http: 'true',
    aws_access_key_id: 'test',
    aws_secret_access_key: 'test',
    aws_region: 'us-east-1',
  };
  return {
    endpoint,
    storageOptions,
    async upload(dir, bucket, prefix, skip = []) {
      const code = [
        'import boto3, os, sys',
        `s3 = boto3.client("s3", endpoint_url="${endpoint}", aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")`,
        'root, bucket, prefix, skip = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4:])',
        'for d, _, files in os.walk(root):',
        '    for f in files:',
        '        if f in skip: continue',
        '        p = os.path.join(d, f)',
        '        s3.upload_file(p, bucket, prefix + "/" + os.path.relpath(p, root))',
      ].join('\n');
      await run(python, ['-c', code, dir, bucket, prefix, ...skip]);
    },
    stop() {
      proc.stdin?.end();
      proc.kill();
    },
  };
}
