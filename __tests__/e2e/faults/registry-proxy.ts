// A loopback HTTP proxy in front of the test registry that injects registry faults. Docker
// (20.10: 127.0.0.0/8 is an insecure registry by default), BuildKit and `buildx imagetools` (both
// speak plain http to any loopback host:port) use it as a registry: `127.0.0.1:<port>/repo:tag`.
// The Host header goes upstream unchanged, so the registry's upload Locations point back at the
// proxy and every request of a push passes through it.
//
// Faults, each for the first `times` requests that match (method and path), or until off():
//   status  answer STATUS (500, 503, or 429 with Retry-After) without asking the registry
//   reset   read the request head, then reset the connection (no answer at all)
//   cut     forward the request, but after N bytes of its body close both connections (a blob
//           upload cut midway)
//   delay   hold the request for N ms, then forward it (a slow link: time to act mid-push); a
//           request whose client closed its connection meanwhile is dropped, never forwarded
//           (dockerd keeps its connection open after its client went: measured on Engine 20.10)
// and, for the whole listener, refuse(): stop accepting connections (ECONNREFUSED) until
// accept() is called again. A cut rule passes over bodies no longer than its N bytes (a small
// blob is not a cut upload). dockerd tries TLS first on an insecure registry: those connections
// are counted in notHttp, never matched against rules.
//
// The proxy runs in the test's own process: start docker with spawn, never spawnSync/execFileSync,
// or the proxy cannot answer while the test waits for the command.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number }
  | { kind: 'reset' }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'delay'; ms: number };

export interface RuleSpec {
  fault: Fault;
  method?: string;          // e.g. 'PUT', 'PATCH'; any when absent
  path?: RegExp;            // matched against the request path (with query); any when absent
  times?: number;           // how many matching requests get the fault; unlimited when absent
}

export interface Rule extends Required<Omit<RuleSpec, 'method' | 'path'>> {
  method: string | null;
  path: RegExp | null;
  hits: number;             // requests this rule has faulted so far
  off(): void;
}

export interface LogEntry {
  at: number;               // ms since the proxy started
  method: string;
  path: string;
  status: number | null;    // what the client got (null: no answer)
  fault: string | null;     // the fault injected, if any
  bodyBytes: number;        // request body bytes that passed through
}

/** Common path patterns of the registry API (distribution spec). */
export const PATHS = {
  blobUpload: /\/blobs\/uploads\//,
  blob: /\/blobs\/sha256:/,
  manifest: /\/manifests\//,
  any: /^\/v2\//,
} as const;

export class FaultProxy {
  readonly log: LogEntry[] = [];
  /** Connections that did not speak HTTP (e.g. a client trying TLS first). */
  notHttp = 0;
  private rules: Rule[] = [];
  private readonly t0 = Date.now();
  private readonly sockets = new Set<net.Socket>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  private listening = true;

  private constructor(private readonly server: http.Server, readonly port: number, private readonly upstream: { host: string; port: number }) {}

  /** Starts a proxy on 127.0.0.1:`port` (0: any free port) in front of `upstream` (host:port). */
  static async start(upstream: string, port = 0): Promise<FaultProxy> {
    const [host, p] = upstream.split(':');
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const proxy = new FaultProxy(server, (server.address() as AddressInfo).port, { host, port: Number(p) });
    server.on('request', (req, res) => proxy.handle(req, res));
    server.on('connection', (s) => {
      proxy.sockets.add(s);
      s.on('close', () => proxy.sockets.delete(s));
    });
    server.on('clientError', (_e, s) => {
      proxy.notHttp += 1;
      s.destroy();
    });
    return proxy;
  }

  /** host:port to use in image references. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  inject(spec: RuleSpec): Rule {
    const rule: Rule = {
      fault: spec.fault,
      method: spec.method ?? null,
      path: spec.path ?? null,
      times: spec.times ?? Infinity,
      hits: 0,
      off: () => { this.rules = this.rules.filter((r) => r !== rule); },
    };
    this.rules.push(rule);
    return rule;
  }

  /** Removes every rule (connections are accepted again too). */
  clear(): void {
    this.rules = [];
    this.accept();
  }

