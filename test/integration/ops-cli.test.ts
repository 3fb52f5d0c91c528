import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createBackfillHandler } from '../../functions/backfill';
import { createCreditsHandler } from '../../functions/credits';
import { createRolloverHandler } from '../../functions/rollover';
import { runOps } from '../../infra/ops/cli';
import { stageTarget } from '../../infra/ops/targets';
import { capturingLogger } from '../../lib/log';
import { processDepsFromConfig } from '../../lib/stripe/deps';
import { type LambdaFake, startLambdaFake } from '../support/lambda-fake';
import { ms, paidInvoiceEvent } from '../support/stripe-events';
import { freshTable } from '../support/table';

const NOW = '2026-11-10T00:00:00Z';
type Table = Awaited<ReturnType<typeof freshTable>>;

/** The CLI's output and exit code, with a scripted answer to its confirmation question. */
async function ops(args: string[], options: { fake?: LambdaFake; answer?: boolean } = {}) {
  const out: string[] = [];
  const log: string[] = [];
  const questions: string[] = [];
  const code = await runOps(args, {
    env: process.env,
    write: (text) => {
      out.push(text);
    },
    writeLog: (text) => log.push(text),
    confirm: async (question) => {
      questions.push(question);
      return options.answer ?? false;
    },
    readFile: (path) => files.get(path) ?? '',
    ...(options.fake && {
      target: ({ stage }) =>
        stageTarget({ stage: stage ?? 'none', client: options.fake?.client() }),
    }),
  });
  return { code, out: out.join(''), log: log.join(''), questions };
}

const files = new Map<string, string>();

describe('Ops CLI against a deployed stage (a local fake of the Lambda API)', () => {
  let table: Table;
  let fake: LambdaFake;

  beforeAll(async () => {
    table = await freshTable('ops');
    const ledger = () => ({ db: table.db, tableName: table.tableName, clock: () => ms(NOW) });
    const credits = createCreditsHandler(ledger);
    const backfillDeps = () =>
      processDepsFromConfig(
        { planCredits: { price_plan: 100 } },
        ledger(),
        capturingLogger().logger,
      );
    fake = await startLambdaFake({
      'image-credits-test-credits': credits,
      // Pages of one account, so that the CLI's following of the audit's cursor shows.
      'image-credits-paged-credits': (event, context) =>
        credits({ ...(event as object), limit: 1 }, context),
      'image-credits-test-backfill': createBackfillHandler(backfillDeps),
      'image-credits-test-rollover': createRolloverHandler(ledger),
    });
  });
  afterAll(async () => {
    await fake.stop();
    await table.drop();
  });

  const adjust = ['adjust', 'cus_ops', '25', '--reason', 'goodwill', '--key', 'ops-1'];

  it('asks before a write to a stage, and does nothing when told no', async () => {
    // Act
    const refused = await ops([...adjust, '--stage', 'test'], { fake, answer: false });
    // Assess
    expect(refused.code).toBe(1);
    expect(refused.questions).toEqual([
      'About to adjust cus_ops by +25 credits ("goodwill") on stage test (image-credits-test-*). Go on? [y/N] ',
    ]);
    expect(fake.invocations).toHaveLength(0);
  });

  it('writes once confirmed (or with --yes), signed by the real SDK client', async () => {
    // Act
    const confirmed = await ops([...adjust, '--stage', 'test'], { fake, answer: true });
    const again = await ops([...adjust, '--stage', 'test', '--yes', '--json'], { fake });
    // Assess: the same key applies once.
    expect(confirmed.code).toBe(0);
    expect(again.questions).toEqual([]);
    expect(JSON.parse(again.out)).toEqual({ ok: true, balance: 25 });
    expect(fake.invocations.at(-1)).toEqual({
      functionName: 'image-credits-test-credits',
      payload: {
        action: 'adjust',
        customerId: 'cus_ops',
        amount: 25,
        reason: 'goodwill',
        idempotencyKey: 'ops-1',
      },
      signed: true,
    });
  });

  it('reads without asking: a balance as a table for people, as JSON for scripts', async () => {
    // Act
    const human = await ops(['balance', 'cus_ops', '--stage', 'test'], { fake });
    const script = await ops(['ledger', 'cus_ops', '--stage', 'test', '--json'], { fake });
    // Assess
    expect(human.questions).toEqual([]);
    expect(human.out).toMatch(/^cus_ops: balance 25, held 0, debt 0\nlots:\n {2}source +granted/);
    expect(human.out).toContain('adjustment');
    expect(JSON.parse(script.out).entries).toEqual([
      expect.objectContaining({ type: 'adjustment', amount: 25, balanceAfter: 25 }),
    ]);
  });

  it("reports the function's error and exits 1; a bad command line exits 2", async () => {
    // Act
    const refused = await ops(['ledger', 'cus_ops', '--limit', '5000', '--stage', 'test'], {
      fake,
    });
    const usage = await ops(['adjust', 'cus_ops', '5', '--reason', 'x'], { fake });
    // Assess
    expect(refused.code).toBe(1);
    expect(refused.log).toContain('credits failed on stage test');
    expect(refused.log).toContain('InputError: limit:');
    expect(usage.code).toBe(2);
    expect(usage.log).toContain('adjust needs --key');
  });

  it('follows the whole-table audit page by page', async () => {
    // Prepare: a second account.
    await ops(
      ['adjust', 'cus_ops_2', '5', '--reason', 'r', '--key', 'k', '--stage', 'test', '--yes'],
      {
        fake,
      },
    );
    // Act
    const audit = await ops(['audit', '--stage', 'paged', '--json'], { fake });
    // Assess
    expect(audit.code).toBe(0);
    expect(JSON.parse(audit.out)).toEqual({ checked: 2, problems: [] });
    const pages = fake.invocations.filter(
      (each) => each.functionName === 'image-credits-paged-credits',
    );
    expect(pages).toHaveLength(2);
  });

  it('a backfill with a failed event exits 1 with "ok": false; a dry run does not ask', async () => {
    // Prepare
    const event = paidInvoiceEvent({
      customerId: 'cus_bf',
      subscriptionId: 'sub_bf',
      invoiceId: 'in_bf',
      lines: [{ priceId: 'price_nobody_knows', periodStart: '2026-11-01T00:00:00Z', lineId: 'il' }],
    });
    files.set('events.json', JSON.stringify({ object: 'list', data: [event] }));
    // Act
    const run = await ops(['backfill', '--events', 'events.json', '--dry-run', '--stage', 'test'], {
      fake,
    });
    const json = await ops(
      ['backfill', '--events', 'events.json', '--dry-run', '--stage', 'test', '--json'],
      { fake },
    );
    // Assess
    expect(run.questions).toEqual([]);
    expect(run.code).toBe(1);
    expect(run.out).toContain('failures:');
    expect(run.out).toContain('price_nobody_knows');
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, failed: 1, dryRun: true });
  });

  it('a rollover dry run as of a time reports without asking', async () => {
    // Act
    const run = await ops(['rollover', '--now', NOW, '--dry-run', '--stage', 'test'], { fake });
    // Assess
    expect(run.code).toBe(0);
    expect(run.out).toContain('dryRun: true');
  });

  it('says clearly when the stage has no migrate function', async () => {
    // Act
    const run = await ops(['migrate', '--dry-run', '--stage', 'test'], { fake });
    // Assess
    expect(run.code).toBe(1);
    expect(run.log).toContain('stage test has no function image-credits-test-migrate');
  });
});

