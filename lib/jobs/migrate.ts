import * as z from 'zod';
import { InputError } from '../errors';
import { createLogger, errorFields, type Logger } from '../log';
import type { Budget } from '../store/call';
import type { StoreDeps } from '../store/client';
import { legacyLots, migrateLegacyCustomer, readLegacyAccount } from '../store/legacy';
import { scanAccounts } from '../store/scan';
import { markTableCurrent } from '../store/schema';

/**
 * `npm run migrate` (and `npm run ops -- migrate`): converts every customer still kept in the
 * 0.1.0 shape (one `ACCOUNT` item holding all of its lots) into the current items, with
 * lib/store/legacy.ts, one Scan page of account items at a time.
 *
 * - Resumable: a call stops at its `limit` of accounts, or when the caller's time runs low,
 *   and returns `nextCursor`; passing it back continues the same pass. Converting a customer
 *   is idempotent (a customer already converted, by an earlier call or on first touch by a
 *   function, has no 0.1.0 item left and is skipped), so rerunning from the start is safe too.
 * - A dry run reads and counts what it would convert, and writes nothing.
 * - When a whole pass (from no cursor to the end of the table, across calls) leaves no 0.1.0
 *   customer behind, it writes the table's SCHEMA item, after which reads stop looking for
 *   0.1.0 items: a new customer's first read costs one call instead of three. Run it after the
 *   deployment of this version has finished: a 0.1.0 function still running could write a
 *   0.1.0 item behind the scan.
 */
export type MigrationOptions = {
  readonly dryRun?: boolean;
  /** Where an earlier call of the same pass stopped (its `nextCursor`). */
  readonly cursor?: string;
  /** Accounts (current and 0.1.0) examined at most by this call; absent, no limit. */
  readonly limit?: number;
  /** Time left before the caller is stopped (a Lambda's remaining time); absent, unlimited. */
  readonly remainingTimeMs?: () => number;
  /** No new page is started with less than this left; default 30 s. */
  readonly stopWhenBelowMs?: number;
  /** Asked between pages: true stops the call there (a CLI's Ctrl-C), as running out of time does. */
  readonly stopRequested?: () => boolean;
  /** Accounts per Scan page; default 100. */
  readonly pageSize?: number;
  /** Customers converted at once within a page; default 4. */
  readonly concurrency?: number;
  /** Progress (a line per page) and failures; default JSON lines on stderr. */
  readonly logger?: Logger;
};

export type MigrationReport = {
  readonly dryRun: boolean;
  /** Account items this call examined, current and 0.1.0. */
  readonly accountsScanned: number;
  /** 0.1.0 customers this call found. */
  readonly legacyFound: number;
  /** Customers converted by this call (in a dry run: that would be). */
  readonly customersMigrated: number;
  /** Their lots, now (or in a dry run: then) one item each. */
  readonly lotsMigrated: number;
  /** Found in the scan but converted meanwhile (on first touch, or by a concurrent run). */
  readonly alreadyMigrated: number;
  readonly failed: number;
  /** The first few failures, for the log; rerunning retries them. */
  readonly failures: readonly { readonly customerId: string; readonly error: string }[];
  readonly pages: number;
  /** True when this call reached the end of the table. */
  readonly complete: boolean;
  /** Pass it as `cursor` to continue; absent when complete (or stopped before any page). */
  readonly nextCursor?: string;
  /** When complete: 0.1.0 customers the whole pass left behind (failed, or a dry run's). */
  readonly legacyLeftInPass?: number;
  /** True when the pass left none behind and the table was marked current. */
  readonly schemaWritten: boolean;
};

export const DEFAULT_PAGE_SIZE = 100;
export const DEFAULT_STOP_WHEN_BELOW_MS = 30_000;
const DEFAULT_CONCURRENCY = 4;
/** How long one customer's conversion may take (a customer with thousands of lots included). */
const CUSTOMER_BUDGET_MS = 30_000;
const FAILURES_KEPT = 20;

type ScanKey = { pk: string; sk: string };

/** Where a pass is: the Scan's position, and what the pass has left behind so far. */
type PassCursor = { readonly key: ScanKey; readonly left: number };

type Tally = {
  accountsScanned: number;
  legacyFound: number;
  customersMigrated: number;
  lotsMigrated: number;
  alreadyMigrated: number;
  failed: number;
  failures: { customerId: string; error: string }[];
  pages: number;
};

export async function runMigration(
  deps: StoreDeps,
  options: MigrationOptions = {},
): Promise<MigrationReport> {
  const log = options.logger ?? createLogger();
  const dryRun = options.dryRun === true;
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 1)) {
    throw new InputError('limit', 'must be a whole number of accounts, at least 1');
  }
  const start = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  const tally: Tally = {
    accountsScanned: 0,
    legacyFound: 0,
    customersMigrated: 0,
    lotsMigrated: 0,
    alreadyMigrated: 0,
    failed: 0,
    failures: [],
    pages: 0,
  };
  let key = start?.key;
  let left = start?.left ?? 0;
  for (;;) {
    const room = roomLeft(options, tally);
    if (room === 0 || outOfTime(options)) {
      // Stopped with the table unfinished: the cursor carries the pass on.
      const report = reportOf(tally, { dryRun, complete: false, schemaWritten: false });
      const stopped = {
        ...report,
        ...(key ? { nextCursor: encodeCursor({ key, left }) } : {}),
      };
      log.info('migration stopped; pass nextCursor to continue', stopped);
      return stopped;
    }
    const page = await scanAccounts(
      deps,
      { limit: room, ...(key && { startKey: key }) },
      customerBudget(options),
    );
    left += await migratePage(deps, page.accounts, { ...options, dryRun }, tally, log);
    if (!page.nextKey) break;
    key = page.nextKey;
  }
  return finishPass(deps, tally, { dryRun, left, options, log });
}

