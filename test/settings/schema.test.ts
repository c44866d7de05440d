// The settings table the extension reads (extension/settingsSchema.ts) against package.json's contributes.configuration
// and Restricted Mode list, and its run settings against the engine's run choices (the CLI's flags' rules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sanitize, SETTINGS, type SettingSpec } from '../../extension/settingsSchema';
import { CHOICE_RULES, readRunChoices } from '../../engine/training/choices';
import { PRESETS } from '../../engine/model/config';
import { BACKEND_NAMES, TRAINER_CHOICES } from '../../engine/protocol';
import { TOKENIZER_NAMES } from '../../engine/text/tokenizers';

interface Contributed {
  type: string;
  default: unknown;
  minimum?: number;
  maximum?: number;
  enum?: string[];
}

const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, Contributed> } };
  capabilities: { untrustedWorkspaces: { restrictedConfigurations?: string[] } };
};
const contributed = pkg.contributes.configuration.properties;
const table = SETTINGS as Record<string, SettingSpec>;

test('every setting in package.json is in the table with the same type, default, range and choices, and no other', () => {
  assert.deepEqual(Object.keys(table).map((k) => `gptLab.${k}`).sort(), Object.keys(contributed).sort());
  for (const [name, spec] of Object.entries(table)) {
    const c = contributed[`gptLab.${name}`];
    assert.equal(spec.type, c.type, name);
    assert.deepEqual(spec.default, c.default, name);
    if (spec.type === 'integer' || spec.type === 'number') {
      assert.equal(spec.minimum, c.minimum, `${name} minimum`);
      assert.equal(spec.maximum, c.maximum, `${name} maximum`);
    } else {
      assert.equal(c.minimum, undefined, name);
    }
    assert.deepEqual(spec.type === 'string' ? spec.enum : undefined, c.enum, `${name} choices`);
  }
});

test('Restricted Mode keeps exactly the table\'s costly settings to the user\'s settings', () => {
  const restricted = Object.entries(table).filter(([, s]) => s.restricted).map(([k]) => `gptLab.${k}`).sort();
  assert.deepEqual([...(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations ?? [])].sort(), restricted);
  for (const name of ['steps', 'batchSize', 'ghostText.maxTokens', 'ghostText.scope', 'backend', 'trainer']) {
    assert.ok(table[name].restricted, `${name} costs time or runs other code: it must be restricted`);
  }
});

test('run settings have the engine\'s ranges and choices, and their defaults read as "unset"', () => {
  for (const [name, spec] of Object.entries(table)) {
    if (!spec.choice) continue;
    const rule = CHOICE_RULES[spec.choice];
    assert.equal(rule.setting, name, `${name} is the setting of the run choice ${spec.choice}`);
    if (rule.number) {
      assert.ok(spec.type === 'integer' || spec.type === 'number', name);
      assert.equal(spec.type === 'integer', rule.number.whole, name);
      assert.equal(spec.minimum, rule.number.min, name);
      assert.equal(spec.maximum ?? Number.MAX_VALUE, rule.number.max, name);
    }
  }
  // The defaults are the engine's defaults: nothing set is the same run as every default written out.
  const defaults: Record<string, unknown> = Object.fromEntries(Object.values(table).flatMap((s) => (s.choice ? [[s.choice, s.default]] : [])));
  assert.deepEqual(readRunChoices(defaults, 'setting'), readRunChoices({}, 'setting'));
  assert.deepEqual(table.preset.type === 'string' && table.preset.enum, ['auto', ...Object.keys(PRESETS)]);
  assert.deepEqual(table.backend.type === 'string' && table.backend.enum, [...BACKEND_NAMES]);
  assert.deepEqual(table.trainer.type === 'string' && table.trainer.enum, [...TRAINER_CHOICES]);
  assert.deepEqual(table.tokenizer.type === 'string' && [...(table.tokenizer.enum ?? [])].sort(), ['auto', 'bpe', ...TOKENIZER_NAMES].sort());
});

test('a setting from any source is held to its schema: numbers clamped, bad types and unknown choices give the default', () => {
  const max = SETTINGS['ghostText.maxTokens'];
  assert.equal(sanitize(max, 1e9), 512);
  assert.equal(sanitize(max, -3), 1);
  assert.equal(sanitize(max, 7.6), 8);
  assert.equal(sanitize(max, '100'), 32);
  assert.equal(sanitize(max, Number.NaN), 32);
  assert.equal(sanitize(SETTINGS['ghostText.temperature'], 50), 2);
  assert.equal(sanitize(SETTINGS['ghostText.scope'], 'everywhere'), 'trainedFile');
  assert.equal(sanitize(SETTINGS['hover.enabled'], 'yes'), true);
  assert.equal(sanitize(SETTINGS['hover.maxLength'], 1e12), 100_000);
});
