// "Load model…" and "Save model as…": the same .safetensors files the CLI writes. A model file inside an untrusted
// workspace is loaded only after the user says so; only regular files are read (the engine refuses anything else
// before opening it). A save, from the dialog or from any caller of the command with a URI, goes through the checks
// of the CLI's --out (session.save): never a training text or an open document, never a device, pipe or folder.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Command } from './commands';
import { errorLine } from './engineHost';
import { haveModel } from './needsModel';
import type { Session } from './session';
import { readSettings } from './settings';

const FILTERS = { 'GPT Lab model': ['safetensors'] };

export function registerModelFiles(session: Session): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(Command.LoadModel, async (uri?: unknown) => {
      const picked = uri instanceof vscode.Uri ? uri
        : (await vscode.window.showOpenDialog({ canSelectMany: false, filters: FILTERS, title: 'GPT Lab: load a model' }))?.[0];
      if (!picked) return undefined;
      if (picked.scheme !== 'file') {
        void vscode.window.showErrorMessage(`GPT Lab: ${picked.toString()} is not a file on this machine; models are loaded from files.`);
        return undefined;
      }
      if (!vscode.workspace.isTrusted && vscode.workspace.getWorkspaceFolder(picked)) {
        const load = 'Load it';
        const ok = await vscode.window.showWarningMessage(
          `This workspace is not trusted. Load the model file ${path.basename(picked.fsPath)} from it anyway?`, { modal: true }, load);
        if (ok !== load) return undefined;
      }
      try {
        const model = await session.load(picked.fsPath, path.basename(picked.fsPath), null);
        const uses = readSettings().ghostText.scope === 'off' ? 'hovers and panels use it (ghost text is off)' : 'hovers, panels and ghost text use it';
        void vscode.window.showInformationMessage(`GPT Lab: loaded ${model.label} (${(model.parameters / 1e6).toFixed(2)}M parameters, ` +
          `${model.tokenizer}); ${uses} in every file until you switch to a document that has its own model.`);
        return model;
      } catch (e) {
        void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
        return undefined;
      }
    }),
    vscode.commands.registerCommand(Command.SaveModel, async (uri?: unknown) => {
      if (!haveModel(session, 'Saving a model')) return false;
      const target = uri instanceof vscode.Uri ? uri : await vscode.window.showSaveDialog({ filters: FILTERS, title: 'GPT Lab: save the model',
        defaultUri: vscode.workspace.workspaceFolders?.[0]
          ? vscode.Uri.joinPath(vscode.workspace.workspaceFolders[0].uri, `${session.model!.label.replace(/\.[^.]*$/, '')}.safetensors`)
          : undefined });
      if (!target) return false;
      if (target.scheme !== 'file') {
        void vscode.window.showErrorMessage(`GPT Lab: ${target.toString()} is not a file on this machine; models are saved to files.`);
        return false;
      }
      try {
        await session.save(target.fsPath);
        void vscode.window.showInformationMessage(`GPT Lab: saved the model to ${target.fsPath}; \`gpt-lab sample\` and PyTorch read it too.`);
        return true;
      } catch (e) {
        void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
        return false;
      }
    }),
  ];
}
