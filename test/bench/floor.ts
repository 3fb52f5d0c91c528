/**
 * The floor bundle (bench only, never deployed): just the packages every function of 0.1.0
 * could not do without, `stripe` and the DynamoDB client with its document layer, built with
 * the functions' own esbuild settings. Kept beside sdk-floor.ts: the difference between the
 * two is what importing stripe-node costs at a cold start.
 */

export { default as Stripe } from 'stripe';
export * from './sdk-floor';
