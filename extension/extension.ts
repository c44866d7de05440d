// GPT Lab's entry: builds the engine host and the session, registers every feature, and hands all of it to
// context.subscriptions. Nothing here loads tfjs: the engine processes start on first use.
import * as vscode from 'vscode';
import { Command } from './commands';
import { EngineHost } from './engineHost';
import { registerGenerate } from './generate';
import { registerGhostText } from './ghostText';
import { registerHover } from './hover';
import { Log } from './log';
import { registerModelFiles } from './modelFiles';
import { ModelStore } from './modelStore';
import { AttentionPanel } from './panels/attention';
import { EmbeddingsPanel } from './panels/embeddings';
import { LossPanel } from './panels/loss';
import { NextTokenPanel } from './panels/nextToken';
import { TokensPanel } from './panels/tokens';
import { Session, type Run } from './session';
import { createStatusBar } from './statusBar';
import type { StoredModel } from './modelStore';
import { registerSurprise } from './surprise';
import { registerTraining } from './train';

/** What the extension exports: enough for its tests in a real VS Code to observe it. */
export interface GptLabApi {
  enginePid(role?: 'trainer' | 'prober'): number | undefined;
  activeModel(): StoredModel | null;
  run(): Run | null;
  crashCount(): number;
  /** The model a window opened now would restore (a run's checkpoint when one is under way). */
  restorable(): StoredModel | null;
}

export function activate(context: vscode.ExtensionContext): GptLabApi {
  const log = new Log();
  const host = new EngineHost(context.asAbsolutePath('dist/engine-worker.js'), log);
  const store = new ModelStore(context.globalStorageUri.fsPath, context.globalState);
  const session = new Session(host, store, log);
  const uri = context.extensionUri;
  const loss = new LossPanel(uri, log, session);
  context.subscriptions.push(
    log, host, session, loss,
    new TokensPanel(uri, log, session),
    new AttentionPanel(uri, log, session),
    new NextTokenPanel(uri, log, session),
    new EmbeddingsPanel(uri, log, session),
    ...registerTraining(session, loss, log),
    ...createStatusBar(session),
    registerHover(session, log),
    ...registerGhostText(session, log),
    ...registerSurprise(session),
    ...registerModelFiles(session),
    registerGenerate(session),
    vscode.commands.registerCommand(Command.OpenSample, async () =>
      vscode.window.showTextDocument(await vscode.workspace.openTextDocument(context.asAbsolutePath('media/tinyshakespeare-sample.txt')))),
  );
  return {
    enginePid: (role = 'trainer') => host.pid(role),
    activeModel: () => session.model,
    run: () => session.run,
    crashCount: () => host.crashes,
    restorable: () => store.restorable(),
  };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
