/** Every command id the extension contributes (must match package.json `contributes.commands`). */
export const enum Command {
  Train = 'gptLab.train',
}
