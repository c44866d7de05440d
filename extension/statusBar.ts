// The status bar item: while training, the training path in a few words ("native CPU (AVX2)"), step and loss, with the
// rest (threads, instruction set, adapter, why auto fell back, the tfjs backend) in its tooltip; otherwise the active
// model's name. Clicking it opens the loss chart.
import * as vscode from 'vscode';
import { describeTrainingPath, trainingPathLabel, type TrainingPathInfo } from '../engine';
import { Command } from './commands';
import type { Session } from './session';

export function createStatusBar(session: Session): vscode.Disposable[] {
  const item = vscode.window.createStatusBarItem('gptLab.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'GPT Lab';
  item.command = Command.ShowLossChart;
  let training: { path: TrainingPathInfo; backend: string } | null = null;
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
    session.onDidChangeRun((run) => {
      training = null;
      if (run) item.text = `$(sync~spin) GPT Lab: starting on ${run.label}`;
      else idle();
    }),
    session.onDidTrainEvent(({ run, event }) => {
      if (event.event === 'start') training = { path: event.training, backend: event.backend };
      if (event.event === 'step' && training) {
        item.text = `$(sync~spin) ${trainingPathLabel(training.path)} · ${event.step}/${event.steps} · loss ${event.loss.toFixed(3)}`;
        item.tooltip = `GPT Lab: training on ${run.label}: ${describeTrainingPath(training.path)}; probes on tfjs ${training.backend}. ` +
          'Click for the loss chart.';
      }
    }),
  ];
}
