// Malformed CNI input against the real plugin binary and a real agent process.
// Whatever a runtime (or a broken config) hands the plugin, it must exit in
// time, answer with one well-formed CNI error unless the spec makes the verb
// lenient, and never change what the agent holds: a bad config on one pod
// must not cost another pod its address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { cleanEnv, PLUGIN_DIR, poolYaml, startAgent, type AgentProcess } from './helpers/agent-process.ts';

const PLUGIN = join(PLUGIN_DIR, 'tidepool');
const RUN_TIMEOUT_MS = 5_000;
const MIB = 1024 * 1024;

const VERBS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
type Verb = (typeof VERBS)[number];
const SPEC_CODES = new Set([1, 2, 3, 4, 5, 6, 7, 11, 50, 51]);
// ERROR_TABLE's INTERNAL: "a bug in tidepool". Bad input must get a code that says what is wrong with it.
const INTERNAL_CODE = 999;

const POOLS = [
  poolYaml('lan', { subnet: '10.61.0.0/24', ips: ['10.61.0.10-10.61.0.13'], gateway: '10.61.0.1' }),
  poolYaml('lan6', { subnet: 'fd61::/64', ips: ['fd61::10-fd61::13'] }),
].join('---\n');

// Random suffix: no generated string can name a real allocation, so no fuzzed DEL can release one.
const KEEP = `keep${randomUUID().replace(/-/g, '')}`;
const REAL = [
  { containerId: `${KEEP}a`, ifname: 'eth0', v4: ['lan'], v6: undefined },
  { containerId: `${KEEP}b`, ifname: 'net1', v4: ['lan'], v6: ['lan6'] },
] as const;
// Never allocated: the target of fuzzed ADDs and DELs.
const GHOST = 'fuzzghost0';
// The agent refuses an ADD whose CNI_NETNS is not a namespace; its own, as it resolves this path, is a real one that needs no root.
const NETNS = '/proc/self/ns/net';

type Env = Record<string, string | undefined>;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** One plugin invocation. `stdin` replaces the serialised `conf` when set. */
interface FuzzInput {
  env: Env;
  conf: JsonObject;
  stdin?: string | Buffer;
}

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly ms: number;
}

function stdinOf(input: FuzzInput): Buffer {
  if (input.stdin === undefined) return Buffer.from(JSON.stringify(input.conf));
  return typeof input.stdin === 'string' ? Buffer.from(input.stdin) : input.stdin;
}

/** Spawns the plugin with exactly the CNI_* variables of `env`; kills it and says so after RUN_TIMEOUT_MS. */
function runPlugin(input: FuzzInput): Promise<RunResult> {
  const env = cleanEnv();
  // The shell running the tests must not leak CNI_* into a case that omits one on purpose.
  for (const key of Object.keys(env)) if (key.startsWith('CNI_')) delete env[key];
  for (const [key, value] of Object.entries(input.env)) if (value !== undefined) env[key] = value;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(PLUGIN, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, RUN_TIMEOUT_MS);
    proc.stdout.on('data', (c: Buffer) => out.push(c));
    proc.stderr.on('data', (c: Buffer) => err.push(c));
    // The plugin stops reading oversized input and exits; the rest of our write then fails with EPIPE.
    proc.stdin.on('error', () => {});
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), timedOut, ms: performance.now() - started });
    };
    proc.on('close', finish);
    // After a kill, a leftover child holding stdout open must not stretch the timeout until it exits too.
    proc.on('exit', (code, signal) => {
      if (!timedOut) return;
      proc.stdout.destroy();
      proc.stderr.destroy();
      finish(code, signal);
    });
    proc.stdin.end(stdinOf(input));
  });
}

/** The agent's allocation list as raw bytes: the comparison must not forgive a change a parser would hide. */
function rawAllocations(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'GET', path: '/v1/allocations' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) reject(new Error(`GET /v1/allocations answered ${res.statusCode}: ${text}`));
        else resolve(text);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function excerpt(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text;
}

function describeInput(label: string, input: FuzzInput): string {
  const stdin = stdinOf(input);
  const shown = stdin.length > 300 ? `${JSON.stringify(stdin.subarray(0, 300).toString('latin1'))}... (${stdin.length} bytes)` : JSON.stringify(stdin.toString('latin1'));
  const env = Object.fromEntries(Object.entries(input.env).map(([k, v]) => [k, v === undefined ? '<unset>' : excerpt(v, 120)]));
  return `input ${label}\n  env: ${JSON.stringify(env)}\n  stdin (latin1): ${shown}`;
}

function describeResult(r: RunResult): string {
  return `  exit ${r.code} signal ${r.signal} after ${Math.round(r.ms)} ms\n  stdout: ${JSON.stringify(excerpt(r.stdout))}\n  stderr: ${JSON.stringify(excerpt(r.stderr))}`;
}