describe('Ops CLI against the local stack', () => {
  // One table for the describe: the local handlers build their deps once per process
  // (lib/runtime.ts depsFromEnv), from the environment as the first of them found it.
  let table: Table;
  const saved = { ...process.env };

  beforeAll(async () => {
    table = await freshTable('ops-local');
    // The handlers read their environment as Lambda's would (lib/runtime.ts).
    process.env.DYNAMODB_ENDPOINT = inject('dynamoDbEndpoint');
    process.env.TABLE_NAME = table.tableName;
  });
  afterAll(async () => {
    process.env = { ...saved };
    await table.drop();
  });

  it('runs the handlers in this process against DynamoDB Local, without asking', async () => {
    // Act
    const adjusted = await ops(['adjust', 'cus_local', '7', '--reason', 'r', '--key', 'k1']);
    const balance = await ops(['balance', 'cus_local', '--json']);
    // Assess
    expect(adjusted.questions).toEqual([]);
    expect(adjusted.code).toBe(0);
    expect(JSON.parse(balance.out)).toMatchObject({ customerId: 'cus_local', balance: 7 });
  });

  it("migrate runs lib/jobs/migrate.ts's runMigration in this process", async () => {
    // Act
    const dryRun = await ops(['migrate', '--dry-run', '--json']);
    const run = await ops(['migrate']);
    // Assess: a table the local set-up created holds nothing of 0.1.0.
    expect(dryRun.code).toBe(0);
    expect(JSON.parse(dryRun.out)).toMatchObject({ dryRun: true, complete: true, legacyFound: 0 });
    expect(run.code).toBe(0);
    expect(run.out).toContain('complete: true');
    expect(run.out).toContain('schemaWritten: true');
  });
});
