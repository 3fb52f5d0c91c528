import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../../infra/local/dynamodb';
import { LOCAL_WEBHOOK_SECRET } from '../../infra/local/functions';
import { LOCAL_PLAN_CREDITS } from '../../infra/local/sample-catalog';
import { DEFAULT_TABLE_NAME } from '../../lib/config';

/**
 * The local stack as a developer runs it, for tests: `npm start` (node with tsx's loader on
 * infra/local/start.ts, which is what the script runs, or the npm script itself) as a child
 * process on free ports with its own data directory, and the local CLIs as child processes.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/**
 * Where the CLIs run unless a test says otherwise: not the repository root, whose `.env` (a
 * developer's own settings) they would read.
 */
const NEUTRAL_CWD = tmpdir();

/**
 * The local defaults, set explicitly for what must run at the repository root (npm scripts),
 * so that a developer's `.env` there cannot change them: the shell wins over the file.
 */
export const LOCAL_DEFAULTS: Readonly<Record<string, string>> = {
  STRIPE_WEBHOOK_SECRET: LOCAL_WEBHOOK_SECRET,
  PLAN_CREDITS: LOCAL_PLAN_CREDITS,
  TABLE_NAME: DEFAULT_TABLE_NAME,
  LOG_LEVEL: 'info',
};
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The node command line of an npm script `exec node --import tsx <script>`. */
export function scriptCommand(script: string): [string, string[]] {
  return [process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, script)]];
}

/** The environment of a developer's shell that set none of the stack's variables. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'PORT',
    'DYNAMODB_PORT',
    'DYNAMODB_ENDPOINT',
    'DATA_DIR',
    'TABLE_NAME',
    'STRIPE_WEBHOOK_SECRET',
    'STRIPE_SECRET_KEY',
    'STRIPE_API_BASE',
    'PLAN_CREDITS',
    'LOG_LEVEL',
  ]) {
    delete env[name];
  }
  return { ...env, ...extra };
}

export async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  let second = await freePort();
  while (second === first) second = await freePort();
  return [first, second];
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type Stack = {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dynamoDbPort: number;
  readonly dataDir: string;
  readonly exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
};

export type RunOptions = {
  /** Where it runs, and so which `.env` it reads; default a folder without one. */
  readonly cwd?: string;
  /** `npm` runs the real `npm start` at the repository root; default node on start.ts. */
  readonly via?: 'node' | 'npm';
};

/** Starts `npm start` with `env` on top of a clean shell's environment; does not wait. */
export function runStart(env: Record<string, string>, options: RunOptions = {}): Stack {
  let out = '';
  let err = '';
  const [command, args] =
    options.via === 'npm' ? ['npm', ['start']] : scriptCommand('infra/local/start.ts');
  const viaNpm = options.via === 'npm';
  const child = spawn(command, args, {
    cwd: viaNpm ? REPO_ROOT : (options.cwd ?? NEUTRAL_CWD),
    env: cleanEnv(viaNpm ? { ...LOCAL_DEFAULTS, ...env } : env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<Exit>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  return {
    child,
    port: Number(env.PORT),
    dynamoDbPort: Number(env.DYNAMODB_PORT),
    dataDir: env.DATA_DIR ?? '',
    exited,
    stdout: () => out,
    stderr: () => err,
  };
}

export function waitForLine(stack: Stack, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolveLine, reject) => {
    const timer = setTimeout(() => {
      reject(
        new Error(`no ${pattern} within ${timeoutMs} ms:\n${stack.stdout()}${stack.stderr()}`),
      );
    }, timeoutMs);
    const check = () => {
      if (!pattern.test(stack.stdout())) return;
      clearTimeout(timer);
      resolveLine();
    };
    stack.child.stdout?.on('data', check);
    stack.exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${code}):\n${stack.stdout()}${stack.stderr()}`));
    });
    check();
  });
}

/** Starts a stack on free ports and a fresh data directory, and waits until it listens. */
export async function startStack(
  env: Record<string, string> = {},
  options: RunOptions = {},
): Promise<Stack> {
  const [port, dynamoDbPort] = await twoFreePorts();
  const dataDir = await mkdtemp(join(tmpdir(), 'local-stack-'));
  const stack = runStart(
    { PORT: String(port), DYNAMODB_PORT: String(dynamoDbPort), DATA_DIR: dataDir, ...env },
    options,
  );
  await waitForLine(stack, /^Listening on /m, 60_000);
  return stack;
}

/** Every process below `pid`, children first, from one `ps` listing. */
export function descendants(pid: number): number[] {
  const listing = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout;
  const children = new Map<number, number[]>();
  for (const line of listing.split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (!child || parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const visit = (at: number) => {
    for (const child of children.get(at) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/** The command line of a process, or undefined once it is gone. */
export function commandOf(pid: number): string | undefined {
  const found = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The JVM of the stack's DynamoDB Local, among the stack's processes. */
export function dynamoDbLocalPid(stack: Stack): number {
  const java = descendants(stack.child.pid as number).find((pid) =>
    /\bjava\b.*LoopbackDynamoDbLocal/.test(commandOf(pid) ?? ''),
  );
  if (!java) throw new Error('the stack runs no DynamoDB Local');
  return java;
}

/** Stops a stack whatever state a failed test left it in; never leaves a process behind. */
export async function stopStack(stack: Stack | undefined): Promise<void> {
  if (!stack) return;
  const left = descendants(stack.child.pid as number);
  if (stack.child.exitCode === null && stack.child.signalCode === null) {
    stack.child.kill('SIGINT');
    const stopped = await Promise.race([
      stack.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    if (!stopped) stack.child.kill('SIGKILL');
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  await rm(stack.dataDir, { recursive: true, force: true });
}

export type Run = { code: number | null; stdout: string; stderr: string };

/** Runs a command to completion with `env` on top of a clean shell's, collecting its output. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { env: Record<string, string>; stdin?: string; cwd?: string },
): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd ?? NEUTRAL_CWD,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** Runs one of the local CLIs (`infra/local/invoke.ts`, ...) to completion. */
export function runScript(
  script: string,
  args: readonly string[],
  options: { env: Record<string, string>; stdin?: string; cwd?: string },
): Promise<Run> {
  const [command, prefix] = scriptCommand(script);
  return runProcess(command, [...prefix, ...args], options);
}

export function invoke(
  args: readonly string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<Run> {
  return runScript('infra/local/invoke.ts', args, { env, ...(stdin !== undefined && { stdin }) });
}

export function postWebhook(stack: Stack, body: string, headers: Record<string, string>) {
  return fetch(`http://localhost:${stack.port}/webhooks/stripe`, {
    method: 'POST',
    headers,
    body,
  });
}
