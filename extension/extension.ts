// GPT Lab's entry: builds the engine host and the session, registers every feature, and hands all of it to
// context.subscriptions. Nothing here loads tfjs: the engine processes start on first use. A change to a setting the
// engines are built with (gptLab.backend, gptLab.trainer) is said, and applies when they are next idle.
import * as vscode from 'vscode';
import { Command } from './commands';
import { registerCompare } from './compare';
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
import { registerPatchEdit } from './patchEdit';
import { TokensPanel } from './panels/tokens';
import { Session } from './session';
import { ENGINE_SETTINGS } from './settings';
import { createStatusBar } from './statusBar';
import { registerSurprise } from './surprise';
import { testApi, type GptLabTestApi } from './testApi';
import { registerTraining } from './train';
import { registerValidationMarker } from './validationMarker';

export function activate(context: vscode.ExtensionContext): GptLabTestApi | undefined {
  const log = new Log();
  const host = new EngineHost(context.asAbsolutePath('dist/engine-worker.js'), log);
  const store = new ModelStore(context.globalStorageUri.fsPath, context.globalState);
  const session = new Session(host, store, log);
  const uri = context.extensionUri;
  const loss = new LossPanel(uri, log, session);
  const ghostText = registerGhostText(session, log);
  const attention = new AttentionPanel(uri, log, session);
  const nextToken = new NextTokenPanel(uri, log, session);
  const embeddings = new EmbeddingsPanel(uri, log, session);
  context.subscriptions.push(
    log, host, session, loss,
    new TokensPanel(uri, log, session),
    attention,
    registerPatchEdit(session, attention),
    ...registerValidationMarker(session, log, uri),
    nextToken,
    embeddings,
    ...registerTraining(session, loss, log),
    registerCompare(session, loss, log),
    ...createStatusBar(session),
    registerHover(session, log),
    ...ghostText.disposables,
    ...registerSurprise(session),
    ...registerModelFiles(session),
    registerGenerate(session),
    vscode.commands.registerCommand(Command.OpenSample, () => openSample(context.asAbsolutePath('media/tinyshakespeare-sample.txt'), log)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      const changed = ENGINE_SETTINGS.filter((name) => e.affectsConfiguration(name));
      if (changed.length === 0) return;
      host.settingsChanged();
      log.info(`${changed.join(' and ')} changed: the engines restart with it when they are next idle`);
      void vscode.window.showInformationMessage(`GPT Lab: the new ${changed.join(' and ')} needs a new engine; it applies when the ` +
        `engines are next idle${session.run ? ' (after the run under way)' : ''}.`);
    }),
  );
  return testApi(context, host, store, session, ghostText.suggest, { attention, nextToken, embeddings });
}

/**
 * The bundled sample, read-only: the installed file is the extension's own and must not be edited, and opening the
 * file itself (not a copy) keeps its identity, so its trained model comes back with it next time. Where an editor
 * cannot mark it read-only, an untitled copy is opened instead.
 */
async function openSample(file: string, log: Log): Promise<vscode.TextEditor> {
  const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(file), { preview: false });
  try {
    await vscode.commands.executeCommand('workbench.action.files.setActiveEditorReadonlyInSession');
    return editor;
  } catch (e) {
    log.info(`the sample could not be made read-only (${String(e)}): opening a copy`);
    const copy = await vscode.workspace.openTextDocument({ content: editor.document.getText(), language: 'plaintext' });
    return vscode.window.showTextDocument(copy);
  }
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
