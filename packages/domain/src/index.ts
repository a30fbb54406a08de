export * from './errors.ts';
export * from './instrument/index.ts';
