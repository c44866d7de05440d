// "Train GPT on this file" and "Stop training": the active editor's text (or selection), a progress notification
// with step, loss and ETA and a Cancel button, the loss chart beside the editor, and one plain message at the end
// that says which model was kept, with both scores when there was one to compare with.
import * as vscode from 'vscode';
import { formatBytes, formatDuration, formatEarlyStop, formatEta, readRunChoices, type Score, type TrainEvent } from '../engine';
import { Command } from './commands';
import { errorLine, isCrash } from './engineHost';
import type { Log } from './log';
import type { TextRange } from './modelStore';
import type { LossPanel } from './panels/loss';
import { shortName, type RunResult, type Session } from './session';
import { runSettings } from './settings';

export function registerTraining(session: Session, loss: LossPanel, log: Log): vscode.Disposable[] {
  return [
    // The walkthrough's link passes `{ "preset": "tiny" }`: a size that trains the sample in about a minute on two cores.
    vscode.commands.registerCommand(Command.Train, (over?: unknown) => trainActiveEditor(session, loss, log, linkChoices(over))),
    vscode.commands.registerCommand(Command.StopTraining, async () => {
      if (!(await session.stop())) void vscode.window.showInformationMessage('GPT Lab: nothing is training.');
    }),
    vscode.commands.registerCommand(Command.ShowLossChart, () => loss.show()),
  ];
}

/**
 * What `gptLab.train` resolves to (for tests and callers): how the run ended, which model the document has now, and
 * every message the user was shown about it, in order.
 */
export interface TrainCommandResult {
  cancelled: boolean;
  error: string | null;
  steps: number;
  kept: 'new' | 'previous';
  messages: string[];
}

/** Run settings a command link may set over the user's (only the preset: a link chooses a size, nothing more). */
function linkChoices(over: unknown): Record<string, unknown> {
  if (typeof over !== 'object' || over === null || !('preset' in over)) return {};
  return { preset: over.preset };
}

