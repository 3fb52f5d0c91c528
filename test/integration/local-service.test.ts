import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commandOf,
  descendants,
  dynamoDbLocalPid,
  runScript,
  runStart,
  type Stack,
  startStack,
  stopStack,
  twoFreePorts,
  waitForLine,
} from '../support/local-stack';

/**
 * `npm start` as a service: what a process manager sees (SIGTERM, exit codes, a health check
 * that tells the truth), what the network sees (DynamoDB Local on loopback only), what its log
 * keeps, and the `.env` file it shares with `npm run invoke`.
 */

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('error', () => resolveConnect(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolveConnect(false);
    });
  });
}

async function health(stack: Stack) {
  const response = await fetch(`http://localhost:${stack.port}/health`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The processes of `pids` still alive after up to `graceMs` (a helper may take a moment). */
async function survivors(pids: readonly number[], graceMs: number): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  let alive = pids.filter((pid) => !gone(pid));
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    alive = alive.filter((pid) => !gone(pid));
  }
  return alive.map((pid) => `${pid} ${commandOf(pid) ?? '(gone)'}`);
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('Local stack: the real npm start, as a process manager runs it', () => {
  let stack: Stack | undefined;

  beforeAll(async () => {
    stack = await startStack({}, { via: 'npm' });
  });
  afterAll(async () => stopStack(stack));

  it.runIf(process.platform === 'linux')(
    'DynamoDB Local accepts connections on 127.0.0.1 only, not on the rest of the loopback range',
    async () => {
      // Prepare: on Linux all of 127.0.0.0/8 reaches this machine, so a server bound to every
      // interface would accept on 127.0.0.2 too.
      const { dynamoDbPort } = stack as Stack;

      // Act & Assess
      expect(await accepts('127.0.0.1', dynamoDbPort)).toBe(true);
      expect(await accepts('127.0.0.2', dynamoDbPort)).toBe(false);
    },
  );

  it('/health answers 200 while DynamoDB answers and 503 while it does not', async () => {
    // Prepare
    const running = stack as Stack;
    const java = dynamoDbLocalPid(running);

    // Act: a frozen DynamoDB Local never answers, like a hung or unreachable one.
    const before = await health(running);
    process.kill(java, 'SIGSTOP');
    const frozen = await health(running).finally(() => process.kill(java, 'SIGCONT'));
    const after = await health(running);

    // Assess
    expect(before).toEqual({ status: 200, body: { ok: true, dynamodb: 'ok' } });
    expect(frozen.status).toBe(503);
    expect(frozen.body).toMatchObject({ ok: false, dynamodb: 'unreachable' });
    expect(after.status).toBe(200);
  });

  it('logs each request without its query string', async () => {
    // Prepare
    const running = stack as Stack;

    // Act
    await fetch(`http://localhost:${running.port}/webhooks/stripe?email=jane%40example.com`, {
      method: 'POST',
      body: '{}',
    });
    await new Promise((r) => setTimeout(r, 200));

    // Assess
    expect(running.stdout()).toMatch(/^\[webhook\] POST \/webhooks\/stripe 400 \d+ms$/m);
    expect(running.stdout()).not.toContain('jane');
  });

  // Last: it ends the stack.
  it('stops on SIGTERM to npm like on Ctrl-C: exit 0, and no node or java left running', async () => {
    // Prepare
    const running = stack as Stack;
    const processes = descendants(running.child.pid as number);
    // node on start.ts, its java, and whatever helpers run meanwhile (tsx's esbuild service).
    expect(processes.map((pid) => commandOf(pid))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/node .*infra\/local\/start\.ts/),
        expect.stringMatching(/java .*LoopbackDynamoDbLocal/),
      ]),
    );

    // Act: what systemd, Docker or a CI runner sends to the process it started.
    running.child.kill('SIGTERM');
    const exit = await running.exited;

    // Assess
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running.stdout()).toContain('SIGTERM: stopping the webhook server and DynamoDB Local');
    // Java is stopped before npm start exits; tsx's esbuild service notices its parent's pipe
    // closing a moment later.
    expect(processes.filter((pid) => /java/.test(commandOf(pid) ?? ''))).toEqual([]);
    expect(await survivors(processes, 3_000)).toEqual([]);
  });
});

describe('Local stack: .env, and DynamoDB Local dying under it', () => {
  let stack: Stack | undefined;
  let folder: string;
  let port: number;

  beforeAll(async () => {
    // A folder of its own with a .env, as the repository root would have; ports from the file.
    folder = await mkdtemp(join(tmpdir(), 'env-file-'));
    const [webhookPort, dynamoDbPort] = await twoFreePorts();
    port = webhookPort;
    await writeFile(
      join(folder, '.env'),
      [
        '# what a developer writes once',
        `PORT=${port}`,
        `DYNAMODB_PORT=${dynamoDbPort}`,
        `PLAN_CREDITS='{"price_from_env_file":700}'`,
        'LOG_LEVEL=debug',
      ].join('\n'),
    );
    stack = runStart({ DATA_DIR: join(folder, 'data'), LOG_LEVEL: 'warn' }, { cwd: folder });
    await waitForLine(stack, /^Listening on /m, 60_000);
  });
  afterAll(async () => {
    await stopStack(stack);
    await rm(folder, { recursive: true, force: true });
  });

  it('npm start reads .env, and a variable set in the shell wins over the file', () => {
    // Act
    const banner = (stack as Stack).stdout();

    // Assess
    expect(banner).toContain(`Webhook URL     http://localhost:${port}/webhooks/stripe\n`);
    expect(banner).toContain('PLAN_CREDITS    1 price (price_from_env_file)\n');
    expect(banner).toContain('.env            DYNAMODB_PORT, PLAN_CREDITS, PORT\n');
    expect(banner).toContain('Try             npm run trigger -- subscribe --customer cus_123\n');
  });

  it('npm run invoke reads the same .env, so it finds the stack with no variable in the shell', async () => {
    // Act
    const run = await runScript(
      'infra/local/invoke.ts',
      ['credits', '{"action":"balance","customerId":"cus_env"}'],
      { env: {}, cwd: folder },
    );

    // Assess
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      customerId: 'cus_env',
      balance: 0,
      held: 0,
      debt: 0,
      lots: [],
      upcoming: [],
    });
  });

  // Last: it ends the stack.
  it('exits 1, saying so, when DynamoDB Local dies, and leaves nothing running', async () => {
    // Prepare
    const running = stack as Stack;
    const java = dynamoDbLocalPid(running);

    // Act
    process.kill(java, 'SIGKILL');
    const exit = await running.exited;

    // Assess
    expect(exit).toEqual({ code: 1, signal: null });
    expect(running.stderr()).toContain('DynamoDB Local stopped unexpectedly (signal SIGKILL)');
    expect(await accepts('127.0.0.1', port)).toBe(false);
    expect(gone(java)).toBe(true);
  });
});
