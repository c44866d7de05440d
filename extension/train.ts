// "Train GPT on this file" and "Stop training": the active editor's text (or selection), a progress notification
// with step, loss and ETA and a Cancel button, the loss chart beside the editor, and one plain message at the end
// that says which model was kept, with both scores when there was one to compare with.
import * as vscode from 'vscode';
import { formatBytes, formatDuration, type Score, type TrainEvent } from '../engine';
import { Command } from './commands';
import { errorLine, isCrash } from './engineHost';
import type { Log } from './log';
import type { LossPanel } from './panels/loss';
import { shortName, type RunResult, type Session } from './session';

export function registerTraining(session: Session, loss: LossPanel, log: Log): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(Command.Train, () => trainActiveEditor(session, loss, log)),
    vscode.commands.registerCommand(Command.StopTraining, async () => {
      if (!(await session.stop())) void vscode.window.showInformationMessage('GPT Lab: nothing is training.');
    }),
    vscode.commands.registerCommand(Command.ShowLossChart, () => loss.show()),
  ];
}

/** What `gptLab.train` resolves to (for tests and callers): the run's outcome, or undefined when nothing was trained. */
export interface TrainCommandResult {
  cancelled: boolean;
  error: string | null;
  steps: number;
  kept: 'new' | 'previous';
}

async function trainActiveEditor(session: Session, loss: LossPanel, log: Log): Promise<TrainCommandResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showErrorMessage('GPT Lab: open a text file to train on.');
    return undefined;
  }
  const doc = editor.document;
  const selection = editor.selection.isEmpty ? null : editor.selection;
  const text = doc.getText(selection ?? undefined);
  if (text.trim().length === 0) {
    void vscode.window.showErrorMessage(`GPT Lab: ${selection ? 'the selection' : shortName(doc)} is empty; there is nothing to train on.`);
    return undefined;
  }
  if (session.run) {
    const stop = 'Stop it and train this';
    const pick = await vscode.window.showWarningMessage(`GPT Lab is already training on ${session.run.label}.`, stop, 'Keep it');
    if (pick !== stop) return undefined;
    await session.stop(); // resolves once the run has ended, by force if it must
  }
  loss.show(true);
  const label = shortName(doc) + (selection ? ' (selection)' : '');
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `GPT Lab: training on ${label}`, cancellable: true },
    async (progress, token) => {
      let reported = 0;
      let memorising: string | null = null;
      const onEvent = session.onDidTrainEvent(({ event }) => {
        const line = progressLine(event);
        if (event.event === 'step') {
          const pct = (100 * event.step) / event.steps;
          progress.report({ message: line ?? undefined, increment: pct - reported });
          reported = pct;
        } else if (line) {
          progress.report({ message: line });
        }
        if (event.event === 'start') log.info(`training on ${label}: ${event.plan ?? ''}; ` +
          `${(event.parameters / 1e6).toFixed(2)}M parameters, vocabulary ${event.vocabSize}, ${event.trainTokens} training tokens`);
        if (event.event === 'warning') {
          log.info(`warning: ${event.message}`);
          if (event.code === 'memorising') memorising = event.message;
          if (event.code === 'checkpoint') void vscode.window.showWarningMessage(`GPT Lab: ${event.message}`);
        }
      });
      const cancel = token.onCancellationRequested(() => void session.stop());
      const started = Date.now();
      try {
        const result = await session.train(doc, text);
        log.info(`training on ${label} ended after ${formatDuration(Date.now() - started)}: ${summaryLine(result)}`);
        return report(session, result, label, doc.uri.toString(), memorising);
      } catch (e) {
        if (!isCrash(e)) {
          log.error(errorLine(e));
          void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
        } // a crash was already reported once by the engine host
        return undefined;
      } finally {
        onEvent.dispose();
        cancel.dispose();
      }
    },
  );
}

function progressLine(e: TrainEvent): string | null {
  switch (e.event) {
    case 'start':
      return `starting: ${e.plan ?? e.training.path}`;
    case 'step':
      return `step ${e.step}/${e.steps} · loss ${e.loss.toFixed(3)} · ETA ${formatDuration(e.etaMs)}`;
    default:
      return null;
  }
}

