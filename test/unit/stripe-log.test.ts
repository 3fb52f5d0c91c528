import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignatureError } from '../../lib/errors';
import { capturingLogger, createLogger, errorFields } from '../../lib/log';

describe('Function: createLogger', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('writes one JSON object per line with level, time, message and fields', () => {
    // Prepare
    const { logger, raw } = capturingLogger({ clock: () => Date.parse('2026-11-01T00:00:00Z') });
    // Act
    logger.child({ eventId: 'evt_1' }).info('stripe event processed', { outcome: 'applied' });
    // Assess
    expect(raw).toHaveLength(1);
    expect(JSON.parse(raw[0] ?? '')).toEqual({
      level: 'info',
      time: '2026-11-01T00:00:00.000Z',
      message: 'stripe event processed',
      eventId: 'evt_1',
      outcome: 'applied',
    });
  });

  it('drops fields that could carry a secret, a signature, a raw body or an email, at any depth', () => {
    const { logger, raw } = capturingLogger();
    logger.warn('careless caller', {
      webhookSecret: 'whsec_leak',
      stripeSignature: 't=1,v1=abc',
      body: '{"raw": true}',
      rawBody: '{"raw": true}',
      nested: { customer_email: 'someone@example.com', apiKey: 'sk_live_leak' },
      eventId: 'evt_kept',
    });
    const line = raw.join('\n');
    for (const leaked of [
      'whsec_leak',
      't=1,v1=abc',
      '"raw"',
      'someone@example.com',
      'sk_live_leak',
    ]) {
      expect(line).not.toContain(leaked);
    }
    expect(line).toContain('evt_kept');
  });

  it('honours the level, from options or LOG_LEVEL', () => {
    const lines: string[] = [];
    createLogger({ level: 'warn', sink: (line) => lines.push(line) }).info('hidden');
    vi.stubEnv('LOG_LEVEL', 'error');
    createLogger({ sink: (line) => lines.push(line) }).warn('hidden too');
    createLogger({ sink: (line) => lines.push(line) }).error('shown');
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(['shown']);
  });

  it('describes a fault by name, message and cause only', () => {
    const fault = new SignatureError('no signature matches', new Error('inner detail'));
    expect(errorFields(fault)).toEqual({
      name: 'SignatureError',
      message: 'no signature matches',
      cause: 'Error: inner detail',
    });
  });
});
