// An HTTP proxy on 127.0.0.1 in front of an S3 server that can answer chosen requests with an
// error instead of forwarding them: injected server faults for the storage tests.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What to do with a request: forward it, or answer it with this status. */
export type FaultDecision = 'forward' | number;

export interface FaultProxy {
  readonly endpoint: string;
  /** Requests seen, as `METHOD /path`. */
  readonly seen: string[];
  /** Replaces the decision function. */
  setPlan(plan: (req: IncomingMessage, attempt: number) => FaultDecision): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let plan: (req: IncomingMessage, attempt: number) => FaultDecision = () => 'forward';
  const attempts = new Map<string, number>();
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const id = `${req.method} ${req.url}`;
    seen.push(id);
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    const decision = plan(req, attempt);
    if (decision !== 'forward') {
      req.resume();
      req.once('end', () => {
        res.writeHead(decision, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${decision === 403 ? 'AccessDenied' : 'SlowDown'}</Code><Message>injected fault</Message></Error>`);
      });
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.once('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    setPlan(next) {
      plan = next;
      attempts.clear();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