async function trainActiveEditor(session: Session, loss: LossPanel, log: Log, over: Record<string, unknown> = {}): Promise<TrainCommandResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showErrorMessage('GPT Lab: open a text file to train on.');
    return undefined;
  }
  const doc = editor.document;
  const selection = editor.selection.isEmpty ? null : editor.selection;
  const text = doc.getText(selection ?? undefined);
  const trainedOn = selection ? { start: doc.offsetAt(selection.start), end: doc.offsetAt(selection.end) } : undefined;
  if (text.trim().length === 0) {
    void vscode.window.showErrorMessage(`GPT Lab: ${selection ? 'the selection' : shortName(doc)} is empty; there is nothing to train on.`);
    return undefined;
  }
  const warnings: string[] = [];
  try {
    readRunChoices({ ...runSettings(), ...over }, 'setting'); // a setting that cannot be used is one line now, before anything opens
  } catch (e) {
    const message = `GPT Lab: ${errorLine(e)}`;
    void vscode.window.showErrorMessage(message);
    return { cancelled: false, error: errorLine(e), steps: 0, kept: 'previous', messages: [message] };
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
      let stoppedEarly: string | null = null;
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
        if (event.event === 'done' && event.stoppedEarly) stoppedEarly = formatEarlyStop(event.stoppedEarly);
        if (event.event === 'warning') {
          log.info(`warning: ${event.message}`);
          if (event.code === 'memorising') memorising = event.message;
          if (event.code === 'checkpoint') {
            warnings.push(`GPT Lab: ${event.message}`);
            void vscode.window.showWarningMessage(warnings[warnings.length - 1]);
          }
        }
      });
      const cancel = token.onCancellationRequested(() => void session.stop());
      const started = Date.now();
      try {
        const result = await session.train(doc, text, over, trainedOn);
        log.info(`training on ${label} ended after ${formatDuration(Date.now() - started)}: ${summaryLine(result)}`);
        const reported = report(session, result, label, doc.uri.toString(), trainedOn, memorising, stoppedEarly);
        return { ...reported, messages: [...warnings, ...reported.messages] };
      } catch (e) {
        if (isCrash(e)) return undefined; // a crash was already reported once by the engine host
        // A setting that cannot be used, or an engine that could not start: one line, and nothing changed.
        const message = `GPT Lab: ${errorLine(e)}`;
        log.error(errorLine(e));
        void vscode.window.showErrorMessage(message);
        return { cancelled: false, error: errorLine(e), steps: 0, kept: 'previous', messages: [...warnings, message] };
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
      return `step ${e.step}/${e.steps} · loss ${e.loss.toFixed(3)} · ETA ${formatEta(e.etaMs, e.etaRangeMs)}`;
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

/** Shows the run's message (one, with a choice when the new model was not kept) and returns what it said. */
function report(session: Session, r: RunResult, label: string, docUri: string, trainedOn: TextRange | undefined,
  memorising: string | null, stoppedEarly: string | null): TrainCommandResult {
  const said: string[] = [];
  const tell = (kind: 'info' | 'warning' | 'error', text: string, ...choices: string[]): Thenable<string | undefined> => {
    said.push(`GPT Lab: ${text}`);
    const show = kind === 'error' ? vscode.window.showErrorMessage : kind === 'warning' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    return show(`GPT Lab: ${text}`, ...choices);
  };
  if (r.kind === 'interrupted') {
    const kept = r.recovered
      ? r.recovered.stored ? ' Its best checkpoint is the active model (marked partial).'
        : ` Its best checkpoint is kept as a candidate; ${session.model?.label ?? 'the previous model'} stays active.`
      : ' It had no checkpoint yet; the previous model stays active.';
    if (r.why === 'forced') void tell('warning', `training on ${label} did not stop when asked, so its engine was stopped.${kept}`);
    else if (r.recovered) void tell('info', `training on ${label} was interrupted.${kept}`);
    return { cancelled: true, error: r.why === 'crash' ? 'the engine stopped' : null, steps: 0, kept: r.recovered?.stored ? 'new' : 'previous',
      messages: said };
  }
  const o = r.outcome;
  const result = (): TrainCommandResult => ({ cancelled: o.cancelled, error: o.error, steps: o.steps, kept: o.kept, messages: said });
  if (!o.summary) {
    void tell('info', `training on ${label} was stopped before it began; nothing changed.`);
    return result();
  }
  if (o.saveProblem) void tell('warning', `${o.saveProblem}.`);
  const c = o.comparison, same = c !== null && c.new.tokenizer === c.previous.tokenizer;
  const on = c ? ` on the same ${formatBytes(c.bytes)} of validation text` : '';
  if (o.error) {
    void tell('error', `training on ${label} stopped: ${o.error} The previous model stays active.`);
    return result();
  }
  const head = o.cancelled ? `Stopped after ${o.steps} steps on ${label}.`
    : stoppedEarly ? `Trained on ${label}: ${stoppedEarly}.` : `Trained on ${label} for ${o.steps} steps.`;
  if (o.kept === 'new') {
    const best = o.summary.best;
    const kept = best ? ` Kept the best model, from step ${best.step} (validation loss ${best.valLoss.toFixed(3)}).` : '';
    const replaced = c ? ` It replaced the previous model: ${scoreText(c.new, same)} against ${scoreText(c.previous, same)}${on}.` : '';
    const tail = memorising && !stoppedEarly ? ' It had started memorising the file, so the later steps were not kept.' : '';
    void tell('info', `${head}${kept}${replaced}${tail} Hover a word, or type to see its completions.`);
    return result();
  }
  const why = c ? `it scores ${scoreText(c.previous, same)} and the new one ${scoreText(c.new, same)}${on}`
    : 'the new one could not be compared with it';
  const use = 'Use the new model';
  void tell('info', `${head} Kept the previous model: ${why}.`, use).then(async (pick) => {
    if (pick !== use) return;
    try {
      const m = await session.adoptCandidate(docUri, label, o.summary, trainedOn);
      void vscode.window.showInformationMessage(`GPT Lab: ${m.label}'s new model is the active model now.`);
    } catch (e) {
      void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
    }
  });
  return result();
}
