import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ContentionError, StoreError } from '../errors';
import { type Budget, callStore, defaultBudget } from './call';
import type { StoreDeps } from './client';
import { accountKey, codeKey } from './keys';
import { readState } from './state';

/** How many fresh codes a claim tries before giving up (a 2^-50 collision each). */
const CLAIM_ATTEMPTS = 5;

/**
 * C9: the customer's referral code in its canonical form, created on the first request and
 * the same ever after. The code item and the account's pointer to it are written in one
 * transaction conditioned on neither existing yet, so two racing requests cannot both create a
 * code and two customers can never share one; the loser reads the winner's code.
 */
export async function claimReferralCode(
  deps: StoreDeps,
  customerId: string,
  generate: () => string,
  budget: Budget = defaultBudget(),
): Promise<string> {
  for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
    const existing = await storedCode(deps, customerId, budget);
    if (existing) return existing;
    // A customer still in the 0.1.0 shape keeps its code in its 0.1.0 item: reading the state
    // converts it (lib/store/state.ts), so the code is found instead of replaced, and the
    // account item claimed below does not hide the customer's 0.1.0 lots. Once per customer.
    if (attempt === 1 && (await readState(deps, customerId, budget)).state.facts.referralCode) {
      continue;
    }
    const code = generate();
    if (await claim(deps, customerId, code, budget)) return code;
    // Taken (a collision, or a test's fixed generator) or raced: read and try again.
  }
  throw new ContentionError(`could not create a referral code for ${customerId} in 5 attempts`);
}

async function storedCode(deps: StoreDeps, customerId: string, budget: Budget) {
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: accountKey(customerId),
        ProjectionExpression: 'referralCode',
        ConsistentRead: true,
      }),
      options,
    ),
  );
  return response.Item?.referralCode as string | undefined;
}

async function claim(deps: StoreDeps, customerId: string, code: string, budget: Budget) {
  try {
    await callStore('TransactWriteItems', budget, (options) =>
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
              // Creates the account item if needed without touching lots; `version` moves so
              // that a decision which read the account without the code decides again.
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
        options,
      ),
    );
    return true;
  } catch (error) {
    if (error instanceof StoreError && error.cause instanceof TransactionCanceledException) {
      return false;
    }
    throw error;
  }
}

/** Codes never change owner, so a container remembers the owners it has looked up. */
const ownersByClient = new WeakMap<object, Map<string, Map<string, string>>>();
const OWNERS_KEPT = 10_000;

/** Who owns a canonical code, or undefined when it is not a code we issued. */
export async function ownerOfCode(
  deps: StoreDeps,
  code: string,
  budget: Budget = defaultBudget(),
): Promise<string | undefined> {
  const owners = ownersOf(deps);
  const known = owners.get(code);
  if (known) return known;
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({ TableName: deps.tableName, Key: codeKey(code), ConsistentRead: true }),
      options,
    ),
  );
  const owner = response.Item?.customerId as string | undefined;
  if (owner) {
    if (owners.size >= OWNERS_KEPT) owners.clear();
    owners.set(code, owner);
  }
  return owner;
}

function ownersOf(deps: StoreDeps): Map<string, string> {
  const byTable = ownersByClient.get(deps.db) ?? new Map<string, Map<string, string>>();
  ownersByClient.set(deps.db, byTable);
  const owners = byTable.get(deps.tableName) ?? new Map<string, string>();
  byTable.set(deps.tableName, owners);
  return owners;
}
