// The `gptLab.*` settings, read fresh on each use through the table of settingsSchema.ts. Whatever their source
// (user, workspace, a hand-edited settings.json), the editor's own settings are clamped to their schema's range; a
// run's settings go to the engine as given, where they are checked with the CLI's flags (training/choices.ts) and a
// bad one is refused in one line. In Restricted Mode, VS Code reads the costly ones (package.json
// `restrictedConfigurations`) from the user's settings only.
import * as vscode from 'vscode';
import type { RawChoices } from '../engine';
import { sanitize, SETTINGS, type GhostTextMode, type GhostTextScope, type SettingName, type SettingSpec } from './settingsSchema';

/** The editor's own settings, each within its schema. */
export interface Settings {
  hover: { enabled: boolean; encoding: string; maxLength: number };
  ghostText: { scope: GhostTextScope; mode: GhostTextMode; minProbability: number; copyMinChars: number; debounceMs: number;
    maxTokens: number; temperature: number; stopAtNewline: boolean };
}

function read<N extends SettingName>(c: vscode.WorkspaceConfiguration, name: N): (typeof SETTINGS)[N]['default'] extends boolean
  ? boolean : (typeof SETTINGS)[N]['default'] extends number ? number : string {
  return sanitize(SETTINGS[name], c.get(name)) as never;
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('gptLab');
  return {
    hover: { enabled: read(c, 'hover.enabled'), encoding: read(c, 'hover.encoding'), maxLength: read(c, 'hover.maxLength') },
    ghostText: {
      scope: read(c, 'ghostText.scope') as GhostTextScope,
      mode: read(c, 'ghostText.mode') as GhostTextMode,
      minProbability: read(c, 'ghostText.minProbability'),
      copyMinChars: read(c, 'ghostText.copyMinChars'),
      debounceMs: read(c, 'ghostText.debounceMs'),
      maxTokens: read(c, 'ghostText.maxTokens'),
      temperature: read(c, 'ghostText.temperature'),
      stopAtNewline: read(c, 'ghostText.stopAtNewline'),
    },
  };
}

/** The run's settings as the user gave them, by run choice, for the engine to check (unset ones are left out). */
export function runSettings(): RawChoices {
  const c = vscode.workspace.getConfiguration('gptLab');
  const raw: RawChoices = {};
  for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec][]) {
    if (spec.choice) raw[spec.choice] = c.get(name);
  }
  return raw;
}

/** The settings a new engine needs to take (its compute plan), for the `init` request. */
export function engineSettings(): { backend: unknown; trainer: unknown } {
  const raw = runSettings();
  return { backend: raw.backend, trainer: raw.trainer };
}

/** The settings whose change needs a new engine, as `gptLab.<name>` (for configuration-change events). */
export const ENGINE_SETTINGS: readonly string[] = (Object.entries(SETTINGS) as [SettingName, SettingSpec][])
  .filter(([, spec]) => spec.engine).map(([name]) => `gptLab.${name}`);

/** The weight snapshots a run keeps for the panels' timeline (gptLab.snapshots): none for 0, else 2 to 64. */
export function snapshotsToKeep(): number | undefined {
  const n = read(vscode.workspace.getConfiguration('gptLab'), 'snapshots');
  return n === 0 ? undefined : Math.max(2, n);
}
