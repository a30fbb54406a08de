export * from './errors.ts';
export * from './instrument/index.ts';
export * from './tokens.ts';
export * from './answers.ts';
export * from './scoring/index.ts';
