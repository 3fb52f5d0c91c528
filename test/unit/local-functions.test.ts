import { describe, expect, it } from 'vitest';
import {
  createLambdaContext,
  FUNCTION_NAMES,
  loadHandler,
  nearestFunctionName,
  UnknownFunctionError,
} from '../../infra/local/functions';

describe('Function: loadHandler', () => {
  it("returns each deployed function's exported handler", async () => {
    // Act
    const handlers = await Promise.all(FUNCTION_NAMES.map((name) => loadHandler(name)));

    // Assess
    expect(FUNCTION_NAMES).toEqual(['stripeWebhook', 'rollover', 'backfill', 'credits']);
    for (const handler of handlers) expect(handler).toBeTypeOf('function');
  });

  it('refuses an unknown name with an error that suggests the nearest and lists the four names', async () => {
    // Act
    const loading = loadHandler('stripe-webhook');

    // Assess
    await expect(loading).rejects.toThrow(UnknownFunctionError);
    await expect(loading).rejects.toThrow(
      'unknown function "stripe-webhook"; did you mean "stripeWebhook"? (the functions are: stripeWebhook, rollover, backfill, credits)',
    );
  });

  it('does not treat inherited object keys as function names', async () => {
    // Act & Assess
    await expect(loadHandler('toString')).rejects.toThrow(UnknownFunctionError);
  });
});

describe('Function: createLambdaContext', () => {
  it('counts the remaining time down from the timeout and never below zero', () => {
    // Prepare
    let nowMs = 1_000_000;
    const context = createLambdaContext({
      functionName: 'rollover',
      timeoutMs: 15 * 60 * 1000,
      clock: () => nowMs,
    });

    // Act
    const atStart = context.getRemainingTimeInMillis();
    nowMs += 60_000;
    const afterAMinute = context.getRemainingTimeInMillis();
    nowMs += 60 * 60 * 1000;
    const afterTheTimeout = context.getRemainingTimeInMillis();

    // Assess
    expect(atStart).toBe(900_000);
    expect(afterAMinute).toBe(840_000);
    expect(afterTheTimeout).toBe(0);
    expect(context.functionName).toBe('rollover');
  });

  it('gives every invocation its own request id', () => {
    // Act
    const first = createLambdaContext({ functionName: 'credits', timeoutMs: 1000 });
    const second = createLambdaContext({ functionName: 'credits', timeoutMs: 1000 });

    // Assess
    expect(first.awsRequestId).not.toBe(second.awsRequestId);
    expect(first.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('Function: nearestFunctionName', () => {
  it.each([
    ['credit', 'credits'],
    ['Credits', 'credits'],
    ['stripe-webhook', 'stripeWebhook'],
    ['webhook', 'stripeWebhook'],
    ['rolover', 'rollover'],
    ['backfil', 'backfill'],
  ])('reads %s as %s', (typed, meant) => {
    expect(nearestFunctionName(typed)).toBe(meant);
  });

  it.each(['images', 'x', 'deploy'])(
    'suggests nothing for %s, which is close to no function',
    (typed) => {
      expect(nearestFunctionName(typed)).toBeUndefined();
    },
  );
});
