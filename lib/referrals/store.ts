import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ContentionError } from '../errors';
import type { StoreDeps } from '../store/client';
import { callStore } from '../store/command';
import { accountKey, codeKey } from '../store/keys';
import { displayReferralCode, generateReferralCode, normalizeReferralCode } from './codes';

/**
 * C9: the customer's referral code, created on the first request and the same ever after.
 * The code item and the account's pointer to it are written in one transaction conditioned on
 * neither existing yet, so two racing requests cannot both create a code and two customers can
 * never share one; the loser reads the winner's code.
 */
export async function referralCodeOf(
  deps: StoreDeps,
  customerId: string,
  generate: () => string = generateReferralCode,
): Promise<string> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const existing = await storedCode(deps, customerId);
    if (existing) return displayReferralCode(existing);
    const code = generate();
    const outcome = await claimCode(deps, customerId, code);
    if (outcome === 'claimed') return displayReferralCode(code);
    // 'taken' (a 2^-50 collision, or a test's fixed generator) or 'raced': read and try again.
  }
  throw new ContentionError(`could not create a referral code for ${customerId} in 5 attempts`);
}

async function storedCode(deps: StoreDeps, customerId: string): Promise<string | undefined> {
  const response = await callStore('GetItem', () =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: accountKey(customerId),
        ProjectionExpression: 'referralCode',
        ConsistentRead: true,
      }),
    ),
  );
  return response.Item?.referralCode as string | undefined;
}

async function claimCode(deps: StoreDeps, customerId: string, code: string) {
  try {
    await callStore('TransactWriteItems', () =>
      deps.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: deps.tableName,
                Item: { ...codeKey(code), customerId },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              // Creates the account item if needed (version 0 -> absent) without touching lots;
              // `version` is bumped so that any command that read the old state re-reads.
              Update: {
                TableName: deps.tableName,
                Key: accountKey(customerId),
                UpdateExpression:
                  'SET referralCode = :code, customerId = :customer, #version = if_not_exists(#version, :zero) + :one',
                ConditionExpression: 'attribute_not_exists(referralCode)',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: {
                  ':code': code,
                  ':customer': customerId,
                  ':zero': 0,
                  ':one': 1,
                },
              },
            },
          ],
        }),
      ),
    );
    return 'claimed' as const;
  } catch (error) {
    if ((error as { cause?: unknown }).cause instanceof TransactionCanceledException)
      return 'taken' as const;
    throw error;
  }
}

/** Who owns a code as typed by a customer, or undefined when it is not a code we issued. */
export async function referrerOf(deps: StoreDeps, typed: string): Promise<string | undefined> {
  const code = normalizeReferralCode(typed);
  if (!code) return undefined;
  const response = await callStore('GetItem', () =>
    deps.db.send(
      new GetCommand({ TableName: deps.tableName, Key: codeKey(code), ConsistentRead: true }),
    ),
  );
  return response.Item?.customerId as string | undefined;
}
