import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { toIso } from '../credits/time';
import { type Budget, callStore, defaultBudget } from './call';
import type { StoreDeps } from './client';
import { customerIdOfPk, LOTS_BY_EXPIRY_INDEX } from './keys';

/**
 * One page of the `lotsByExpiry` index: the customers with a lot in `shard` that has expired
 * by `nowMs`, in expiry order. The index projects keys only: lot items change (spends) far
 * more often than their expiry, and only a change of a projected attribute writes the index.
 */
export async function expiredLotsPage(
  deps: StoreDeps,
  request: { shard: string; nowMs: number; limit: number; startKey?: Record<string, unknown> },
  budget: Budget = defaultBudget(),
): Promise<{ customerIds: string[]; lots: number; nextKey?: Record<string, unknown> }> {
  const response = await callStore('Query', budget, (options) =>
    deps.db.send(
      new QueryCommand({
        TableName: deps.tableName,
        IndexName: LOTS_BY_EXPIRY_INDEX,
        KeyConditionExpression: 'lotShard = :shard AND expiresAt <= :now',
        ExpressionAttributeValues: { ':shard': request.shard, ':now': toIso(request.nowMs) },
        Limit: request.limit,
        ...(request.startKey && { ExclusiveStartKey: request.startKey }),
      }),
      options,
    ),
  );
  const items = response.Items ?? [];
  const customerIds = [...new Set(items.map((item) => customerIdOfPk(item.pk as string)))];
  return {
    customerIds,
    lots: items.length,
    ...(response.LastEvaluatedKey && { nextKey: response.LastEvaluatedKey }),
  };
}
