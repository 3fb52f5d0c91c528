import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { toIso } from '../credits/time';
import { StoreError } from '../errors';
import { type Budget, callStore, defaultBudget } from './call';
import type { StoreDeps } from './client';
import { LOTS_BY_EXPIRY_INDEX } from './keys';

/**
 * C27 `credits.expiring`: the daily job finds the lots that expire within the notice window
 * through the `lotsByExpiry` index and marks each one, once, with `expiringNoticeAt`. The mark
 * is the notice: the table's stream carries it to publishEvents, which publishes the event.
 * `expiringNoticeAt` is neither a key nor projected by any index, so the mark writes no index,
 * and spends, which condition only on `remaining`, are not disturbed by it.
 */
export type LotKey = { readonly pk: string; readonly sk: string };

/** One page of the lots of `shard` whose expiry is in [fromMs, untilMs], soonest first. */
export async function expiringLotsPage(
  deps: StoreDeps,
  request: {
    shard: string;
    fromMs: number;
    untilMs: number;
    limit: number;
    startKey?: Record<string, unknown>;
  },
  budget: Budget = defaultBudget(),
): Promise<{ lots: LotKey[]; nextKey?: Record<string, unknown> }> {
  const response = await callStore('Query', budget, (options) =>
    deps.db.send(
      new QueryCommand({
        TableName: deps.tableName,
        IndexName: LOTS_BY_EXPIRY_INDEX,
        KeyConditionExpression: 'lotShard = :shard AND expiresAt BETWEEN :from AND :until',
        ExpressionAttributeValues: {
          ':shard': request.shard,
          ':from': toIso(request.fromMs),
          ':until': toIso(request.untilMs),
        },
        Limit: request.limit,
        ...(request.startKey && { ExclusiveStartKey: request.startKey }),
      }),
      options,
    ),
  );
  const lots = (response.Items ?? []).map((item) => ({
    pk: item.pk as string,
    sk: item.sk as string,
  }));
  return { lots, ...(response.LastEvaluatedKey && { nextKey: response.LastEvaluatedKey }) };
}

/**
 * Marks the lot as told about, if it is still worth telling: not told before, still there, with
 * credits left, granted and not yet expired at `nowMs`. False when any of that fails, so a
 * rerun, a concurrent run, or a lot drained or forfeited since the Query tells nothing.
 */
export async function markExpiringNotice(
  deps: StoreDeps,
  lot: LotKey,
  nowMs: number,
  budget: Budget = defaultBudget(),
): Promise<boolean> {
  try {
    await callStore('UpdateItem', budget, (options) =>
      deps.db.send(
        new UpdateCommand({
          TableName: deps.tableName,
          Key: { pk: lot.pk, sk: lot.sk },
          UpdateExpression: 'SET expiringNoticeAt = :now',
          ConditionExpression:
            'attribute_exists(pk) AND attribute_not_exists(expiringNoticeAt) AND ' +
            'remaining > :zero AND expiresAt > :now AND grantedAt <= :now',
          ExpressionAttributeValues: { ':now': toIso(nowMs), ':zero': 0 },
        }),
        options,
      ),
    );
    return true;
  } catch (error) {
    if (error instanceof StoreError && error.cause instanceof ConditionalCheckFailedException) {
      return false;
    }
    throw error;
  }
}
