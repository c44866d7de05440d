// The status bar item: while training, the training path, step and loss; otherwise the active model's name.
// Clicking it opens the loss chart.
import * as vscode from 'vscode';
import { Command } from './commands';
import type { Session } from './session';

export function createStatusBar(session: Session): vscode.Disposable[] {
  const item = vscode.window.createStatusBarItem('gptLab.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'GPT Lab';
  item.command = Command.ShowLossChart;
  let trainer = '';
  const idle = (): void => {
    const m = session.model;
    item.text = m ? `$(beaker) ${m.label}${m.partial ? ' (partial)' : ''}` : '$(beaker) GPT Lab';
    item.tooltip = m
      ? `GPT Lab: the active model was trained on ${m.label}${m.partial ? ' (a checkpoint of a run that did not finish)' : ''}` +
        `${m.parameters ? `, ${(m.parameters / 1e6).toFixed(2)}M parameters, ${m.tokenizer}` : ''}. Click for the loss chart.`
      : 'GPT Lab: no model yet. Run "GPT Lab: Train GPT on this file".';
  };
  idle();
  item.show();
  return [
    item,
    session.onDidChangeModel(idle),
    session.onDidChangeRun((run) => (run ? (item.text = `$(sync~spin) GPT Lab: starting on ${run.label}`) : idle())),
    session.onDidTrainEvent(({ run, event }) => {
      if (event.event === 'start') trainer = `${event.backend} · ${event.trainer.split(',')[0]}`;
      if (event.event === 'step') {
        item.text = `$(sync~spin) ${trainer} · ${event.step}/${event.steps} · loss ${event.loss.toFixed(3)}`;
        item.tooltip = `GPT Lab: training on ${run.label} (${trainer}). Click for the loss chart.`;
      }
    }),
  ];
}
