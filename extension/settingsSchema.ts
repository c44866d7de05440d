// Every `gptLab.*` setting as package.json's `contributes.configuration` declares it: type, default, range or
// choices, whether Restricted Mode keeps it to the user's settings, and the run choice it sets. settings.ts reads
// through this table; test/extension-schema checks it against package.json and the engine's run choices.
import type { ChoiceKey } from '../engine';

export interface SettingFacts {
  /** Not read from an untrusted workspace's settings (package.json `capabilities.untrustedWorkspaces.restrictedConfigurations`). */
  restricted?: boolean;
  /** The run choice it sets (training/choices.ts checks it); absent for the editor's own settings. */
  choice?: ChoiceKey;
  /** Changing it needs a new engine (it is part of the engine's compute plan). */
  engine?: boolean;
}
export type SettingSpec = SettingFacts & (
  | { type: 'string'; default: string; enum?: readonly string[] }
  | { type: 'integer' | 'number'; default: number; minimum: number; maximum?: number }
  | { type: 'boolean'; default: boolean });

const TOKENIZERS = ['auto', 'char', 'o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'bpe'] as const;

/** Every setting, by its name after `gptLab.`. */
export const SETTINGS = {
  preset: { type: 'string', default: 'auto', enum: ['auto', 'tiny', 'small', 'classic'], restricted: true, choice: 'preset' },
  tokenizer: { type: 'string', default: 'auto', enum: TOKENIZERS, restricted: true, choice: 'tokenizer' },
  bpeVocabSize: { type: 'integer', default: 1024, minimum: 256, maximum: 65536, restricted: true, choice: 'bpeVocabSize' },
  steps: { type: 'integer', default: 0, minimum: 0, maximum: 10_000_000, restricted: true, choice: 'steps' },
  batchSize: { type: 'integer', default: 0, minimum: 0, maximum: 65_536, restricted: true, choice: 'batchSize' },
  contextLength: { type: 'integer', default: 0, minimum: 0, maximum: 4096, restricted: true, choice: 'contextLength' },
  learningRate: { type: 'number', default: 0, minimum: 0, restricted: true, choice: 'learningRate' },
  modelSwitches: { type: 'string', default: '', restricted: true, choice: 'modelOverrides' },
  backend: { type: 'string', default: 'auto', enum: ['auto', 'tensorflow', 'wasm', 'cpu'], restricted: true, choice: 'backend', engine: true },
  trainer: { type: 'string', default: 'auto', enum: ['auto', 'native', 'wasm', 'tfjs', 'webgpu'], restricted: true, choice: 'trainer', engine: true },
  'hover.enabled': { type: 'boolean', default: true },
  'hover.encoding': { type: 'string', default: 'auto', enum: ['auto', 'o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'char'] },
  'hover.maxLength': { type: 'integer', default: 2000, minimum: 1, maximum: 100_000, restricted: true },
  'ghostText.scope': { type: 'string', default: 'trainedFile', enum: ['trainedFile', 'allFiles', 'off'], restricted: true },
  'ghostText.debounceMs': { type: 'integer', default: 120, minimum: 0, maximum: 5000, restricted: true },
  'ghostText.maxTokens': { type: 'integer', default: 32, minimum: 1, maximum: 512, restricted: true },
  'ghostText.temperature': { type: 'number', default: 0.6, minimum: 0, maximum: 2 },
  'ghostText.stopAtNewline': { type: 'boolean', default: true },
  'ghostText.mode': { type: 'string', default: 'word', enum: ['word', 'free'] },
  'ghostText.minProbability': { type: 'number', default: 0.35, minimum: 0, maximum: 1 },
  'ghostText.copyMinChars': { type: 'integer', default: 20, minimum: 8, maximum: 1000 },
  snapshots: { type: 'integer', default: 8, minimum: 0, maximum: 64, restricted: true },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

export type GhostTextScope = (typeof SETTINGS)['ghostText.scope']['enum'][number];
export type GhostTextMode = (typeof SETTINGS)['ghostText.mode']['enum'][number];

/** A setting's value as the schema allows it: numbers clamped (and whole where they must be), anything else the default. */
export function sanitize(spec: SettingSpec, value: unknown): string | number | boolean {
  switch (spec.type) {
    case 'boolean':
      return typeof value === 'boolean' ? value : spec.default;
    case 'string':
      return typeof value === 'string' && (!spec.enum || spec.enum.includes(value)) ? value : spec.default;
    default: {
      if (typeof value !== 'number' || !Number.isFinite(value)) return spec.default;
      const v = spec.type === 'integer' ? Math.round(value) : value;
      return Math.min(spec.maximum ?? Number.MAX_VALUE, Math.max(spec.minimum, v));
    }
  }
}

