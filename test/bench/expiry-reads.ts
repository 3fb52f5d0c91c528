/**
 * Benchmark (not a test): how many items the expiry job reads per expired lot as the number
 * of customers grows while the number of expiring lots stays the same. The job queries only
 * the sparse `lotsByExpiry` index for lots that have expired, then reads each such customer's
 * state, so the figure should stay flat (the index item plus the customer's few state items)
 * whatever the number of customers holding lots that do not expire yet.
 *
 *   npx tsx test/bench/expiry-reads.ts [customers...]     e.g. `... 1000 10000` (the default)
 *
 * It starts its own in-memory DynamoDB Local on a free port and stops it at the end. Customers
 * are written as prepared items (the account item and its grant's ledger entry, built by the
 * same pure rules and codec the ledger uses) with BatchWriteItem, which is much faster on
 * DynamoDB Local than one transaction per grant. `itemsRead` is measured from DynamoDB's own
 * responses (lib/store/read-meter.ts), not computed.
 */
import { pathToFileURL } from 'node:url';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { freePort, startDynamoDbLocal } from '../../infra/local/dynamodb';
import { createTableInput } from '../../infra/table';
import { grantLots } from '../../lib/credits/changes';
import { LotSource, newLot } from '../../lib/credits/lots';
import { EntryType, emptyState } from '../../lib/credits/state';
import { runRollover } from '../../lib/jobs/rollover';
import { createLogger } from '../../lib/log';
import { createDocumentClient } from '../../lib/store/client';
import { ledgerEntryToItem, lotToItem } from '../../lib/store/items';
import { accountKey } from '../../lib/store/keys';

export type ExpiryReadsOptions = {
  readonly customerCounts?: readonly number[];
  readonly expiringLots?: number;
  /** Progress and the table go here; default stderr. */
  readonly print?: (line: string) => void;
};

export type ExpiryReadsRow = {
  readonly customers: number;
  /** Everything in the table: what a Scan-based job would have read. */
  readonly tableItems: number;
  readonly expiredLots: number;
  readonly itemsRead: number;
  readonly readsPerLot: number;
  readonly seedSeconds: number;
  readonly runSeconds: number;
};

/** Expiring lots are granted at 1 Jan (they expire 1 Apr); the others at 1 Mar (1 Jun). */
const EXPIRING_GRANT_MS = Date.parse('2026-01-01T00:00:00Z');
const LIVE_GRANT_MS = Date.parse('2026-03-01T00:00:00Z');
const RUN_AT_MS = Date.parse('2026-04-02T00:00:00Z');

/** Returns `{customers: readsPerLot}` for each customer count, e.g. `{1000: 3, 10000: 3}`. */
export async function measureExpiryReads(
  options: ExpiryReadsOptions = {},
): Promise<{ rows: ExpiryReadsRow[]; expiryReadsPerLot: Record<string, number> }> {
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const config = {
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const raw = new DynamoDBClient(config);
  const db = createDocumentClient(config);
  try {
    const rows: ExpiryReadsRow[] = [];
    for (const customers of options.customerCounts ?? [1_000, 10_000]) {
      const tableName = `bench-expiry-${customers}`;
      await raw.send(new CreateTableCommand(createTableInput(tableName)));
      const expiring = Math.min(options.expiringLots ?? 200, customers);
      print(`seeding ${customers} customers (${expiring} with an expiring lot)...`);
      const seedStart = performance.now();
      const tableItems = await seed(db, tableName, customers, expiring);
      const seedSeconds = (performance.now() - seedStart) / 1000;
      const runStart = performance.now();
      const report = await runRollover(
        { db, tableName },
        { nowMs: RUN_AT_MS, logger: createLogger({ level: 'warn' }) },
      );
      const runSeconds = (performance.now() - runStart) / 1000;
      if (report.expiredLots !== expiring || report.errors !== 0 || !report.complete) {
        throw new Error(`unexpected run: ${JSON.stringify(report)}`);
      }
      rows.push({
        customers,
        tableItems,
        expiredLots: report.expiredLots,
        itemsRead: report.itemsRead,
        readsPerLot: round(report.itemsRead / report.expiredLots),
        seedSeconds: round(seedSeconds),
        runSeconds: round(runSeconds),
      });
    }
    return {
      rows,
      expiryReadsPerLot: Object.fromEntries(
        rows.map((row) => [String(row.customers), row.readsPerLot]),
      ),
    };
  } finally {
    raw.destroy();
    db.destroy();
    await dynamo.stop();
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The items one customer with one 100-credit grant has: account, lot, the grant's entry. */
function customerItems(index: number, expiring: boolean) {
  const customerId = `cus_bench_${String(index).padStart(6, '0')}`;
  const grantedAtMs = expiring ? EXPIRING_GRANT_MS : LIVE_GRANT_MS;
  const lot = newLot({
    id: `in_bench_${index}#il_1`,
    source: LotSource.subscription,
    credits: 100,
    grantedAtMs,
    ref: `in_bench_${index}`,
  });
  const change = grantLots(
    emptyState(customerId),
    {
      id: `grant#in_bench_${index}`,
      type: EntryType.grant,
      atMs: grantedAtMs,
      ref: `in_bench_${index}`,
    },
    [lot],
  );
  const account = {
    ...accountKey(customerId),
    customerId,
    version: 1,
    lotsVersion: 1,
    lotCount: 1,
  };
  return [
    account,
    ...change.created.map((each) => lotToItem(customerId, each)),
    ...change.entries.map((entry, place) =>
      ledgerEntryToItem(customerId, entry, grantedAtMs, place),
    ),
  ];
}

/** Expiring customers are spread evenly among the others, so every shard holds some. */
async function seed(
  db: DynamoDBDocumentClient,
  tableName: string,
  customers: number,
  expiring: number,
) {
  const every = Math.floor(customers / expiring);
  const items = Array.from({ length: customers }, (_, index) =>
    customerItems(index, index % every === 0 && index / every < expiring),
  ).flat();
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  const writer = async () => {
    while (next < batches.length) {
      const batch = batches[next++];
      if (batch) await writeBatch(db, tableName, batch);
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
  return items.length;
}

async function writeBatch(
  db: DynamoDBDocumentClient,
  tableName: string,
  items: Record<string, unknown>[],
) {
  let pending = items.map((Item) => ({ PutRequest: { Item } }));
  for (let round = 1; pending.length > 0; round++) {
    const response = await db.send(
      new BatchWriteCommand({ RequestItems: { [tableName]: pending } }),
    );
    pending = (response.UnprocessedItems?.[tableName] ?? []) as typeof pending;
    if (round > 10 && pending.length > 0) throw new Error('BatchWriteItem kept items unprocessed');
  }
}

function printTable(rows: readonly ExpiryReadsRow[], print: (line: string) => void) {
  print('customers | table items | expired lots | items read | reads per lot | seed s | run s');
  print('--------- | ----------- | ------------ | ---------- | ------------- | ------ | -----');
  for (const row of rows) {
    print(
      [
        row.customers,
        row.tableItems,
        row.expiredLots,
        row.itemsRead,
        row.readsPerLot,
        row.seedSeconds,
        row.runSeconds,
      ]
        .map(String)
        .join(' | '),
    );
  }
}

async function main() {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const result = await measureExpiryReads(counts.length > 0 ? { customerCounts: counts } : {});
  const out = (line: string) => process.stdout.write(`${line}\n`);
  printTable(result.rows, out);
  out(JSON.stringify({ expiryReadsPerLot: result.expiryReadsPerLot }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
