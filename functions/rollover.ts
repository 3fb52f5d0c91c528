// Placeholder until the issue that builds this function lands in this session.
export const handler = async (): Promise<never> => {
  throw new Error('functions/rollover.ts is not built yet');
};
