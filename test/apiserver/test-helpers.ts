// Shared setup for the fake API server's own tests: a server plus
// @kubernetes/client-node clients bound to it, and raw HTTP for what the
// client cannot express.
import * as k8s from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import type { FakeApiServer, FakeApiServerOptions } from './server.ts';
import { createFakeApiServer } from './server.ts';

export interface Harness {
  server: FakeApiServer;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  coord: k8s.CoordinationV1Api;
  custom: k8s.CustomObjectsApi;
  /** Raw request; `body` objects are sent as JSON unless `contentType` says otherwise. */
  raw(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

/** Starts a fake server and clients for one test. */
export async function startHarness(opts: FakeApiServerOptions = {}): Promise<Harness> {
  const server = await createFakeApiServer(opts);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfig());
  return {
    server,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    coord: kc.makeApiClient(k8s.CoordinationV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    async raw(method, path, body, contentType = 'application/json') {
      const init: RequestInit = { method, headers: { 'content-type': contentType } };
      if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await fetch(server.url + path, init);
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    close: () => server.close(),
  };
}

/** Awaits a client call that must fail, and returns the parsed Status it failed with. */
export async function statusOf(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      return { code: e.code, status: body };
    }
    throw e;
  }
  assert.fail('expected the call to fail');
}

export const ALLOC = { group: 'tidepool.dev', version: 'v1alpha1', plural: 'ipallocations' } as const;
export const POOL = { group: 'tidepool.dev', version: 'v1alpha1', plural: 'ippools' } as const;

export function allocation(name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPAllocation', metadata: { name, labels }, spec: { pool: 'p', ip: '10.0.0.1', ...spec } };
}

export function pod(name: string, extra: { labels?: Record<string, string>; nodeName?: string; finalizers?: string[]; grace?: number } = {}): k8s.V1Pod {
  const p: k8s.V1Pod = { metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] } };
  if (extra.labels) p.metadata!.labels = extra.labels;
  if (extra.finalizers) p.metadata!.finalizers = extra.finalizers;
  if (extra.nodeName) p.spec!.nodeName = extra.nodeName;
  if (extra.grace !== undefined) p.spec!.terminationGracePeriodSeconds = extra.grace;
  return p;
}

/** One watch stream's events, with a way to wait for the n-th without sleeping blindly. */
export interface WatchLog {
  events: { type: string; object: any }[];
  done: Promise<unknown>;
  waitFor(n: number, timeoutMs?: number): Promise<{ type: string; object: any }[]>;
  abort(): void;
}

/** Opens a watch with client-node's Watch and records what arrives. */
export async function openWatch(kc: k8s.KubeConfig, path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<WatchLog> {
  const events: { type: string; object: any }[] = [];
  const waiters: (() => void)[] = [];
  let resolveDone!: (v: unknown) => void;
  const done = new Promise((r) => (resolveDone = r));
  const controller = await new k8s.Watch(kc).watch(
    path,
    query,
    (type, object) => {
      events.push({ type, object });
      for (const w of waiters.splice(0)) w();
    },
    (err) => {
      resolveDone(err ?? null);
      for (const w of waiters.splice(0)) w();
    },
  );
  let finished = false;
  void done.then(() => (finished = true));
  return {
    events,
    done,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (finished) assert.fail(`watch ended with ${events.length} of ${n} events: ${JSON.stringify(events.map((e) => e.type))}`);
        const left = deadline - Date.now();
        if (left <= 0) assert.fail(`timed out with ${events.length} of ${n} events: ${JSON.stringify(events.map((e) => e.type))}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return events.slice(0, n);
    },
    abort: () => controller.abort(),
  };
}

/** Polls `pred` until it holds, for what the server's controllers do on their own time. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The HTTP code a client call ends with: 200 when it succeeds, the error's code otherwise. */
export async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof k8s.ApiException) return e.code;
    throw e;
  }
}
