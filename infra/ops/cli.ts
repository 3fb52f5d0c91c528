import { createInterface } from 'node:readline/promises';
import { backfillExitCode } from '../../lib/jobs/backfill';
import { routeStdoutToStderr } from '../local/invoke';
import { isMainModule } from '../local/main-module';
import { type OpsCommand, type OpsOptions, parseOpsArgs, USAGE, UsageError } from './commands';
import { formatResult } from './format';
import { type InvokeResult, localTarget, stageTarget, type Target, TargetError } from './targets';

/**
 * `npm run ops -- <command>` (docs/ops-cli.md): look at a customer, adjust credits, audit,
 * backfill, run the expiry job or a migration, against the local stack or a deployed stage.
 * Results go to stdout (tables, or `--json`), everything else to stderr. Exit codes: 0 done,
 * 1 the function failed (or found problems, or a backfill event failed), 2 usage,
 * 3 a backfill stopped before the end (its output says how to go on).
 */
export type OpsIo = {
  readonly env: NodeJS.ProcessEnv;
  readonly write: (text: string) => Promise<void> | void;
  readonly writeLog: (text: string) => void;
  /** Asks a person; false when no one can answer (no terminal). */
  readonly confirm: (question: string) => Promise<boolean>;
  /** Tests hand in their own (a stage pointed at a local fake of the Lambda API). */
  readonly target?: (options: OpsOptions) => Target;
  readonly readFile?: (path: string) => string;
};

/** Whole-table audits go page by page; a bound keeps a wrong cursor from looping forever. */
const MAX_AUDIT_PAGES = 10_000;

export async function runOps(args: readonly string[], io: OpsIo): Promise<number> {
  let parsed: ReturnType<typeof parseOpsArgs>;
  try {
    parsed = parseOpsArgs(args, io.readFile);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.writeLog(`error: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  const { command, options } = parsed;
  const target = io.target?.(options) ?? defaultTarget(options, io.env);
  if (command.write && target.deployed && !options.yes) {
    const asked = `About to ${command.write} on ${target.description}. Go on? [y/N] `;
    if (!(await io.confirm(asked))) {
      io.writeLog('nothing done (pass --yes to skip this question)\n');
      return 1;
    }
  }
  let result: InvokeResult;
  try {
    result = await run(target, command);
  } catch (error) {
    if (!(error instanceof TargetError)) throw error;
    io.writeLog(`error: ${error.message}\n`);
    return 1;
  }
  if (!result.ok) {
    io.writeLog(
      `${command.function} failed on ${target.description}: ${result.errorType}: ${result.errorMessage}\n`,
    );
    if (options.json)
      io.write(
        `${JSON.stringify({ errorType: result.errorType, errorMessage: result.errorMessage }, null, 2)}\n`,
      );
    return 1;
  }
  io.write(
    options.json
      ? `${JSON.stringify(result.result, null, 2)}\n`
      : formatResult(command.name, result.result),
  );
  return exitCodeOf(command, result.result);
}

function defaultTarget(options: OpsOptions, env: NodeJS.ProcessEnv): Target {
  return options.stage
    ? stageTarget({ stage: options.stage, ...(options.region && { region: options.region }) })
    : localTarget(env);
}

/** One invocation, except a whole-table audit, whose pages are followed and joined. */
async function run(target: Target, command: OpsCommand): Promise<InvokeResult> {
  const wholeTable = command.name === 'audit' && command.payload.customerId === undefined;
  if (!wholeTable) return target.invoke(command.function, command.payload);
  let checked = 0;
  const problems: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_AUDIT_PAGES; page++) {
    const answer = await target.invoke(command.function, {
      ...command.payload,
      ...(cursor && { cursor }),
    });
    if (!answer.ok) return answer;
    const report = answer.result as { checked: number; problems: unknown[]; nextCursor?: string };
    checked += report.checked;
    problems.push(...report.problems);
    cursor = report.nextCursor;
    if (!cursor) return { ok: true, result: { checked, problems } };
  }
  throw new TargetError(`the audit did not finish in ${MAX_AUDIT_PAGES} pages`);
}

function exitCodeOf(command: OpsCommand, result: unknown): number {
  const report = (result ?? {}) as { ok?: unknown; problems?: unknown[] };
  if (command.name === 'backfill') return backfillExitCode(result);
  if (command.name === 'audit') return (report.problems?.length ?? 0) > 0 ? 1 : 0;
  return report.ok === false ? 1 : 0;
}

/** Asks on the terminal; false when there is none (a script, CI). */
export async function askTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    process.stderr.write(`${question}\nno terminal to answer on: refusing.\n`);
    return false;
  }
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await terminal.question(question)).trim());
  } finally {
    terminal.close();
  }
}

if (isMainModule(import.meta.url)) {
  // Handlers run in this process for the local stack and may log on stdout: keep it for results.
  const write = routeStdoutToStderr();
  runOps(process.argv.slice(2), {
    env: process.env,
    write,
    writeLog: (text) => process.stderr.write(text),
    confirm: askTerminal,
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`ops failed: ${error instanceof Error ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}
