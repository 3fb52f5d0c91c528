import { parseArgs } from 'node:util';
import { DEFAULT_TABLE_NAME } from '../../lib/config';
import { type MigrationReport, runMigration } from '../../lib/jobs/migrate';
import { createLogger } from '../../lib/log';
import { createDocumentClient, type StoreDeps } from '../../lib/store/client';
import { DEFAULT_DYNAMODB_PORT } from '../local/functions';
import { checkLocalTable } from '../local/local-table';
import { isMainModule } from '../local/main-module';
import { askTerminal } from './cli';

/**
 * `npm run migrate -- [--dry-run] [--cursor C] [--limit N] [--table T [--region R]] [--yes]`
 * (docs/store.md, "Migrating a 0.1.0 table"): converts the 0.1.0 customers of a table with
 * lib/jobs/migrate.ts, in this process, straight against DynamoDB.
 * - Without --table: the local stack's table (DYNAMODB_ENDPOINT, default
 *   http://localhost:8000; TABLE_NAME, default image-credits-local).
 * - With --table: that table in AWS, with the AWS SDK's usual credentials and region (--region,
 *   or AWS_REGION / the profile); a real run asks first (--yes skips). DYNAMODB_ENDPOINT, when
 *   set, still says where DynamoDB is (a table of that name on DynamoDB Local).
 * Progress (a JSON line per page) goes to stderr, the report to stdout. Ctrl-C stops after the
 * current page and prints the cursor to continue from. Exit codes: 0 the pass finished with
 * nothing left behind, 1 customers failed (rerun to retry them) or it failed, 2 usage,
 * 3 stopped before the end of the table (its output says how to go on).
 */
export const MIGRATE_USAGE = `usage: npm run migrate -- [--dry-run] [--cursor <cursor>] [--limit <accounts>] [--table <name> [--region <region>]] [--yes]

Without --table, migrates the local stack's table (DYNAMODB_ENDPOINT, TABLE_NAME); with it, that
table in AWS (your AWS credentials), asking before writing (--yes skips the question).`;

export type MigrateIo = {
  readonly env: NodeJS.ProcessEnv;
  readonly write: (text: string) => void;
  readonly writeLog: (text: string) => void;
  /** Asks a person; false when no one can answer. */
  readonly confirm: (question: string) => Promise<boolean>;
  /** Set when the run should stop after its current page (Ctrl-C). */
  readonly stopRequested?: () => boolean;
};

export type MigrateArgs = {
  readonly dryRun: boolean;
  readonly cursor?: string;
  readonly limit?: number;
  readonly table?: string;
  readonly region?: string;
  readonly yes: boolean;
};

export class MigrateUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrateUsageError';
  }
}

export function parseMigrateArgs(args: readonly string[]): MigrateArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        'dry-run': { type: 'boolean' },
        cursor: { type: 'string' },
        limit: { type: 'string' },
        table: { type: 'string' },
        region: { type: 'string' },
        yes: { type: 'boolean' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    throw new MigrateUsageError((error as Error).message);
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
    throw new MigrateUsageError(
      `--limit must be a whole number of accounts, got "${values.limit}"`,
    );
  }
  if (values.region !== undefined && values.table === undefined) {
    throw new MigrateUsageError('--region only goes with --table');
  }
  return {
    dryRun: values['dry-run'] === true,
    yes: values.yes === true,
    ...(typeof values.cursor === 'string' && { cursor: values.cursor }),
    ...(limit !== undefined && { limit }),
    ...(typeof values.table === 'string' && { table: values.table }),
    ...(typeof values.region === 'string' && { region: values.region }),
  };
}

type Target = { readonly deps: StoreDeps; readonly description: string; readonly aws: boolean };

