// The ground floor of the engine: every message and payload that crosses a process or webview boundary. It imports
// nothing but the model's config types and the common formatters, so the spec never depends on the code that
// implements it.
export * from './envelope';
export * from './compute';
export * from './events';
export * from './probes';
export * from './engine';
export * from './views';
export * from './compare';
// How the sizes and durations in these payloads read, for every host and view alike.
export { formatBytes, formatDuration, formatEarlyStop, formatEta } from '../common/format';
