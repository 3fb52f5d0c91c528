import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Account, type EntryType, emptyAccount } from '../credits/account';
import { byBurnOrder, isExpiredAt, type LotSource, spendableBalance } from '../credits/lots';
import { toIso } from '../credits/time';
import { InputError } from '../errors';
import type { StoreDeps } from '../store/client';
import { type AccountItem, accountFromItem, type LedgerItem } from '../store/codec';
import { callStore } from '../store/command';
import { accountKey, customerPk, LEDGER_PREFIX } from '../store/keys';

/** The customer's account item as stored, or undefined for a customer never written. */
export async function readAccountItem(
  deps: StoreDeps,
  customerId: string,
): Promise<AccountItem | undefined> {
  const response = await callStore('GetItem', () =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: accountKey(customerId),
        ConsistentRead: true,
      }),
    ),
  );
  return response.Item as AccountItem | undefined;
}

export async function readAccount(deps: StoreDeps, customerId: string): Promise<Account> {
  const item = await readAccountItem(deps, customerId);
  return item ? accountFromItem(item) : emptyAccount(customerId);
}

export type BalanceView = {
  readonly customerId: string;
  readonly balance: number;
  readonly lots: readonly {
    source: LotSource;
    granted: number;
    remaining: number;
    grantedAt: string;
    expiresAt: string;
  }[];
};

/** C6/C14: the balance as of `atMs` counts only unexpired lots, whether or not the job ran. */
export async function balanceOf(
  deps: StoreDeps,
  customerId: string,
  atMs: number,
): Promise<BalanceView> {
  const account = await readAccount(deps, customerId);
  const alive = account.lots.filter((lot) => !isExpiredAt(lot, atMs)).sort(byBurnOrder);
  return {
    customerId,
    balance: spendableBalance(account.lots, atMs),
    lots: alive.map((lot) => ({
      source: lot.source,
      granted: lot.granted,
      remaining: lot.remaining,
      grantedAt: toIso(lot.grantedAtMs),
      expiresAt: toIso(lot.expiresAtMs),
    })),
  };
}

export type LedgerEntryView = {
  readonly type: EntryType;
  readonly amount: number;
  readonly balanceAfter: number;
  readonly at: string;
  readonly ref: string;
  readonly reason?: string;
};

export type LedgerPage = {
  readonly entries: readonly LedgerEntryView[];
  readonly nextCursor?: string;
};

/** The customer's ledger, newest first, a page at a time; `cursor` is the previous page's. */
export async function ledgerOf(
  deps: StoreDeps,
  customerId: string,
  page: { limit?: number; cursor?: string } = {},
): Promise<LedgerPage> {
  // Decoded before the call: inside callStore a bad cursor would become a StoreError (503).
  const startKey = page.cursor ? decodeCursor(page.cursor, customerId) : undefined;
  const response = await queryLedger(deps, customerId, {
    newestFirst: true,
    limit: page.limit ?? 100,
    ...(startKey && { startKey }),
  });
  const entries = response.items.map(entryView);
  const last = response.lastKey;
  return last ? { entries, nextCursor: encodeCursor(last.sk as string) } : { entries };
}

/** One page of a customer's ledger items (strongly consistent), in seq order either way. */
export async function queryLedger(
  deps: StoreDeps,
  customerId: string,
  page: { newestFirst: boolean; limit?: number; startKey?: Record<string, unknown> },
) {
  const response = await callStore('Query', () =>
    deps.db.send(
      new QueryCommand({
        TableName: deps.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': customerPk(customerId), ':prefix': LEDGER_PREFIX },
        ScanIndexForward: !page.newestFirst,
        ConsistentRead: true,
        ...(page.limit !== undefined && { Limit: page.limit }),
        ...(page.startKey && { ExclusiveStartKey: page.startKey }),
      }),
    ),
  );
  return {
    items: (response.Items ?? []) as LedgerItem[],
    lastKey: response.LastEvaluatedKey,
  };
}

function entryView(item: LedgerItem): LedgerEntryView {
  return {
    type: item.type,
    amount: item.amount,
    balanceAfter: item.balanceAfter,
    at: item.at,
    ref: item.ref,
    ...(item.reason !== undefined && { reason: item.reason }),
  };
}

function encodeCursor(sk: string): string {
  return Buffer.from(sk, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, customerId: string) {
  const sk = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!sk.startsWith(LEDGER_PREFIX))
    throw new InputError('cursor', 'is not a cursor from a ledger page');
  return { pk: customerPk(customerId), sk };
}