function summaryLine(r: RunResult): string {
  if (r.kind === 'interrupted') return `interrupted (${r.why})${r.recovered ? `, checkpoint in ${r.recovered.model.file ?? '?'}` : ''}`;
  const o = r.outcome;
  return `${o.steps} steps${o.cancelled ? ' (cancelled)' : ''}${o.error ? `: ${o.error}` : ''}; kept the ${o.kept} model` +
    `${o.summary?.file ? ` (${o.summary.file})` : ''}${o.notes.length ? `; ${o.notes.join('; ')}` : ''}`;
}

/** "1.412 bits per byte", with the loss when both models use the same tokenizer. */
function scoreText(s: Score, sameTokenizer: boolean): string {
  return `${s.bitsPerByte.toFixed(3)} bits per byte${sameTokenizer ? ` (loss ${s.loss.toFixed(3)})` : ''}`;
}

/** The run's one message, and the result `gptLab.train` resolves to. */
function report(session: Session, r: RunResult, label: string, docUri: string, memorising: string | null): TrainCommandResult | undefined {
  if (r.kind === 'interrupted') {
    const kept = r.recovered
      ? r.recovered.stored ? ' Its best checkpoint is the active model (marked partial).'
        : ` Its best checkpoint is kept as a candidate; ${session.model?.label ?? 'the previous model'} stays active.`
      : ' It had no checkpoint yet; the previous model stays active.';
    if (r.why === 'forced') void vscode.window.showWarningMessage(`GPT Lab: training on ${label} did not stop when asked, so its engine was stopped.${kept}`);
    else if (r.recovered) void vscode.window.showInformationMessage(`GPT Lab: training on ${label} was interrupted.${kept}`);
    return { cancelled: true, error: r.why === 'crash' ? 'the engine stopped' : null, steps: 0, kept: r.recovered?.stored ? 'new' : 'previous' };
  }
  const o = r.outcome;
  const result: TrainCommandResult = { cancelled: o.cancelled, error: o.error, steps: o.steps, kept: o.kept };
  if (!o.summary) {
    void vscode.window.showInformationMessage(`GPT Lab: training on ${label} was stopped before it began; nothing changed.`);
    return result;
  }
  if (o.saveProblem) void vscode.window.showWarningMessage(`GPT Lab: ${o.saveProblem}.`);
  const c = o.comparison, same = c !== null && c.new.tokenizer === c.previous.tokenizer;
  const on = c ? ` on the same ${formatBytes(c.bytes)} of validation text` : '';
  if (o.error) {
    void vscode.window.showErrorMessage(`GPT Lab: training on ${label} stopped: ${o.error} The previous model stays active.`);
    return result;
  }
  const head = o.cancelled ? `Stopped after ${o.steps} steps on ${label}.` : `Trained on ${label} for ${o.steps} steps.`;
  if (o.kept === 'new') {
    const best = o.summary.best;
    const kept = best ? ` Kept the best model, from step ${best.step} (validation loss ${best.valLoss.toFixed(3)}).` : '';
    const replaced = c ? ` It replaced the previous model: ${scoreText(c.new, same)} against ${scoreText(c.previous, same)}${on}.` : '';
    const tail = memorising ? ' It had started memorising the file, so the later steps were not kept.' : '';
    void vscode.window.showInformationMessage(`GPT Lab: ${head}${kept}${replaced}${tail} Hover a word, or type to see its completions.`);
    return result;
  }
  const why = c ? `it scores ${scoreText(c.previous, same)} and the new one ${scoreText(c.new, same)}${on}`
    : 'the new one could not be compared with it';
  const use = 'Use the new model';
  void vscode.window.showInformationMessage(`GPT Lab: ${head} Kept the previous model: ${why}.`, use).then(async (pick) => {
    if (pick !== use) return;
    try {
      const m = await session.adoptCandidate(docUri, label, o.summary);
      void vscode.window.showInformationMessage(`GPT Lab: ${m.label}'s new model is the active model now.`);
    } catch (e) {
      void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
    }
  });
  return result;
}
