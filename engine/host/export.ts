// `gpt-lab export`: a model file to nanoGPT's checkpoint folder or a Hugging Face GPT-2 folder (engine/export/).
import { loadModel } from '../io/checkpoint';
import { exportHuggingFace } from '../export/huggingface';
import { exportNanoGpt, type ExportResult } from '../export/nanogpt';

export const EXPORT_TARGETS = ['nanogpt', 'hf'] as const;
export type ExportTargetName = (typeof EXPORT_TARGETS)[number];

export function isExportTarget(name: string): name is ExportTargetName {
  return (EXPORT_TARGETS as readonly string[]).includes(name);
}

/**
 * Loads a model file (checked as every load is) and writes it for `target` into the folder `out`; `text` is the
 * training text, from which nanoGPT's train.bin and val.bin are made.
 */
export function exportModelFile(modelFile: string, target: ExportTargetName, out: string, text: string | null): ExportResult {
  const m = loadModel(modelFile);
  try {
    const src = { ...m, file: modelFile };
    return target === 'nanogpt' ? exportNanoGpt(src, out, text) : exportHuggingFace(src, out);
  } finally {
    m.model.dispose();
  }
}
