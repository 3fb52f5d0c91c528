import type { LedgerDeps } from '../../lib/ledger/deps';
import { release, reserve, restore, settle } from '../../lib/ledger/holds';
import { type History, type Op, pick, shareOf } from './ledger-model-ops';
import type { HoldsModel } from './model-holds';

/**
 * The hold steps of the ledger's model-based test (C25, C26): each applied to the real ledger
 * on DynamoDB Local and to the reference model, which must say the same.
 */
type HoldOp = Extract<Op, { kind: 'reserve' | 'settle' | 'release' | 'restore' }>;

export type StepContext = {
  readonly deps: LedgerDeps;
  readonly model: HoldsModel;
  readonly history: History;
  readonly customerIds: readonly string[];
  readonly nowMs: number;
};

export type Said = { real: unknown; model: unknown; customerId?: string };

/**
 * Holds a customer keeps at once in these runs: their lapses then always fit beside the write
 * that meets them (lib/credits/holds.ts writes more in batches first, which the model does not
 * follow; test/unit/credits-holds.test.ts covers the batches).
 */
const MAX_STORED_HOLDS = 5;

export function holdStep(op: HoldOp, index: number, ctx: StepContext): Promise<Said> {
  switch (op.kind) {
    case 'reserve':
      return reserveStep(op, index, ctx);
    case 'settle':
    case 'release':
      return endStep(op, ctx);
    case 'restore':
      return restoreStep(op, index, ctx);
  }
}

async function reserveStep(
  op: Extract<HoldOp, { kind: 'reserve' }>,
  index: number,
  { deps, model, history, customerIds, nowMs }: StepContext,
): Promise<Said> {
  const earlier = pick(history.holds, op.retry);
  // A customer with credits if the one drawn has none: most holds should hold something.
  const drawn = customerIds[op.customer % customerIds.length] as string;
  const customerId =
    earlier?.customerId ??
    [drawn, ...customerIds].find((id) => model.balance(id, nowMs) > 0) ??
    drawn;
  const request = earlier
    ? { ...earlier, amount: earlier.amount + (op.retry?.altered ? 1 : 0) }
    : {
        customerId,
        holdId: `job-${index}`,
        // At least 1: a reserve of 0 is bad input, not a case for the model.
        amount: Math.max(1, shareOf(model.balance(customerId, nowMs), op.share)),
        ttlSeconds: op.ttlSeconds,
      };
  if (!earlier && model.storedHolds(customerId) >= MAX_STORED_HOLDS) {
    return { real: null, model: null };
  }
  const real = await reserve(deps, request);
  const expected = model.reserve(customerId, request, nowMs) as { ok: boolean };
  // Later steps settle, release and restore holds that were made (and, now and then, one
  // that never was: `no-such-hold`).
  if (!earlier && expected.ok) {
    history.holds.push(request);
    history.consumptions.push({ customerId, of: { holdId: request.holdId } });
  }
  return { real, model: expected, customerId };
}

async function endStep(
  op: Extract<HoldOp, { kind: 'settle' | 'release' }>,
  { deps, model, history, customerIds, nowMs }: StepContext,
): Promise<Said> {
  // One in five names a hold that never was; the others pick among the holds made, latest first.
  const made = op.of % 5 === 4 ? undefined : latest(history.holds, op.of);
  const hold = made ?? {
    customerId: customerIds[0] as string,
    holdId: 'no-such-hold',
    amount: 1,
  };
  const { customerId, holdId } = hold;
  if (op.kind === 'release') {
    const real = await release(deps, { customerId, holdId });
    return { real, model: model.release(customerId, holdId, nowMs), customerId };
  }
  const amount = shareOf(hold.amount, op.share);
  const real = await settle(deps, { customerId, holdId, amount });
  return { real, model: model.settle(customerId, holdId, amount, nowMs), customerId };
}

async function restoreStep(
  op: Extract<HoldOp, { kind: 'restore' }>,
  index: number,
  { deps, model, history, customerIds, nowMs }: StepContext,
): Promise<Said> {
  const earlier = pick(history.restores, op.retry);
  const target = latest(history.consumptions, op.of) ?? {
    customerId: customerIds[0] as string,
    of: { key: 'never-consumed' },
  };
  const request = earlier
    ? { ...earlier, amount: op.retry?.altered ? (earlier.amount ?? 0) + 1 : earlier.amount }
    : { ...target, restoreKey: `r-${index}`, amount: op.amount };
  if (!earlier) history.restores.push(request);
  const of = 'holdId' in request.of ? request.of : { idempotencyKey: request.of.key };
  const real = await restore(deps, { ...request, of });
  return {
    real,
    model: model.restore(request.customerId, request, nowMs),
    customerId: request.customerId,
  };
}

/** The item `back` places from the end (wrapping), if any. */
function latest<T>(list: readonly T[], back: number): T | undefined {
  return list.length === 0 ? undefined : list[list.length - 1 - (back % list.length)];
}
