import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MigrateUsageError, parseMigrateArgs, runMigrateCli } from '../../infra/ops/migrate';
import { legacyItems, legacyTable, writeItems } from '../support/legacy-items';
import { smallCustomers } from '../support/legacy-scenario';

/** The CLI's output, log and exit code, with a scripted answer to its question. */
async function migrate(args: string[], env: NodeJS.ProcessEnv, answer = false) {
  const out: string[] = [];
  const log: string[] = [];
  const questions: string[] = [];
  const code = await runMigrateCli(args, {
    env,
    write: (text) => out.push(text),
    writeLog: (text) => log.push(text),
    confirm: async (question) => {
      questions.push(question);
      return answer;
    },
  });
  return { code, out: out.join(''), log: log.join(''), questions };
}

describe('Function: parseMigrateArgs', () => {
  it('reads the flags', () => {
    expect(parseMigrateArgs(['--dry-run', '--limit', '50', '--cursor', 'abc'])).toEqual({
      dryRun: true,
      yes: false,
      limit: 50,
      cursor: 'abc',
    });
    expect(parseMigrateArgs(['--table', 't', '--region', 'eu-west-1', '--yes'])).toEqual({
      dryRun: false,
      yes: true,
      table: 't',
      region: 'eu-west-1',
    });
  });

  it.each([
    [['--limit', '0']],
    [['--limit', 'many']],
    [['--region', 'eu-west-1']],
    [['--bogus']],
    [['positional']],
  ])('refuses %j', (args) => {
    expect(() => parseMigrateArgs(args)).toThrow(MigrateUsageError);
  });
});

describe('npm run migrate, against DynamoDB Local', () => {
  let table: Awaited<ReturnType<typeof legacyTable>>;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    table = await legacyTable();
    await writeItems(table, smallCustomers.flatMap(legacyItems));
    env = { DYNAMODB_ENDPOINT: inject('dynamoDbEndpoint'), TABLE_NAME: table.tableName };
  });
  afterAll(async () => table.drop());

  it('usage errors exit 2 and say how to call it', async () => {
    const run = await migrate(['--limit', 'x'], env);
    expect(run.code).toBe(2);
    expect(run.log).toContain('usage: npm run migrate');
  });

  it('an unreachable local stack is a clear error, not a stack trace', async () => {
    const run = await migrate([], { DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', TABLE_NAME: 'x' });
    expect(run.code).toBe(1);
    expect(run.log).toMatch(/Cannot reach DynamoDB at http:\/\/127\.0\.0\.1:9/);
  });

  it('dry run, a limited run that prints how to go on, and the run that finishes', async () => {
    // Act
    const dryRun = await migrate(['--dry-run'], env);
    const limited = await migrate(['--limit', '10'], env);
    const cursor = /--cursor (\S+)/.exec(limited.log)?.[1];
    const finished = await migrate(['--cursor', String(cursor)], env);
    // Assess
    expect(dryRun.code).toBe(0);
    expect(JSON.parse(dryRun.out)).toMatchObject({
      dryRun: true,
      legacyFound: smallCustomers.length,
    });
    expect(limited.code).toBe(3);
    expect(JSON.parse(limited.out)).toMatchObject({ complete: false, accountsScanned: 10 });
    expect(limited.log).toContain('not finished; to go on:');
    expect(cursor).toEqual(expect.any(String));
    expect(finished.code).toBe(0);
    expect(JSON.parse(finished.out)).toMatchObject({ complete: true, schemaWritten: true });
    expect(finished.log).toContain('the table is marked current');
    // A JSON line per page on stderr, as the job logs it.
    expect(finished.log).toContain('"message":"migration page"');
  });

  it('a named table on an explicit DYNAMODB_ENDPOINT is migrated there, without asking', async () => {
    // Act: --table with DYNAMODB_ENDPOINT set is a table of that name on DynamoDB Local.
    const run = await migrate(['--table', table.tableName], {
      DYNAMODB_ENDPOINT: inject('dynamoDbEndpoint'),
    });
    // Assess
    expect(run.questions).toEqual([]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ complete: true, legacyFound: 0 });
  });

  it('a real table in AWS asks before writing, and a "no" does nothing', async () => {
    // Act: no DYNAMODB_ENDPOINT, so the table would be in AWS; the answer is no, so no call.
    const run = await migrate(['--table', 'image-credits-prod', '--region', 'eu-west-1'], {});
    // Assess
    expect(run.questions[0]).toMatch(/About to migrate table image-credits-prod in AWS/);
    expect(run.code).toBe(1);
    expect(run.log).toContain('nothing done');
  });
});