  /** Stops listening: new connections are refused (open ones are closed) until accept(). */
  async refuse(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  /** Listens again on the same port after refuse(). */
  accept(): Promise<void> {
    if (this.listening) return Promise.resolve();
    this.listening = true;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Requests seen, optionally only those matching a method and path. */
  requests(method?: string, path?: RegExp): LogEntry[] {
    return this.log.filter((e) => (!method || e.method === method) && (!path || path.test(e.path)));
  }

  async close(): Promise<void> {
    this.rules = [];
    this.agent.destroy();
    for (const s of this.sockets) s.destroy();
    if (this.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.listening = false;
  }

  private match(method: string, path: string, bodyLength: number | null): Rule | null {
    const rule = this.rules.find((r) => r.hits < r.times && (!r.method || r.method === method) && (!r.path || r.path.test(path))
      // a cut needs a body longer than the cut: a small blob's upload is not a cut upload
      && !(r.fault.kind === 'cut' && bodyLength !== null && bodyLength <= r.fault.afterBytes));
    if (rule) rule.hits += 1;
    return rule ?? null;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const entry: LogEntry = { at: Date.now() - this.t0, method, path: url, status: null, fault: null, bodyBytes: 0 };
    this.log.push(entry);
    const length = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    const rule = this.match(method, url, length);
    const fault = rule?.fault;
    if (fault?.kind === 'status') {
      entry.fault = `status ${fault.status}`;
      entry.status = fault.status;
      req.resume();
      const headers: Record<string, string> = { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      const code = fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
      res.writeHead(fault.status, headers).end(JSON.stringify({ errors: [{ code, message: `injected by the fault proxy (${fault.status})` }] }));
      return;
    }
    if (fault?.kind === 'reset') {
      entry.fault = 'reset';
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'delay') {
      entry.fault = `delay ${fault.ms} ms`;
      req.pause();
      // A held request has not reached the registry yet: a client that gives up meanwhile (closes
      // its connection) never gets it there, as on a slow link.
      let gone = false;
      const onClose = () => { gone = true; };
      req.socket.once('close', onClose);
      setTimeout(() => {
        req.socket.off('close', onClose);
        if (gone || req.socket.destroyed) {
          entry.fault = `delay ${fault.ms} ms, dropped: the client had closed the connection`;
          return;
        }
        this.forward(req, res, entry, null, Infinity);
        req.resume();
      }, fault.ms);
      return;
    }
    this.forward(req, res, entry, rule, fault?.kind === 'cut' ? fault.afterBytes : Infinity);
  }

  /** Passes the request to the registry and its answer back; with a finite cutAt, cuts the body there. */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, entry: LogEntry, rule: Rule | null, cutAt: number): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const fault = rule?.fault;
    if (fault?.kind === 'cut') entry.fault = `cut after ${fault.afterBytes} bytes`;
    const headers = { ...req.headers };
    // the proxy itself answered any 100-continue; hop-by-hop headers stay on this hop
    delete headers.expect;
    delete headers.connection;
    delete headers['keep-alive'];
    const up = http.request({ host: this.upstream.host, port: this.upstream.port, method, path: url, headers, agent: this.agent });
    const cut = () => {
      up.destroy();
      req.socket.destroy();
    };
    up.on('response', (ur) => {
      entry.status = ur.statusCode ?? null;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent && !req.socket.destroyed) res.writeHead(502).end();
      else req.socket.destroy();
    });
    req.on('data', (chunk: Buffer) => {
      if (entry.bodyBytes + chunk.length >= cutAt) {
        const part = chunk.subarray(0, Math.max(0, cutAt - entry.bodyBytes));
        entry.bodyBytes += part.length;
        up.write(part, cut);
        req.pause();
        return;
      }
      entry.bodyBytes += chunk.length;
      if (!up.write(chunk)) {
        req.pause();
        up.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (entry.bodyBytes >= cutAt) return cut(); // the body ended exactly at the cut
      if (rule && fault?.kind === 'cut') {
        // a chunked body shorter than the cut: it passed whole, so it does not count
        rule.hits -= 1;
        entry.fault = null;
      }
      up.end();
    });
    req.on('error', () => up.destroy());
  }
}
