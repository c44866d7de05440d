/** Every command id the extension contributes (must match package.json `contributes.commands`; a test checks). */
export const enum Command {
  Train = 'gptLab.train',
  StopTraining = 'gptLab.stopTraining',
  ShowLossChart = 'gptLab.showLossChart',
  LoadModel = 'gptLab.loadModel',
  SaveModel = 'gptLab.saveModel',
  ShowTokens = 'gptLab.showTokens',
  InspectAttention = 'gptLab.inspectAttention',
  ShowNextToken = 'gptLab.showNextToken',
  ShowEmbeddings = 'gptLab.showEmbeddings',
  Generate = 'gptLab.generate',
  ShowSurprise = 'gptLab.showSurprise',
  ClearSurprise = 'gptLab.clearSurprise',
  CompareTokenizers = 'gptLab.compareTokenizers',
  Compare = 'gptLab.compare',
  OpenSample = 'gptLab.openSample',
  PatchAgainstEdit = 'gptLab.patchAgainstEdit',
}

/** Context keys for `when` clauses. */
export const enum ContextKey {
  Training = 'gptLab.training',
  SurpriseShown = 'gptLab.surpriseShown',
}
