// Placeholder until the issue that builds this function lands in this session.
export const handler = async (): Promise<never> => {
  throw new Error('functions/stripe-webhook.ts is not built yet');
};
