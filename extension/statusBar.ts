// The status bar item: while training, the training path in a few words ("native CPU (AVX2)"), step, loss and ETA,
// with the rest (threads, instruction set, adapter, why auto fell back, the tfjs backend) in its tooltip; otherwise
// whose model is active ("GPT Lab: notes.md model"), with its tokenizer, size and training path in the tooltip and
// whether the document in front of the user has a model of its own. Clicking it opens the loss chart.
import * as vscode from 'vscode';
import { describeTrainingPath, formatEta, trainingPathLabel, type TrainingPathInfo } from '../engine';
import { Command } from './commands';
import type { StoredModel } from './modelStore';
import type { Session } from './session';

export function createStatusBar(session: Session): vscode.Disposable[] {
  const item = vscode.window.createStatusBarItem('gptLab.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'GPT Lab';
  item.command = Command.ShowLossChart;
  let training: { path: TrainingPathInfo; backend: string } | null = null;
  const idle = (): void => {
    if (session.run) return; // the run's line stays until it ends
    const m = session.model;
    item.text = m ? `$(beaker) ${modelName(m)}${m.partial ? ' (partial)' : ''}` : '$(beaker) GPT Lab';
    item.tooltip = m ? modelTooltip(m, vscode.window.activeTextEditor?.document.uri.toString() ?? null)
      : 'GPT Lab: no model yet. Run "GPT Lab: Train GPT on this file".';
  };
  idle();
  item.show();
  return [
    item,
    session.onDidChangeModel(idle),
    vscode.window.onDidChangeActiveTextEditor(idle),
    session.onDidChangeRun((run) => {
      training = null;
      if (run) {
        item.text = `$(sync~spin) GPT Lab: starting on ${run.label}`;
        item.tooltip = `GPT Lab: training on ${run.label}. Click for the loss chart.`;
      } else {
        idle();
      }
    }),
    session.onDidTrainEvent(({ run, event }) => {
      if (event.event === 'start') training = { path: event.training, backend: event.backend };
      if (event.event === 'step' && training) {
        item.text = `$(sync~spin) ${trainingPathLabel(training.path)} · ${event.step}/${event.steps} · loss ${event.loss.toFixed(3)}` +
          ` · ${formatEta(event.etaMs, event.etaRangeMs)} left`;
        item.tooltip = `GPT Lab: training on ${run.label}: ${describeTrainingPath(training.path)}; probes on tfjs ${training.backend}. ` +
          'Click for the loss chart.';
      }
    }),
  ];
}

/** Whose model it is, in the status bar's words: "GPT Lab: notes.md model". */
export function modelName(m: Pick<StoredModel, 'label'>): string {
  return `GPT Lab: ${m.label} model`;
}

/** The tooltip of an idle status bar: what the model is, how it was made, and whether it is the active document's own. */
export function modelTooltip(m: StoredModel, activeDocUri: string | null): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.isTrusted = false;
  const made = m.docUri ? `trained on **${escape(m.label)}**` : `loaded from **${escape(m.label)}**`;
  md.appendMarkdown(`GPT Lab: the active model was ${made}${m.partial ? ' (a checkpoint of a run that did not finish)' : ''}.\n\n`);
  const facts = [m.tokenizer && `${m.tokenizer} tokens`, m.parameters && `${(m.parameters / 1e6).toFixed(2)}M parameters`,
    m.contextLength && `context ${m.contextLength}`, m.trainedWith && `trained with ${m.trainedWith}`].filter(Boolean);
  if (facts.length) md.appendMarkdown(`${facts.join(' · ')}\n\n`);
  if (activeDocUri && m.docUri !== activeDocUri) {
    md.appendMarkdown('This document has no model of its own, so hovers and ghost text use this one' +
      `${m.docUri ? ' (ghost text only where `gptLab.ghostText.scope` is `allFiles`)' : ''}. Train on it to give it its own.\n\n`);
  }
  md.appendMarkdown('Click for the loss chart.');
  return md;
}

function escape(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
