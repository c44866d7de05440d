// The "GPT Lab" output channel: backend and training path, timings, and errors, with a time stamp per line.
import * as vscode from 'vscode';

export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('GPT Lab');

  info(line: string): void {
    this.channel.appendLine(`${new Date().toISOString().slice(11, 23)} ${line}`);
  }

  error(line: string): void {
    this.info(`error: ${line}`);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
