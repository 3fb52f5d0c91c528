/**
 * What the ops CLI prints for people: a few lines and aligned tables per command. Scripts use
 * `--json`, which prints the function's result exactly as it came.
 */
type Row = Record<string, unknown>;

/** An aligned table of `rows` under `columns`; `(none)` when there are no rows. */
export function table(rows: readonly Row[], columns: readonly string[]): string {
  if (rows.length === 0) return '  (none)\n';
  const cells = rows.map((row) => columns.map((column) => text(row[column])));
  const widths = columns.map((column, index) =>
    Math.max(column.length, ...cells.map((row) => row[index]?.length ?? 0)),
  );
  const line = (values: readonly string[]) =>
    `  ${values
      .map((value, index) => value.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  return line(columns) + cells.map(line).join('');
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const rowsOf = (value: unknown): Row[] => (Array.isArray(value) ? (value as Row[]) : []);

function keyValues(result: Row, keys: readonly string[]): string {
  return keys
    .filter((key) => result[key] !== undefined)
    .map((key) => `  ${key}: ${text(result[key])}\n`)
    .join('');
}

/** The human form of a command's result. */
export function formatResult(command: string, value: unknown): string {
  const result = (value ?? {}) as Row;
  switch (command) {
    case 'balance':
      return (
        `${text(result.customerId)}: balance ${text(result.balance)}, held ${text(result.held ?? 0)}, debt ${text(result.debt ?? 0)}\n` +
        `lots:\n${table(rowsOf(result.lots), ['source', 'granted', 'remaining', 'grantedAt', 'expiresAt'])}` +
        (rowsOf(result.upcoming).length > 0
          ? `upcoming:\n${table(rowsOf(result.upcoming), ['source', 'granted', 'grantedAt', 'expiresAt'])}`
          : '')
      );
    case 'ledger':
      return (
        table(rowsOf(result.entries), ['at', 'type', 'amount', 'balanceAfter', 'ref']) +
        (result.nextCursor ? `more: --cursor ${text(result.nextCursor)}\n` : '')
      );
    case 'audit':
      return (
        `checked ${text(result.checked)} account(s), ${rowsOf(result.problems).length} problem(s)\n` +
        table(rowsOf(result.problems), [
          'customerId',
          'problem',
          'expected',
          'actual',
          'lotId',
          'seq',
        ])
      );
    case 'backfill':
      return formatBackfill(result);
    default:
      return typeof value === 'object' && value !== null
        ? keyValues(result, Object.keys(result))
        : `${text(value)}\n`;
  }
}

function formatBackfill(result: Row): string {
  const counts = [
    'ok',
    'processed',
    'applied',
    'alreadyApplied',
    'ignored',
    'failed',
    'reread',
    'complete',
    'dryRun',
  ];
  let out = keyValues(result, counts);
  if (rowsOf(result.failures).length > 0) {
    out += `failures:\n${table(rowsOf(result.failures), ['eventId', 'type', 'error'])}`;
  }
  if (result.error) out += `  stopped by: ${text(result.error)}\n`;
  const resume = result.resume as Row | undefined;
  if (resume) {
    const types = Array.isArray(resume.types) ? ` --types ${resume.types.join(',')}` : '';
    out +=
      'not finished; to go on:\n' +
      `  npm run ops -- backfill --since ${text(resume.since)} --until ${text(resume.until)}${types}${resume.dryRun ? ' --dry-run' : ''}\n`;
  }
  if (result.unprocessed) out += `  ${text(result.unprocessed)} event(s) not reached; rerun them\n`;
  return out;
}
