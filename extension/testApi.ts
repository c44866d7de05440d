// What the extension's own tests in a real VS Code read (the in-host suite, test/extension): only in the test mode VS
// Code starts an extension in for its tests (ExtensionMode.Test), never for a person.
import * as vscode from 'vscode';
import type { EngineHost, EngineRole } from './engineHost';
import type { GhostSuggest } from './ghostText';
import type { ModelStore, StoredModel } from './modelStore';
import type { PanelController } from './panels/panel';
import type { Run, Session } from './session';
import { validationStart, type ValidationStart } from './validationMarker';

export interface GptLabTestApi {
  enginePid(role?: EngineRole): number | undefined;
  activeModel(): StoredModel | null;
  run(): Run | null;
  /** Engine processes that died unexpectedly since activation. */
  crashCount(): number;
  /** The document's stored model, its run's checkpoint, and a run's candidate (see modelStore.ts). */
  modelFiles(docUri: string): { stored: string; checkpoint: string; candidate: string };
  /** The ghost text the provider would offer at a place ('' for nothing, undefined where it does not apply). */
  ghostText(docUri: string, line: number, character: number): Promise<string | undefined>;
  /** Where the validation marker goes in the active model's training document (open), as the marker computes it. */
  validationStart(docUri: string): Promise<ValidationStart | null>;
  /** A panel's reply to a request as its view would send it ({ type, id, params }): the result, or an error. */
  panelReply(view: 'attention' | 'nextToken' | 'embeddings', request: unknown): Promise<unknown>;
}

/** The panels whose requests a test can send. */
export interface TestPanels {
  attention: PanelController<'attention'>;
  nextToken: PanelController<'nextToken'>;
  embeddings: PanelController<'embeddings'>;
}

export function testApi(context: vscode.ExtensionContext, host: EngineHost, store: ModelStore, session: Session,
  ghostText: GhostSuggest, panels: TestPanels): GptLabTestApi | undefined {
  if (context.extensionMode !== vscode.ExtensionMode.Test) return undefined;
  let crashes = 0;
  context.subscriptions.push(host.onDidCrash(() => (crashes += 1)));
  return {
    enginePid: (role = 'trainer') => host.pid(role),
    activeModel: () => session.model,
    run: () => session.run,
    crashCount: () => crashes,
    modelFiles: (docUri) => ({ stored: store.fileFor(docUri), checkpoint: store.checkpointFor(docUri), candidate: store.candidateFor(docUri) }),
    ghostText: async (docUri, line, character) => {
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === docUri);
      if (!doc) throw new Error(`${docUri} is not open`);
      return ghostText(doc, new vscode.Position(line, character));
    },
    validationStart: async (docUri) => {
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === docUri);
      if (!doc) throw new Error(`${docUri} is not open`);
      return validationStart(session, doc);
    },
    panelReply: (view, request) => panels[view].replyTo(request),
  };
}
