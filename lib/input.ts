import type * as z from 'zod';
import { InputError } from './errors';

/**
 * Parses outside input (an invoke's JSON) with a schema; the first problem becomes an
 * InputError naming its field, before anything is read or written.
 */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError('input', 'must be a JSON object');
  }
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : 'input';
  throw new InputError(field, issue?.message ?? 'is invalid');
}
