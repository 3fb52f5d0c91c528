import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { MAX_ITEMS_PER_EXPIRY } from '../../lib/credits/changes';
import { MAX_LOTS_PER_FORFEIT } from '../../lib/credits/forfeits';
import { EntryType, emptyState } from '../../lib/credits/state';
import { settleAndExpire } from '../../lib/ledger/expiry';
import { changeItems, MAX_TRANSACTION_ITEMS } from '../../lib/store/transact';
import { lot, ms } from '../support/lots';

/** Only builds items: nothing here is sent. */
const deps = {
  db: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'local' })),
  tableName: 'credits',
};

const padded = (prefix: string, i: number) => `${prefix}${String(i).padStart(3, '0')}`;

describe('Function: settleAndExpire', () => {
  it('C6 C7 an expiry run with a full batch of pending forfeits still fits one transaction', () => {
    // Prepare: the last subscription ended on 20 Mar and none of its forfeits was written (a
    // reconciliation interrupted); besides, 60 lots of a pack-like source expired on 1 Mar.
    const live = Array.from({ length: MAX_LOTS_PER_FORFEIT }, (_, i) =>
      lot(padded('live', i), '2026-03-01T00:00:00Z', 5),
    );
    const expired = Array.from({ length: 60 }, (_, i) => ({
      ...lot(padded('old', i), '2025-12-01T00:00:00Z', 2),
      expiresAtMs: ms('2026-03-01T00:00:00Z'),
    }));
    const state = {
      ...emptyState('cus_1'),
      version: 4,
      lotsVersion: 2,
      lots: [...expired, ...live],
      facts: {
        subscriptions: {
          sub_1: {
            activeSinceMs: ms('2026-03-01T00:00:00Z'),
            endedAtMs: ms('2026-03-20T00:00:00Z'),
          },
        },
      },
    };

    // Act
    const change = settleAndExpire(state, ms('2026-04-01T00:00:00Z'), MAX_ITEMS_PER_EXPIRY);

    // Assess: the forfeits are written, as many expiries as the rest of the budget allows.
    if (!change) throw new Error('expected a change');
    expect(change.forfeited).toHaveLength(MAX_LOTS_PER_FORFEIT);
    const expiries = change.entries.filter((entry) => entry.type === EntryType.expiry);
    expect(expiries.length).toBeGreaterThan(0);
    expect(expiries.length).toBeLessThan(60);
    expect(changeItems(deps, state, change).length).toBeLessThanOrEqual(MAX_TRANSACTION_ITEMS);
  });

  it('C6 reclaims one expired lot at least, however much the settled part takes', () => {
    // Prepare
    const state = {
      ...emptyState('cus_1'),
      lots: [{ ...lot('old', '2025-12-01T00:00:00Z', 2), expiresAtMs: ms('2026-03-01T00:00:00Z') }],
      facts: { subscriptions: {} },
    };

    // Act
    const change = settleAndExpire(state, ms('2026-04-01T00:00:00Z'), 0);

    // Assess
    expect(change?.reclaimed.map((each) => each.id)).toEqual(['old']);
  });
});
