// "Train GPT on this file" and "Stop training": the active editor's text (or selection), a progress notification
// with step, loss and ETA and a Cancel button, the loss chart beside the editor, and one plain message at the end.
import * as vscode from 'vscode';
import type { TrainEvent, TrainOutcome } from '../engine';
import { Command } from './commands';
import { errorLine, isCrash } from './engineHost';
import type { Log } from './log';
import type { LossPanel } from './panels/loss';
import { shortName, type Session } from './session';
import { readSettings, trainChoices } from './settings';

export function registerTraining(session: Session, loss: LossPanel, log: Log): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(Command.Train, () => trainActiveEditor(session, loss, log)),
    vscode.commands.registerCommand(Command.StopTraining, async () => {
      if (!(await session.stop())) void vscode.window.showInformationMessage('GPT Lab: nothing is training.');
    }),
    vscode.commands.registerCommand(Command.ShowLossChart, () => loss.show()),
  ];
}

/** Resolves with the run's outcome (for tests and callers), or undefined when nothing was trained. */
async function trainActiveEditor(session: Session, loss: LossPanel, log: Log): Promise<TrainOutcome | undefined> {
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
    const running = session.run;
    await session.stop();
    await waitForRunEnd(session, running.id);
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
        if (event.event === 'start') log.info(`training on ${label}: ${event.trainer}; ${event.plan ?? ''}; ` +
          `${(event.parameters / 1e6).toFixed(2)}M parameters, vocabulary ${event.vocabSize}, ${event.trainTokens} training tokens`);
        if (event.event === 'warning') {
          log.info(`warning: ${event.message}`);
          if (event.code === 'memorising') memorising = event.message;
        }
      });
      const cancel = token.onCancellationRequested(() => void session.stop());
      const started = Date.now();
      try {
        const settings = readSettings();
        const outcome = await session.train(doc, text, trainChoices(settings), settings.trainer);
        log.info(`training on ${label} ended after ${outcome.steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s` +
          `${outcome.cancelled ? ' (cancelled)' : ''}${outcome.error ? `: ${outcome.error}` : ''}`);
        report(outcome, label, memorising);
        return outcome;
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
      return `starting: ${e.plan ?? e.trainer}`;
    case 'step':
      return `step ${e.step}/${e.steps} · loss ${e.loss.toFixed(3)} · ETA ${duration(e.etaMs)}`;
    default:
      return null;
  }
}

function report(o: TrainOutcome, label: string, memorising: string | null): void {
  if (o.error) {
    void vscode.window.showErrorMessage(`GPT Lab: training on ${label} stopped: ${o.error} The previous model stays active.`);
    return;
  }
  if (!o.summary) {
    void vscode.window.showInformationMessage(`GPT Lab: training on ${label} was stopped before it began; nothing changed.`);
    return;
  }
  const best = o.summary.best;
  const kept = best ? ` Kept the best model, from step ${best.step} (validation loss ${best.valLoss.toFixed(3)}).` : '';
  const head = o.cancelled ? `Stopped after ${o.steps} steps on ${label}.` : `Trained on ${label} for ${o.steps} steps.`;
  const tail = memorising ? ' It had started memorising the file, so the later steps were not kept.' : '';
  void vscode.window.showInformationMessage(`GPT Lab: ${head}${kept}${tail} Hover a word, or type to see its completions.`);
}

function waitForRunEnd(session: Session, runId: string): Promise<void> {
  return new Promise((resolve) => {
    if (session.run?.id !== runId) return resolve();
    const sub = session.onDidChangeRun((run) => {
      if (run?.id !== runId) {
        sub.dispose();
        resolve();
      }
    });
  });
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}
