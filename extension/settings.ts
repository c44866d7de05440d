// The typed `gptLab.*` settings (mirroring package.json `contributes.configuration`), read fresh on each use.
import * as vscode from 'vscode';
import { parseModelOverrides, type BackendRequest, type PresetName, type TrainChoices } from '../engine';

export type GhostTextScope = 'trainedFile' | 'allFiles' | 'off';

export interface Settings {
  preset: PresetName | 'auto';
  tokenizer: string;
  bpeVocabSize: number;
  steps: number;
  batchSize: number;
  contextLength: number;
  learningRate: number;
  modelSwitches: string; // key=value,... (parseModelOverrides); empty: the preset's
  backend: BackendRequest;
  trainer: 'auto' | 'native' | 'wasm' | 'tfjs' | 'webgpu';
  hover: { enabled: boolean; encoding: string; maxLength: number };
  ghostText: { scope: GhostTextScope; debounceMs: number; maxTokens: number; temperature: number; stopAtNewline: boolean };
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('gptLab');
  return {
    preset: c.get('preset', 'auto'),
    tokenizer: c.get('tokenizer', 'auto'),
    bpeVocabSize: c.get('bpeVocabSize', 1024),
    steps: c.get('steps', 0),
    batchSize: c.get('batchSize', 0),
    contextLength: c.get('contextLength', 0),
    learningRate: c.get('learningRate', 0),
    modelSwitches: c.get('modelSwitches', ''),
    backend: c.get('backend', 'auto'),
    trainer: c.get('trainer', 'auto'),
    hover: { enabled: c.get('hover.enabled', true), encoding: c.get('hover.encoding', 'auto'), maxLength: c.get('hover.maxLength', 2000) },
    ghostText: {
      scope: c.get('ghostText.scope', 'trainedFile'),
      debounceMs: c.get('ghostText.debounceMs', 120),
      maxTokens: c.get('ghostText.maxTokens', 32),
      temperature: c.get('ghostText.temperature', 0.6),
      stopAtNewline: c.get('ghostText.stopAtNewline', true),
    },
  };
}

/**
 * What the user chose for a run, for the engine's resolveTrainSettings (0 and 'auto' mean "decide for me"). Throws a
 * one-line Error naming the setting when gptLab.modelSwitches cannot be read.
 */
export function trainChoices(s: Settings): TrainChoices {
  let modelOverrides: TrainChoices['modelOverrides'];
  try {
    modelOverrides = parseModelOverrides(s.modelSwitches);
  } catch (e) {
    throw new Error(`the setting gptLab.modelSwitches: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    preset: s.preset,
    tokenizer: s.tokenizer === 'bpe' ? `bpe:${s.bpeVocabSize}` : s.tokenizer, // learned from the file at the start of the run
    steps: s.steps || undefined,
    batchSize: s.batchSize || undefined,
    contextLength: s.contextLength || undefined,
    learningRate: s.learningRate || undefined,
    modelOverrides,
  };
}
