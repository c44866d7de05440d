import * as vscode from 'vscode';
import { Command } from './commands';
import { trainOnActiveEditor } from './trainCommand';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(vscode.commands.registerCommand(Command.Train, trainOnActiveEditor));
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