interface CniErrorOut {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

interface Expectation {
  /** A CNI code (or codes, where the spec leaves the choice open) the error must carry. */
  readonly code?: number | readonly number[];
  /** What `msg` must mention: key names, not full sentences, so rewording does not break the test. */
  readonly msg?: RegExp | readonly RegExp[];
  /** The lenient verbs: this input must succeed. */
  readonly ok?: true;
}

interface Harness {
  readonly agent: AgentProcess;
  /** Runs one input and asserts the three fuzz invariants, naming the input on failure. */
  check(label: string, input: FuzzInput, expect?: Expectation): Promise<RunResult>;
}

/**
 * The invariants every input must keep: (a) the plugin exits within
 * RUN_TIMEOUT_MS, (b) it exits 0 only for the lenient verbs (DEL, VERSION),
 * otherwise non-zero with exactly one CNI error object on stdout, and (c) the
 * agent's allocations are byte-for-byte what they were before.
 */
function createHarness(agent: AgentProcess): Harness {
  return {
    agent,
    async check(label, input, expect) {
      const before = await rawAllocations(agent.socket);
      const r = await runPlugin(input);
      const after = await rawAllocations(agent.socket);
      const where = `${describeInput(label, input)}\n${describeResult(r)}`;

      assert.ok(!r.timedOut, `(a) the plugin did not exit within ${RUN_TIMEOUT_MS} ms\n${where}`);
      assert.equal(r.signal, null, `(a) the plugin died of a signal\n${where}`);
      assert.equal(after, before, `(c) the agent's allocations changed\n${where}\n  before: ${before}\n  after:  ${after}`);

      const verb = input.env['CNI_COMMAND'];
      if (r.code === 0) {
        assert.ok(verb === 'DEL' || verb === 'VERSION', `(b) exit 0 is only allowed for DEL and VERSION, got it for CNI_COMMAND=${JSON.stringify(verb)}\n${where}`);
        if (verb === 'DEL') {
          assert.equal(r.stdout, '', `(b) DEL prints nothing on success\n${where}`);
        } else {
          const v = JSON.parse(r.stdout) as { cniVersion?: unknown; supportedVersions?: unknown };
          assert.equal(typeof v.cniVersion, 'string', `(b) VERSION answer without cniVersion\n${where}`);
          assert.ok(Array.isArray(v.supportedVersions), `(b) VERSION answer without supportedVersions\n${where}`);
        }
      } else {
        let parsed: unknown;
        assert.doesNotThrow(() => (parsed = JSON.parse(r.stdout)), `(b) stdout of a failure is not exactly one JSON value\n${where}`);
        const e = parsed as Partial<CniErrorOut> | null;
        assert.ok(typeof e === 'object' && e !== null && !Array.isArray(e), `(b) stdout of a failure is not a JSON object\n${where}`);
        assert.equal(typeof e.code, 'number', `(b) error without a numeric code\n${where}`);
        const code = e.code as number;
        assert.ok(SPEC_CODES.has(code) || (Number.isInteger(code) && code >= 100), `(b) code ${code} is neither a spec code nor a tidepool code (100+)\n${where}`);
        assert.notEqual(code, INTERNAL_CODE, `(b) malformed input reported as an internal error\n${where}`);
        assert.ok(typeof e.msg === 'string' && e.msg !== '', `(b) error without a msg\n${where}`);
        assert.equal(typeof e.cniVersion, 'string', `(b) error without cniVersion\n${where}`);
        if (e.details !== undefined) assert.equal(typeof e.details, 'string', `(b) details must be a string\n${where}`);
      }

      if (expect?.ok) assert.equal(r.code, 0, `expected success\n${where}`);
      if (expect?.code !== undefined) {
        assert.notEqual(r.code, 0, `expected a failure\n${where}`);
        const codes: readonly number[] = typeof expect.code === 'number' ? [expect.code] : expect.code;
        const got = (JSON.parse(r.stdout) as CniErrorOut).code;
        assert.ok(codes.includes(got), `expected code ${codes.join(' or ')}, got ${got}\n${where}`);
      }
      if (expect?.msg !== undefined) {
        const msg = (JSON.parse(r.stdout) as CniErrorOut).msg;
        for (const re of Array.isArray(expect.msg) ? expect.msg : [expect.msg as RegExp]) assert.match(msg, re, `msg does not mention ${re}\n${where}`);
      }
      return r;
    },
  };
}

// ---- valid base inputs, one per verb; each fuzz case mutates one of them ----

function attachments(): Json[] {
  return REAL.map((a) => ({ containerID: a.containerId, ifname: a.ifname }));
}

function baseConf(verb: Verb, socket: string): JsonObject {
  const cniVersion = verb === 'STATUS' || verb === 'GC' ? '1.1.0' : '1.0.0';
  const conf: JsonObject = { cniVersion, name: 'fuzz-net', type: 'bridge', ipam: { type: 'tidepool', socket, ipv4Pools: ['lan'] } };
  // The keep-list names every allocation, so even a GC that got through would release nothing.
  if (verb === 'GC') conf['cni.dev/valid-attachments'] = attachments();
  return conf;
}

function baseEnv(verb: Verb): Env {
  const env: Env = { CNI_COMMAND: verb, CNI_PATH: `${PLUGIN_DIR}:/usr/lib/cni` };
  if (verb === 'ADD' || verb === 'DEL' || verb === 'CHECK') {
    // CHECK reads a real allocation (read-only); ADD and DEL aim at a container that has none.
    const target = verb === 'CHECK' ? REAL[0] : { containerId: GHOST, ifname: 'eth0' };
    Object.assign(env, { CNI_CONTAINERID: target.containerId, CNI_IFNAME: target.ifname, CNI_NETNS: NETNS });
  }
  return env;
}

function base(verb: Verb, socket: string): FuzzInput {
  return { env: baseEnv(verb), conf: baseConf(verb, socket) };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets (or with `undefined` deletes) conf[path]; a non-object parent is left alone, being invalid already. */
function setPath(conf: JsonObject, path: readonly string[], value: Json | undefined): void {
  let at: JsonObject = conf;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (!isObject(next)) return;
    at = next;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

function nested(depth: number, open: string, close: string, inner = ''): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

// ---- named table cases ----

interface TableCase {
  readonly name: string;
  readonly verb: Verb;
  readonly mutate: (input: FuzzInput, ctx: { socket: string; dir: string; poolsFile: string }) => void;
  readonly expect: Expectation;
}

const env = (changes: Env) => (input: FuzzInput) => void Object.assign(input.env, changes);
const conf = (path: string, value: Json | undefined) => (input: FuzzInput) => setPath(input.conf, path.split('>'), value);
const stdin = (make: (valid: string) => string | Buffer) => (input: FuzzInput) => void (input.stdin = make(JSON.stringify(input.conf)));

const TABLE: TableCase[] = [
  // malformed JSON on stdin
  { name: 'empty stdin', verb: 'ADD', mutate: stdin(() => ''), expect: { code: 6, msg: /empty/ } },
  { name: 'whitespace-only stdin', verb: 'ADD', mutate: stdin(() => ' \n\t '), expect: { code: 6 } },
  { name: 'truncated JSON', verb: 'ADD', mutate: stdin((v) => v.slice(0, v.indexOf('"name"') + 7)), expect: { code: 6, msg: /JSON/ } },
  { name: 'truncated by one byte', verb: 'ADD', mutate: stdin((v) => v.slice(0, -1)), expect: { code: 6 } },
  { name: 'trailing garbage', verb: 'ADD', mutate: stdin((v) => `${v} trailing`), expect: { code: 6, msg: /JSON/ } },
  { name: 'two concatenated objects', verb: 'ADD', mutate: stdin((v) => v + v), expect: { code: 6 } },
  { name: 'trailing NUL byte', verb: 'ADD', mutate: stdin((v) => `${v}\u0000`), expect: { code: 6 } },
  { name: 'raw control character inside a string', verb: 'ADD', mutate: stdin((v) => v.replace('fuzz-net', 'fuzz\u0001net')), expect: { code: 6 } },
  { name: 'non-UTF-8 byte 0xff', verb: 'ADD', mutate: stdin((v) => Buffer.concat([Buffer.from(v.replace('fuzz-net', 'fuzz')), Buffer.from([0xff])])), expect: { code: 6, msg: /UTF-8/ } },
  {
    name: 'non-UTF-8 byte inside the name',
    verb: 'ADD',
    mutate: stdin((v) => {
      const [head, tail] = v.split('fuzz-net') as [string, string];
      return Buffer.concat([Buffer.from(head + 'fuzz'), Buffer.from([0xfe, 0xfe]), Buffer.from('net' + tail)]);
    }),
    expect: { code: 6, msg: /UTF-8/ },
  },
  { name: 'overlong UTF-8 encoding of "/"', verb: 'ADD', mutate: stdin((v) => Buffer.concat([Buffer.from(v.slice(0, -1) + ',"x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])), expect: { code: 6, msg: /UTF-8/ } },
  { name: 'UTF-8-encoded lone surrogate', verb: 'ADD', mutate: stdin((v) => Buffer.concat([Buffer.from(v.slice(0, -1) + ',"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])), expect: { code: 6, msg: /UTF-8/ } },
  { name: 'latin1-encoded config', verb: 'ADD', mutate: stdin((v) => Buffer.from(v.replace('fuzz-net', 'fuzz-néť'), 'latin1')), expect: { code: 6, msg: /UTF-8/ } },
  { name: 'null', verb: 'ADD', mutate: stdin(() => 'null'), expect: { code: [6, 7], msg: /object/ } },
  { name: 'empty array', verb: 'ADD', mutate: stdin(() => '[]'), expect: { code: [6, 7], msg: /object/ } },
  { name: 'valid config wrapped in an array', verb: 'ADD', mutate: stdin((v) => `[${v}]`), expect: { code: [6, 7], msg: /object/ } },
  { name: 'a number', verb: 'ADD', mutate: stdin(() => '42'), expect: { code: [6, 7], msg: /object/ } },
  { name: 'a string', verb: 'ADD', mutate: stdin((v) => JSON.stringify(v)), expect: { code: [6, 7], msg: /object/ } },
  { name: 'true', verb: 'ADD', mutate: stdin(() => 'true'), expect: { code: [6, 7], msg: /object/ } },
  { name: 'arrays nested 10k deep', verb: 'ADD', mutate: stdin(() => nested(10_000, '[', ']')), expect: { code: [6, 7] } },
  { name: 'arrays nested 100k deep', verb: 'ADD', mutate: stdin(() => nested(100_000, '[', ']')), expect: { code: [6, 7] } },
  { name: 'unclosed arrays 10k deep', verb: 'ADD', mutate: stdin(() => '['.repeat(10_000)), expect: { code: 6 } },
  { name: 'objects nested 10k deep', verb: 'ADD', mutate: stdin(() => nested(10_000, '{"a":', '}', '1')), expect: { code: 7, msg: /cniVersion/ } },
  {
    name: 'arrays nested 10k deep as an ipv4Pools entry',
    verb: 'ADD',
    mutate: stdin((v) => v.replace('["lan"]', `["lan",${nested(10_000, '[', ']')}]`)),
    expect: { code: 7, msg: /ipam\.ipv4Pools\[1\]/ },
  },
  { name: 'duplicate key: the last ipam wins and is invalid', verb: 'ADD', mutate: stdin((v) => `${v.slice(0, -1)},"ipam":5}`), expect: { code: 7, msg: /ipam/ } },
  {
    name: 'a valid ipam under __proto__ is not inherited',
    verb: 'ADD',
    mutate: (input) => {
      const ipam = input.conf['ipam']!;
      delete input.conf['ipam'];
      input.stdin = `${JSON.stringify(input.conf).slice(0, -1)},"__proto__":{"ipam":${JSON.stringify(ipam)}}}`;
    },
    expect: { code: 7, msg: /ipam/ },
  },
  { name: 'VERSION with unparsable stdin still answers', verb: 'VERSION', mutate: stdin(() => '{"cniVersion":'), expect: { ok: true } },
  { name: 'VERSION with arrays nested 10k deep', verb: 'VERSION', mutate: stdin(() => nested(10_000, '[', ']')), expect: { ok: true } },

  // huge input
  {
    name: '5 MiB of valid-looking JSON',
    verb: 'ADD',
    mutate: stdin((v) => `${v.slice(0, -1)},"padding":[${Array.from({ length: (5 * MIB) / 32 }, () => '"0123456789abcdef0123456789ab"').join(',')}]}`),
    expect: { code: 6, msg: /exceeds|bytes|large/ },
  },
  { name: 'a 2 MiB string in name', verb: 'ADD', mutate: conf('name', 'n'.repeat(2 * MIB)), expect: { code: 6, msg: /exceeds|bytes|large/ } },
  { name: 'a 2 MiB string in name for DEL', verb: 'DEL', mutate: conf('name', 'n'.repeat(2 * MIB)), expect: { code: 6 } },
  { name: 'a 900 KiB name under the size limit, without ipam', verb: 'ADD', mutate: (i) => (conf('name', 'n'.repeat(900 * 1024))(i), conf('ipam', undefined)(i)), expect: { code: 7, msg: /ipam/ } },
  { name: '5 MiB of whitespace', verb: 'ADD', mutate: stdin(() => ' '.repeat(5 * MIB)), expect: { code: 6 } },

  // missing, empty or wrong CNI_* variables
  { name: 'no CNI_COMMAND', verb: 'ADD', mutate: env({ CNI_COMMAND: undefined }), expect: { code: 4, msg: /CNI_COMMAND/ } },
  { name: 'empty CNI_COMMAND', verb: 'ADD', mutate: env({ CNI_COMMAND: '' }), expect: { code: 4, msg: /CNI_COMMAND/ } },
  { name: 'unknown CNI_COMMAND FOO', verb: 'ADD', mutate: env({ CNI_COMMAND: 'FOO' }), expect: { code: 4, msg: [/CNI_COMMAND/, /FOO/] } },
  { name: 'lowercase CNI_COMMAND add', verb: 'ADD', mutate: env({ CNI_COMMAND: 'add' }), expect: { code: 4, msg: [/CNI_COMMAND/, /add/] } },
  { name: 'CNI_COMMAND with a trailing space', verb: 'ADD', mutate: env({ CNI_COMMAND: 'ADD ' }), expect: { code: 4, msg: /CNI_COMMAND/ } },
  { name: 'lowercase CNI_COMMAND del', verb: 'DEL', mutate: env({ CNI_COMMAND: 'del' }), expect: { code: 4, msg: /CNI_COMMAND/ } },
  { name: 'ADD without CNI_CONTAINERID', verb: 'ADD', mutate: env({ CNI_CONTAINERID: undefined }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'ADD with empty CNI_CONTAINERID', verb: 'ADD', mutate: env({ CNI_CONTAINERID: '' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'ADD without CNI_IFNAME', verb: 'ADD', mutate: env({ CNI_IFNAME: undefined }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ADD without CNI_NETNS', verb: 'ADD', mutate: env({ CNI_NETNS: undefined }), expect: { code: 4, msg: /CNI_NETNS/ } },
  { name: 'ADD with a relative CNI_NETNS', verb: 'ADD', mutate: env({ CNI_NETNS: 'netns/x' }), expect: { code: 4, msg: /CNI_NETNS/ } },
  { name: 'ADD without CNI_PATH', verb: 'ADD', mutate: env({ CNI_PATH: undefined }), expect: { code: 4, msg: /CNI_PATH/ } },
  { name: 'DEL without CNI_CONTAINERID', verb: 'DEL', mutate: env({ CNI_CONTAINERID: undefined }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'DEL without CNI_IFNAME', verb: 'DEL', mutate: env({ CNI_IFNAME: undefined }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'DEL without CNI_NETNS (the namespace may be gone) is lenient', verb: 'DEL', mutate: env({ CNI_NETNS: undefined }), expect: { ok: true } },
  { name: 'CHECK without CNI_CONTAINERID', verb: 'CHECK', mutate: env({ CNI_CONTAINERID: undefined }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'STATUS without CNI_PATH', verb: 'STATUS', mutate: env({ CNI_PATH: undefined }), expect: { code: 4, msg: /CNI_PATH/ } },
  { name: 'GC without CNI_PATH', verb: 'GC', mutate: env({ CNI_PATH: undefined }), expect: { code: 4, msg: /CNI_PATH/ } },
  { name: 'container ID with "/"', verb: 'ADD', mutate: env({ CNI_CONTAINERID: 'abc/def' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'container ID "../etc"', verb: 'DEL', mutate: env({ CNI_CONTAINERID: '../etc' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'container ID with a space', verb: 'ADD', mutate: env({ CNI_CONTAINERID: 'abc def' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'container ID with a newline', verb: 'ADD', mutate: env({ CNI_CONTAINERID: 'abc\ndef' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'container ID starting with "-"', verb: 'ADD', mutate: env({ CNI_CONTAINERID: '-abc' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'non-ASCII container ID', verb: 'ADD', mutate: env({ CNI_CONTAINERID: 'café' }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  // The spec sets no length limit on container IDs, so 300 characters is well-formed: shown with verbs that cannot allocate.
  { name: '300-character container ID: CHECK finds nothing', verb: 'CHECK', mutate: env({ CNI_CONTAINERID: 'c'.repeat(300) }), expect: { code: 3 } },
  { name: '300-character container ID: DEL releases nothing', verb: 'DEL', mutate: env({ CNI_CONTAINERID: 'c'.repeat(300) }), expect: { ok: true } },
  { name: '300-character container ID with "/"', verb: 'ADD', mutate: env({ CNI_CONTAINERID: `${'c'.repeat(150)}/${'c'.repeat(149)}` }), expect: { code: 4, msg: /CNI_CONTAINERID/ } },
  { name: 'ifname of 16 characters', verb: 'ADD', mutate: env({ CNI_IFNAME: 'eth0123456789abc' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ifname of 9 characters but 18 bytes', verb: 'ADD', mutate: env({ CNI_IFNAME: 'ééééééééé' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ifname ".."', verb: 'ADD', mutate: env({ CNI_IFNAME: '..' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ifname "."', verb: 'DEL', mutate: env({ CNI_IFNAME: '.' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ifname with "/"', verb: 'ADD', mutate: env({ CNI_IFNAME: 'eth/0' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ifname with ":"', verb: 'ADD', mutate: env({ CNI_IFNAME: 'eth0:1' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'ifname with a space', verb: 'CHECK', mutate: env({ CNI_IFNAME: 'eth 0' }), expect: { code: 4, msg: /CNI_IFNAME/ } },
  { name: 'CNI_ARGS "K8S_POD_NAME" without "="', verb: 'ADD', mutate: env({ CNI_ARGS: 'K8S_POD_NAME' }), expect: { code: 4, msg: /CNI_ARGS/ } },
  { name: 'CNI_ARGS "=;;="', verb: 'ADD', mutate: env({ CNI_ARGS: '=;;=' }), expect: { code: 4, msg: /CNI_ARGS/ } },
  { name: 'CNI_ARGS with non-ASCII and an entry without "="', verb: 'ADD', mutate: env({ CNI_ARGS: 'K8S_POD_NAME=pöd;✓;K8S_POD_NAMESPACE=ñ' }), expect: { code: 4, msg: /CNI_ARGS/ } },
  { name: 'CNI_ARGS garbage on DEL', verb: 'DEL', mutate: env({ CNI_ARGS: ';;=x;;' }), expect: { code: 4, msg: /CNI_ARGS/ } },
  { name: 'well-formed non-ASCII CNI_ARGS on DEL', verb: 'DEL', mutate: env({ CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=pöd;K8S_POD_NAMESPACE=ñ;X=' }), expect: { ok: true } },

  // unknown or malformed cniVersion
  { name: 'cniVersion 0.1.0', verb: 'ADD', mutate: conf('cniVersion', '0.1.0'), expect: { code: 1, msg: /0\.1\.0/ } },
  { name: 'cniVersion 0.2.0', verb: 'DEL', mutate: conf('cniVersion', '0.2.0'), expect: { code: 1, msg: /0\.2\.0/ } },
  { name: 'cniVersion 2.0.0', verb: 'ADD', mutate: conf('cniVersion', '2.0.0'), expect: { code: 1, msg: /2\.0\.0/ } },
  { name: 'cniVersion "1.0"', verb: 'ADD', mutate: conf('cniVersion', '1.0'), expect: { code: 1, msg: /"1\.0"/ } },
  { name: 'cniVersion "abc"', verb: 'ADD', mutate: conf('cniVersion', 'abc'), expect: { code: 1, msg: /abc/ } },
  { name: 'cniVersion " 1.0.0"', verb: 'ADD', mutate: conf('cniVersion', ' 1.0.0'), expect: { code: 1 } },
  { name: 'cniVersion as the number 1.0', verb: 'ADD', mutate: conf('cniVersion', 1.0), expect: { code: [1, 7], msg: /cniVersion/ } },
  { name: 'cniVersion as an array', verb: 'ADD', mutate: conf('cniVersion', ['1.0.0']), expect: { code: [1, 7], msg: /cniVersion/ } },
  { name: 'cniVersion missing', verb: 'ADD', mutate: conf('cniVersion', undefined), expect: { code: [1, 7], msg: /cniVersion/ } },
  { name: 'cniVersion empty', verb: 'DEL', mutate: conf('cniVersion', ''), expect: { code: [1, 7], msg: /cniVersion/ } },
  { name: 'VERSION answers whatever cniVersion the config has', verb: 'VERSION', mutate: conf('cniVersion', '2.0.0'), expect: { ok: true } },

  // ipam section problems
  { name: 'ipam missing', verb: 'ADD', mutate: conf('ipam', undefined), expect: { code: 7, msg: /ipam/ } },
  { name: 'ipam null', verb: 'ADD', mutate: conf('ipam', null), expect: { code: 7, msg: /ipam/ } },
  { name: 'ipam an array', verb: 'ADD', mutate: conf('ipam', [{ type: 'tidepool' }]), expect: { code: 7, msg: /ipam/ } },
  { name: 'ipam a string', verb: 'DEL', mutate: conf('ipam', 'tidepool'), expect: { code: 7, msg: /ipam/ } },
  { name: 'ipam.type missing', verb: 'ADD', mutate: conf('ipam>type', undefined), expect: { code: 7, msg: /ipam\.type/ } },
  { name: 'ipam.type a number', verb: 'ADD', mutate: conf('ipam>type', 42), expect: { code: 7, msg: /ipam\.type/ } },
  { name: 'ipam.type empty', verb: 'ADD', mutate: conf('ipam>type', ''), expect: { code: 7, msg: /ipam\.type/ } },
  // The plugin deliberately does not compare ipam.type with its own name (the runtime chose the binary by it), so
  // "host-local" is accepted: shown with DEL, which has nothing to release.
  { name: 'ipam.type "host-local" on DEL', verb: 'DEL', mutate: conf('ipam>type', 'host-local'), expect: { ok: true } },
  { name: 'ipam.ipv4Pools a string', verb: 'ADD', mutate: conf('ipam>ipv4Pools', 'lan'), expect: { code: 7, msg: /ipam\.ipv4Pools/ } },
  { name: 'ipam.ipv4Pools an object', verb: 'ADD', mutate: conf('ipam>ipv4Pools', { lan: true }), expect: { code: 7, msg: /ipam\.ipv4Pools/ } },
  { name: 'ipam.ipv4Pools empty', verb: 'ADD', mutate: conf('ipam>ipv4Pools', []), expect: { code: 7, msg: /ipam\.ipv4Pools/ } },
  { name: 'ipam.ipv4Pools with an empty name', verb: 'ADD', mutate: conf('ipam>ipv4Pools', ['lan', '']), expect: { code: 7, msg: /ipam\.ipv4Pools\[1\]/ } },
  { name: 'ipam.ipv4Pools with a blank name', verb: 'ADD', mutate: conf('ipam>ipv4Pools', [' ']), expect: { code: 7, msg: /ipam\.ipv4Pools\[0\]/ } },
  { name: 'ipam.ipv4Pools with a number', verb: 'ADD', mutate: conf('ipam>ipv4Pools', ['lan', 7]), expect: { code: 7, msg: /ipam\.ipv4Pools\[1\]/ } },
  { name: 'ipam.ipv4Pools with null', verb: 'CHECK', mutate: conf('ipam>ipv4Pools', ['lan', null]), expect: { code: 7, msg: /ipam\.ipv4Pools\[1\]/ } },
  { name: 'ipam.ipv4Pools with a repeated name', verb: 'ADD', mutate: conf('ipam>ipv4Pools', ['lan', 'lan']), expect: { code: 7, msg: /ipam\.ipv4Pools\[1\]/ } },
  { name: 'ipam.ipv4Pools naming an unknown pool', verb: 'ADD', mutate: conf('ipam>ipv4Pools', ['nope']), expect: { code: 101, msg: /nope/ } },
  { name: 'ipam.ipv4Pools naming an unknown pool second', verb: 'ADD', mutate: conf('ipam>ipv4Pools', ['lan', 'nope']), expect: { code: 101, msg: [/nope/, /ipv4Pools\[1\]/] } },
  { name: 'ipam.ipv4Pools naming an IPv6 pool', verb: 'ADD', mutate: conf('ipam>ipv4Pools', ['lan6']), expect: { code: 103, msg: /lan6/ } },
  { name: 'ipam.ipv6Pools naming an IPv4 pool', verb: 'ADD', mutate: conf('ipam>ipv6Pools', ['lan']), expect: { code: 103, msg: /ipv6Pools\[0\]/ } },
  { name: 'ipam.ipv6Pools naming an unknown pool after a valid ipv4Pools', verb: 'ADD', mutate: conf('ipam>ipv6Pools', ['nope6']), expect: { code: 101, msg: /nope6/ } },
  { name: 'ipam.ipv6Pools a number', verb: 'ADD', mutate: conf('ipam>ipv6Pools', 6), expect: { code: 7, msg: /ipam\.ipv6Pools/ } },
  {
    name: 'STATUS naming only an unknown pool',
    verb: 'STATUS',
    mutate: conf('ipam>ipv4Pools', ['nope']),
    expect: { code: 101, msg: /ipv4Pools\[0\]: pool "nope" does not exist/ },
  },
  {
    name: 'STATUS naming an IPv6 pool under ipv4Pools',
    verb: 'STATUS',
    mutate: conf('ipam>ipv4Pools', ['lan6']),
    expect: { code: 103, msg: /ipv4Pools\[0\]: pool "lan6" is IPv6, not IPv4/ },
  },
  { name: 'ipam.socket relative', verb: 'ADD', mutate: conf('ipam>socket', 'agent.sock'), expect: { code: 7, msg: /ipam\.socket/ } },
  { name: 'ipam.socket a number', verb: 'ADD', mutate: conf('ipam>socket', 42), expect: { code: 7, msg: /ipam\.socket/ } },
  { name: 'ipam.socket empty', verb: 'ADD', mutate: conf('ipam>socket', ''), expect: { code: 7, msg: /ipam\.socket/ } },
  { name: 'ipam.socket with NUL', verb: 'ADD', mutate: conf('ipam>socket', '/tmp/a\u0000b.sock'), expect: { code: 7, msg: /ipam\.socket/ } },
  { name: 'ipam.socket longer than sun_path', verb: 'ADD', mutate: conf('ipam>socket', `/tmp/${'s'.repeat(200)}.sock`), expect: { code: 7, msg: /ipam\.socket/ } },
  { name: 'ipam.socket a regular file', verb: 'ADD', mutate: (i, c) => conf('ipam>socket', c.poolsFile)(i), expect: { code: 11 } },
  { name: 'ipam.socket a directory', verb: 'ADD', mutate: (i, c) => conf('ipam>socket', c.dir)(i), expect: { code: 11 } },
  { name: 'ipam.socket a character device', verb: 'CHECK', mutate: conf('ipam>socket', '/dev/null'), expect: { code: 11 } },
  { name: 'ipam.socket that does not exist', verb: 'ADD', mutate: (i, c) => conf('ipam>socket', join(c.dir, 'missing.sock'))(i), expect: { code: 11, msg: /missing\.sock/ } },
  { name: 'ipam.socket under a regular file', verb: 'ADD', mutate: (i, c) => conf('ipam>socket', join(c.poolsFile, 'agent.sock'))(i), expect: { code: 11 } },
  { name: 'ipam.socket unreachable on STATUS', verb: 'STATUS', mutate: (i, c) => conf('ipam>socket', join(c.dir, 'missing.sock'))(i), expect: { code: 50 } },
  { name: 'ipam.socket unreachable on GC', verb: 'GC', mutate: (i, c) => conf('ipam>socket', join(c.dir, 'missing.sock'))(i), expect: { code: 11 } },
  { name: 'ipam.socket unreachable on DEL is lenient', verb: 'DEL', mutate: (i, c) => conf('ipam>socket', join(c.dir, 'missing.sock'))(i), expect: { ok: true } },
  { name: 'ipam.socket unreachable on DEL with strictDel', verb: 'DEL', mutate: (i, c) => (conf('ipam>socket', join(c.dir, 'missing.sock'))(i), conf('ipam>strictDel', true)(i)), expect: { code: 11 } },
  { name: 'unknown ipam key', verb: 'ADD', mutate: conf('ipam>subnet', '10.0.0.0/8'), expect: { code: 7, msg: /ipam\.subnet/ } },
  { name: 'unknown ipam key on DEL', verb: 'DEL', mutate: conf('ipam>rangeStart', '10.0.0.1'), expect: { code: 7, msg: /ipam\.rangeStart/ } },
  { name: 'ipam key "__proto__"', verb: 'ADD', mutate: stdin((v) => v.replace('"type":"tidepool"', '"__proto__":{"ipv4Pools":["lan"]},"type":"tidepool"')), expect: { code: 7, msg: /__proto__/ } },
  { name: 'ipam key with a case difference', verb: 'ADD', mutate: conf('ipam>IPv4Pools', ['lan']), expect: { code: 7, msg: /IPv4Pools/ } },
  { name: 'ipam.timeoutMs 0', verb: 'ADD', mutate: conf('ipam>timeoutMs', 0), expect: { code: 7, msg: /ipam\.timeoutMs/ } },
  { name: 'ipam.timeoutMs fractional', verb: 'ADD', mutate: conf('ipam>timeoutMs', 1.5), expect: { code: 7, msg: /ipam\.timeoutMs/ } },
  { name: 'ipam.timeoutMs a string', verb: 'ADD', mutate: conf('ipam>timeoutMs', '1000'), expect: { code: 7, msg: /ipam\.timeoutMs/ } },
  { name: 'ipam.timeoutMs huge', verb: 'ADD', mutate: conf('ipam>timeoutMs', 1e300), expect: { code: 7, msg: /ipam\.timeoutMs/ } },
  { name: 'ipam.strictDel a string', verb: 'DEL', mutate: conf('ipam>strictDel', 'yes'), expect: { code: 7, msg: /ipam\.strictDel/ } },
  { name: 'name missing', verb: 'ADD', mutate: conf('name', undefined), expect: { code: 7, msg: /name/ } },
  { name: 'name a number', verb: 'ADD', mutate: conf('name', 42), expect: { code: 7, msg: /name/ } },

  // verbs the config's version does not define
  { name: 'CHECK with cniVersion 0.3.1', verb: 'CHECK', mutate: conf('cniVersion', '0.3.1'), expect: { code: 1, msg: [/CHECK/, /0\.3\.1/] } },
  { name: 'CHECK with cniVersion 0.3.0', verb: 'CHECK', mutate: conf('cniVersion', '0.3.0'), expect: { code: 1, msg: /CHECK/ } },
  { name: 'STATUS with cniVersion 1.0.0', verb: 'STATUS', mutate: conf('cniVersion', '1.0.0'), expect: { code: 1, msg: [/STATUS/, /1\.0\.0/] } },
  { name: 'GC with cniVersion 1.0.0', verb: 'GC', mutate: conf('cniVersion', '1.0.0'), expect: { code: 1, msg: [/GC/, /1\.0\.0/] } },
  { name: 'GC with cniVersion 0.4.0', verb: 'GC', mutate: conf('cniVersion', '0.4.0'), expect: { code: 1, msg: /GC/ } },
  { name: 'GC with cniVersion 2.0.0', verb: 'GC', mutate: conf('cniVersion', '2.0.0'), expect: { code: 1, msg: /2\.0\.0/ } },

  // GC with a malformed keep-list: reading any of these as "keep nothing" would release every allocation
  { name: 'GC without cni.dev/valid-attachments', verb: 'GC', mutate: conf('cni.dev/valid-attachments', undefined), expect: { code: 7, msg: /cni\.dev\/valid-attachments/ } },
  { name: 'GC with null valid-attachments', verb: 'GC', mutate: conf('cni.dev/valid-attachments', null), expect: { code: 7, msg: /valid-attachments/ } },
  { name: 'GC with valid-attachments an object', verb: 'GC', mutate: conf('cni.dev/valid-attachments', { containerID: GHOST, ifname: 'eth0' }), expect: { code: 7, msg: /valid-attachments/ } },
  { name: 'GC with valid-attachments a string', verb: 'GC', mutate: conf('cni.dev/valid-attachments', '[]'), expect: { code: 7, msg: /valid-attachments/ } },
  { name: 'GC with a string entry', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', ['x', ...attachments()])(i), expect: { code: 7, msg: /valid-attachments\[0\]/ } },
  { name: 'GC with a null entry after valid ones', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', [...attachments(), null])(i), expect: { code: 7, msg: /valid-attachments\[2\]/ } },
  { name: 'GC with an entry missing ifname', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', [...attachments(), { containerID: GHOST }])(i), expect: { code: 7, msg: /valid-attachments\[2\]\.ifname/ } },
  {
    name: 'GC with an entry spelling containerId',
    verb: 'GC',
    mutate: (i) => conf('cni.dev/valid-attachments', [{ containerId: REAL[0].containerId, ifname: REAL[0].ifname }, ...attachments()])(i),
    expect: { code: 7, msg: /valid-attachments\[0\]\.containerID/ },
  },
  { name: 'GC with a containerID holding "/"', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', [...attachments(), { containerID: 'a/b', ifname: 'eth0' }])(i), expect: { code: 7, msg: /containerID/ } },
  { name: 'GC with a numeric containerID', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', [...attachments(), { containerID: 7, ifname: 'eth0' }])(i), expect: { code: 7, msg: /containerID/ } },
  { name: 'GC with an ifname of 16 characters', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', [...attachments(), { containerID: GHOST, ifname: 'x'.repeat(16) }])(i), expect: { code: 7, msg: /ifname/ } },
  { name: 'GC with an ifname ".."', verb: 'GC', mutate: (i) => conf('cni.dev/valid-attachments', [...attachments(), { containerID: GHOST, ifname: '..' }])(i), expect: { code: 7, msg: /ifname/ } },
  {
    name: 'GC with a malformed new key and a valid old one',
    verb: 'GC',
    mutate: (i) => (conf('cni.dev/attachments', attachments())(i), conf('cni.dev/valid-attachments', 'all')(i)),
    expect: { code: 7, msg: /valid-attachments/ },
  },
  { name: 'GC with a malformed old key only', verb: 'GC', mutate: (i) => (conf('cni.dev/valid-attachments', undefined)(i), conf('cni.dev/attachments', {})(i)), expect: { code: 7, msg: /attachments/ } },
  { name: 'GC with a valid list but no ipam', verb: 'GC', mutate: conf('ipam', undefined), expect: { code: 7, msg: /ipam/ } },
];

describe('CNI input fuzzing against the plugin binary and a real agent', () => {
  let agent: AgentProcess;
  let h: Harness;
  let initial = '';
  const ctx = () => ({ socket: agent.socket, dir: agent.dir, poolsFile: agent.poolsFile });

  before(async () => {
    // No netns garbage collection: the fuzz oracle compares allocations before and after, and only inputs may change them.
    agent = await startAgent({ pools: POOLS, args: ['--gc-interval', '1h'] });
    h = createHarness(agent);
    for (const a of REAL) {
      const input = base('ADD', agent.socket);
      Object.assign(input.env, { CNI_CONTAINERID: a.containerId, CNI_IFNAME: a.ifname, CNI_NETNS: NETNS });
      setPath(input.conf, ['ipam', 'ipv4Pools'], [...a.v4]);
      if (a.v6) setPath(input.conf, ['ipam', 'ipv6Pools'], [...a.v6]);
      const r = await runPlugin(input);
      assert.equal(r.code, 0, `setup ADD for ${a.containerId} failed\n${describeResult(r)}`);
    }
    initial = await rawAllocations(agent.socket);
  });

  after(async () => {
    await agent?.cleanup();
  });

  test('setup: the state to protect is the three addresses of the two real attachments', () => {
    const list = JSON.parse(initial) as Array<{ containerId: string; ifname: string; pool: string }>;
    assert.deepEqual(list.map((a) => `${a.containerId}/${a.ifname}/${a.pool}`).sort(), [`${KEEP}a/eth0/lan`, `${KEEP}b/net1/lan`, `${KEEP}b/net1/lan6`]);
  });

  // Mutations are only meaningful if what they mutate works: every base but ADD (which would allocate) must succeed.
  for (const verb of ['DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const) {
    test(`the unmutated ${verb} base input succeeds and changes nothing`, async () => {
      const r = await runPlugin(base(verb, agent.socket));
      assert.equal(r.code, 0, describeResult(r));
      assert.equal(await rawAllocations(agent.socket), initial);
    });
  }

  for (const c of TABLE) {
    test(`${c.verb}: ${c.name}`, async () => {
      const input = base(c.verb, agent.socket);
      c.mutate(input, ctx());
      await h.check(c.name, input, c.expect);
    });
  }

  test('generated: valid inputs of every verb with random damage plus one mutation known to invalidate them', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzCase(ctx(), true), async (fz) => {
        await h.check(fz.label, fz.input);
      }),
      { numRuns: 100, endOnFailure: true },
    );
  });

  test('generated: DEL and VERSION with random damage only (the lenient verbs)', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzCase(ctx(), false), async (fz) => {
        await h.check(fz.label, fz.input);
      }),
      { numRuns: 50, endOnFailure: true },
    );
  });

  test('after all inputs the allocations are exactly those of the setup', async () => {
    assert.equal(await rawAllocations(agent.socket), initial);
  });

  // Last, because it changes the state: proves the before/after comparison sees a release at all.
  test('the allocation oracle notices a real change: a valid GC that keeps one attachment', async () => {
    const input = base('GC', agent.socket);
    setPath(input.conf, ['cni.dev/valid-attachments'], attachments().slice(0, 1));
    await assert.rejects(h.check('valid GC keeping only the first attachment', input), /\(c\) the agent's allocations changed/);
  });
});

// ---- generated cases ----

/** A change to one input, kept as data so fast-check can print a failing case. */
type Mutation =
  | { readonly kind: 'env'; readonly name: string; readonly value: string | undefined }
  | { readonly kind: 'conf'; readonly path: readonly string[]; readonly value: Json | undefined }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'append'; readonly garbage: string }
  | { readonly kind: 'badBytes'; readonly at: number; readonly bytes: readonly number[] };

function applyMutation(input: FuzzInput, m: Mutation): void {
  switch (m.kind) {
    case 'env':
      input.env[m.name] = m.value;
      return;
    case 'conf':
      setPath(input.conf, m.path, m.value);
      return;
    case 'truncate': {
      const bytes = stdinOf(input);
      input.stdin = bytes.subarray(0, m.at % bytes.length);
      return;
    }
    case 'append':
      input.stdin = Buffer.concat([stdinOf(input), Buffer.from(m.garbage)]);
      return;
    case 'badBytes': {
      const bytes = stdinOf(input);
      const at = m.at % (bytes.length + 1);
      input.stdin = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
      return;
    }
  }
}

const CONF_PATHS: ReadonlyArray<readonly string[]> = [
  ['cniVersion'],
  ['name'],
  ['type'],
  ['ipam'],
  ['ipam', 'type'],
  ['ipam', 'socket'],
  ['ipam', 'ipv4Pools'],
  ['ipam', 'ipv6Pools'],
  ['ipam', 'timeoutMs'],
  ['ipam', 'strictDel'],
  ['prevResult'],
  ['args'],
  ['runtimeConfig'],
  ['cni.dev/valid-attachments'],
];

const anyString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', maxLength: 40 }));
// Environment strings cannot carry NUL; spawn would refuse the whole run.
const envString = anyString.map((s) => s.replace(/\0/g, ''));
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) as fc.Arbitrary<Json>;
// Free mutations must never turn the verb into another valid one: a DEL becoming an ADD would allocate.
const notAVerb = envString.filter((s) => !(VERBS as readonly string[]).includes(s));

/** Random damage: may leave the input valid, so it is only safe for verbs that cannot allocate or release what exists. */
function freeMutation(): fc.Arbitrary<Mutation> {
  const common: Array<fc.Arbitrary<Mutation>> = [
    fc.record({ kind: fc.constant('env' as const), name: fc.constantFrom('CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH', 'CNI_ARGS'), value: fc.option(envString, { nil: undefined }) }),
    fc.record({
      kind: fc.constant('env' as const),
      name: fc.constant('CNI_ARGS'),
      value: fc
        .array(fc.tuple(fc.constantFrom('K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'K8S_POD_UID', 'IgnoreUnknown', 'IP', ''), envString), { maxLength: 4 })
        .map((kv) => kv.map(([k, v]) => `${k}=${v.replace(/;/g, '')}`).join(';')),
    }),
    fc.record({ kind: fc.constant('conf' as const), path: fc.constantFrom(...CONF_PATHS), value: fc.option(anyJson, { nil: undefined }) }),
    fc.record({ kind: fc.constant('conf' as const), path: fc.constantFrom(...CONF_PATHS), value: anyString.map((s): Json => s) }),
    // Random extra keys; the "cni.dev/" prefix is left out so no key can become a GC keep-list.
    fc.record({
      kind: fc.constant('conf' as const),
      path: fc.tuple(fc.constantFrom<readonly string[]>([], ['ipam']), anyString.filter((k) => !k.startsWith('cni.dev/'))).map(([p, k]) => [...p, k]),
      value: anyJson,
    }),
  ];
  return fc.oneof(
    ...common.map((arbitrary) => ({ arbitrary, weight: 4 })),
    // Rare: an input without a verb fails at once and exercises nothing else.
    { arbitrary: fc.record({ kind: fc.constant('env' as const), name: fc.constant('CNI_COMMAND'), value: fc.option(notAVerb, { nil: undefined }) }), weight: 1 },
  );
}

/**
 * Mutations that make `verb` fail before the plugin asks the agent to change
 * anything. A generated ADD, CHECK, STATUS or GC always ends with one of
 * these, applied after the random damage so that damage cannot repair it:
 * otherwise a generated input could be a valid ADD (allocating) or a valid GC
 * with a shortened keep-list (releasing), and "nothing changes" would be false
 * for a correct plugin. Only mutations known to break that particular verb
 * qualify: an unknown pool breaks ADD but not GC, which never looks at pools.
 */
function invalidatingMutation(c: { dir: string; poolsFile: string }, verb: Verb): fc.Arbitrary<Mutation> {
  const setConf = (path: string, values: fc.Arbitrary<Json | undefined>) =>
    fc.record({ kind: fc.constant('conf' as const), path: fc.constant(path.split('>')), value: values });
  const setEnv = (name: string, values: fc.Arbitrary<string | undefined>) => fc.record({ kind: fc.constant('env' as const), name: fc.constant(name), value: values });
  // Every verb except VERSION validates all of these before it talks to the agent.
  const universal: Array<fc.Arbitrary<Mutation>> = [
    setEnv('CNI_COMMAND', fc.constantFrom(undefined, 'FOO', 'add', 'Add', 'ADD ', ' DEL', 'del', '')),
    setEnv('CNI_PATH', fc.constantFrom(undefined, '')),
    setConf('cniVersion', fc.oneof(fc.constantFrom<Json | undefined>(undefined, '', '0.1.0', '0.2.0', '2.0.0', '1.0', 'abc', 1.0, 1, null, ['1.0.0']), anyString.filter((s) => !/^\d+\.\d+\.\d+$/.test(s)))),
    setConf('name', fc.constantFrom<Json | undefined>(undefined, '', 42, null, [], {})),
    setConf('ipam', fc.oneof(fc.constantFrom<Json | undefined>(undefined, null, 'tidepool', [], {}, 0), fc.array(anyJson, { maxLength: 3 }))),
    setConf('ipam>type', fc.constantFrom<Json | undefined>(undefined, '', 0, null, ['tidepool'], { type: 'tidepool' })),
    setConf('ipam>socket', fc.constantFrom<Json | undefined>('', 'agent.sock', './agent.sock', 5, false, '/a\u0000b', `/${'s'.repeat(120)}`, c.poolsFile, c.dir, join(c.dir, 'missing.sock'), '/dev/null')),
    setConf('ipam>ipv4Pools', fc.oneof(fc.constantFrom<Json | undefined>('lan', [], [''], ['lan', ''], [' '], ['lan', 'lan'], [1], [null], { 0: 'lan' }), fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.constant('')), { minLength: 1, maxLength: 3 }))),
    setConf('ipam>ipv6Pools', fc.constantFrom<Json | undefined>('lan6', [], [''], [false], ['lan6', 'lan6'])),
    // Not null: the plugin reads a null optional field as absent (its default), as Go's JSON decoding would.
    setConf('ipam>timeoutMs', fc.constantFrom<Json | undefined>(0, -1, 1.5, '100', 1e12, false)),
    setConf('ipam>strictDel', fc.constantFrom<Json | undefined>('true', 1, 0, [])),
    fc.record({ kind: fc.constant('conf' as const), path: fc.constantFrom(['ipam', 'subnet'], ['ipam', 'range'], ['ipam', 'IPv4Pools'], ['ipam', '']), value: anyJson }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('append' as const), garbage: fc.tuple(fc.constantFrom('x', ',', '}', ']', '{}', '\u0000', 'null', '"'), anyString).map(([a, b]) => a + b) }),
    // Each sequence is invalid UTF-8 wherever it lands in valid UTF-8.
    fc.record({
      kind: fc.constant('badBytes' as const),
      at: fc.nat(),
      bytes: fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]),
    }),
  ];
  const attachment: Array<fc.Arbitrary<Mutation>> = [
    setEnv('CNI_CONTAINERID', fc.constantFrom(undefined, '', 'a/b', 'a b', '../x', '-x', '.x', 'café', `${'c'.repeat(150)}/`)),
    setEnv('CNI_IFNAME', fc.constantFrom(undefined, '', '.', '..', 'eth/0', 'eth 0', 'eth0:1', 'x'.repeat(16), 'é'.repeat(8))),
    setEnv('CNI_ARGS', fc.constantFrom('K8S_POD_NAME', '=;;=', '=x', 'a=b;c', '✓', ';;;=;')),
  ];
  const netns = setEnv('CNI_NETNS', fc.constantFrom(undefined, '', 'relative/ns', 'ns'));
  const specific: Record<Verb, Array<fc.Arbitrary<Mutation>>> = {
    ADD: [
      ...attachment,
      netns,
      setConf('ipam>ipv4Pools', fc.constantFrom<Json>(['nope'], ['lan', 'nope'], ['lan6'])),
      setConf('ipam>ipv6Pools', fc.constantFrom<Json>(['nope6'], ['lan'])),
    ],
    DEL: attachment,
    CHECK: [...attachment, netns, setConf('cniVersion', fc.constantFrom<Json>('0.3.0', '0.3.1'))],
    STATUS: [setConf('cniVersion', fc.constantFrom<Json>('0.3.0', '0.3.1', '0.4.0', '1.0.0'))],
    GC: [
      setConf('cniVersion', fc.constantFrom<Json>('0.3.0', '0.3.1', '0.4.0', '1.0.0')),
      setConf(
        'cni.dev/valid-attachments',
        fc.oneof(
          fc.constantFrom<Json | undefined>(undefined, null, 'all', {}, 0),
          fc.tuple(fc.nat(2), fc.constantFrom<Json>(null, 'x', [], {}, { containerID: GHOST }, { ifname: 'eth0' }, { containerID: 'a/b', ifname: 'eth0' }, { containerID: GHOST, ifname: '..' }, { containerId: GHOST, ifname: 'eth0' })).map(([at, bad]): Json => {
            const list = attachments();
            list.splice(at, 0, bad);
            return list;
          }),
        ),
      ),
    ],
    VERSION: [],
  };
  return fc.oneof(...universal, ...specific[verb]);
}

interface GeneratedCase {
  readonly label: string;
  readonly input: FuzzInput;
}

/**
 * `invalidating`: any verb, random damage, then one invalidating mutation.
 * Otherwise only DEL (of a container that holds nothing) and VERSION, with
 * random damage alone: neither can change the agent's state whatever the
 * damage does, since no generated string names a real allocation.
 */
function fuzzCase(c: { socket: string; dir: string; poolsFile: string }, invalidating: boolean): fc.Arbitrary<GeneratedCase> {
  const verbs = invalidating ? VERBS : (['DEL', 'VERSION'] as const);
  return fc
    .record({
      verb: fc.constantFrom<Verb>(...verbs),
      damage: fc.array(freeMutation(), { maxLength: 3 }),
    })
    .chain(({ verb, damage }) =>
      (invalidating ? invalidatingMutation(c, verb).map((m): Mutation | undefined => m) : fc.constant(undefined)).map((last) => ({ verb, damage, last })),
    )
    .map(({ verb, damage, last }) => {
      const input = base(verb, c.socket);
      for (const m of damage) applyMutation(input, m);
      if (last) applyMutation(input, last);
      return { label: `generated ${verb}: ${JSON.stringify([...damage, ...(last ? [last] : [])]).slice(0, 600)}`, input };
    });
}
