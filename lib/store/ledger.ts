import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Budget, callStore, defaultBudget } from './call';
import type { StoreDeps } from './client';
import type { LedgerItem } from './items';
import { customerPk, LEDGER_PREFIX } from './keys';

/** A page of a customer's ledger items (strongly consistent), in recorded order either way. */
export async function queryLedger(
  deps: StoreDeps,
  customerId: string,
  page: { newestFirst: boolean; limit?: number; afterSk?: string },
  budget: Budget = defaultBudget(),
): Promise<{ items: LedgerItem[]; lastSk?: string }> {
  const response = await callStore('Query', budget, (options) =>
    deps.db.send(
      new QueryCommand({
        TableName: deps.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': customerPk(customerId), ':prefix': LEDGER_PREFIX },
        ScanIndexForward: !page.newestFirst,
        ConsistentRead: true,
        ...(page.limit !== undefined && { Limit: page.limit }),
        ...(page.afterSk && {
          ExclusiveStartKey: { pk: customerPk(customerId), sk: page.afterSk },
        }),
      }),
      options,
    ),
  );
  const last = response.LastEvaluatedKey?.sk as string | undefined;
  return { items: (response.Items ?? []) as LedgerItem[], ...(last && { lastSk: last }) };
}

/** The whole ledger of a customer, oldest first. */
export async function wholeLedger(
  deps: StoreDeps,
  customerId: string,
  budget: Budget = defaultBudget(),
): Promise<LedgerItem[]> {
  const entries: LedgerItem[] = [];
  let afterSk: string | undefined;
  do {
    const page = await queryLedger(
      deps,
      customerId,
      { newestFirst: false, ...(afterSk && { afterSk }) },
      budget,
    );
    entries.push(...page.items);
    afterSk = page.lastSk;
  } while (afterSk);
  return entries;
}
