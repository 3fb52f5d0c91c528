import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type Budget, callStore, defaultBudget } from './call';
import type { StoreDeps } from './client';
import { ACCOUNT_SK, customerIdOfPk, LEGACY_ACCOUNT_SK } from './keys';

/** Scan calls one page may make: bounds a call on a table of mostly ledger items. */
const MAX_SCAN_CALLS = 50;

export type AccountScanPage = {
  /** Customers whose account item the page found, and whether it has the 0.1.0 shape. */
  readonly accounts: readonly { readonly customerId: string; readonly legacy: boolean }[];
  /** Where the next page starts; absent when the table is done. */
  readonly nextKey?: { pk: string; sk: string };
};

/**
 * Up to `limit` account items (current and 0.1.0) from where `startKey` left off: an ops pass
 * over the whole table, on purpose (audit, migration), unlike the expiry job, which never
 * scans. When a Scan page holds more than the page wants, the next key is the last account
 * taken: any item's key is a valid place for a Scan to resume after.
 */
export async function scanAccounts(
  deps: StoreDeps,
  page: { limit: number; startKey?: { pk: string; sk: string } },
  budget: Budget = defaultBudget(),
): Promise<AccountScanPage> {
  const accounts: { customerId: string; legacy: boolean; pk: string; sk: string }[] = [];
  let startKey: Record<string, unknown> | undefined = page.startKey;
  for (let calls = 0; calls < MAX_SCAN_CALLS && accounts.length < page.limit; calls++) {
    const response = await callStore('Scan', budget, (options) =>
      deps.db.send(
        new ScanCommand({
          TableName: deps.tableName,
          FilterExpression: 'sk = :account OR sk = :legacy',
          ExpressionAttributeValues: { ':account': ACCOUNT_SK, ':legacy': LEGACY_ACCOUNT_SK },
          ProjectionExpression: 'pk, sk',
          ConsistentRead: true,
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
        options,
      ),
    );
    const found = (response.Items ?? []).map((item) => ({
      pk: item.pk as string,
      sk: item.sk as string,
      customerId: customerIdOfPk(item.pk as string),
      legacy: item.sk === LEGACY_ACCOUNT_SK,
    }));
    const room = page.limit - accounts.length;
    accounts.push(...found.slice(0, room));
    if (found.length > room) {
      const last = accounts.at(-1) as { pk: string; sk: string };
      return { accounts: strip(accounts), nextKey: { pk: last.pk, sk: last.sk } };
    }
    startKey = response.LastEvaluatedKey;
    if (!startKey) return { accounts: strip(accounts) };
  }
  return {
    accounts: strip(accounts),
    ...(startKey && { nextKey: startKey as { pk: string; sk: string } }),
  };
}

function strip(accounts: readonly { customerId: string; legacy: boolean }[]) {
  return accounts.map(({ customerId, legacy }) => ({ customerId, legacy }));
}
