// The ground floor of the engine: every message and payload that crosses a process or webview boundary. It imports
// nothing but the model's config types, so the spec never depends on the code that implements it.
export * from './envelope';
export * from './compute';
export * from './events';
export * from './probes';
export * from './engine';
export * from './views';
export * from './compare';
