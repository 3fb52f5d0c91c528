import middy from '@middy/core';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { publishDepsFromEnv } from '../lib/events/deps';
import { batchResponseOf, type PublishDeps, publishRecords } from '../lib/events/publish';
import { requestContextFields, withLogContext } from '../lib/log';
import { budgetOf } from '../lib/runtime';
import { defaultBudget } from '../lib/store/call';

/**
 * `publishEvents` (the table's DynamoDB stream, ReportBatchItemFailures): publishes each new
 * ledger entry and notice to EventBridge (C27) and reports the first record it could not
 * publish, so that Lambda retries from there. It throws only for a fault of the whole batch
 * (its configuration, a record without a sequence number), which Lambda retries too.
 */
export function createPublishEventsHandler(deps: () => PublishDeps) {
  return middy(
    async (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
      withLogContext(requestContextFields(context), async () => {
        const budget = budgetOf(context) ?? defaultBudget();
        return batchResponseOf(await publishRecords(deps(), event.Records ?? [], budget));
      }),
  );
}

export const handler = createPublishEventsHandler(publishDepsFromEnv);