async function targetOf(args: MigrateArgs, env: NodeJS.ProcessEnv): Promise<Target> {
  const endpoint = env.DYNAMODB_ENDPOINT?.trim() || undefined;
  if (args.table && !endpoint) {
    const db = createDocumentClient(args.region ? { region: args.region } : {});
    return {
      deps: { db, tableName: args.table },
      description: `table ${args.table} in AWS`,
      aws: true,
    };
  }
  const local =
    endpoint ?? `http://localhost:${env.DYNAMODB_PORT?.trim() || DEFAULT_DYNAMODB_PORT}`;
  const tableName = args.table ?? (env.TABLE_NAME?.trim() || DEFAULT_TABLE_NAME);
  await checkLocalTable({ endpoint: local, tableName });
  const db = createDocumentClient({
    endpoint: local,
    region: env.AWS_REGION ?? 'local',
    // DynamoDB Local accepts any credentials; real ones are never needed for it.
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
  });
  return { deps: { db, tableName }, description: `table ${tableName} at ${local}`, aws: false };
}

export async function runMigrateCli(args: readonly string[], io: MigrateIo): Promise<number> {
  let parsed: MigrateArgs;
  try {
    parsed = parseMigrateArgs(args);
  } catch (error) {
    if (!(error instanceof MigrateUsageError)) throw error;
    io.writeLog(`error: ${error.message}\n${MIGRATE_USAGE}\n`);
    return 2;
  }
  let target: Target;
  try {
    target = await targetOf(parsed, io.env);
  } catch (error) {
    io.writeLog(`error: ${(error as Error).message}\n`);
    return 1;
  }
  try {
    if (target.aws && !parsed.dryRun && !parsed.yes) {
      const asked = `About to migrate ${target.description} to the current item shape. Go on? [y/N] `;
      if (!(await io.confirm(asked))) {
        io.writeLog('nothing done (pass --yes to skip this question)\n');
        return 1;
      }
    }
    io.writeLog(`${parsed.dryRun ? 'dry run on' : 'migrating'} ${target.description}\n`);
    const report = await runMigration(target.deps, {
      dryRun: parsed.dryRun,
      ...(parsed.cursor && { cursor: parsed.cursor }),
      ...(parsed.limit !== undefined && { limit: parsed.limit }),
      // A CLI run has no deadline of its own; only a stop request ends it early.
      ...(io.stopRequested && { stopRequested: io.stopRequested }),
      logger: createLogger({ sink: (line) => io.writeLog(`${line}\n`) }),
    });
    io.write(`${JSON.stringify(report, null, 2)}\n`);
    io.writeLog(nextStep(report, parsed));
    return exitCodeOf(report);
  } catch (error) {
    io.writeLog(`migration failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    target.deps.db.destroy();
  }
}

function nextStep(report: MigrationReport, args: MigrateArgs): string {
  if (!report.complete) {
    const again = [
      args.dryRun ? '--dry-run' : '',
      report.nextCursor ? `--cursor ${report.nextCursor}` : '',
      args.limit !== undefined ? `--limit ${args.limit}` : '',
      args.table ? `--table ${args.table}` : '',
      args.region ? `--region ${args.region}` : '',
    ].filter(Boolean);
    return `not finished; to go on:\n  npm run migrate -- ${again.join(' ')}\n`;
  }
  if (report.failed > 0) return `${report.failed} customer(s) failed: run it again to retry them\n`;
  if (report.schemaWritten) return 'done: no 0.1.0 customer left; the table is marked current\n';
  return report.dryRun ? 'dry run: nothing written\n' : '';
}

function exitCodeOf(report: MigrationReport): number {
  if (report.failed > 0) return 1;
  return report.complete ? 0 : 3;
}

if (isMainModule(import.meta.url)) {
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('stopping after this page (Ctrl-C again to quit at once)...\n');
  });
  runMigrateCli(process.argv.slice(2), {
    env: process.env,
    write: (text) => process.stdout.write(text),
    writeLog: (text) => process.stderr.write(text),
    confirm: askTerminal,
    stopRequested: () => stop,
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`migrate failed: ${error instanceof Error ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}