/** The end of a pass: the table is marked current when nothing was left behind. */
async function finishPass(
  deps: StoreDeps,
  tally: Tally,
  pass: { dryRun: boolean; left: number; options: MigrationOptions; log: Logger },
): Promise<MigrationReport> {
  const schemaWritten = !pass.dryRun && pass.left === 0;
  if (schemaWritten) await markTableCurrent(deps, customerBudget(pass.options));
  const report = {
    ...reportOf(tally, { dryRun: pass.dryRun, complete: true, schemaWritten }),
    legacyLeftInPass: pass.left,
  };
  pass.log.info('migration pass finished', report);
  return report;
}

function reportOf(
  tally: Tally,
  end: { dryRun: boolean; complete: boolean; schemaWritten: boolean },
): MigrationReport {
  return { dryRun: end.dryRun, ...tally, complete: end.complete, schemaWritten: end.schemaWritten };
}

/** Accounts the next page may take: the page size, within what the limit leaves. */
function roomLeft(options: MigrationOptions, tally: Tally): number {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (options.limit === undefined) return pageSize;
  return Math.max(0, Math.min(pageSize, options.limit - tally.accountsScanned));
}

function outOfTime(options: MigrationOptions): boolean {
  if (options.stopRequested?.()) return true;
  if (!options.remainingTimeMs) return false;
  return options.remainingTimeMs() < (options.stopWhenBelowMs ?? DEFAULT_STOP_WHEN_BELOW_MS);
}

function customerBudget(options: MigrationOptions): Budget {
  const remaining = options.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
  return { deadlineMs: Date.now() + Math.min(CUSTOMER_BUDGET_MS, Math.max(0, remaining)) };
}

/** Converts a page's 0.1.0 customers; returns how many it left behind (failed, or dry run). */
async function migratePage(
  deps: StoreDeps,
  accounts: readonly { customerId: string; legacy: boolean }[],
  options: MigrationOptions & { dryRun: boolean },
  tally: Tally,
  log: Logger,
): Promise<number> {
  const legacy = accounts.filter((account) => account.legacy).map((each) => each.customerId);
  const before = { ...tally };
  let left = 0;
  let next = 0;
  const worker = async () => {
    while (next < legacy.length) {
      const customerId = legacy[next++] as string;
      if (!(await migrateOne(deps, customerId, options, tally, log))) left += 1;
    }
  };
  const workers = Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, legacy.length);
  await Promise.all(Array.from({ length: workers }, worker));
  tally.pages += 1;
  tally.accountsScanned += accounts.length;
  tally.legacyFound += legacy.length;
  log.info('migration page', {
    page: tally.pages,
    accounts: accounts.length,
    legacy: legacy.length,
    migrated: tally.customersMigrated - before.customersMigrated,
    alreadyMigrated: tally.alreadyMigrated - before.alreadyMigrated,
    failed: tally.failed - before.failed,
    dryRun: options.dryRun,
    totalAccounts: tally.accountsScanned,
  });
  return left;
}

/** False when the customer is still in the 0.1.0 shape afterwards (a failure, a dry run). */
async function migrateOne(
  deps: StoreDeps,
  customerId: string,
  options: MigrationOptions & { dryRun: boolean },
  tally: Tally,
  log: Logger,
): Promise<boolean> {
  const budget = customerBudget(options);
  try {
    const item = await readLegacyAccount(deps, customerId, budget);
    if (!item) {
      tally.alreadyMigrated += 1;
      return true;
    }
    const lots = legacyLots(item).length;
    if (options.dryRun) {
      tally.customersMigrated += 1;
      tally.lotsMigrated += lots;
      return false;
    }
    if (await migrateLegacyCustomer(deps, item, budget)) {
      tally.customersMigrated += 1;
      tally.lotsMigrated += lots;
    } else {
      tally.alreadyMigrated += 1;
    }
    return true;
  } catch (error) {
    // One customer's fault must not stop the others; the pass will not mark the table current.
    tally.failed += 1;
    const fields = errorFields(error);
    if (tally.failures.length < FAILURES_KEPT) {
      tally.failures.push({ customerId, error: `${fields.name}: ${fields.message}` });
    }
    log.error('migration failed for a customer', { customerId, error: fields });
    return false;
  }
}

const cursorSchema = z.object({
  key: z.object({ pk: z.string().min(1), sk: z.string().min(1) }),
  left: z.number().int().nonnegative(),
});

function encodeCursor(cursor: PassCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): PassCursor {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new InputError('cursor', 'is not a cursor from an earlier migration call');
  }
}
